package tcp

import (
	"fmt"
	"syscall"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/tcp/cc"
)

// Endpoint is one connection's transmission control block. Its methods
// (all but SendRing and RecvRing) are called by the one worker goroutine
// that owns the connection; see the package documentation.
type Endpoint struct {
	cfg      Config
	state    State
	cc       cc.Algorithm
	snd, rcv ByteRing  // memory attached as data needs it (ringmem.go)
	listener *Listener // set while a passive endpoint is in the SYN queue
	released bool      // ReleaseBuffers ran
	recycled bool      // Recycle gave it to Config.Endpoints

	// Send sequence space (RFC 9293 3.3.1). sndMax is the highest
	// sequence sent; sndNxt falls back to sndUna after an RTO (go-back-N,
	// skipping SACKed ranges, up to goBackEnd). sndBase is the sequence of
	// the send ring's first byte.
	iss, sndUna, sndNxt, sndMax, sndBase Seq
	goBackEnd                            Seq
	sndWnd, maxSndWnd                    uint32
	sndWl1, sndWl2                       Seq
	sndShift                             uint8
	sndMSS                               int // peer's MSS clamped to ours (no options deducted)
	pmtu                                 int // path MTU (pmtu.go)
	segMax                               int // full segment, payload and options (pmtu.go)
	mtup                                 mtuProbe
	finQueued, finSent                   bool
	finSeq                               Seq  // sequence of our FIN, once sent
	closedApp                            bool // Close (not CloseWrite): the application reads no more
	passive                              bool

	// Receive sequence space. The receive ring's head corresponds to
	// rcvNxt; out-of-order data sits in the ring's free space at offset
	// seq-rcvNxt (ooo tracks which).
	irs, rcvNxt, rcvAdvEdge Seq
	rcvShift                uint8
	oooFIN, hasDSACK        bool
	rcvLimit                int // auto-tuned window limit (the ring grows to it)
	rcvMSS                  int // largest payload seen (Linux rcv_mss)
	ooo                     oooQueue
	oooFINSeq               Seq
	unackedBytes            int
	quickAcks               int
	dsack                   header.SACKBlock

	// Options.
	sackOK, tsOK bool
	rttTiming    bool // see RTT
	tsRecent     uint32
	tsRecentAt   int64
	lastAckSent  Seq

	// RTT and retransmission (RFC 6298).
	srtt, rttvar, rto, minRTT int64
	rttSeq                    Seq
	rttStart                  int64
	backoff, retries          int

	// Loss recovery (RFC 6675, RFC 6582); inRecovery, rexmitPending and
	// appLimited are with the pending output's flags.
	recoverSeq Seq
	dupAcks    int
	dupEst     int // NewReno: bytes the dupacks say left the network
	highRxt    Seq
	sb         scoreboard
	txq        txQueue   // RACK: transmitted segments (SACK only)
	rack       rackState // RACK-TLP (rack.go)

	// Pending output.
	synPending, ackNow, probePending, rstPending bool
	swsOverride                                  bool // persist timer: send what the window allows
	inRecovery, rexmitPending, appLimited        bool
	dupAcksOwed                                  int // out-of-order arrivals since the last Output
	rstSeq, rstAck                               Seq
	rstFlags                                     uint8
	trimMisses                                   uint8 // see the idle trimming below
	rcvRTTActive                                 bool  // see auto-tuning below

	// Timers: absolute deadlines, 0 when off.
	rtoAt, delAckAt, persistAt, keepAt, closeAt int64
	persistBackoff, probesOut                   int
	lastRecv                                    int64

	// Idle trimming of the ring memory (ringmem.go): the deadline, the
	// activity seen when it was set, and how many trims found nothing to
	// give back in a row (the deadline backs off).
	trimAt   int64
	trimMark uint64

	// Receive auto-tuning (dynamic right-sizing).
	drsStart    int64
	drsConsumed uint64
	rcvRTT      int64
	rcvRTTSeq   Seq
	rcvRTTAt    int64

	events  Events
	err     errno16 // Err
	softErr errno16 // last ICMP error (Linux's sk_err_soft): what a timeout reports
	stats   Stats
	hdr     header.TCPFields
}

