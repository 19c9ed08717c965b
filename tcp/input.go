package tcp

import (
	"syscall"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/tcp/cc"
)

// InputResult tells the engine what became of a segment.
type InputResult uint8

const (
	// Consumed: the endpoint processed (or dropped) the segment.
	Consumed InputResult = iota
	// Reopen: the endpoint was in TIME-WAIT and accepted a new SYN for the
	// same 4-tuple (Linux tcp_tw_reuse-like, by higher timestamp or
	// sequence). The endpoint is now CLOSED; the engine frees it and hands
	// the same segment to the listener, choosing an ISN above ReopenISN.
	Reopen
)

// ReopenISN returns a sequence number safely above anything this
// endpoint sent, for the ISN of a connection that replaces it.
func (e *Endpoint) ReopenISN() Seq { return e.sndMax.Add(65535 + 2) }

// Input processes one received segment at now (RFC 9293 3.10.7).
func (e *Endpoint) Input(now int64, seg *Segment) InputResult {
	e.stats.SegsIn++
	switch e.state {
	case Closed, Listen:
		return Consumed
	case SynSent:
		e.inputSynSent(now, seg)
		return Consumed
	case TimeWait:
		if seg.Flags&(FlagSYN|FlagACK|FlagRST) == FlagSYN && e.reuseOK(seg) {
			e.enterClosed(now)
			return Reopen
		}
	}
	if seg.Flags&FlagRST != 0 {
		e.stats.RSTIn++
	}
	if e.state == SynReceived && !e.passive && e.simOpenSynAck(seg) {
		// Simultaneous open: the peer's SYN-ACK repeats its SYN (already
		// counted in rcvNxt); take it as the ACK it carries, as Linux does.
		s := *seg
		s.Flags &^= FlagSYN
		s.Seq++
		seg = &s
	}

	// A retransmitted SYN in SYN-RECEIVED gets the SYN-ACK again.
	if e.state == SynReceived && seg.Flags&(FlagSYN|FlagACK|FlagRST) == FlagSYN && seg.Seq == e.irs {
		e.synPending = true
		return Consumed
	}
	// SYN in a synchronized state, whatever its sequence number (RFC 5961
	// 4.2): challenge ACK.
	if seg.Flags&(FlagSYN|FlagRST) == FlagSYN {
		e.challengeAck(now)
		return Consumed
	}

	// PAWS (RFC 7323 5.3).
	if e.tsOK && seg.Options.HasTimestamp && seg.Flags&FlagRST == 0 &&
		int32(seg.Options.TSVal-e.tsRecent) < 0 && now-e.tsRecentAt < pawsIdle {
		e.stats.PAWSDrops++
		e.ackNow = true
		return Consumed
	}

	// Sequence acceptability (3.10.7.4 table).
	wnd := uint32(0)
	if e.rcvAdvEdge.GreaterThan(e.rcvNxt) {
		wnd = e.rcvAdvEdge.Sub(e.rcvNxt)
	}
	segLen := seg.Len()
	if !acceptable(seg.Seq, segLen, e.rcvNxt, wnd) && !(wnd == 0 && seg.Seq == e.rcvNxt) {
		if seg.Flags&FlagRST == 0 {
			if e.state == TimeWait && seg.Flags&FlagFIN != 0 {
				e.closeAt = now + e.cfg.TimeWait // a retransmitted FIN restarts 2MSL
			}
			e.stats.BadSeq++
			if len(seg.Payload) > 0 && seg.Seq.Add(uint32(len(seg.Payload))).LessEq(e.rcvNxt) && e.sackOK {
				e.dsack = headerBlock(seg.Seq, seg.Seq.Add(uint32(len(seg.Payload))))
				e.hasDSACK = true
			}
			e.ackNow = true
		}
		return Consumed
	}
	e.lastRecv = now
	if e.probesOut > 0 {
		e.probesOut = 0 // the peer answered a keepalive or window probe
		e.armKeepalive(now)
	}

	// RST (RFC 5961 3.2): exact → reset; in window → challenge ACK.
	if seg.Flags&FlagRST != 0 {
		if seg.Seq != e.rcvNxt {
			e.challengeAck(now)
			return Consumed
		}
		e.onReset(now)
		return Consumed
	}

	// SYN in a synchronized state (RFC 5961 4.2): challenge ACK.
	if seg.Flags&FlagSYN != 0 {
		e.challengeAck(now)
		return Consumed
	}
	if seg.Flags&FlagACK == 0 {
		return Consumed
	}

	// Timestamps: remember TSval for echo (RFC 7323 4.3).
	if e.tsOK && seg.Options.HasTimestamp && seg.Seq.LessEq(e.lastAckSent) &&
		int32(seg.Options.TSVal-e.tsRecent) >= 0 {
		e.tsRecent, e.tsRecentAt = seg.Options.TSVal, now
	}

	// ACK.
	if e.state == SynReceived {
		if !seg.Ack.GreaterThan(e.sndUna) || seg.Ack.GreaterThan(e.sndMax) {
			e.queueRST(seg.Ack, 0, FlagRST)
			return Consumed
		}
		if e.listener != nil && !e.listener.promote(e) {
			e.stats.AcceptOverflow++
			return Consumed // stay in SYN-RECEIVED; the SYN-ACK is resent
		}
		e.establish(now)
		e.sndWnd = uint32(seg.Window) << e.sndShift
		e.maxSndWnd = max(e.maxSndWnd, e.sndWnd)
		e.sndWl1, e.sndWl2 = seg.Seq, seg.Ack
	}
	if !e.inputAck(now, seg) {
		return Consumed
	}
	if e.state == Closed || e.state == TimeWait && segLen == 0 {
		return Consumed
	}

	// Text and FIN.
	e.inputData(now, seg, wnd)
	return Consumed
}

