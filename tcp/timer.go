package tcp

// NextTimer returns the earliest pending deadline (monotonic ns), or 0
// when no timer is armed. The worker calls OnTimer at or after it.
func (e *Endpoint) NextTimer() int64 {
	t := int64(0)
	for _, d := range [...]int64{e.rtoAt, e.delAckAt, e.persistAt, e.keepAt, e.closeAt, e.rack.timerAt, e.rack.tlpAt, e.trimAt} {
		if d != 0 && (t == 0 || d < t) {
			t = d
		}
	}
	return t
}

// OnTimer runs the timers that expired at now: retransmission (and SYN /
// SYN-ACK retransmission), RACK reorder timer, tail loss probe, delayed
// ACK, persist, keepalive, TIME-WAIT, FIN-WAIT-2 and the idle trim of the
// ring memory (ringmem.go). The worker then calls Output.
func (e *Endpoint) OnTimer(now int64) {
	if e.closeAt != 0 && now >= e.closeAt {
		e.closeAt = 0
		if e.state == TimeWait || e.state == FinWait2 {
			e.enterClosed(now)
			return
		}
	}
	if e.rtoAt != 0 && now >= e.rtoAt {
		e.rtoAt = 0
		e.onRTO(now)
	}
	if e.rack.timerAt != 0 && now >= e.rack.timerAt {
		e.rack.timerAt = 0
		e.onRackTimer(now)
	}
	if e.rack.tlpAt != 0 && now >= e.rack.tlpAt {
		e.rack.tlpAt = 0
		e.onPTO(now)
	}
	if e.delAckAt != 0 && now >= e.delAckAt {
		e.delAckAt = 0
		if e.unackedBytes > 0 {
			e.ackNow = true
		}
	}
	if e.persistAt != 0 && now >= e.persistAt {
		e.persistAt = 0
		e.onPersist(now)
	}
	if e.keepAt != 0 && now >= e.keepAt {
		e.keepAt = 0
		e.onKeepalive(now)
	}
	if e.trimAt != 0 && now >= e.trimAt {
		e.onTrimTimer(now)
	}
}

// currentRTO is the RTO with exponential backoff, capped at RTOMax.
func (e *Endpoint) currentRTO() int64 {
	r := e.rto
	for i := 0; i < e.backoff && r < e.cfg.RTOMax; i++ {
		r *= 2
	}
	return min(r, e.cfg.RTOMax)
}

// updateRTT folds one sample into SRTT/RTTVAR (RFC 6298 2). The RTO is
// SRTT + max(4*RTTVAR, RTOMin), as Linux bounds it below by srtt+200ms.
func (e *Endpoint) updateRTT(r int64) {
	if e.minRTT == 0 || r < e.minRTT {
		e.minRTT = r
	}
	if e.srtt == 0 {
		e.srtt, e.rttvar = r, r/2
	} else {
		d := e.srtt - r
		if d < 0 {
			d = -d
		}
		e.rttvar = (3*e.rttvar + d) / 4
		e.srtt = (7*e.srtt + r) / 8
	}
	e.rto = min(e.srtt+max(4*e.rttvar, e.cfg.RTOMin), e.cfg.RTOMax)
	if t := e.cfg.Totals; t != nil {
		t.SRTT.Add(uint64(e.srtt) / 1000)
	}
}

// takeRTTSample takes an RTT sample from an ACK that advanced snd.una: the
// timed segment (Karn's rule keeps it off retransmissions), else the
// timestamp echo (RFC 7323 4.1). It returns the sample or 0.
func (e *Endpoint) takeRTTSample(now int64, seg *Segment) int64 {
	var r int64
	switch {
	case e.rttTiming && !seg.Ack.LessThan(e.rttSeq):
		e.rttTiming = false
		r = max(now-e.rttStart, 1)
	case e.tsOK && seg.Options.HasTimestamp && seg.Options.TSEcr != 0:
		if d := int64(e.tsNow(now)-seg.Options.TSEcr) * nsPerTS; d > 0 && d < e.cfg.RTOMax {
			r = d
		}
	}
	if r > 0 {
		e.updateRTT(r)
	}
	return r
}

