package tcp

import "syscall"

// Path MTU discovery: ICMP errors (RFC 1191 with RFC 5927's checks, as
// Linux's tcp_v4_err) and packetization-layer PMTUD (RFC 4821, as
// Linux's tcp_mtu_probing).
//
// Sizes. pmtu is the path MTU (an IP packet's size) the engine gave at
// open, lowered by ICMP fragmentation needed. segMax is what a full
// segment carries (payload and options): pmtu - 40 (- 60 over IPv6), no more than the
// peer's MSS, no less than tcp_min_snd_mss (48), and, while MTU probing
// is on, no more than its search low's; mss() takes the timestamp option
// off it. The congestion window is in bytes and keeps its size when the
// MSS changes (cc.Algorithm.SetMSS).

// MTUProbing selects packetization-layer path MTU discovery (RFC 4821),
// as Linux's net.ipv4.tcp_mtu_probing.
type MTUProbing uint8

const (
	// MTUProbingOff: the MSS follows the path MTU alone (Linux's 0).
	MTUProbingOff MTUProbing = iota
	// MTUProbingBlackHole: probing starts when an ICMP black hole is
	// detected (Linux's 1).
	MTUProbingBlackHole
	// MTUProbingAlways: connections start at BaseMSS and probe upward
	// (Linux's 2).
	MTUProbingAlways
)

// mtuProbe is RFC 4821's search state (Linux's icsk_mtup), in IP packet
// sizes. Normal segments use searchLow; a probe of the middle of [searchLow,
// searchHigh] goes out when the connection is in order, and raises
// searchLow when it is acknowledged or lowers searchHigh when it is lost.
type mtuProbe struct {
	enabled               bool
	searchLow, searchHigh int
	probeSize             int // the outstanding probe's packet size (0: none)
	probeStart, probeEnd  Seq // its sequence range
	stamp                 int64
}

// PathMTU returns the path MTU (an IP packet's size) the connection
// sends within: Config.PathMTU, lowered by ICMP fragmentation needed. It
// is what IP_MTU and `ss -i`'s pmtu report.
func (e *Endpoint) PathMTU() int { return e.pmtu }

// MSS returns the payload of a full segment now (TCP_MAXSEG, `ss -i`'s
// mss): the path MTU's (and MTU probing's) less headers and the
// timestamp option, at most the peer's MSS.
func (e *Endpoint) MSS() int { return e.mss() }

// ICMPFragNeeded handles an ICMP "fragmentation needed" (type 3 code 4)
// that quotes one of this connection's segments: seq is the quoted
// sequence number, mtu the next-hop MTU it gives (0 when the router gave
// none). It reports whether the message was taken.
//
// The quoted sequence must lie in [snd.una, snd.max), the sent and not
// yet acknowledged data (RFC 5927 4.1; snd.max because our snd.nxt may
// have gone back after an RTO); otherwise the message is ignored and
// counted (OutOfWindowIcmps). An MTU below MinPathMTU is raised to it and
// records EMSGSIZE as the soft error, as Linux does; over IPv6 (a Packet
// Too Big) one below MinPathMTU6 is raised to 1280, without a soft error
// (Linux's tcp_v6_mtu_reduced). A value at or above
// the current path MTU changes nothing: ICMP never raises it. A lower one
// becomes the path MTU, the MSS follows, and every segment in flight now
// larger than the MSS is marked lost and resent at once in pieces of the
// new size, without a congestion response (Linux's tcp_simple_retransmit:
// it is not congestion). The engine calls Output next.
func (e *Endpoint) ICMPFragNeeded(now int64, seq Seq, mtu int) bool {
	if !e.icmpAcceptable(seq) {
		return false
	}
	if lo := e.cfg.minPathMTU(); mtu < lo {
		mtu = lo
		if !e.cfg.IPv6 {
			e.softErr = errno16(syscall.EMSGSIZE) // Linux: the path may not recover
		}
	}
	if mtu >= e.pmtu {
		return true
	}
	e.pmtu = mtu
	e.stats.PMTUDecreases++
	if t := e.cfg.Totals; t != nil {
		t.PMTUDecreases++
	}
	e.resyncMSS()
	if e.state.synchronized() {
		e.simpleRetransmit(e.sndMax)
	}
	return true
}