// acceptable is the RFC 9293 3.10.7.4 test.
func acceptable(seq Seq, segLen uint32, rcvNxt Seq, wnd uint32) bool {
	if segLen == 0 {
		if wnd == 0 {
			return seq == rcvNxt
		}
		return seq.InWindow(rcvNxt, wnd)
	}
	if wnd == 0 {
		return false
	}
	return seq.InWindow(rcvNxt, wnd) || seq.Add(segLen-1).InWindow(rcvNxt, wnd)
}

func (e *Endpoint) simOpenSynAck(seg *Segment) bool {
	return seg.Flags&(FlagSYN|FlagACK|FlagRST|FlagFIN) == FlagSYN|FlagACK && len(seg.Payload) == 0 &&
		seg.Seq.Add(1) == e.rcvNxt && seg.Ack == e.sndNxt
}

func (e *Endpoint) reuseOK(seg *Segment) bool {
	if e.tsOK && seg.Options.HasTimestamp {
		return int32(seg.Options.TSVal-e.tsRecent) > 0
	}
	return seg.Seq.GreaterThan(e.rcvNxt)
}

func (e *Endpoint) challengeAck(now int64) {
	if e.cfg.Challenge.Allow(now) {
		e.stats.ChallengeAcks++
		e.ackNow = true
		return
	}
	e.stats.ChallengeLimited++
}

// onReset handles an acceptable RST in a synchronized state or
// SYN-RECEIVED (RFC 9293 3.10.7.4 second check).
func (e *Endpoint) onReset(now int64) {
	switch e.state {
	case SynReceived:
		if e.passive {
			e.enterClosed(now) // back to LISTEN: the listener never saw it
			return
		}
		e.fail(now, syscall.ECONNREFUSED)
	case Established, FinWait1, FinWait2, CloseWait:
		e.fail(now, syscall.ECONNRESET)
	default: // Closing, LastAck, TimeWait
		e.enterClosed(now)
	}
}

func (e *Endpoint) inputSynSent(now int64, seg *Segment) {
	f := seg.Flags
	if f&FlagACK != 0 && (seg.Ack.LessEq(e.iss) || seg.Ack.GreaterThan(e.sndMax)) {
		if f&FlagRST == 0 {
			e.queueRST(seg.Ack, 0, FlagRST)
		}
		return
	}
	if f&FlagRST != 0 {
		e.stats.RSTIn++
		if f&FlagACK != 0 {
			e.fail(now, syscall.ECONNREFUSED)
		}
		return
	}
	if f&FlagSYN == 0 {
		return
	}
	e.irs = seg.Seq
	e.rcvNxt = seg.Seq.Add(1)
	e.rcvAdvEdge, e.lastAckSent = e.rcvNxt, e.rcvNxt
	e.lastRecv = now
	e.negotiate(&seg.Options, true)
	if e.tsOK {
		e.tsRecent, e.tsRecentAt = seg.Options.TSVal, now
	}
	e.sndWl1, e.sndWl2 = seg.Seq, seg.Ack
	if f&FlagACK != 0 {
		// SYN-ACK: window in it is never scaled (RFC 7323 2.2).
		e.sndWnd = uint32(seg.Window)
		e.maxSndWnd = e.sndWnd
		e.sndUna = seg.Ack
		e.establish(now)
		e.takeRTTSample(now, seg)
		e.rtoAt = 0
		e.ackNow = true
		if len(seg.Payload) > 0 || f&FlagFIN != 0 {
			e.inputData(now, seg, e.rcvAdvEdge.Sub(e.rcvNxt))
		}
		return
	}
	// Simultaneous open: SYN-RECEIVED, answer SYN-ACK.
	e.sndWnd = uint32(seg.Window)
	e.maxSndWnd = e.sndWnd
	e.state = SynReceived
	e.synPending = true
	e.retries = 0
}

