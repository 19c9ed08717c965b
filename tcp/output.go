package tcp

import "github.com/xdpengine/engine/header"

// maxBurst bounds the segments one Output call emits, so that one
// connection cannot monopolise a worker's burst.
const maxBurst = 256

// Output emits, through s, every segment the connection may send at now:
// a pending RST, the SYN or SYN-ACK, retransmissions, new data within
// min(cwnd, peer window) (Nagle and sender SWS avoidance applied), a FIN,
// window probes and keepalives, and a pure ACK or window update when one
// is due. It returns the number of segments emitted. The worker calls it
// after Input, OnTimer, the application's writes and reads, and Close.
func (e *Endpoint) Output(now int64, s Sink) int {
	sent := 0
	if e.rstPending {
		if !e.emitRST(s) {
			return 0
		}
		sent++
	}
	switch e.state {
	case Closed, Listen:
		return sent
	case SynSent, SynReceived:
		if e.state == SynReceived && e.ackNow {
			e.ackNow, e.synPending = false, true // answer with the SYN-ACK
		}
		if e.synPending && e.emitSYN(now, s) {
			sent++
		}
		return sent
	case TimeWait:
		if e.ackNow && e.emitSeg(now, s, e.sndMax, 0, false, false) {
			sent++
		}
		return sent
	}
	// One duplicate ACK per out-of-order segment, even when Input ran for
	// a whole burst before this Output (the peer counts them, RFC 5681):
	// k of them for k segments, the first being the ACK that was due.
	// Only while they are duplicates: when the burst also moved rcvNxt (a
	// hole filled), they would repeat the new point with nothing missing
	// behind it, which a sender without SACK takes for a loss; the one
	// ACK due says it all.
	if e.rcvNxt != e.lastAckSent {
		e.dupAcksOwed = 0
	}
	for ; e.dupAcksOwed > 0; e.dupAcksOwed-- {
		if !e.emitSeg(now, s, e.sndMax, 0, false, false) {
			return sent
		}
		sent++
	}
	e.dupAcksOwed = 0
	if e.trimAt == 0 {
		e.armTrim(now)
	}
	sent += e.sendData(now, s)
	if e.rack.tlpRearm {
		e.armTLP(now)
	}
	if e.probePending {
		e.probePending = false
		if e.emitSeg(now, s, e.sndUna.Add(^uint32(0)), 0, false, false) {
			e.stats.Probes++
			sent++
		}
	}
	if !e.ackNow && e.windowUpdateDue() {
		e.ackNow = true
	}
	// A pure ACK carries snd.max, not a rewound snd.nxt: the peer has
	// seen that far, and would drop an ACK with an older sequence number.
	if e.ackNow && e.emitSeg(now, s, e.sndMax, 0, false, false) {
		sent++
	}
	return sent
}