// Stats are an endpoint's counters.
type Stats struct {
	SegsIn, SegsOut       uint64
	BytesIn, BytesOut     uint64 // payload bytes delivered in order / sent the first time
	Retrans, RetransBytes uint64 // retransmitted segments and bytes
	FastRetrans, RTOs     uint64
	DupAcks               uint64 // duplicate ACKs received
	SACKedBytes           uint64 // bytes newly SACKed by the peer
	DSACKs                uint64 // D-SACK blocks received
	OOOSegs, OOODrops     uint64 // out-of-order segments queued / dropped over the limit
	ChallengeAcks         uint64 // sent
	ChallengeLimited      uint64 // suppressed by the limiter
	PAWSDrops             uint64
	BadSeq                uint64 // unacceptable segments (answered by an ACK)
	BadAck                uint64 // ACKs of unsent data or too old
	RSTIn, RSTOut         uint64
	Probes                uint64 // zero-window and keepalive probes sent
	TLPs                  uint64 // tail loss probes sent (RFC 8985 7)
	TLPRepairs            uint64 // probes that repaired a loss (one window reduction each)
	LostMarked            uint64 // segments RACK marked lost
	Undos                 uint64 // window reductions undone (every retransmission D-SACKed)
	AcceptOverflow        uint64 // handshake ACKs dropped because the accept queue was full
	DataAfterClose        uint64 // data received after Close (answered by RST)
	RcvBufGrow            uint64 // auto-tuning steps
	// Path MTU discovery (pmtu.go). The first three are Linux's TcpExt
	// counters of the same names.
	OutOfWindowIcmps uint64 // ICMP errors quoting a sequence outside [snd.una, snd.max), ignored
	TCPMTUPSuccess   uint64 // MTU probes acknowledged (the MSS grew)
	TCPMTUPFail      uint64 // MTU probes lost (the search high fell)
	PMTUDecreases    uint64 // ICMP fragmentation needed that lowered the path MTU
	MTUProbes        uint64 // MTU probes sent
	MTUBlackHoles    uint64 // black-hole detections (repeated RTOs lowered the MSS)
	RTOReverts       uint64 // RTO backoff steps undone by ICMP unreachables (RFC 6069)
}

func newEndpoint(now int64, c Config) (*Endpoint, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	var e *Endpoint
	if c.Endpoints != nil {
		e = c.Endpoints.Get()
	}
	var alg cc.Algorithm
	if e != nil {
		txr := e.txq.r // keep a small RACK queue's memory, drop the rest
		if len(txr) > keepTxRecs {
			txr = nil
		}
		// Its congestion control too, when it can start over: the
		// endpoints of one pool share a NewCC (EndpointPool).
		if r, ok := e.cc.(cc.Resetter); ok {
			r.Reset()
			alg = e.cc
		}
		*e = Endpoint{txq: txQueue{r: txr}}
	} else {
		e = new(Endpoint)
	}
	if alg == nil {
		alg = c.NewCC()
	}
	// The rings start without memory: the send ring gets it from the
	// application's first Write, the receive ring from the first data.
	e.snd.init(e)
	e.rcv.init(nil)
	e.cfg, e.cc = c, alg
	e.iss = c.ISS
	e.sndUna, e.sndNxt, e.sndMax, e.sndBase = e.iss, e.iss, e.iss, e.iss.Add(1)
	e.recoverSeq = e.iss
	e.rcvLimit = c.RecvBufMin
	if !c.DisableWScale {
		e.rcvShift = wscaleFor(c.RecvBufMax)
	}
	e.rcvMSS = min(c.MSS, DefaultPeerMSS)
	e.sndMSS = DefaultPeerMSS
	e.pmtu = c.PathMTU
	e.syncMSS()
	e.rto = c.RTOInitial
	e.quickAcks = 16
	e.lastRecv = now
	e.drsStart = now
	e.sb.max = DefaultMaxOOORanges
	e.rack.reoMult = 1
	return e, nil
}

// Dial returns an endpoint in SYN-SENT for an active open; its first
// Output emits the SYN.
func Dial(now int64, c Config) (*Endpoint, error) {
	e, err := newEndpoint(now, c)
	if err != nil {
		return nil, err
	}
	e.state = SynSent
	e.synPending = true
	e.rtoAt = now + e.rto
	return e, nil
}

