package tcp

import (
	"github.com/xdpengine/engine/header"
)

func headerBlock(s, e Seq) header.SACKBlock {
	return header.SACKBlock{Start: uint32(s), End: uint32(e)}
}

// inputData trims an acceptable segment to the receive window, delivers
// its payload (in order into the ring, out of order into the ring's free
// space) and processes its FIN (RFC 9293 3.10.7.4 seventh and eighth
// checks). wnd is the window that was advertised.
func (e *Endpoint) inputData(now int64, seg *Segment, wnd uint32) {
	seq := seg.Seq
	p := seg.Payload
	fin := seg.Flags&FlagFIN != 0
	if seg.Flags&FlagSYN != 0 {
		seq++
	}
	// Trim the front (already received).
	if seq.LessThan(e.rcvNxt) {
		d := e.rcvNxt.Sub(seq)
		if int(d) > len(p) {
			if fin && int(d) == len(p)+1 {
				return // an old FIN: acknowledged below by ackNow in the caller's path
			}
			p = p[:0]
		} else {
			p = p[d:]
		}
		seq = e.rcvNxt
		if len(seg.Payload) > 0 {
			e.ackNow = true
		}
	}
	// Trim the back to the window; a FIN right at the edge is kept (as
	// Linux accepts it), one beyond is dropped with the data.
	if room := int(e.rcvNxt.Add(wnd).Sub(seq)); len(p) > room {
		p = p[:max(room, 0)]
		fin = false
	}
	if len(p) > 0 {
		switch e.state {
		case Established, FinWait1, FinWait2:
		default:
			p = p[:0] // RFC 9293: text after the peer's FIN is ignored
		}
	}
	if len(p) > 0 && e.closedApp {
		// Data after close(2): Linux answers RST (TCPAbortOnData).
		e.stats.DataAfterClose++
		e.Abort(now)
		return
	}
	if len(p) > 0 {
		e.rcvMSS = max(e.rcvMSS, min(len(p), e.cfg.MSS))
		if seq == e.rcvNxt {
			e.deliver(now, seg, p)
		} else {
			e.queueOOO(seq, p)
		}
	}
	if fin {
		end := seq.Add(uint32(len(p)))
		if end == e.rcvNxt {
			e.onFIN(now)
		} else if end.GreaterThan(e.rcvNxt) {
			e.oooFIN, e.oooFINSeq = true, end
			e.ackNow = true
		}
	}
	if len(p) > 0 && e.state != Closed {
		e.autoTune(now, seg)
	}
}

// deliver appends in-order payload p and any out-of-order data it joins.
func (e *Endpoint) deliver(now int64, seg *Segment, p []byte) {
	e.rcvReserve(e.rcv.Len() + len(p))
	n := e.rcv.Append(p)
	if n < len(p) && e.rcv.Cap() < e.cfg.RecvBufMax {
		e.memDrop() // the ring could not grow: the peer sends the rest again
	}
	if n == 0 {
		return
	}
	e.rcvNxt = e.rcvNxt.Add(uint32(n))
	e.stats.BytesIn += uint64(n)
	e.unackedBytes += n
	if e.ooo.n > 0 {
		nxt := e.ooo.popUpTo(e.rcvNxt)
		if k := int(nxt.Sub(e.rcvNxt)); k > 0 {
			e.rcv.Commit(k)
			e.stats.BytesIn += uint64(k)
			e.rcvNxt = nxt
		}
		e.ackNow = true // a hole was filled: tell the sender at once (RFC 5681 4.2)
	}
	e.events |= EvReadable
	if e.oooFIN && e.oooFINSeq == e.rcvNxt {
		e.oooFIN = false
		e.onFIN(now)
	}
	switch {
	case e.ackNow:
	case e.quickAcks > 0:
		e.quickAcks--
		e.ackNow = true
	case e.unackedBytes >= 2*e.rcvMSS:
		e.ackNow = true
	case e.delAckAt == 0:
		e.delAckAt = now + e.cfg.DelAck
	}
}