// sendData emits retransmissions, new data and the FIN.
func (e *Endpoint) sendData(now int64, s Sink) int {
	sent := 0
	mss := e.mss()
	for sent < maxBurst {
		dataEnd := e.dataEnd()
		if e.rexmitPending {
			// Fast retransmit / NewReno partial ACK: snd.una's segment,
			// regardless of cwnd (RFC 5681 3.2 step 4).
			e.rexmitPending = false
			end := e.sb.nextSackedAfter(e.sndUna, seqMin(e.sndUna.Add(uint32(mss)), dataEnd))
			n := int(end.Sub(e.sndUna))
			if end.GreaterThan(dataEnd) {
				n = 0
			}
			fin := e.finSent && e.sndUna.Add(uint32(n)) == e.finSeq
			if n == 0 && !fin {
				continue
			}
			if !e.emitSeg(now, s, e.sndUna, n, fin, true) {
				e.rexmitPending = true
				return sent
			}
			sent++
			continue
		}
		if e.sackOK && e.txq.lost > 0 && (e.rack.forceRexmit || e.inflight() < e.cc.Cwnd()) {
			// RFC 6675 NextSeg rule 1, with RACK's marks as IsLost: the
			// first lost segment. The first retransmission of a recovery
			// episode (and a TLP) goes regardless of cwnd.
			if hs, he, ok := e.firstLost(); ok {
				he0 := he
				hs, he = e.clipData(hs, he, dataEnd)
				n := min(int(he.Sub(hs)), mss)
				fin := e.finSent && hs.Add(uint32(n)) == e.finSeq && he0.GreaterThan(e.finSeq)
				if n == 0 && !fin {
					e.txq.dropLost(hs) // nothing left to send there
					continue
				}
				if !e.emitSeg(now, s, hs, n, fin, true) {
					return sent
				}
				e.rack.forceRexmit = false
				sent++
				continue
			}
		}
		e.rack.forceRexmit = false
		if e.inflight() >= e.cc.Cwnd() && !e.rack.tlpNewData {
			e.appLimited = false
			break
		}
		if e.sndNxt.LessThan(e.sndMax) {
			// Go-back-N after an RTO, skipping what the peer SACKed.
			if end, ok := e.sb.sackedAt(e.sndNxt); ok {
				e.sndNxt = seqMin(end, e.sndMax)
				continue
			}
			lim := e.sb.nextSackedAfter(e.sndNxt, seqMin(seqMin(e.sndMax, e.goBackEnd), dataEnd))
			n := min(int(lim.Sub(e.sndNxt)), mss)
			if lim.LessThan(e.sndNxt) {
				n = 0
			}
			fin := e.finSent && e.sndNxt.Add(uint32(n)) == e.finSeq
			if n == 0 && !fin {
				e.sndNxt = e.sndMax // nothing left to resend below sndMax
				continue
			}
			if !e.emitSeg(now, s, e.sndNxt, n, fin, true) {
				return sent
			}
			sent++
			continue
		}
		// New data.
		avail := int(dataEnd.Sub(e.sndNxt))
		if dataEnd.LessThan(e.sndNxt) {
			avail = 0
		}
		room := 0
		if wndEnd := e.sndUna.Add(e.sndWnd); wndEnd.GreaterThan(e.sndNxt) {
			room = int(wndEnd.Sub(e.sndNxt))
		}
		n := min(avail, room, mss)
		if avail > 0 && n < mss && n < avail && n < int(e.maxSndWnd/2) && !e.swsOverride {
			n = 0 // sender SWS avoidance (RFC 9293 3.8.6.2.1)
		}
		e.swsOverride = false
		if n == 0 {
			if avail > 0 {
				// Window-limited: the persist timer probes a closed
				// window when nothing is in flight to bring an ACK.
				if e.sndUna == e.sndMax && e.persistAt == 0 {
					e.persistAt = now + e.persistTimeout()
				}
				e.appLimited = false
				break
			}
			if e.finQueued && !e.finSent {
				if !e.emitSeg(now, s, e.sndNxt, 0, true, false) {
					return sent
				}
				sent++
				continue
			}
			e.appLimited = true
			break
		}
		if n < mss && n == avail && !e.cfg.NoDelay && e.sndNxt != e.sndUna && !e.finQueued {
			e.appLimited = true
			break // Nagle: a small segment waits while data is unacknowledged
		}
		if n == mss && e.mtup.enabled {
			if p := e.mtuProbeLen(now, avail, room); p > 0 {
				// RFC 4821: one larger segment instead (pmtu.go).
				seq := e.sndNxt
				if !e.emit(now, s, seq, p, false, false, p+e.optLen()) {
					return sent
				}
				e.mtuProbeSent(seq, p)
				e.rack.tlpNewData = false
				sent++
				continue
			}
		}
		fin := e.finQueued && e.sndNxt.Add(uint32(n)) == dataEnd
		if !e.emitSeg(now, s, e.sndNxt, n, fin, false) {
			return sent
		}
		e.rack.tlpNewData = false
		sent++
	}
	e.rack.tlpNewData = false
	return sent
}

// clipData limits a retransmission range to the data in the ring (the FIN
// is added by the caller).
func (e *Endpoint) clipData(hs, he, dataEnd Seq) (Seq, Seq) {
	if dataEnd.LessThan(he) {
		he = dataEnd
	}
	if he.LessThan(hs) {
		he = hs
	}
	return hs, he
}