// onRTO handles a retransmission timeout (RFC 6298 5.4-5.6, RFC 5681 3.1).
// From the fourth in a row it runs black-hole detection (pmtu.go), which
// may lower the MSS the retransmissions use.
func (e *Endpoint) onRTO(now int64) {
	switch e.state {
	case SynSent, SynReceived:
		limit := e.cfg.SynRetries
		if e.state == SynReceived {
			limit = e.cfg.SynAckRetries
		}
		if e.retries >= limit {
			if e.state == SynReceived && e.passive {
				e.enterClosed(now) // the listener's SYN queue entry expires
				return
			}
			e.fail(now, e.timeoutErr())
			return
		}
		e.stats.RTOs++
		e.retries++
		e.backoff++
		e.synPending = true
		e.rttTiming = false
		e.rtoAt = now + e.currentRTO()
		return
	case Closed, Listen, TimeWait:
		return
	}
	if e.sndUna == e.sndMax {
		return
	}
	if e.retries >= retries1 {
		e.mtuBlackHole(now) // before the MSS-sized retransmissions below
	}
	if e.retries >= e.retries2() {
		e.fail(now, e.timeoutErr())
		return
	}
	e.mtuProbeLost() // a probe at snd.una failed; either way the RTO's response follows
	e.stats.RTOs++
	e.cc.OnRTO(e.inflight(), now)
	e.recoverSeq = e.sndMax
	e.inRecovery, e.rexmitPending = false, false
	e.dupAcks, e.dupEst = 0, 0
	if e.backoff > 0 {
		e.sb.clear() // repeated timeouts: the peer may have reneged on its SACKs
	}
	if e.sackOK {
		e.markAllLost() // RFC 8985 6.3: NextSeg resends them in order
	} else {
		e.sndNxt, e.highRxt, e.goBackEnd = e.sndUna, e.sndUna, e.sndMax // go-back-N
	}
	e.rttTiming = false
	e.backoff++
	e.retries++
	e.rtoAt = now + e.currentRTO()
}

// retries2 is the retransmission and probe limit: Retries2, or
// OrphanRetries once the application closed the connection (Linux's
// tcp_orphan_retries for a dead socket).
func (e *Endpoint) retries2() int {
	if e.closedApp {
		return min(e.cfg.Retries2, e.cfg.OrphanRetries)
	}
	return e.cfg.Retries2
}

func (e *Endpoint) persistTimeout() int64 {
	r := e.rto
	for i := 0; i < e.persistBackoff && r < e.cfg.RTOMax; i++ {
		r *= 2
	}
	return min(max(r, e.cfg.RTOMin), e.cfg.RTOMax)
}

// onPersist sends a zero-window probe (Linux's: an ACK with seq snd.una-1
// that the peer must answer with its window) with backoff. Probes left
// unanswered Retries2 times fail the connection with ETIMEDOUT (or the
// soft ICMP error, as every timeout here); an answer resets the count, so
// a live peer with a closed window is probed forever, unless the
// application closed the connection: an orphan is reset after
// OrphanRetries probes, answered or not.
func (e *Endpoint) onPersist(now int64) {
	if !e.state.synchronized() || e.state == TimeWait {
		return
	}
	avail := e.dataEnd().Sub(e.sndNxt)
	if avail == 0 || e.sndUna != e.sndMax {
		return
	}
	if e.closedApp && e.persistBackoff >= e.cfg.OrphanRetries {
		// An orphan whose peer keeps its window closed (answering or not):
		// reset it, as Linux's tcp_probe_timer does for a dead socket.
		e.queueRST(e.sndMax, e.rcvNxt, FlagRST|FlagACK)
		e.fail(now, e.timeoutErr())
		return
	}
	if e.probesOut >= e.retries2() {
		e.fail(now, e.timeoutErr())
		return
	}
	if room := e.sndUna.Add(e.sndWnd); room.GreaterThan(e.sndNxt) {
		e.swsOverride = true // a small window: send what fits (RFC 9293 3.8.6.2.1 override)
	} else {
		e.probePending = true
	}
	e.probesOut++
	e.persistBackoff++
	e.persistAt = now + e.persistTimeout()
}

func (e *Endpoint) armKeepalive(now int64) {
	if !e.cfg.KeepAlive || !e.state.synchronized() || e.state == TimeWait {
		e.keepAt = 0
		return
	}
	e.keepAt = e.lastRecv + e.cfg.KeepIdle
	if e.keepAt <= now {
		e.keepAt = now + 1
	}
}

// onKeepalive sends a keepalive probe when the connection was idle
// KeepIdle, then every KeepIntvl; after KeepCnt unanswered probes it
// resets the connection with ETIMEDOUT (or the soft ICMP error), as Linux
// does.
func (e *Endpoint) onKeepalive(now int64) {
	if !e.cfg.KeepAlive || !e.state.synchronized() || e.state == TimeWait {
		return
	}
	if e.sndUna != e.sndMax || e.snd.Len() > 0 && e.sndWnd > 0 {
		e.keepAt = now + e.cfg.KeepIdle // busy: the RTO watches the peer
		return
	}
	if idle := now - e.lastRecv; idle < e.cfg.KeepIdle && e.probesOut == 0 {
		e.keepAt = e.lastRecv + e.cfg.KeepIdle
		return
	}
	if e.probesOut >= e.cfg.KeepCnt {
		e.queueRST(e.sndMax, e.rcvNxt, FlagRST|FlagACK)
		e.fail(now, e.timeoutErr())
		return
	}
	e.probePending = true
	e.probesOut++
	e.keepAt = now + e.cfg.KeepIntvl
}
