package tcpsock

import (
	"errors"
	"net/netip"
	"time"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/inet4"
	"github.com/xdpengine/engine/stack/inet6"
	"github.com/xdpengine/engine/stack/sock"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/stack/stats"
	"github.com/xdpengine/engine/tcp"
	"github.com/xdpengine/engine/tcp/syncookie"
)

// The socket table's exact table holds active opens and accepted
// connections (for port allocation, bind rules and `ss`) but is not on the
// segment path: a SYN flood writes no shared state (doc.go has the rest).

const (
	commandRing   = 4096 // application commands per worker
	tcpTimerBatch = 1024 // timer expiries handled per round at most
)

// command is an application's request to the worker that owns a connection.
type command struct {
	op  uint8
	c   *Conn
	ln  *Listener
	on  bool
	arg int64
}

const (
	cmdOpen       uint8 = iota + 1 // a Dial: insert the endpoint and send the SYN
	cmdPoke                        // the application wrote or read: Output
	cmdClose                       // close(2)
	cmdCloseWrite                  // shutdown(SHUT_WR)
	cmdAbort                       // SO_LINGER 0 close: RST
	cmdNoDelay                     // TCP_NODELAY = on
	cmdKeepAlive                   // SO_KEEPALIVE = on, idle = arg
	cmdRecvBuffer                  // SO_RCVBUF = arg
	cmdGrowSend                    // give the send ring arg bytes (the application waits)
	cmdListenerClose
)

// twReuseDelay is how long an active open stays in TIME-WAIT before its
// 4-tuple may be connected again (Linux's tcp_tw_reuse, 1 s): the port goes
// back to the socket table then, and a Dial that gets the same tuple
// replaces the TIME-WAIT endpoint. Its timestamps (the same per-tuple
// offset, a clock at least 1 s later) and its ISN (a later clock) are newer
// than anything of the old connection, so the peer tells them apart
// (RFC 7323 PAWS). Connections without timestamps keep the port for the
// whole TIME-WAIT.
const twReuseDelay = int64(time.Second)

// twRelease is a TIME-WAIT connection whose 4-tuple goes back to the
// socket table at a deadline.
type twRelease struct {
	at int64
	t  *timeWait
}

// worker is TCP on one worker: its connections, their timers and the
// applications' commands, touched by the worker goroutine only. It is the
// inet4.Transport of protocol 6 and a datapath.Layer.
type worker struct {
	s     *Stack
	l     *inet4.Layer
	l6    *inet6.Layer // nil without IPv6 (demux6.go)
	dp    *datapath.Worker
	st    *stats.Worker
	wk    *datapath.Waker
	queue int

	conns *flowtable.Index[Conn]     // every connection of this worker not in TIME-WAIT, by arrival-order 5-tuple
	tw    *flowtable.Index[timeWait] // its connections in TIME-WAIT (timewait.go)
	twq   twQueue                    // and their deadlines
	heap  []*Conn                    // timer heap, by timerAt
	retry []*Conn                    // connections whose Output ran out of tx frames
	// deferred are the established connections that received segments
	// this round: each is serviced (Output, events) once, after the
	// round's burst (serviceDeferred), so that a burst of a bulk
	// transfer's segments gets one ACK, as a kernel receiver with GRO
	// acknowledges the segments it merged with one.
	deferred []*Conn
	cmdq     *sock.Queue[command] // applications → worker
	sink     sink
	seg      tcp.Segment
	hdr      header.TCPFields

	// Counters of this worker's endpoints, added up as they count
	// (tcp.Config.Totals): publishing them walks no connection.
	totals tcp.Totals

	synq        map[*Listener]int // listeners with endpoints on this worker
	maxTimeWait int               // this worker's share of Config.MaxTimeWait
	maxConns    int               // and of Config.MaxConnections
	maxOrphans  int               // and of Config.Memory.MaxOrphans
	orphans     int               // connections closed by the application, not yet CLOSED nor in TIME-WAIT
	twReuse     []twRelease       // active opens in TIME-WAIT whose ports go back, oldest first

	lastDecay    int64 // memory.go's slow work: the pools' last decay,
	lastReleased int64 // what they had let go of then (bytes),
	sweepPos     int   // and where the trim under pressure goes on
}

