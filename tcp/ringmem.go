package tcp

import "math/bits"

// Ring memory that grows with use and is given back when idle.
//
// A connection's rings start without memory, as a Linux socket holds no
// buffers until data comes: an idle connection costs its control block
// only. Memory comes from Config.Buffers (a pool) and is charged to
// Config.Memory (the engine's tcp_mem) for as long as a ring holds it.
//
//   - Receive: the window advertised is the limit (RecvBufMin at first,
//     grown by auto-tuning toward RecvBufMax, or SO_RCVBUF) less the data
//     unread; the ring grows, when a segment arrives, to hold what it
//     brings (in order, or out of order at its offset), to the next power
//     of two and at least double, so a transfer grows it in a few steps.
//     Every byte inside a window already advertised is taken: the right
//     edge never moves left (RFC 9293 3.8.6). The worker replaces the
//     memory without waiting for the reader (read-copy-update, ring.go).
//   - Send: the application's first Write attaches SendBuf bytes, or the
//     next power of two of what it writes (at least BufMin); the engine
//     grows the ring when the application fills it (GrowSendRing).
//   - Idle: once no data moved for BufIdle, TrimBuffers gives back a ring
//     that is empty (the receive ring holding no data, in order or not;
//     the send ring with everything acknowledged), and the loss-recovery
//     records. The engine trims at once under memory pressure.
//   - Pressure (Memory): windows open no further than the memory held (at
//     least BufMin), auto-tuning and send rings do not grow, new send
//     rings take BufMin. Above the high threshold no ring grows past
//     BufMin: data a receive ring cannot take is dropped (the peer sends
//     it again; the window stays) and counted.

// keepTxRecs bounds the RACK records a recycled endpoint keeps.
const keepTxRecs = 64

func pow2Ceil(n int) int {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(n-1))
}

// getBuf returns size bytes of ring memory, from Config.Buffers when it
// lends a buffer of that size, charged to Config.Memory.
func (e *Endpoint) getBuf(size int) []byte {
	var b []byte
	if e.cfg.Buffers != nil {
		b = e.cfg.Buffers.Get(size)
	}
	if len(b) != size || cap(b) != size {
		b = make([]byte, size)
	}
	e.cfg.Memory.charge(size)
	return b
}

// putBuf uncharges b and gives it to Config.Buffers when reusable (else
// the garbage collector frees it once nobody reads from it).
func (e *Endpoint) putBuf(b []byte, reusable bool) {
	if len(b) == 0 {
		return
	}
	e.cfg.Memory.uncharge(len(b))
	switch {
	case !reusable:
		e.cfg.Memory.note(memToGC)
		if e.cfg.Buffers != nil {
			e.cfg.Buffers.Abandon(b)
		}
	case e.cfg.Buffers != nil:
		e.cfg.Buffers.Put(b)
	}
}

// putSpent gives back what a ring gave up.
func (e *Endpoint) putSpent(sp spent) {
	for _, b := range sp {
		e.putBuf(b, true)
	}
}

// attachSend gives the send ring its first memory for a Write of want
// bytes. The application's goroutine, inside ByteRing.Write (the worker
// cannot change the ring meanwhile); it reads only what does not change
// after the endpoint is made (the configuration) and atomics.
func (e *Endpoint) attachSend(r *ByteRing, want int) {
	size := e.sendAttachSize(want)
	if size < min(pow2Ceil(want), e.cfg.SendBuf) {
		e.cfg.Memory.note(memDenied)
	}
	var sp spent // a ring without memory, never stale: nothing comes back
	r.moveTo(e.getBuf(size), 0, &sp)
	e.cfg.Memory.note(memGrow)
}

// sendAttachSize is the memory a send ring without any gets for a Write
// of want bytes: the next power of two, within [BufMin, SendBuf]; BufMin
// under pressure.
func (e *Endpoint) sendAttachSize(want int) int {
	size := min(max(pow2Ceil(want), e.cfg.BufMin), e.cfg.SendBuf)
	if e.cfg.Memory.UnderPressure() || !e.cfg.Memory.fits(size) {
		return e.cfg.BufMin
	}
	return size
}