// ICMPError handles any other ICMP error that quotes one of this
// connection's segments (destination unreachable but fragmentation
// needed, time exceeded, parameter problem): seq is the quoted sequence
// number, errno and fatal the conversion of Linux's icmp_err_convert
// (icmp.ReceivedError's Errno and Fatal). It reports whether the message
// was taken; the sequence check is ICMPFragNeeded's.
//
// As Linux's tcp_v4_err: in SYN-SENT, and SYN-RECEIVED of a simultaneous
// open, the error is hard: the connection fails with errno (EvError, Err).
// A passive SYN-RECEIVED endpoint is dropped silently on a fatal error
// (the listener's queue entry goes, accept never sees it) and ignores the
// others. In a synchronized state the error is soft: it is recorded, any
// acceptable ACK clears it, and if the connection later times out
// (retransmissions, zero-window probes or keepalives) it fails with this
// errno instead of ETIMEDOUT.
//
// RFC 6069: a non-fatal ENETUNREACH or EHOSTUNREACH that quotes snd.una
// during RTO backoff undoes one backoff step (the loss was the
// disconnection, not congestion) and re-arms the timer from the last
// retransmission, retransmitting at once when that time has passed.
// Linux does it for codes 0 and 1 only; the errno also matches codes 11
// and 12 (TOS unreachable) and time exceeded.
//
// The engine calls Output and TakeEvents next.
func (e *Endpoint) ICMPError(now int64, seq Seq, errno syscall.Errno, fatal bool) bool {
	if !e.icmpAcceptable(seq) {
		return false
	}
	switch {
	case e.state == SynReceived && e.passive:
		if fatal {
			e.enterClosed(now) // Linux's tcp_req_err: no error to report
		}
		return true
	case e.state == SynSent || e.state == SynReceived:
		e.fail(now, errno)
		return true
	}
	e.softErr = errno16(errno)
	if !fatal && (errno == syscall.ENETUNREACH || errno == syscall.EHOSTUNREACH) && seq == e.sndUna {
		e.revertRTO(now)
	}
	return true
}

// icmpAcceptable is the state and RFC 5927 sequence check of an ICMP
// error; it counts those outside the window.
func (e *Endpoint) icmpAcceptable(seq Seq) bool {
	switch e.state {
	case Closed, Listen, TimeWait:
		return false // Linux ignores errors for TIME-WAIT too
	}
	if !seq.InRange(e.sndUna, e.sndMax) {
		e.stats.OutOfWindowIcmps++
		if t := e.cfg.Totals; t != nil {
			t.OutOfWindowIcmps++
		}
		return false
	}
	return true
}

// revertRTO is RFC 6069's (Linux's tcp_ld_RTO_revert): one backoff step
// less, counted from the last retransmission of snd.una (the RTO that
// armed the timer).
func (e *Endpoint) revertRTO(now int64) {
	if e.retries == 0 || e.backoff == 0 || e.rtoAt == 0 || e.sndUna == e.sndMax {
		return
	}
	last := e.rtoAt - e.currentRTO()
	e.backoff--
	e.stats.RTOReverts++
	if t := e.cfg.Totals; t != nil {
		t.RTOReverts++
	}
	if at := last + e.currentRTO(); at > now {
		e.rtoAt = at
		return
	}
	e.rtoAt = 0
	e.onRTO(now) // the reverted timeout has already passed
}

// timeoutErr is the errno a connection that timed out fails with: the
// last soft error, else ETIMEDOUT (Linux's tcp_write_err).
func (e *Endpoint) timeoutErr() syscall.Errno {
	if e.softErr != 0 {
		return syscall.Errno(e.softErr)
	}
	return syscall.ETIMEDOUT
}

// optLen is the option space every data segment carries (the timestamp).
func (e *Endpoint) optLen() int {
	if e.tsOK {
		return 12
	}
	return 0
}

// mtuToSeg is Linux's __tcp_mtu_to_mss: the payload and options a segment
// in a packet of mtu bytes carries, clamped to the peer's MSS, at least
// tcp_min_snd_mss.
func (e *Endpoint) mtuToSeg(mtu int) int { return max(min(mtu-e.cfg.headers(), e.sndMSS), minSndMSS) }