// Input implements inet4.Transport: one TCP segment.
func (w *worker) Input(r inet4.Received) {
	st := &w.st.TCP
	ip := r.IP
	p := ip.Payload()
	th, err := header.ParseTCP(p)
	if err != nil {
		st.InErrs++
		w.st.DropMalformed++
		return
	}
	src, dst := ip.Src4(), ip.Dst4()
	if !r.Checked {
		// A partial checksum first on a trusted link (as udp.worker.Input).
		switch {
		case w.s.host.TrustPartial() && th.ChecksumPartial(src, dst):
			w.st.RxCsumPartial++
		case !th.ChecksumValid(src, dst):
			st.InErrs++
			st.InCsumErrors++
			w.st.DropChecksum++
			return
		}
	}
	r.Checked = true
	key := flowtable.KeyFrom4(src, dst, th.SrcPort(), th.DstPort(), header.ProtocolTCP)
	c := w.conns.Lookup(&key)
	var tw *timeWait
	if c == nil && w.tw.Len() > 0 {
		tw = w.tw.Lookup(&key)
	}
	if c == nil && tw == nil && len(w.s.workers) > 1 {
		if owner := w.s.host.Owner(key); owner != w.l {
			if r.Steered {
				// The owner handed it back: nothing for it anywhere.
				st.InErrs++
				return
			}
			w.l.Steer(owner, &r)
			return
		}
	}
	w.segment(&key, p, c, tw, r.LinkBcast)
}

// segment handles a segment (p: its TCP header and data, the checksum
// checked) of the flow key that this worker owns, IPv4 or IPv6: c and tw
// are what its tables hold for key.
func (w *worker) segment(key *flowtable.Key, p []byte, c *Conn, tw *timeWait, linkBcast bool) {
	st := &w.st.TCP
	seg := &w.seg
	if err := seg.Parse(p); err != nil {
		st.InErrs++
		w.st.DropMalformed++
		return
	}
	st.InSegs++
	if c != nil {
		if c.ep.State() == tcp.SynReceived {
			w.handshakeInput(c, seg)
			return
		}
		if c.ep.Input(w.l.Now(), seg) == tcp.Reopen {
			iss := c.ep.ReopenISN()
			w.serviceTCP(c) // frees it: the endpoint is CLOSED
			w.tcpListen(*key, seg, key.SrcAddrPort().Addr(), key.DstAddrPort().Addr(), linkBcast, iss)
			return
		}
		if c.lastState == tcp.Established && c.ep.State() == tcp.Established {
			if !c.deferred {
				c.deferred = true
				w.deferred = append(w.deferred, c)
			}
			return
		}
		w.serviceTCP(c)
		return
	}
	if tw != nil {
		w.twInput(tw, *key, seg, key.SrcAddrPort().Addr(), key.DstAddrPort().Addr(), linkBcast)
		return
	}
	w.tcpListen(*key, seg, key.SrcAddrPort().Addr(), key.DstAddrPort().Addr(), linkBcast, 0)
}

// tcpListen handles a segment that no connection took: a listener's SYN or
// cookie ACK, or a RST for nobody. iss is non-zero for a TIME-WAIT reuse.
func (w *worker) tcpListen(key flowtable.Key, seg *tcp.Segment, src, dst netip.Addr, linkBcast bool, iss tcp.Seq) {
	st := &w.st.TCP
	ent, match := w.s.tab.LookupOn(&key, w.queue)
	var ln *Listener
	if match == socktab.MatchSpecific || match == socktab.MatchWildcard {
		ln, _ = ent.Endpoint().(*Listener)
	}
	if ln == nil || ln.closed.Load() {
		if match == socktab.MatchExact {
			return // a connection registered with a lookup entry (Dial registers none: ConnectUnlisted)
		}
		w.tcpReset(seg, key, linkBcast)
		return
	}
	l := ln.ls[w.queue]
	t, _ := syncookie.TupleFromKey(key)
	switch {
	case seg.Flags&(tcp.FlagSYN|tcp.FlagACK|tcp.FlagRST|tcp.FlagFIN) == tcp.FlagSYN:
		if linkBcast {
			return
		}
		if w.full() || w.memFull() {
			st.ListenDrops++
			return
		}
		if iss == 0 {
			iss = tcp.Seq(w.s.jar.ISN(t, w.l.Now()))
		}
		cfg := w.tcpConfig(src, key.DstPort, key.SrcPort, iss, w.s.tsOffset(t))
		ep, err := l.OnSYN(w.l.Now(), seg, cfg)
		switch {
		case err == nil:
			st.PassiveOpens++
			c := w.s.newConn(w, ep, key)
			c.ln = ln
			ln.adopt(c)
			ln.register(ep, c)
			w.synq[ln]++
			if !w.insert(c) {
				c.ep.Abort(w.l.Now())
			}
			w.serviceTCP(c)
		case errors.Is(err, tcp.ErrSYNQueueFull):
			w.sendCookie(key, seg, src, dst, t)
		case errors.Is(err, tcp.ErrAcceptQueueFull):
			st.ListenOverflows++
			st.ListenDrops++
		default:
			st.ListenDrops++
		}
	case seg.Flags&(tcp.FlagSYN|tcp.FlagACK|tcp.FlagRST) == tcp.FlagACK:
		w.cookieACK(ln, l, key, seg, t)
	case seg.Flags&tcp.FlagRST != 0:
		// A RST to a listener is dropped.
	default:
		// A SYN-ACK or a segment without ACK to a listener: Linux answers
		// a SYN-ACK with a RST and drops the rest.
		if seg.Flags&tcp.FlagACK != 0 {
			w.tcpReset(seg, key, linkBcast)
		}
	}
}

