package engine

import (
	"errors"
	"github.com/xdpengine/engine/stack/datapath"
	"slices"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/arp"
	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ring"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/tcp"
	"github.com/xdpengine/engine/tcp/cc"
	"github.com/xdpengine/engine/tcp/syncookie"
)

// Worker-side TCP.
//
// Connection table. Each worker keeps its connections (every state, from
// SYN-SENT or SYN-RECEIVED to TIME-WAIT) in a plain map keyed by the
// arrival-order 5-tuple, touched only by its goroutine. A connection is
// owned by the worker the steering hash (portalloc.Metro, the hash
// socktab.Connect chooses ports with) gives for its tuple, for active and
// passive opens alike, so any worker finds the owner of any segment
// without shared state: a segment that misses the local map on a worker
// that is not the owner is handed to the owner through the steering rings,
// as UDP frames of connected sockets are. Only after that does the worker
// consult the socket table, for a listener (SYN, SYN-cookie ACK) or for
// nothing (RST). The socket table's exact table still holds active opens,
// for port allocation and `ss`, but is not on the segment path: passive
// connections never enter it (a SYN flood does not write shared state).
//
// Timers. A binary min-heap of connections keyed by Endpoint.NextTimer,
// run every poll round with the round's now; the poll(2) sleep is shortened
// to the earliest deadline.

const (
	tcpCmdRing    = 4096 // application commands per worker
	tcpTimerBatch = 1024 // timer expiries handled per round at most
)