// ReleaseBuffers gives both rings' memory back (to Config.Buffers when
// set, else to the garbage collector), uncharging Config.Memory; it does
// nothing the second time. Afterwards the rings are detached: capacity 0,
// nothing to read, no room to write, and they get no memory again, so a
// stray access finds none of the memory, which may already belong to
// another connection; Released reports it.
//
// Contract: call it only once neither the worker (the endpoint is CLOSED
// and forgotten, or in TIME-WAIT, where it neither sends nor takes data)
// nor the application (its socket is closed and no Read or Write is
// running) can touch the rings any more. The engine counts the two owners
// and lets the last one call it.
func (e *Endpoint) ReleaseBuffers() {
	if e.released {
		return
	}
	e.released = true
	e.snd.ep = nil // no Write attaches memory again
	e.putSpent(e.snd.detach())
	e.putSpent(e.rcv.detach())
	e.releaseRecords()
}

// Recycle releases the rings' memory (ReleaseBuffers) and gives the
// endpoint to Config.Endpoints for a later connection (once; nothing
// without a pool). The contract is ReleaseBuffers': call it only when
// neither the worker nor the application can touch the endpoint any more.
func (e *Endpoint) Recycle() {
	txr := e.txq.r
	e.ReleaseBuffers()
	if e.cfg.Endpoints == nil || e.recycled {
		return
	}
	e.recycled = true
	if len(txr) <= keepTxRecs {
		// The next connection's RACK queue (Dial and Accept keep it):
		// most connections record their segments in the first 64, which
		// would otherwise be allocated anew (1.5 KB) per connection.
		e.txq.r = txr
	}
	e.cfg.Endpoints.Put(e)
}

// Timestamps reports whether the connection uses RFC 7323 timestamps (both
// sides offered them): what makes reusing its 4-tuple from TIME-WAIT safe.
func (e *Endpoint) Timestamps() bool { return e.tsOK }

// Released reports whether ReleaseBuffers gave the rings' memory back.
func (e *Endpoint) Released() bool { return e.released }

// GrowSendRing gives the send ring size bytes of memory (from
// Config.Buffers when set), keeping its content and sequence space: the
// engine's send-buffer auto-tuning. size must be a power of two larger
// than the ring, at most MaxRing; under memory pressure (Config.Memory)
// or when it would take the memory past its high threshold, the ring does
// not grow (the error wraps ErrMemoryPressure). Worker only,
// and only while the application is not using the ring (the engine's
// Write waits for it).
func (e *Endpoint) GrowSendRing(size int) error {
	if e.released || size <= e.snd.Cap() || size > MaxRing || size&(size-1) != 0 {
		return fmt.Errorf("tcp: grow the send ring from %d to %d bytes: %w", e.snd.Cap(), size, ErrConfig)
	}
	if e.cfg.Memory.UnderPressure() || !e.cfg.Memory.fits(size-e.snd.Cap()) {
		e.cfg.Memory.note(memDenied)
		return fmt.Errorf("tcp: grow the send ring from %d to %d bytes: %w", e.snd.Cap(), size, ErrMemoryPressure)
	}
	buf := e.getBuf(size)
	sp, ok := e.snd.tryReplace(buf)
	if !ok {
		e.putBuf(buf, true)
		return fmt.Errorf("tcp: grow the send ring: the application is writing: %w", ErrState)
	}
	e.putSpent(sp)
	e.cfg.Memory.note(memGrow)
	return nil
}

// SendBufWant is the send buffer Linux's auto-tuning aims at now
// (tcp_sndbuf_expand): two congestion windows, at least two initial
// windows, so the sender keeps the pipe full through a round of fast
// recovery. Worker only.
func (e *Endpoint) SendBufWant() int { return 2 * max(e.cc.Cwnd(), 10*e.mss()) }

// SendRing is the ring the application writes into (producer side:
// Write, Free). Safe to call from any goroutine.
func (e *Endpoint) SendRing() *ByteRing { return &e.snd }

// RecvRing is the ring the application reads from (consumer side: Read,
// Len). Safe to call from any goroutine.
func (e *Endpoint) RecvRing() *ByteRing { return &e.rcv }

// State returns the connection state.
func (e *Endpoint) State() State { return e.state }