// handshakeInput handles a segment for a passive connection in
// SYN-RECEIVED. A handshake ACK that finds the accept queue full is dropped
// (the SYN-ACK is resent) and counted as ListenOverflows and ListenDrops,
// as Linux counts it in tcp_v4_syn_recv_sock.
func (w *worker) handshakeInput(c *Conn, seg *tcp.Segment) {
	before := c.ep.Stats().AcceptOverflow
	c.ep.Input(w.l.Now(), seg) // no Reopen: that is for TIME-WAIT
	if c.ep.Stats().AcceptOverflow != before {
		w.st.TCP.ListenOverflows++
		w.st.TCP.ListenDrops++
	}
	w.serviceTCP(c)
}

// sendCookie answers a SYN with a SYN cookie SYN-ACK (RFC 4987).
func (w *worker) sendCookie(key flowtable.Key, seg *tcp.Segment, src, dst netip.Addr, t syncookie.Tuple) {
	peerMSS := uint16(536)
	if seg.Options.HasMSS {
		peerMSS = seg.Options.MSS
	}
	peerMSS = min(peerMSS, uint16(w.s.linkMSS(key.Family == flowtable.FamilyIPv6)))
	cookie, mss := w.s.jar.Make(t, uint32(seg.Seq), peerMSS, w.l.Now())
	h := &w.hdr
	*h = header.TCPFields{
		SrcPort: key.DstPort, DstPort: key.SrcPort,
		Seq: cookie, Ack: uint32(seg.Seq) + 1,
		Flags: tcp.FlagSYN | tcp.FlagACK, Window: 65535,
	}
	h.Options.HasMSS, h.Options.MSS = true, mss
	if seg.Options.HasTimestamp {
		o := syncookie.Options{WScaleOK: seg.Options.HasWScale, WScale: seg.Options.WindowScale, SACKOK: seg.Options.SACKPermitted}
		tsNow := uint32(w.l.Now()/1_000_000) + w.s.tsOffset(t)
		h.Options.HasTimestamp = true
		h.Options.TSVal, h.Options.TSEcr = syncookie.MakeTS(o, tsNow), seg.Options.TSVal
		if seg.Options.HasWScale {
			h.Options.HasWScale, h.Options.WindowScale = true, w.s.wScale()
		}
		h.Options.SACKPermitted = seg.Options.SACKPermitted
	}
	s := &w.sink
	s.to(dst, src, nil)
	if s.Emit(h, nil, nil) {
		w.st.TCP.SynCookiesSent++
	}
}