// mssToMTU is the packet size of a segment with mss bytes of payload.
func (e *Endpoint) mssToMTU(mss int) int { return mss + e.optLen() + e.cfg.headers() }

// syncMSS recomputes segMax (Linux's tcp_sync_mss) and reports whether
// the MSS changed.
func (e *Endpoint) syncMSS() bool {
	m := &e.mtup
	m.searchHigh = min(m.searchHigh, e.pmtu)
	seg := e.mtuToSeg(e.pmtu)
	if m.enabled {
		seg = min(seg, e.mtuToSeg(m.searchLow))
	}
	changed := seg != e.segMax
	e.segMax = seg
	return changed
}

// resyncMSS is syncMSS on a connection whose congestion control runs.
func (e *Endpoint) resyncMSS() {
	if e.syncMSS() && e.state.synchronized() {
		e.cc.SetMSS(e.mss())
	}
}

// mtupInit starts MTU probing's state when the connection is established
// (Linux's tcp_mtup_init), once the options and the peer's MSS are known.
func (e *Endpoint) mtupInit(now int64) {
	m := &e.mtup
	*m = mtuProbe{enabled: e.cfg.MTUProbing == MTUProbingAlways, stamp: now}
	m.searchHigh = e.sndMSS + e.cfg.headers()
	m.searchLow = e.mssToMTU(e.cfg.BaseMSS)
	e.syncMSS()
}

// simpleRetransmit is Linux's tcp_simple_retransmit, after the MSS fell
// (ICMP fragmentation needed, a lost MTU probe): the segments in flight
// larger than the new MSS were dropped on the way, so they are marked lost
// and NextSeg resends them at once, split at the new size. Without SACK
// there are no segment records: the sender goes back to snd.una and
// resends up to end (snd.max, or the end of the lost probe, past which the
// peer holds the data). No congestion response: the episode only keeps
// fast recovery and tail loss probes off until snd.max at this time is
// acknowledged, and no undo spans it.
func (e *Endpoint) simpleRetransmit(end Seq) {
	e.mtup.probeSize = 0 // it was larger: resent, so neither success nor failure
	if e.sndUna == e.sndMax {
		return
	}
	if e.sackOK {
		q := &e.txq
		mss := e.mss()
		for i := 0; i < q.n; i++ {
			r := q.at(i)
			n := r.len()
			if e.finSent && r.end == e.finSeq.Add(1) {
				n-- // the FIN takes no room
			}
			if n > mss {
				q.setLost(r)
			}
		}
		if q.lost == 0 {
			return
		}
	} else {
		e.sndNxt, e.highRxt, e.goBackEnd = e.sndUna, e.sndUna, end
	}
	if !e.inRecovery && !e.sndUna.LessThan(e.recoverSeq) {
		e.recoverSeq = e.sndMax
		e.rack.undoOK = false
		e.rack.tlpAt, e.rack.tlpOut = 0, false
	}
}

// mtuBlackHole is Linux's tcp_mtu_probing, run by an RTO after retries1
// unanswered ones: repeated timeouts with no ACK may be an ICMP black hole
// (a hop drops large packets without saying so). The first detection turns
// probing on (MTUProbingBlackHole), which lowers the MSS to BaseMSS; each
// later one halves the search low, down to MTUProbeFloor.
func (e *Endpoint) mtuBlackHole(now int64) {
	if e.cfg.MTUProbing == MTUProbingOff {
		return
	}
	m := &e.mtup
	if !m.enabled {
		m.enabled, m.stamp = true, now
	} else {
		mss := (e.mtuToSeg(m.searchLow) - e.optLen()) >> 1
		mss = max(min(e.cfg.BaseMSS, mss), e.cfg.MTUProbeFloor, minSndMSS)
		m.searchLow = e.mssToMTU(mss)
	}
	e.stats.MTUBlackHoles++
	if t := e.cfg.Totals; t != nil {
		t.MTUBlackHoles++
	}
	e.resyncMSS()
}