// fillHeader writes the common fields of a segment into h and returns the
// right window edge it advertises.
func (e *Endpoint) fillHeader(now int64, h *header.TCPFields, seq Seq, flags uint8) Seq {
	h.SrcPort, h.DstPort = e.cfg.LocalPort, e.cfg.RemotePort
	h.Seq, h.Ack, h.Flags = uint32(seq), uint32(e.rcvNxt), flags
	h.Checksum, h.Urgent = 0, 0
	h.Options = header.TCPOptions{}
	wnd, edge := e.rcvWindow()
	h.Window = wnd
	if e.tsOK {
		h.Options.HasTimestamp = true
		h.Options.TSVal, h.Options.TSEcr = e.tsNow(now), e.tsRecent
	}
	if e.sackOK && (e.ooo.n > 0 || e.hasDSACK) {
		max := header.TCPMaxSACKBlocks
		if e.tsOK {
			max = 3
		}
		k := 0
		if e.hasDSACK {
			h.Options.SACK[0] = e.dsack
			k = 1
		}
		k += e.ooo.blocks(h.Options.SACK[k:], max-k)
		h.Options.NumSACK = k
	}
	return edge
}

// emitSeg sends [seq, seq+n) from the send ring with an ACK (and FIN when
// fin), and updates the sender's state when the sink took it. The payload
// is cut to what a full segment carries with the options it has.
func (e *Endpoint) emitSeg(now int64, s Sink, seq Seq, n int, fin, retrans bool) bool {
	return e.emit(now, s, seq, n, fin, retrans, e.segMax)
}

// emit is emitSeg with segLimit, the payload and options allowed (larger
// than segMax for an MTU probe).
func (e *Endpoint) emit(now int64, s Sink, seq Seq, n int, fin, retrans bool, segLimit int) bool {
	h := &e.hdr
	flags := uint8(FlagACK)
	edge := e.fillHeader(now, h, seq, flags)
	if maxp := segLimit - h.Options.Len(); n > maxp {
		n, fin = max(maxp, 0), false
	}
	if fin {
		h.Flags |= FlagFIN
	}
	var p1, p2 []byte
	if n > 0 {
		p1, p2 = e.snd.Peek(int(seq.Sub(e.sndBase)), n)
		if len(p1)+len(p2) < n { // cannot happen: data below dataEnd is in the ring
			return false
		}
		if seq.Add(uint32(n)) == e.dataEnd() {
			h.Flags |= FlagPSH
		}
	}
	if !s.Emit(h, p1, p2) {
		return false
	}
	e.stats.SegsOut++
	e.afterAck(edge)
	if n == 0 && !fin {
		return true
	}
	end := seq.Add(uint32(n))
	if fin {
		if !e.finSent {
			e.finSent, e.finSeq = true, end
		}
		end++
	}
	if e.sackOK {
		e.rackRecord(now, seq, end, retrans)
	}
	if retrans {
		e.mtuProbeRetransmitted(seq, end)
		e.stats.Retrans++
		if t := e.cfg.Totals; t != nil {
			t.Retrans++
		}
		e.stats.RetransBytes += uint64(n)
		if e.rttTiming && e.rttSeq.GreaterThan(seq) {
			e.rttTiming = false // Karn
		}
		if e.highRxt.LessThan(end) {
			e.highRxt = end
		}
	} else {
		e.rack.tlpRearm = true
		e.stats.BytesOut += uint64(n)
		if !e.rttTiming {
			e.rttTiming, e.rttSeq, e.rttStart = true, end, now
		}
	}
	if e.sndNxt.LessThan(end) {
		e.sndNxt = end
	}
	if e.sndMax.LessThan(e.sndNxt) {
		e.sndMax = e.sndNxt
	}
	if e.rtoAt == 0 {
		e.rtoAt = now + e.currentRTO()
	}
	e.persistAt = 0
	return true
}

// afterAck records that a segment carrying our ACK and window went out.
func (e *Endpoint) afterAck(edge Seq) {
	e.ackNow, e.delAckAt, e.unackedBytes, e.hasDSACK = false, 0, 0, false
	e.lastAckSent = e.rcvNxt
	if e.rcvAdvEdge.LessThan(edge) {
		e.rcvAdvEdge = edge
	}
}