// rcvReserve makes the receive ring hold need bytes past its tail (data
// unread, and the segment being placed at its offset), when the memory
// allows it: up to BufMin always, more within the high threshold (else
// the ring stays as it is, and what does not fit is dropped). Worker
// only.
func (e *Endpoint) rcvReserve(need int) {
	c := e.rcv.Cap()
	if need <= c || e.released {
		return
	}
	size := min(max(pow2Ceil(need), 2*c, e.cfg.BufMin), e.cfg.RecvBufMax)
	if size > e.cfg.BufMin && !e.cfg.Memory.fits(size-c) {
		size = min(max(pow2Ceil(need), 2*c), e.cfg.RecvBufMax) // no doubling ahead of need
		if size > e.cfg.BufMin && !e.cfg.Memory.fits(size-c) {
			size = e.cfg.BufMin // what every connection may hold
		}
		e.cfg.Memory.note(memDenied)
	}
	if size <= c {
		return
	}
	extra := 0 // out-of-order data past head moves too
	if e.ooo.n > 0 {
		extra = int(e.ooo.r[e.ooo.n-1].end.Sub(e.rcvNxt))
	}
	sp, gc := e.rcv.replace(e.getBuf(size), extra)
	e.putSpent(sp)
	e.putBuf(gc, false)
	e.cfg.Memory.note(memGrow)
}

// rcvSpace is how much window the connection may offer past rcvNxt now:
// its limit less the data unread. Under memory pressure the limit is the
// memory the receive ring holds, or BufMin when that is less.
func (e *Endpoint) rcvSpace() int {
	if e.released {
		return 0
	}
	lim := e.rcvLimit
	if e.cfg.Memory.UnderPressure() {
		lim = min(lim, max(e.rcv.Cap(), e.cfg.BufMin))
	}
	return max(lim-e.rcv.Len(), 0)
}

// TrimBuffers gives back what an idle connection does not need: the
// receive ring's memory when it holds no data (none unread, none out of
// order), the send ring's when everything written was acknowledged (and
// the application is not inside Write at this moment), and the
// loss-recovery records when nothing is in flight. The rings get memory
// again as data comes or is written; the window advertised stays valid.
// It returns the ring bytes given back. Worker only.
func (e *Endpoint) TrimBuffers() int {
	if e.released {
		return 0
	}
	e.putSpent(e.rcv.reclaim())
	freed := 0
	if c := e.rcv.Cap(); c > 0 && e.rcv.Len() == 0 && e.ooo.n == 0 {
		sp, gc := e.rcv.replace(nil, 0)
		e.putSpent(sp)
		e.putBuf(gc, false)
		freed += c
	}
	if c := e.snd.Cap(); c > 0 && e.snd.Len() == 0 {
		if sp, ok := e.snd.tryReplace(nil); ok {
			e.putSpent(sp)
			freed += c
		}
	}
	if e.sndUna == e.sndMax {
		e.releaseRecords()
	}
	if freed > 0 {
		e.cfg.Memory.note(memTrim)
	}
	return freed
}

// releaseRecords drops the empty loss-recovery records (RACK's queue, the
// SACK scoreboard, the out-of-order ranges).
func (e *Endpoint) releaseRecords() {
	if e.txq.n == 0 {
		e.txq.r, e.txq.head = nil, 0
	}
	e.sb.release()
	e.ooo.release()
}

// holdsMemory reports whether the connection holds ring memory or
// records that TrimBuffers could give back.
func (e *Endpoint) holdsMemory() bool {
	return !e.released && (e.rcv.Cap() > 0 || e.snd.Cap() > 0 || e.txq.r != nil || e.sb.r != nil || e.ooo.r != nil)
}

// activity changes whenever data moves: received, sent, read or written.
func (e *Endpoint) activity() uint64 {
	return e.stats.BytesIn + e.stats.BytesOut + e.rcv.Consumed() + e.snd.head.Load()
}

// armTrim starts the idle-trim timer when the connection holds memory.
// Output calls it.
func (e *Endpoint) armTrim(now int64) {
	if e.trimAt == 0 && e.state.synchronized() && e.state != TimeWait && e.holdsMemory() {
		e.trimAt, e.trimMark, e.trimMisses = now+e.cfg.BufIdle, e.activity(), 0
	}
}

// onTrimTimer trims when no data moved since the timer was set, else
// waits BufIdle more; a trim that left memory held (data waiting) backs
// off, up to 16 BufIdle.
func (e *Endpoint) onTrimTimer(now int64) {
	if a := e.activity(); a != e.trimMark {
		e.trimAt, e.trimMark, e.trimMisses = now+e.cfg.BufIdle, a, 0
		return
	}
	e.TrimBuffers()
	if !e.holdsMemory() {
		e.trimAt = 0
		return
	}
	e.trimMisses = min(e.trimMisses+1, 4)
	e.trimAt = now + e.cfg.BufIdle<<int(e.trimMisses)
}
