package tcpsock

import (
	"syscall"

	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/tcp"
)

// serviceTCP runs Output for c, publishes its events to the application,
// and either frees it (CLOSED) or reschedules its timer.
func (w *worker) serviceTCP(c *Conn) {
	c.deferred = false // serviced now: serviceDeferred skips it
	s := &w.sink
	s.to(c.key.DstAddrPort().Addr(), c.key.SrcAddrPort().Addr(), c)
	c.ep.Output(w.l.Now(), s)
	if s.failed && !c.retrying {
		c.retrying = true
		w.retry = append(w.retry, c)
	}
	if c.lastState != tcp.TimeWait && c.ep.State() == tcp.TimeWait && w.st.TCP.CurrTimeWait >= uint64(w.maxTimeWait) {
		c.ep.EndTimeWait(w.l.Now()) // the TIME-WAIT table is full (Linux: tcp_max_tw_buckets)
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
	if state == tcp.TimeWait {
		// A small record answers the peer from now on (timewait.go);
		// the connection's memory goes back once the application is
		// done with it too.
		w.toTimeWait(c)
		return
	}
	w.timerFix(c, c.ep.NextTimer())
}

// tcpTransition keeps the counters that follow state changes.
func (w *worker) tcpTransition(c *Conn, from, to tcp.State) {
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
		// Publish the state before looking for the entry: a holdPort
		// racing with this (CAS on sock, then a load of pubState) sees
		// one or the other.
		c.pubState.Store(uint32(to))
		if s := c.portSock(); s != nil {
			w.s.tab.SetState(s, socktab.StateTimeWait) // the bind rules of TIME-WAIT
		}
	}
	if from == tcp.TimeWait {
		st.CurrTimeWait--
	}
	if to == tcp.TimeWait || to == tcp.Closed {
		w.unorphan(c)
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
		w.wk.Wake(c.wnotify.Load(), &c.wwait) // our FIN is acknowledged: a lingering Close returns
	}
}

func (w *worker) unqueueSYN(ln *Listener) {
	if n := w.synq[ln] - 1; n > 0 {
		w.synq[ln] = n
	} else {
		delete(w.synq, ln)
	}
}

// freeTCP removes a CLOSED connection from the worker.
func (w *worker) freeTCP(c *Conn) {
	if c.freed {
		return
	}
	c.freed = true
	w.unorphan(c)
	if w.conns.Lookup(&c.key) == c {
		w.conns.Delete(c.key)
	}
	w.timerFix(c, 0)
	if c.ln != nil {
		c.ln.unregister(c)
	}
	if s := c.sock.Swap(&freedSock); s != nil && s != &freedSock {
		w.s.tab.Close(s) // releases the port; the mutex is uncontended on this path
	}
	c.pubState.Store(uint32(tcp.Closed))
	c.gone.Store(true) // pairs with the loads in TCPConn's Read and Write
	w.wk.Wake(c.rnotify.Load(), &c.rwait)
	w.wk.Wake(c.wnotify.Load(), &c.wwait)
	c.release() // the worker's reference: it never touches the rings again
}

// tcpRound runs TCP's per-round work: application commands, expired
// timers, and retries of Output that ran out of tx frames. It returns the
// work done.
func (w *worker) tcpRound() int {
	work := w.serviceDeferred()
	for range commandRing {
		cmd, ok := w.cmdq.Dequeue()
		if !ok {
			break
		}
		w.tcpCommand(cmd)
		work++
	}
	work += w.cmdq.Grant(w.wk) // room for the applications that wait for it
	for i := 0; i < tcpTimerBatch && len(w.heap) > 0 && w.heap[0].timerAt <= w.l.Now(); i++ {
		c := w.heap[0]
		c.ep.OnTimer(w.l.Now())
		w.serviceTCP(c)
		if c.timerAt != 0 && c.timerAt <= w.l.Now() && !c.freed {
			w.timerFix(c, w.l.Now()+1) // OnTimer left it due: try next round
		}
		work++
	}
	work += w.twRound()
	for len(w.twReuse) > 0 && w.twReuse[0].at <= w.l.Now() {
		t := w.twReuse[0].t
		w.twReuse[0] = twRelease{}
		w.twReuse = w.twReuse[1:]
		if s := t.sock.Load(); !t.gone && s != nil && s != &freedSock {
			// The 4-tuple may be connected again (tw_reuse); the port
			// stays bound against bind and listen until TIME-WAIT ends.
			w.s.tab.ReleaseTuple(s)
		}
		work++
	}
	if len(w.retry) > 0 {
		retry := w.retry
		w.retry = w.retry[len(retry):]
		for i, c := range retry {
			retry[i] = nil
			c.retrying = false
			if !c.freed {
				w.serviceTCP(c)
			}
		}
		if len(w.retry) == 0 {
			w.retry = retry[:0]
		}
		work++
	}
	return work
}