// Err returns the errno the connection failed with (0 if none):
// ECONNREFUSED, ECONNRESET, ETIMEDOUT, or an ICMP error's (see ICMPError).
func (e *Endpoint) Err() syscall.Errno { return syscall.Errno(e.err) }

// errno16 holds an errno (they are below 4096) in two bytes.
type errno16 uint16

// TakeEvents returns and clears the pending events.
func (e *Endpoint) TakeEvents() Events {
	ev := e.events
	e.events = 0
	return ev
}

// Stats returns the counters.
func (e *Endpoint) Stats() Stats { return e.stats }

// MinRecvBuffer is the smallest receive window SetRecvBuffer sets, as
// Linux's SOCK_MIN_RCVBUF is for SO_RCVBUF.
const MinRecvBuffer = 2304

// SetRecvBuffer fixes the receive window limit at n bytes (SO_RCVBUF),
// within [MinRecvBuffer, Config.RecvBufMax], and turns auto-tuning off, as
// setting SO_RCVBUF does on Linux. It returns the limit set. A window
// already advertised is not taken back (RFC 9293 3.8.6): a smaller limit
// shows as the peer's data is read.
func (e *Endpoint) SetRecvBuffer(n int) int {
	if e.released {
		return 0
	}
	e.rcvLimit = min(max(n, MinRecvBuffer), e.cfg.RecvBufMax)
	e.cfg.NoAutoTune = true // Output sends a window update if one is due
	return e.rcvLimit
}

// SetNoDelay turns Nagle's algorithm off (true) or on.
func (e *Endpoint) SetNoDelay(on bool) { e.cfg.NoDelay = on }

// SetKeepAlive turns keepalive on or off at now, with idle, interval (ns)
// and count taken when positive.
func (e *Endpoint) SetKeepAlive(now int64, on bool, idle, intvl int64, cnt int) {
	e.cfg.KeepAlive = on
	if idle > 0 {
		e.cfg.KeepIdle = idle
	}
	if intvl > 0 {
		e.cfg.KeepIntvl = intvl
	}
	if cnt > 0 {
		e.cfg.KeepCnt = cnt
	}
	e.armKeepalive(now)
}

// CloseWrite sends a FIN after the queued data (shutdown(SHUT_WR)); the
// connection keeps receiving. The application must not write afterwards
// (the engine refuses it).
func (e *Endpoint) CloseWrite(now int64) error {
	switch e.state {
	case SynSent:
		e.enterClosed(now)
		return nil
	case SynReceived:
		e.finQueued = true // the FIN follows the handshake (RFC 9293 3.10.4)
		return nil
	case Established:
		e.state = FinWait1
	case CloseWait:
		e.state = LastAck
	default:
		return ErrState
	}
	e.finQueued = true
	return nil
}

// Close is close(2): the application neither writes nor reads any more.
// Unread received data makes it an abort (RST), as in Linux; otherwise
// the FIN is queued and data arriving later is answered with a RST.
func (e *Endpoint) Close(now int64) error {
	e.closedApp = true
	if e.rcv.Len() > 0 && e.state != SynSent {
		e.Abort(now)
		return nil
	}
	if e.state == FinWait1 || e.state == FinWait2 || e.state == Closing || e.state == LastAck || e.state == TimeWait {
		if e.state == FinWait2 {
			e.closeAt = now + e.cfg.FinTimeout
		}
		return nil
	}
	if e.state == Closed {
		return nil
	}
	return e.CloseWrite(now)
}

// Abort resets the connection (SO_LINGER 0): a RST goes out with the next
// Output in a synchronized state, and the endpoint is CLOSED at once.
func (e *Endpoint) Abort(now int64) {
	if e.state == Closed {
		return
	}
	if e.state >= SynReceived && e.state != TimeWait {
		e.queueRST(e.sndMax, e.rcvNxt, FlagRST|FlagACK)
	}
	e.enterClosed(now)
}

// fail ends the connection with an errno.
func (e *Endpoint) fail(now int64, errno syscall.Errno) {
	e.err = errno16(errno)
	e.events |= EvError
	e.enterClosed(now)
}