// cookieACK builds a connection from an ACK that returns a valid SYN
// cookie, or answers RST.
func (w *worker) cookieACK(ln *Listener, l *tcp.Listener, key flowtable.Key, seg *tcp.Segment, t syncookie.Tuple) {
	st := &w.st.TCP
	mss, ok := w.s.jar.Check(t, uint32(seg.Seq)-1, uint32(seg.Ack), w.l.Now())
	if !ok {
		st.SynCookiesFailed++
		w.tcpReset(seg, key, false)
		return
	}
	tsOff := w.s.tsOffset(t)
	p := tcp.CookieParams{MSS: int(mss), WScale: -1}
	if seg.Options.HasTimestamp {
		o, ok := syncookie.CheckTS(seg.Options.TSEcr, uint32(w.l.Now()/1_000_000)+tsOff)
		if !ok {
			st.SynCookiesFailed++
			return
		}
		p.Timestamps, p.SACK = true, o.SACKOK
		if o.WScaleOK {
			p.WScale = int(o.WScale)
		}
	}
	if w.full() || w.memFull() {
		st.ListenDrops++
		return
	}
	cfg := w.tcpConfig(key.SrcAddrPort().Addr(), key.DstPort, key.SrcPort, 0, tsOff)
	ep, err := l.FromCookie(w.l.Now(), seg, cfg, p)
	if err != nil {
		st.ListenOverflows++
		st.ListenDrops++
		return
	}
	st.SynCookiesRecv++
	st.PassiveOpens++
	c := w.s.newConn(w, ep, key)
	c.ln = ln
	ln.adopt(c)
	ln.register(ep, c)
	if !w.insert(c) {
		c.ep.Abort(w.l.Now())
	}
	w.serviceTCP(c)
}

// tcpReset answers a segment for no connection with a RST (never a RST,
// never to a link broadcast).
func (w *worker) tcpReset(seg *tcp.Segment, key flowtable.Key, linkBcast bool) {
	if linkBcast {
		return
	}
	h := &w.hdr
	if !tcp.ResetFor(seg, h) {
		return
	}
	h.SrcPort, h.DstPort = key.DstPort, key.SrcPort
	s := &w.sink
	s.to(key.DstAddrPort().Addr(), key.SrcAddrPort().Addr(), nil)
	s.Emit(h, nil, nil) // counted as OutRsts by countOut
}

// full reports whether the worker holds its share of
// Config.TCPMaxConnections: new connections are refused.
func (w *worker) full() bool {
	if w.conns.Len() < w.maxConns {
		return false
	}
	w.st.TCP.TableFull++
	return true
}

// insert adds c to the connection table; a table that refuses it (full,
// or its probe window full) is counted, and the caller aborts c.
func (w *worker) insert(c *Conn) bool {
	if err := w.conns.Insert(c.key, c, w.l.Now()); err != nil {
		w.st.TCP.TableFull++
		return false
	}
	return true
}

// connSlice returns the worker's connections, for loops that may free
// some of them.
func (w *worker) connSlice() []*Conn {
	out := make([]*Conn, 0, w.conns.Len())
	for _, c := range w.conns.All() {
		out = append(out, c)
	}
	return out
}

// Start implements datapath.Layer.
func (w *worker) Start() {}

// Round implements datapath.Layer: TCP's commands, timers and retries.
func (w *worker) Round() int { return w.tcpRound() }

// Tick implements datapath.Layer: the memory's slow work (memory.go).
func (w *worker) Tick() { w.memTick() }

// Pending implements datapath.Layer: commands queued by applications, or
// applications waiting for room to queue theirs.
func (w *worker) Pending() bool { return w.cmdq.Pending() || len(w.deferred) > 0 }

// NextTimer implements datapath.Layer.
func (w *worker) NextTimer() int64 { return w.nextTCPTimer() }

// Drain implements datapath.Layer: every connection is freed.
func (w *worker) Drain() { w.drainTCP() }

// Publish implements datapath.Layer: the retransmissions and path MTU
// counters of the worker's connections (added up as they count: a worker
// with 100,000 connections used to walk them all at every publication,
// tens of milliseconds), and the gauges.
func (w *worker) Publish(s *stats.Worker) {
	t := &w.totals
	s.TCP.RetransSegs = t.Retrans
	s.TCP.PathMTU = stats.PathMTU{OutOfWindowIcmps: t.OutOfWindowIcmps, PMTUDecreases: t.PMTUDecreases,
		TCPMTUPSuccess: t.TCPMTUPSuccess, TCPMTUPFail: t.TCPMTUPFail, MTUProbes: t.MTUProbes,
		MTUBlackHoles: t.MTUBlackHoles, RTOReverts: t.RTOReverts}
	s.Hist.TCPRTT = t.SRTT
	s.TCP.AcceptPortFails = w.s.acceptPortFails[w.queue].Load()
	w.publishMemory(s)
}