// negotiate applies the peer's SYN options. weSent says whether our own
// SYN (already sent, or about to be) carried ours.
func (e *Endpoint) negotiate(o *header.TCPOptions, active bool) {
	mss := DefaultPeerMSS
	if o.HasMSS && o.MSS > 0 {
		mss = int(o.MSS)
	}
	e.sndMSS = max(min(mss, e.cfg.MSS), 64)
	if o.HasWScale && !e.cfg.DisableWScale {
		e.sndShift = min(o.WindowScale, maxWScale)
	} else {
		e.sndShift, e.rcvShift = 0, 0
	}
	e.sackOK = o.SACKPermitted && !e.cfg.DisableSACK
	e.tsOK = o.HasTimestamp && !e.cfg.DisableTimestamps
	e.syncMSS()
	_ = active
}

// establish enters ESTABLISHED and starts congestion control.
func (e *Endpoint) establish(now int64) {
	e.state = Established
	if e.finQueued {
		e.state = FinWait1
	}
	e.events |= EvEstablished | EvWritable
	e.retries, e.backoff = 0, 0
	e.mtupInit(now)
	e.cc.Init(e.mss(), now)
	e.armKeepalive(now)
}

// inputAck runs the ACK checks and processing in a synchronized state;
// it returns false when the segment is to be dropped.
func (e *Endpoint) inputAck(now int64, seg *Segment) bool {
	ack := seg.Ack
	if ack.GreaterThan(e.sndMax) {
		e.stats.BadAck++
		e.challengeAck(now)
		return false
	}
	if ack.LessThan(Seq(uint32(e.sndUna) - e.maxSndWnd)) {
		e.stats.BadAck++
		e.challengeAck(now)
		return false
	}
	e.softErr = 0 // an acceptable ACK: the path works (Linux's tcp_ack)
	wnd := uint32(seg.Window) << e.sndShift
	// Window update (RFC 9293 3.10.7.4 fifth check).
	oldWnd := e.sndWnd
	windowChanged := false
	if !ack.LessThan(e.sndUna) && (e.sndWl1.LessThan(seg.Seq) || e.sndWl1 == seg.Seq && e.sndWl2.LessEq(ack)) {
		windowChanged = wnd != e.sndWnd
		e.sndWnd, e.sndWl1, e.sndWl2 = wnd, seg.Seq, ack
		e.maxSndWnd = max(e.maxSndWnd, wnd)
		if wnd > 0 && oldWnd == 0 {
			e.persistAt, e.persistBackoff = 0, 0
		}
	}
	newSacked := 0
	if e.sackOK && seg.Options.NumSACK > 0 {
		newSacked = e.updateScoreboard(now, ack, seg)
	}
	if ack.GreaterThan(e.sndUna) {
		e.onNewAck(now, seg, newSacked)
	} else if ack == e.sndUna && e.sndMax.GreaterThan(e.sndUna) && len(seg.Payload) == 0 &&
		seg.Flags&(FlagSYN|FlagFIN) == 0 && !windowChanged {
		e.onDupAck(now)
	}
	if e.sackOK {
		e.rackOnAck(now)
	}
	if e.sndWnd == 0 && e.sndUna == e.sndMax && e.persistAt == 0 && e.dataEnd().GreaterThan(e.sndNxt) {
		e.persistAt = now + e.persistTimeout() // closed window, nothing in flight
	}
	// FIN acknowledged?
	if e.finSent && e.sndUna == e.finSeq.Add(1) {
		switch e.state {
		case FinWait1:
			e.state = FinWait2
			if e.closedApp {
				e.closeAt = now + e.cfg.FinTimeout
			}
		case Closing:
			e.enterTimeWait(now)
		case LastAck:
			e.enterClosed(now)
			return false
		}
	}
	return true
}