func (w *worker) tcpCommand(cmd command) {
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
		if t := w.tw.Lookup(&c.key); t != nil {
			// A TIME-WAIT connection on the tuple the socket table gave
			// out again (its port was released early): replace it.
			w.expireTW(t)
		}
		if w.conns.Len() >= w.maxConns || w.memFull() || !w.insert(c) {
			// Config.TCPMaxConnections reached, or the memory above its
			// high threshold: the Dial fails.
			c.errno.Store(uint32(syscall.ENOBUFS)) // before freeTCP's gone and wakeups
			w.freeTCP(c)
			return
		}
		w.st.TCP.ActiveOpens++
	case cmdPoke:
		c.pokeQueued.Store(false) // pairs with the CAS in poke: a later poke queues again
	case cmdClose:
		w.closeOrphan(c)
	case cmdCloseWrite:
		c.ep.CloseWrite(w.l.Now())
	case cmdAbort:
		c.ep.Abort(w.l.Now())
	case cmdNoDelay:
		c.ep.SetNoDelay(cmd.on)
	case cmdKeepAlive:
		c.ep.SetKeepAlive(w.l.Now(), cmd.on, cmd.arg, cmd.arg, 0)
	case cmdRecvBuffer:
		c.ep.SetRecvBuffer(int(cmd.arg))
	case cmdGrowSend:
		// The application waits in Write and does not touch the ring.
		if c.ep.SendRing().Cap() < int(cmd.arg) && c.ep.GrowSendRing(int(cmd.arg)) == nil {
			w.st.TCP.SendBufGrowths++
		}
		c.growDone.Add(1) // pairs with the loads in waitGrown: the ring is the application's again
		w.wk.Wake(c.wnotify.Load(), &c.wwait)
	}
	w.serviceTCP(c)
}

// listenerClosed aborts the listener's connections that the application
// never accepted, as Linux does when a listening socket closes: those in
// SYN-RECEIVED and those waiting in this worker's accept queue (the
// application handed the queue's consumer side to this worker when it
// closed the listener).
func (w *worker) listenerClosed(ln *Listener) {
	l := ln.ls[w.queue]
	for {
		ep, ok := l.Accept()
		if !ok {
			break
		}
		if c := ln.take(ep); c != nil {
			if !c.freed {
				c.ep.Abort(w.l.Now())
				w.serviceTCP(c)
			}
			c.releaseApp() // taken from the queue: no application will have it
		}
	}
	if w.synq[ln] == 0 {
		return
	}
	for _, c := range w.connSlice() {
		if c.ln == ln && c.lastState == tcp.SynReceived {
			c.ep.Abort(w.l.Now())
			w.serviceTCP(c)
		}
	}
}

// nextTCPTimer returns the earliest TCP deadline, 0 when none.
func (w *worker) nextTCPTimer() int64 {
	if len(w.retry) > 0 {
		return w.l.Now()
	}
	at := int64(0)
	if len(w.heap) > 0 {
		at = w.heap[0].timerAt
	}
	if len(w.twReuse) > 0 && (at == 0 || w.twReuse[0].at < at) {
		at = w.twReuse[0].at
	}
	if t := w.twNext(); t != 0 && (at == 0 || t < at) {
		at = t
	}
	return at
}

// drainTCP frees every connection when the worker stops.
func (w *worker) drainTCP() {
	// First: whatever happens below (a worker that panicked drains too),
	// applications waiting for room or for an answer to a command give up.
	w.cmdq.Close()
	for _, c := range w.connSlice() {
		c.ep.Abort(w.l.Now())
		w.freeTCP(c)
	}
	for w.twq.n > 0 {
		w.expireTW(w.twq.peek())
		w.twq.pop()
	}
	for {
		cmd, ok := w.cmdq.Dequeue()
		if !ok {
			break
		}
		if cmd.c != nil && !cmd.c.freed {
			cmd.c.ep.Abort(w.l.Now())
			w.freeTCP(cmd.c)
		}
	}
}

// serviceDeferred services the connections segment deferred (worker.
// deferred) and returns how many. A connection serviced meanwhile (a
// timer, a command, a later segment that changed its state) has its
// flag cleared and is skipped; one freed meanwhile too.
func (w *worker) serviceDeferred() int {
	n := 0
	for i := 0; i < len(w.deferred); i++ { // len each time: servicing may defer more
		c := w.deferred[i]
		w.deferred[i] = nil
		if c.deferred && !c.freed {
			w.serviceTCP(c)
			n++
		}
		c.deferred = false
	}
	w.deferred = w.deferred[:0]
	return n
}