func (e *Endpoint) emitSYN(now int64, s Sink) bool {
	h := &e.hdr
	h.SrcPort, h.DstPort = e.cfg.LocalPort, e.cfg.RemotePort
	h.Seq, h.Ack, h.Flags = uint32(e.iss), 0, FlagSYN
	h.Checksum, h.Urgent = 0, 0
	if e.state == SynReceived {
		h.Ack, h.Flags = uint32(e.rcvNxt), FlagSYN|FlagACK
	}
	win := min(e.rcvSpace(), 0xffff)
	h.Window = uint16(win)
	o := &h.Options
	*o = header.TCPOptions{HasMSS: true, MSS: uint16(e.advMSS())}
	if e.passive || e.state == SynReceived && e.irs != 0 && e.sndShift+e.rcvShift > 0 {
		// Answer only what the peer offered (negotiate cleared the rest).
		o.HasWScale, o.WindowScale = e.rcvShift > 0 || e.sndShift > 0, e.rcvShift
		o.SACKPermitted = e.sackOK
		o.HasTimestamp = e.tsOK
	} else {
		o.HasWScale, o.WindowScale = !e.cfg.DisableWScale, e.rcvShift
		o.SACKPermitted = !e.cfg.DisableSACK
		o.HasTimestamp = !e.cfg.DisableTimestamps
	}
	if o.HasTimestamp {
		o.TSVal, o.TSEcr = e.tsNow(now), e.tsRecent
	}
	if !s.Emit(h, nil, nil) {
		return false
	}
	e.stats.SegsOut++
	e.synPending = false
	if e.sndNxt == e.iss {
		e.sndNxt, e.sndMax = e.iss.Add(1), e.iss.Add(1)
		e.rttTiming, e.rttSeq, e.rttStart = true, e.iss.Add(1), now
	} else {
		e.stats.Retrans++
		if t := e.cfg.Totals; t != nil {
			t.Retrans++
		}
	}
	if e.state == SynReceived {
		e.afterAck(e.rcvNxt.Add(uint32(win)))
	}
	if e.rtoAt == 0 {
		e.rtoAt = now + e.currentRTO()
	}
	return true
}

func (e *Endpoint) emitRST(s Sink) bool {
	h := &e.hdr
	h.SrcPort, h.DstPort = e.cfg.LocalPort, e.cfg.RemotePort
	h.Seq, h.Ack, h.Flags = uint32(e.rstSeq), uint32(e.rstAck), e.rstFlags
	h.Window, h.Checksum, h.Urgent = 0, 0, 0
	h.Options = header.TCPOptions{}
	if !s.Emit(h, nil, nil) {
		return false
	}
	e.rstPending = false
	e.stats.SegsOut++
	e.stats.RSTOut++
	return true
}

// rcvWindow returns the window field to advertise and the right edge it
// means. The edge never moves left (RFC 9293 3.8.6), and it moves right
// only by at least min(limit/2, MSS) at a time (receiver SWS avoidance,
// 3.8.6.2.2).
func (e *Endpoint) rcvWindow() (uint16, Seq) {
	avail := e.rcvSpace()
	cur := 0
	if e.rcvAdvEdge.GreaterThan(e.rcvNxt) {
		cur = int(e.rcvAdvEdge.Sub(e.rcvNxt))
	}
	if avail < cur || avail-cur < min(e.rcvLimit/2, e.rcvMSS) {
		avail = cur
	}
	f := avail >> e.rcvShift
	if f<<e.rcvShift < cur {
		f++
	}
	f = min(f, 0xffff)
	return uint16(f), e.rcvNxt.Add(uint32(f << e.rcvShift))
}

// windowUpdateDue reports whether the application's reads opened the
// window enough to tell the peer now: the advertised window is at most
// half the buffer and the new one at least doubles it (Linux's
// tcp_cleanup_rbuf rule) by at least one segment.
func (e *Endpoint) windowUpdateDue() bool {
	switch e.state {
	case Established, FinWait1, FinWait2:
	default:
		return false
	}
	cur := int(e.rcvAdvEdge.Sub(e.rcvNxt))
	if e.rcvAdvEdge.LessThan(e.rcvNxt) {
		cur = 0
	}
	if 2*cur > e.rcvLimit {
		return false
	}
	_, edge := e.rcvWindow()
	nw := int(edge.Sub(e.rcvNxt))
	return nw >= 2*cur && nw-cur >= min(e.rcvMSS, e.rcvLimit/2)
}