func (e *Endpoint) updateScoreboard(now int64, ack Seq, seg *Segment) int {
	o := &seg.Options
	added := 0
	for k := 0; k < o.NumSACK && k < len(o.SACK); k++ {
		s, en := Seq(o.SACK[k].Start), Seq(o.SACK[k].End)
		if k == 0 && (en.LessEq(ack) || o.NumSACK > 1 && Seq(o.SACK[1].Start).LessEq(s) && en.LessEq(Seq(o.SACK[1].End))) {
			e.stats.DSACKs++ // RFC 2883 D-SACK: reports a duplicate, not new data
			e.onDSACK(s, en)
			continue
		}
		if !s.LessThan(en) || en.LessEq(e.sndUna) || en.GreaterThan(e.sndMax) {
			continue
		}
		s = seqMax(s, e.sndUna)
		if a := e.sb.add(s, en); a > 0 {
			added += a
			e.rackSACKed(now, s, en)
		}
	}
	e.stats.SACKedBytes += uint64(added)
	return added
}

// onNewAck handles an ACK that advances snd.una.
func (e *Endpoint) onNewAck(now int64, seg *Segment, newSacked int) {
	ack := seg.Ack
	inflight := e.inflight()
	acked := int(ack.Sub(e.sndUna))
	if ack.GreaterThan(e.sndBase) {
		n := min(int(ack.Sub(e.sndBase)), e.snd.Len())
		if n > 0 {
			e.snd.Discard(n)
			e.sndBase = e.sndBase.Add(uint32(n))
			e.events |= EvWritable
		}
	}
	e.sndUna = ack
	if e.sndNxt.LessThan(ack) {
		e.sndNxt = ack
	}
	if e.highRxt.LessThan(ack) {
		e.highRxt = ack
	}
	e.sb.ackTo(ack)
	e.mtuProbeAcked(ack)
	if e.sackOK {
		e.rackAckTo(now, ack)
		e.tlpOnAck(now, ack)
	}
	defer e.tryUndoIfSACK()
	rtt := e.takeRTTSample(now, seg)
	e.backoff, e.retries = 0, 0
	e.probesOut = 0
	switch {
	case e.inRecovery && !ack.LessThan(e.recoverSeq):
		e.inRecovery = false
		e.dupAcks, e.dupEst = 0, 0
		e.cc.ExitRecovery(now)
		e.rackExitRecovery()
	case e.inRecovery:
		// Partial ACK (RFC 6582 3.2 step 5): NewReno retransmits the next
		// hole at once; SACK recovery lets NextSeg find it.
		if !e.sackOK {
			e.rexmitPending = true
			e.dupEst = max(0, e.dupEst-acked)
		}
	default:
		e.dupAcks = 0
		e.cc.OnAck(cc.Ack{Acked: acked + newSacked, Inflight: inflight, RTT: rtt, MinRTT: e.minRTT,
			AppLimited: e.appLimited, Now: now})
	}
	if e.sndUna == e.sndMax {
		e.rtoAt = 0
	} else {
		e.rtoAt = now + e.currentRTO()
	}
	e.armTLP(now) // RFC 8985 7.2: restarted by an ACK that advances snd.una
}

// onDupAck counts a duplicate ACK and, without SACK, starts fast
// retransmit at the third (RFC 5681 3.2, RFC 6582 3.2). With SACK, RACK
// decides (rack.go).
func (e *Endpoint) onDupAck(now int64) {
	e.dupAcks++
	e.stats.DupAcks++
	if e.sackOK {
		return // RACK (rack.go) detects losses and starts recovery
	}
	if e.inRecovery {
		e.dupEst += e.mss()
		return
	}
	if e.dupAcks < dupThresh || e.sndUna.LessThan(e.recoverSeq) {
		return
	}
	if end, ok := e.mtuProbeLost(); ok {
		e.simpleRetransmit(end) // the MTU probe was too large: no congestion response
		return
	}
	e.inRecovery = true
	e.recoverSeq = e.sndMax
	e.cc.EnterRecovery(e.inflight(), now)
	e.highRxt = e.sndUna
	e.rexmitPending = true
	e.rttTiming = false
	e.dupEst = e.dupAcks * e.mss()
	e.stats.FastRetrans++
}

// inflight is the pipe estimate (RFC 6675 with RACK's marks with SACK;
// flight size less dupack-signalled bytes without).
func (e *Endpoint) inflight() int {
	if e.sackOK {
		// RFC 6675 pipe with RACK's marks: a lost segment leaves the
		// pipe, its retransmission enters it.
		return max(0, int(e.sndMax.Sub(e.sndUna))-e.sb.sacked-e.txq.lost)
	}
	return max(0, int(e.sndNxt.Sub(e.sndUna))-e.dupEst)
}