// mtuProbeLen returns the payload of an MTU probe to send now at snd.nxt,
// or 0 (Linux's tcp_mtu_probe). A probe goes out in the open state (no
// recovery, nothing lost or SACKed, no SACK blocks of ours to make room
// for) with cwnd at least 11 segments, and with avail unsent bytes and
// room in the peer's window for the probe and dupThresh+1 full segments
// behind it, so that its loss is detected without a timeout.
func (e *Endpoint) mtuProbeLen(now int64, avail, room int) int {
	m := &e.mtup
	if !m.enabled || m.probeSize != 0 || e.inRecovery || e.sndUna.LessThan(e.recoverSeq) ||
		e.dupAcks > 0 || e.sb.n > 0 || e.txq.lost > 0 || e.ooo.n > 0 || e.hasDSACK {
		return 0
	}
	mss := e.mss()
	if e.cc.Cwnd() < 11*mss {
		return 0
	}
	probe := e.mtuToSeg((m.searchLow+m.searchHigh)/2) - e.optLen()
	if probe > e.mtuToSeg(m.searchHigh)-e.optLen() || m.searchHigh-m.searchLow < e.cfg.ProbeThreshold || probe <= mss {
		e.mtuCheckReprobe(now)
		return 0
	}
	need := probe + (dupThresh+1)*mss
	if avail < need || room < need {
		return 0
	}
	return probe
}

// mtuCheckReprobe starts a new search ProbeInterval after the last one
// began (Linux's tcp_mtu_check_reprobe): the path may have grown.
func (e *Endpoint) mtuCheckReprobe(now int64) {
	m := &e.mtup
	if now-m.stamp < e.cfg.ProbeInterval {
		return
	}
	m.searchHigh = min(e.sndMSS+e.cfg.headers(), e.pmtu)
	m.searchLow = e.mssToMTU(e.mss())
	m.stamp = now
}

// mtuProbeSent records the probe [seq, seq+n).
func (e *Endpoint) mtuProbeSent(seq Seq, n int) {
	m := &e.mtup
	m.probeSize, m.probeStart, m.probeEnd = e.mssToMTU(n), seq, seq.Add(uint32(n))
	e.stats.MTUProbes++
	if t := e.cfg.Totals; t != nil {
		t.MTUProbes++
	}
}

// mtuProbeAcked raises the search low to the probe's size once the probe
// is acknowledged (Linux's tcp_mtup_probe_success).
func (e *Endpoint) mtuProbeAcked(ack Seq) {
	m := &e.mtup
	if m.probeSize == 0 || ack.LessThan(m.probeEnd) {
		return
	}
	m.searchLow = m.probeSize
	m.probeSize = 0
	e.stats.TCPMTUPSuccess++
	if t := e.cfg.Totals; t != nil {
		t.TCPMTUPSuccess++
	}
	e.resyncMSS()
}

// mtuProbeLost is called when a loss is detected while the probe is out.
// When the probe is the first unacknowledged segment outside any recovery
// episode, the loss is the probe's (Linux's tcp_mtup_probe_failed): the
// search high falls below it, and it reports the probe's end and true so
// that the caller resends it (simpleRetransmit) without a congestion
// response. Otherwise the loss is congestion and the probe tells nothing:
// it is dropped.
func (e *Endpoint) mtuProbeLost() (Seq, bool) {
	m := &e.mtup
	if m.probeSize == 0 {
		return 0, false
	}
	size := m.probeSize
	m.probeSize = 0
	if e.sndUna != m.probeStart || e.inRecovery || e.sndUna.LessThan(e.recoverSeq) {
		return 0, false
	}
	m.searchHigh = size - 1
	e.stats.TCPMTUPFail++
	if t := e.cfg.Totals; t != nil {
		t.TCPMTUPFail++
	}
	return m.probeEnd, true
}

// mtuProbeRetransmitted drops the probe when [seq, end) retransmits part
// of it (a tail loss probe): its acknowledgment would prove nothing.
func (e *Endpoint) mtuProbeRetransmitted(seq, end Seq) {
	m := &e.mtup
	if m.probeSize != 0 && seq.LessThan(m.probeEnd) && m.probeStart.LessThan(end) {
		m.probeSize = 0
	}
}