// tcpCmd is an application's request to the worker that owns a connection.
type tcpCmd struct {
	op  uint8
	c   *TCPConn
	ln  *TCPListener
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

// twRelease is a TIME-WAIT connection whose socket-table entry goes back
// at a deadline.
type twRelease struct {
	at int64
	c  *TCPConn
}

// tcpWorker is a worker's TCP state, touched by the worker goroutine only.
type tcpWorker struct {
	conns map[flowtable.Key]*TCPConn
	heap  []*TCPConn         // timer heap, by timerAt
	retry []*TCPConn         // connections whose Output ran out of tx frames
	cmdq  *ring.MPMC[tcpCmd] // applications → worker
	sink  tcpSink
	seg   tcp.Segment
	hdr   header.TCPFields

	// Counters of connections freed, folded into the published stats
	// (live connections are summed at publication).
	freedRetrans uint64
	freedPMTU    TCPPathMTUStats
	synq         map[*TCPListener]int // listeners with endpoints on this worker
	maxTimeWait  int                  // this worker's share of Config.TCPMaxTimeWait
	twReuse      []twRelease          // active opens in TIME-WAIT whose ports go back, oldest first
}

func (w *worker) initTCP() error {
	q, err := ring.NewMPMC[tcpCmd](tcpCmdRing)
	if err != nil {
		return err
	}
	w.tcp.cmdq = q
	w.tcp.conns = map[flowtable.Key]*TCPConn{}
	w.tcp.synq = map[*TCPListener]int{}
	w.tcp.sink.w = w
	w.tcp.maxTimeWait = max(1, w.e.cfg.TCPMaxTimeWait/max(1, w.e.cfg.Queues))
	return nil
}

// tcpConfig is the endpoint configuration for a connection of this engine.
// remote is the peer's address: the connection starts with the path MTU
// learned toward it (ICMP fragmentation needed, any socket's).
func (e *Engine) tcpConfig(remote [4]byte, lport, rport uint16, iss tcp.Seq, tsOff uint32) tcp.Config {
	name := e.cfg.TCPCongestion
	return tcp.Config{
		LocalPort: lport, RemotePort: rport,
		MSS:        e.mtu - 40,
		PathMTU:    e.pmtu.get(remote, e.mtu, e.wallNow()),
		MTUProbing: e.cfg.TCPMTUProbing,
		ISS:        iss,
		TSOffset:   tsOff,
		NewCC: func() cc.Algorithm {
			a, err := cc.New(name)
			if err != nil {
				a = cc.NewCubic() // validated in New
			}
			return a
		},
		SendBuf:    e.cfg.TCPSendBuffer,
		RecvBufMax: e.cfg.TCPRecvBuffer,
		Challenge:  e.challenge,
		Buffers:    &e.rings,
		Endpoints:  &e.endpoints,
	}
}

// tsOffset is a connection's timestamp offset: a keyed hash of its tuple
// (Linux's secure_tcp_ts_off), so that a SYN-cookie connection finds the
// clock its SYN-ACK used.
func (e *Engine) tsOffset(t syncookie.Tuple) uint32 {
	t.SrcPort, t.DstPort = t.DstPort^0x5a5a, t.SrcPort^0xa5a5
	return e.jar.ISN(t, 0)
}

// handleTCP handles one TCP segment (ip is its packet). frame is nil for a
// reassembled datagram.
func (w *worker) handleTCP(frame []byte, ip header.IPv4, linkBcast, steered bool) {
	st := &w.st.TCP
	p := ip.Payload()
	th, err := header.ParseTCP(p)
	if err != nil {
		st.InErrs++
		w.st.DropMalformed++
		return
	}
	src, dst := ip.Src4(), ip.Dst4()
	if !th.ChecksumValid(src, dst) {
		if !w.e.trustPartial || !th.ChecksumPartial(src, dst) {
			st.InErrs++
			st.InCsumErrors++
			w.st.DropChecksum++
			return
		}
		w.st.RxCsumPartial++
	}
	key := flowtable.KeyFrom4(src, dst, th.SrcPort(), th.DstPort(), protoTCP)
	c := w.tcp.conns[key]
	if c == nil && len(w.e.workers) > 1 {
		if owner := w.e.workers[w.e.steer.Steer(key)]; owner != w {
			if steered {
				// The owner handed it back: nothing for it anywhere.
				st.InErrs++
				return
			}
			if frame == nil {
				w.steerDatagram(owner, ip, linkBcast) // reassembled here
				return
			}
			w.steerTo(owner, frame)
			return
		}
	}
	seg := &w.tcp.seg
	if err := seg.Parse(p); err != nil {
		st.InErrs++
		w.st.DropMalformed++
		return
	}
	st.InSegs++
	if c != nil {
		if c.ep.Input(w.now(), seg) == tcp.Reopen {
			iss := c.ep.ReopenISN()
			w.serviceTCP(c) // frees it: the endpoint is CLOSED
			w.tcpListen(key, seg, src, dst, linkBcast, iss)
			return
		}
		w.serviceTCP(c)
		return
	}
	w.tcpListen(key, seg, src, dst, linkBcast, 0)
}

// tcpListen handles a segment that no connection took: a listener's SYN or
// cookie ACK, or a RST for nobody. iss is non-zero for a TIME-WAIT reuse.
func (w *worker) tcpListen(key flowtable.Key, seg *tcp.Segment, src, dst [4]byte, linkBcast bool, iss tcp.Seq) {
	st := &w.st.TCP
	sock, match := w.e.tab.LookupOn(&key, w.queue)
	var ln *TCPListener
	if match == socktab.MatchSpecific || match == socktab.MatchWildcard {
		ln, _ = sock.Endpoint().(*TCPListener)
	}
	if ln == nil || ln.closed.Load() {
		if match == socktab.MatchExact {
			return // a Dial whose open command the worker has not run yet
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
		if iss == 0 {
			iss = tcp.Seq(w.e.jar.ISN(t, w.now()))
		}
		cfg := w.e.tcpConfig(src, key.DstPort, key.SrcPort, iss, w.e.tsOffset(t))
		ep, err := l.OnSYN(w.now(), seg, cfg)
		switch {
		case err == nil:
			st.PassiveOpens++
			c := w.e.newTCPConn(w, ep, key)
			c.ln = ln
			ln.register(ep, c)
			w.tcp.conns[key] = c
			w.tcp.synq[ln]++
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

// sendCookie answers a SYN with a SYN cookie SYN-ACK (RFC 4987).
func (w *worker) sendCookie(key flowtable.Key, seg *tcp.Segment, src, dst [4]byte, t syncookie.Tuple) {
	peerMSS := uint16(536)
	if seg.Options.HasMSS {
		peerMSS = seg.Options.MSS
	}
	peerMSS = min(peerMSS, uint16(w.e.mtu-40))
	cookie, mss := w.e.jar.Make(t, uint32(seg.Seq), peerMSS, w.now())
	h := &w.tcp.hdr
	*h = header.TCPFields{
		SrcPort: key.DstPort, DstPort: key.SrcPort,
		Seq: cookie, Ack: uint32(seg.Seq) + 1,
		Flags: tcp.FlagSYN | tcp.FlagACK, Window: 65535,
	}
	h.Options.HasMSS, h.Options.MSS = true, mss
	if seg.Options.HasTimestamp {
		o := syncookie.Options{WScaleOK: seg.Options.HasWScale, WScale: seg.Options.WindowScale, SACKOK: seg.Options.SACKPermitted}
		tsNow := uint32(w.now()/1_000_000) + w.e.tsOffset(t)
		h.Options.HasTimestamp = true
		h.Options.TSVal, h.Options.TSEcr = syncookie.MakeTS(o, tsNow), seg.Options.TSVal
		if seg.Options.HasWScale {
			h.Options.HasWScale, h.Options.WindowScale = true, w.e.tcpWScale()
		}
		h.Options.SACKPermitted = seg.Options.SACKPermitted
	}
	s := &w.tcp.sink
	s.to(dst, src, nil)
	if s.Emit(h, nil, nil) {
		w.st.TCP.SynCookiesSent++
	}
}

// tcpWScale is the window scale our endpoints advertise (tcp's rule for
// the receive ring size), repeated in cookie SYN-ACKs.
func (e *Engine) tcpWScale() uint8 {
	n := e.cfg.TCPRecvBuffer
	if n == 0 {
		n = tcp.DefaultRecvBufMax
	}
	s := uint8(0)
	for n>>s > 0xffff && s < 14 {
		s++
	}
	return s
}

// cookieACK builds a connection from an ACK that returns a valid SYN
// cookie, or answers RST.
func (w *worker) cookieACK(ln *TCPListener, l *tcp.Listener, key flowtable.Key, seg *tcp.Segment, t syncookie.Tuple) {
	st := &w.st.TCP
	mss, ok := w.e.jar.Check(t, uint32(seg.Seq)-1, uint32(seg.Ack), w.now())
	if !ok {
		st.SynCookiesFailed++
		w.tcpReset(seg, key, false)
		return
	}
	tsOff := w.e.tsOffset(t)
	p := tcp.CookieParams{MSS: int(mss), WScale: -1}
	if seg.Options.HasTimestamp {
		o, ok := syncookie.CheckTS(seg.Options.TSEcr, uint32(w.now()/1_000_000)+tsOff)
		if !ok {
			st.SynCookiesFailed++
			return
		}
		p.Timestamps, p.SACK = true, o.SACKOK
		if o.WScaleOK {
			p.WScale = int(o.WScale)
		}
	}
	cfg := w.e.tcpConfig([4]byte(key.Src[12:]), key.DstPort, key.SrcPort, 0, tsOff)
	ep, err := l.FromCookie(w.now(), seg, cfg, p)
	if err != nil {
		st.ListenOverflows++
		st.ListenDrops++
		return
	}
	st.SynCookiesRecv++
	st.PassiveOpens++
	c := w.e.newTCPConn(w, ep, key)
	c.ln = ln
	ln.register(ep, c)
	w.tcp.conns[key] = c
	w.serviceTCP(c)
}

// tcpReset answers a segment for no connection with a RST (never a RST,
// never to a link broadcast).
func (w *worker) tcpReset(seg *tcp.Segment, key flowtable.Key, linkBcast bool) {
	if linkBcast {
		return
	}
	h := &w.tcp.hdr
	if !tcp.ResetFor(seg, h) {
		return
	}
	h.SrcPort, h.DstPort = key.DstPort, key.SrcPort
	var src, dst [4]byte
	copy(src[:], key.Src[12:])
	copy(dst[:], key.Dst[12:])
	s := &w.tcp.sink
	s.to(dst, src, nil)
	s.Emit(h, nil, nil) // counted as OutRsts by countOut
}

// serviceTCP runs Output for c, publishes its events to the application,
// and either frees it (CLOSED) or reschedules its timer.
func (w *worker) serviceTCP(c *TCPConn) {
	s := &w.tcp.sink
	s.to(c.local, c.remote, c)
	c.ep.Output(w.now(), s)
	if s.failed && !c.retrying {
		c.retrying = true
		w.tcp.retry = append(w.tcp.retry, c)
	}
	if c.lastState != tcp.TimeWait && c.ep.State() == tcp.TimeWait && w.st.TCP.CurrTimeWait >= uint64(w.tcp.maxTimeWait) {
		c.ep.EndTimeWait(w.now()) // the TIME-WAIT table is full (Linux: tcp_max_tw_buckets)
		w.st.TCP.TimeWaitOverflow++
	}
	state := c.ep.State()
	ev := c.ep.TakeEvents()
	if state != c.lastState {
		w.tcpTransition(c, c.lastState, state)
		c.lastState = state
	}
	if ev != 0 {
		c.publish(ev)
	}
	if state == tcp.Closed {
		w.freeTCP(c)
		return
	}
	if state == tcp.TimeWait && c.appDropped.Load() && !c.ep.Released() {
		// Nothing is sent or received in TIME-WAIT, and the application
		// is gone: the rings go back now, not 60 s later (the endpoint
		// stays, to answer the peer, until CLOSED).
		c.ep.ReleaseBuffers() // pairs with the Swap in releaseApp
	}
	w.timerFix(c, c.ep.NextTimer())
}

// tcpTransition keeps the counters that follow state changes.
func (w *worker) tcpTransition(c *TCPConn, from, to tcp.State) {
	st := &w.st.TCP
	estab := func(s tcp.State) bool { return s == tcp.Established || s == tcp.CloseWait }
	if estab(to) && !estab(from) {
		st.CurrEstab++
	}
	if estab(from) && !estab(to) {
		st.CurrEstab--
		if to == tcp.Closed {
			st.EstabResets++
		}
	}
	if to == tcp.TimeWait {
		st.CurrTimeWait++
		s := c.portSock()
		if s != nil {
			w.e.tab.SetState(s, socktab.StateTimeWait) // the bind rules of TIME-WAIT
		}
		if s != nil && c.ep.Timestamps() {
			w.tcp.twReuse = append(w.tcp.twReuse, twRelease{at: w.now() + twReuseDelay, c: c})
		}
	}
	if from == tcp.TimeWait {
		st.CurrTimeWait--
	}
	if (from == tcp.SynSent || from == tcp.SynReceived) && to == tcp.Closed {
		st.AttemptFails++
	}
	if from == tcp.SynReceived && c.ln != nil {
		w.unqueueSYN(c.ln)
	}
	if to != tcp.Closed {
		c.pubState.Store(uint32(to)) // pairs with the loads in TCPConn's listing and lingerWait
	}
	if to == tcp.FinWait2 || to == tcp.TimeWait {
		w.wk.Wake(c.wnotify, &c.wwait) // our FIN is acknowledged: a lingering Close returns
	}
}

func (w *worker) unqueueSYN(ln *TCPListener) {
	if n := w.tcp.synq[ln] - 1; n > 0 {
		w.tcp.synq[ln] = n
	} else {
		delete(w.tcp.synq, ln)
	}
}

// freeTCP removes a CLOSED connection from the worker.
func (w *worker) freeTCP(c *TCPConn) {
	if c.freed {
		return
	}
	c.freed = true
	if w.tcp.conns[c.key] == c {
		delete(w.tcp.conns, c.key)
	}
	w.timerFix(c, 0)
	w.tcp.freedRetrans += c.ep.Stats().Retrans
	addEndpointPMTU(&w.tcp.freedPMTU, c.ep.Stats())
	if c.ln != nil {
		c.ln.unregister(c)
	}
	if s := c.sock.Swap(&freedSock); s != nil && s != &freedSock {
		w.e.tab.Close(s) // releases the port; the mutex is uncontended on this path
	}
	c.pubState.Store(uint32(tcp.Closed))
	c.gone.Store(true) // pairs with the loads in TCPConn's Read and Write
	w.wk.Wake(c.rnotify, &c.rwait)
	w.wk.Wake(c.wnotify, &c.wwait)
	c.release() // the worker's reference: it never touches the rings again
}

// tcpRound runs TCP's per-round work: application commands, expired
// timers, and retries of Output that ran out of tx frames. It returns the
// work done.
func (w *worker) tcpRound() int {
	work := 0
	for range tcpCmdRing {
		cmd, ok := w.tcp.cmdq.Dequeue()
		if !ok {
			break
		}
		w.tcpCommand(cmd)
		work++
	}
	for i := 0; i < tcpTimerBatch && len(w.tcp.heap) > 0 && w.tcp.heap[0].timerAt <= w.now(); i++ {
		c := w.tcp.heap[0]
		c.ep.OnTimer(w.now())
		w.serviceTCP(c)
		if c.timerAt != 0 && c.timerAt <= w.now() && !c.freed {
			w.timerFix(c, w.now()+1) // OnTimer left it due: try next round
		}
		work++
	}
	for len(w.tcp.twReuse) > 0 && w.tcp.twReuse[0].at <= w.now() {
		c := w.tcp.twReuse[0].c
		w.tcp.twReuse[0] = twRelease{}
		w.tcp.twReuse = w.tcp.twReuse[1:]
		if s := c.portSock(); !c.freed && s != nil && c.lastState == tcp.TimeWait {
			// The 4-tuple may be connected again (tw_reuse); the port
			// stays bound against bind and listen until CLOSED.
			w.e.tab.ReleaseTuple(s)
		}
		work++
	}
	if len(w.tcp.retry) > 0 {
		retry := w.tcp.retry
		w.tcp.retry = w.tcp.retry[len(retry):]
		for i, c := range retry {
			retry[i] = nil
			c.retrying = false
			if !c.freed {
				w.serviceTCP(c)
			}
		}
		if len(w.tcp.retry) == 0 {
			w.tcp.retry = retry[:0]
		}
		work++
	}
	return work
}

func (w *worker) tcpCommand(cmd tcpCmd) {
	c := cmd.c
	if cmd.op == cmdListenerClose {
		w.listenerClosed(cmd.ln)
		return
	}
	if c.freed {
		return
	}
	switch cmd.op {
	case cmdOpen:
		if old := w.tcp.conns[c.key]; old != nil {
			// A TIME-WAIT connection on the tuple the socket table gave
			// out again (its port was released early): replace it.
			old.ep.Abort(w.now())
			w.serviceTCP(old)
		}
		w.tcp.conns[c.key] = c
		w.st.TCP.ActiveOpens++
	case cmdPoke:
		c.pokeQueued.Store(false) // pairs with the CAS in poke: a later poke queues again
	case cmdClose:
		c.ep.Close(w.now())
	case cmdCloseWrite:
		c.ep.CloseWrite(w.now())
	case cmdAbort:
		c.ep.Abort(w.now())
	case cmdNoDelay:
		c.ep.SetNoDelay(cmd.on)
	case cmdKeepAlive:
		c.ep.SetKeepAlive(w.now(), cmd.on, cmd.arg, cmd.arg, 0)
	case cmdRecvBuffer:
		c.ep.SetRecvBuffer(int(cmd.arg))
	case cmdGrowSend:
		// The application waits in Write and does not touch the ring.
		if c.ep.SendRing().Cap() < int(cmd.arg) && c.ep.GrowSendRing(int(cmd.arg)) == nil {
			w.st.TCP.SendBufGrowths++
		}
		c.growDone.Add(1) // pairs with the loads in waitGrown: the ring is the application's again
		w.wk.Wake(c.wnotify, &c.wwait)
	}
	w.serviceTCP(c)
}

// listenerClosed aborts the listener's connections that the application
// never accepted, as Linux does when a listening socket closes: those in
// SYN-RECEIVED and those waiting in this worker's accept queue (the
// application handed the queue's consumer side to this worker when it
// closed the listener).
func (w *worker) listenerClosed(ln *TCPListener) {
	l := ln.ls[w.queue]
	for {
		ep, ok := l.Accept()
		if !ok {
			break
		}
		if c := ln.take(ep); c != nil {
			if !c.freed {
				c.ep.Abort(w.now())
				w.serviceTCP(c)
			}
			c.releaseApp() // taken from the queue: no application will have it
		}
	}
	if w.tcp.synq[ln] == 0 {
		return
	}
	for _, c := range w.tcp.conns {
		if c.ln == ln && c.lastState == tcp.SynReceived {
			c.ep.Abort(w.now())
			w.serviceTCP(c)
		}
	}
}

// nextTCPTimer returns the earliest TCP deadline, 0 when none.
func (w *worker) nextTCPTimer() int64 {
	if len(w.tcp.retry) > 0 {
		return w.now()
	}
	at := int64(0)
	if len(w.tcp.heap) > 0 {
		at = w.tcp.heap[0].timerAt
	}
	if len(w.tcp.twReuse) > 0 && (at == 0 || w.tcp.twReuse[0].at < at) {
		at = w.tcp.twReuse[0].at
	}
	return at
}

// drainTCP frees every connection when the worker stops.
func (w *worker) drainTCP() {
	for _, c := range w.tcp.conns {
		c.ep.Abort(w.now())
		w.freeTCP(c)
	}
	for {
		cmd, ok := w.tcp.cmdq.Dequeue()
		if !ok {
			break
		}
		if cmd.c != nil && !cmd.c.freed {
			cmd.c.ep.Abort(w.now())
			w.freeTCP(cmd.c)
		}
	}
}

// tcpSink builds segments straight into UMEM frames: Ethernet, IPv4 (DF
// set: TCP never fragments, its MSS comes from the MTU) and TCP.
type tcpSink struct {
	w        *worker
	c        *TCPConn // nil for a RST or cookie with no connection
	src, dst [4]byte
	failed   bool
}

func (s *tcpSink) to(src, dst [4]byte, c *TCPConn) {
	s.src, s.dst, s.c, s.failed = src, dst, c, false
}

// Emit implements tcp.Sink.
func (s *tcpSink) Emit(h *header.TCPFields, p1, p2 []byte) bool {
	w := s.w
	hl := h.Len()
	total := 20 + hl + len(p1) + len(p2)
	next, _, ok := w.e.route(s.dst)
	if !ok {
		w.st.DropNoRoute++
		return true // as lost on the wire: the endpoint retransmits
	}
	var id uint16
	if s.c != nil {
		s.c.ipID++
		id = s.c.ipID
	}
	mac, act := w.arpTab.Lookup(w.now(), next, 0, false)
	if act != arp.Send {
		if act == arp.SendRequest {
			w.arpRequest(next, header.MAC{}) // resolve's Lookup will find it Incomplete
		}
		// Not resolved: build the packet in a buffer and park it until ARP
		// answers (or drops it), as for a datagram.
		b := w.e.bufs.Get(total)
		if b == nil {
			return true
		}
		if !s.build(b.B[:total], h, hl, id, p1, p2) {
			w.e.bufs.Put(b)
			return true
		}
		w.sendReq(txReq{buf: b, n: total, dst: s.dst})
		w.countOut(h)
		return true
	}
	addrs := w.addrs[:1]
	if w.dp.AllocFrames(addrs) < 1 {
		s.failed = true
		w.st.DropTxRing++
		return false
	}
	frame := w.dp.FrameBuffer(addrs[0])
	if ethHeaderLen+total > len(frame) || !s.build(frame[ethHeaderLen:ethHeaderLen+total], h, hl, id, p1, p2) {
		w.dp.Release(addrs[0])
		return true
	}
	putEthernet(frame, mac, w.e.mac, etherTypeIPv4)
	w.dp.QueueTx(afxdp.Desc{Addr: addrs[0], Len: uint32(ethHeaderLen + total)})
	w.countOut(h)
	return true
}

func (w *worker) countOut(h *header.TCPFields) {
	w.st.TCP.OutSegs++
	if h.Flags&tcp.FlagRST != 0 {
		w.st.TCP.OutRsts++
	}
}

// build writes the IPv4 packet of a segment into b (len(b) is its size).
func (s *tcpSink) build(b []byte, h *header.TCPFields, hl int, id uint16, p1, p2 []byte) bool {
	ttl, tos, df := s.c.segmentIP()
	putIPv4Opts(b, s.src, s.dst, id, df, protoTCP, len(b), ttl, tos)
	h.Checksum = 0
	if _, err := h.Put(b[20 : 20+hl]); err != nil {
		return false
	}
	n := copy(b[20+hl:], p1)
	copy(b[20+hl+n:], p2)
	header.TCP(b[20:]).UpdateChecksum(s.src, s.dst)
	return true
}

// Timer heap (worker only). heapIdx is the position plus one, 0 when the
// connection is not in the heap.

func (w *worker) timerFix(c *TCPConn, at int64) {
	h := &w.tcp.heap
	if at == 0 {
		if c.heapIdx != 0 {
			i := c.heapIdx - 1
			last := len(*h) - 1
			w.heapSwap(i, last)
			(*h)[last] = nil
			*h = (*h)[:last]
			c.heapIdx, c.timerAt = 0, 0
			if i < last {
				w.heapDown(i)
				w.heapUp(i)
			}
		}
		return
	}
	c.timerAt = at
	if c.heapIdx == 0 {
		*h = append(*h, c)
		c.heapIdx = len(*h)
		w.heapUp(len(*h) - 1)
		return
	}
	i := c.heapIdx - 1
	w.heapDown(i)
	w.heapUp(i)
}

func (w *worker) heapSwap(i, j int) {
	h := w.tcp.heap
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i+1, j+1
}

func (w *worker) heapUp(i int) {
	h := w.tcp.heap
	for i > 0 {
		p := (i - 1) / 2
		if h[p].timerAt <= h[i].timerAt {
			return
		}
		w.heapSwap(i, p)
		i = p
	}
}

func (w *worker) heapDown(i int) {
	h := w.tcp.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].timerAt < h[l].timerAt {
			m = r
		}
		if h[i].timerAt <= h[m].timerAt {
			return
		}
		w.heapSwap(i, m)
		i = m
	}
}

// listTCP lists this worker's connections for Engine.Sockets.
func (w *worker) listTCP() []socktab.Entry {
	out := make([]socktab.Entry, 0, len(w.tcp.conns))
	for _, c := range w.tcp.conns {
		in := c.ep.Info()
		st := in.Stats
		out = append(out, socktab.Entry{
			Proto: socktab.TCP, State: socktab.State(in.State),
			RecvQ: uint64(in.RecvQ), SendQ: uint64(in.SendQ),
			Local: c.laddr, Peer: c.raddr,
			TCP: &socktab.TCPInfo{
				CC: in.CC, SndWScale: in.SndWScale, RcvWScale: in.RcvWScale,
				RTO: in.RTO, RTT: in.RTT, RTTVar: in.RTTVar, MinRTT: in.MinRTT,
				MSS: in.MSS, RcvMSS: in.RcvMSS, PMTU: in.PMTU, AdvMSS: in.AdvMSS, Cwnd: in.Cwnd, Ssthresh: in.Ssthresh,
				Unacked: in.Unacked, Retrans: uint64(in.Backoff), RetransSegs: st.Retrans,
				BytesSent: st.BytesOut, BytesRcvd: st.BytesIn, SegsOut: st.SegsOut, SegsIn: st.SegsIn,
				SndWnd: in.SndWnd, RcvWnd: in.RcvWnd, RcvSpace: in.RcvBuf,
			},
		})
	}
	return out
}

// tcpConnections collects the workers' connection listings (waiting up to
// publishWait); nothing while the engine does not run.
func (e *Engine) tcpConnections() []socktab.Entry {
	if e.state.Load() != stateRunning {
		return nil
	}
	var out []socktab.Entry
	for _, r := range datapath.Gather(e.dps(), func(dp *datapath.Worker) any {
		return e.workers[dp.Queue()].listTCP()
	}, publishWait) {
		if l, ok := r.([]socktab.Entry); ok {
			out = append(out, l...)
		}
	}
	slices.SortFunc(out, func(a, b socktab.Entry) int {
		if c := a.Local.Compare(b.Local); c != 0 {
			return c
		}
		return a.Peer.Compare(b.Peer)
	})
	return out
}