// queueOOO parks p (at seq beyond rcvNxt) in the receive ring's free space.
func (e *Endpoint) queueOOO(seq Seq, p []byte) {
	e.ackNow = true // immediate duplicate ACK with SACK (RFC 5681 4.2)
	e.dupAcksOwed++
	off := int(seq.Sub(e.rcvNxt))
	e.rcvReserve(e.rcv.Len() + off + len(p))
	n := e.rcv.WriteAt(off, p)
	if n < len(p) && e.rcv.Cap() < e.cfg.RecvBufMax {
		e.memDrop()
	}
	if n == 0 {
		e.stats.OOODrops++
		return
	}
	if _, ok := e.ooo.add(seq, seq.Add(uint32(n)), e.cfg.OOOLimit); !ok {
		e.stats.OOODrops++
		return
	}
	e.stats.OOOSegs++
}

// onFIN processes the peer's FIN once all data before it arrived. A FIN
// that closes our side (we sent ours) is acknowledged at once; one that
// opens CLOSE-WAIT is acknowledged like data, with the delayed-ACK timer,
// so that the application's close usually carries the ACK on its own FIN
// (Linux enters pingpong mode there: one segment instead of two).
func (e *Endpoint) onFIN(now int64) {
	e.rcvNxt = e.rcvNxt.Add(1)
	e.events |= EvPeerClosed | EvReadable
	if e.state == SynReceived || e.state == Established {
		e.unackedBytes++ // the FIN's sequence number: the timer acknowledges it
		if e.delAckAt == 0 && !e.ackNow {
			e.delAckAt = now + e.cfg.DelAck
		}
	} else {
		e.ackNow = true
	}
	switch e.state {
	case SynReceived, Established:
		e.state = CloseWait
	case FinWait1:
		if e.finSent && e.sndUna == e.finSeq.Add(1) {
			e.enterTimeWait(now)
		} else {
			e.state = Closing
		}
	case FinWait2:
		e.enterTimeWait(now)
	case TimeWait:
		e.closeAt = now + e.cfg.TimeWait
	}
}

// autoTune grows the receive window limit when the application drained
// more than half of it within one round trip (dynamic right-sizing, as
// Linux's tcp_rcv_space_adjust); not under memory pressure.
func (e *Endpoint) autoTune(now int64, seg *Segment) {
	if e.cfg.NoAutoTune || e.rcvLimit >= e.cfg.RecvBufMax {
		return
	}
	// Receiver-side RTT: from our echoed timestamp, else the time the
	// peer takes to fill one advertised window.
	switch {
	case e.tsOK && seg.Options.HasTimestamp && seg.Options.TSEcr != 0:
		if d := int64(e.tsNow(now)-seg.Options.TSEcr) * nsPerTS; d >= 0 && d < 60_000_000_000 {
			e.rcvRTT = max(d, nsPerTS)
		}
	case !e.rcvRTTActive:
		e.rcvRTTActive, e.rcvRTTSeq, e.rcvRTTAt = true, e.rcvAdvEdge, now
	case !e.rcvNxt.LessThan(e.rcvRTTSeq):
		e.rcvRTT = max(now-e.rcvRTTAt, 1)
		e.rcvRTTActive = false
	}
	rtt := e.rcvRTT
	if rtt == 0 {
		rtt = e.srtt
	}
	if rtt == 0 || now-e.drsStart < rtt {
		return
	}
	consumed := e.rcv.Consumed()
	copied := int(consumed - e.drsConsumed)
	e.drsStart, e.drsConsumed = now, consumed
	if want := 2 * copied; want > e.rcvLimit {
		if e.cfg.Memory.UnderPressure() {
			e.cfg.Memory.note(memDenied)
			return
		}
		e.rcvLimit = min(want, e.cfg.RecvBufMax)
		e.stats.RcvBufGrow++
	}
}

// memDrop counts data dropped because the receive ring could not grow
// (the memory above its high threshold) and has the peer told where the
// data stopped at once.
func (e *Endpoint) memDrop() {
	e.cfg.Memory.note(memDrop)
	e.ackNow = true
}