func (e *Endpoint) enterClosed(now int64) {
	if e.state == Closed {
		return
	}
	if e.listener != nil {
		e.listener.synQueued--
		e.listener = nil
	}
	e.state = Closed
	e.rtoAt, e.delAckAt, e.persistAt, e.keepAt, e.closeAt, e.trimAt = 0, 0, 0, 0, 0, 0
	e.rack.timerAt, e.rack.tlpAt = 0, 0
	e.synPending, e.ackNow, e.probePending = false, false, false
	e.events |= EvClosed
}

// EndTimeWait closes an endpoint in TIME-WAIT at once, sending nothing:
// what Linux does when its TIME-WAIT table is full (tcp_max_tw_buckets).
// It does nothing in any other state.
func (e *Endpoint) EndTimeWait(now int64) {
	if e.state == TimeWait {
		e.enterClosed(now)
	}
}

func (e *Endpoint) enterTimeWait(now int64) {
	e.state = TimeWait
	e.rtoAt, e.persistAt, e.keepAt, e.delAckAt, e.trimAt = 0, 0, 0, 0, 0
	e.rack.timerAt, e.rack.tlpAt = 0, 0
	e.closeAt = now + e.cfg.TimeWait
	e.events |= EvTimeWait
}

func (e *Endpoint) queueRST(seq, ack Seq, flags uint8) {
	e.rstPending, e.rstSeq, e.rstAck, e.rstFlags = true, seq, ack, flags
}

// Info is a snapshot for `ss -ti`.
type Info struct {
	State                  State
	CC                     string
	Cwnd, Ssthresh         int // bytes
	RTT, RTTVar, RTO       int64
	MinRTT                 int64
	MSS, RcvMSS, AdvMSS    int // AdvMSS: what our SYN advertised
	PMTU                   int // path MTU (IP_MTU)
	SndWScale, RcvWScale   uint8
	SACK, Timestamps       bool
	Unacked                uint32 // bytes in flight (sndMax - sndUna)
	SendQ, RecvQ           int    // bytes in the send ring / receive ring
	SndWnd, RcvWnd         uint32
	RcvBuf                 int // auto-tuned window limit
	RecvRing, SendRing     int // ring memory held now (bytes; ringmem.go)
	OOOBytes               int
	Backoff, Retries       int
	InRecovery, AppLimited bool
	Stats                  Stats
}

// Info returns a snapshot of the connection.
func (e *Endpoint) Info() Info {
	return Info{
		State: e.state, CC: e.cc.Name(), Cwnd: e.cc.Cwnd(), Ssthresh: e.cc.Ssthresh(),
		RTT: e.srtt, RTTVar: e.rttvar, RTO: e.currentRTO(), MinRTT: e.minRTT,
		MSS: e.mss(), RcvMSS: e.rcvMSS, AdvMSS: e.advMSS(), PMTU: e.pmtu, SndWScale: e.sndShift, RcvWScale: e.rcvShift,
		SACK: e.sackOK, Timestamps: e.tsOK, Unacked: e.sndMax.Sub(e.sndUna),
		SendQ: e.snd.Len(), RecvQ: e.rcv.Len(), SndWnd: e.sndWnd, RcvWnd: e.rcvAdvEdge.Sub(e.rcvNxt),
		RcvBuf: e.rcvLimit, RecvRing: e.rcv.Cap(), SendRing: e.snd.Cap(), OOOBytes: e.ooo.bytes, Backoff: e.backoff, Retries: e.retries,
		InRecovery: e.inRecovery, AppLimited: e.appLimited, Stats: e.stats,
	}
}

// mss is the payload size of a full segment: segMax (the peer's MSS,
// bounded by the path MTU, see pmtu.go) less the timestamp option we
// always carry when it is on.
func (e *Endpoint) mss() int { return e.segMax - e.optLen() }

// advMSS is the MSS our SYN advertises: the link's, or the path MTU's
// when that is less (Linux's advmss follows the route's MTU).
func (e *Endpoint) advMSS() int { return min(e.cfg.MSS, e.cfg.PathMTU-e.cfg.headers()) }

func (e *Endpoint) tsNow(now int64) uint32 { return uint32(now/nsPerTS) + e.cfg.TSOffset }

// dataEnd is the sequence after the last byte in the send ring.
func (e *Endpoint) dataEnd() Seq {
	if e.finSent {
		return e.finSeq
	}
	return e.sndBase.Add(uint32(e.snd.Len()))
}
