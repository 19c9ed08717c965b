package tcp

// RACK-TLP loss detection (RFC 8985) for connections with SACK.
//
// The sender keeps one txRec per transmitted segment in [snd.una,
// snd.max), in sequence order, with its latest (re)transmission time and
// three flags: SACKed (wholly covered by the scoreboard), lost (marked by
// RACK or by an RTO, not yet retransmitted) and retransmitted. A segment
// is lost when a segment sent after it was delivered more than
// RACK.rtt + reo_wnd after its own transmission (RFC 8985 6.2); because
// the time is that of the latest transmission, a lost retransmission is
// detected the same way, without an RTO. NextSeg retransmits the lost
// records in sequence order, and pipe is the flight less the SACKed and
// the lost bytes (RFC 6675 with RACK as IsLost).

const (
	recSACKed uint8 = 1 << iota
	recLost
	recRetrans
)

// maxTxRecs bounds the records kept: beyond it new segments merge into
// the last record (it then counts as one segment sent at the latest
// time, which only delays loss detection for it).
const maxTxRecs = 1 << 13

// txRec is one transmitted segment: [start, end) (the FIN counts), sent
// last at at.
type txRec struct {
	start, end Seq
	at         int64
	flags      uint8
}

func (r *txRec) len() int { return int(r.end.Sub(r.start)) }

// txQueue is a ring of txRecs in sequence order. It grows by doubling up
// to maxTxRecs (allocation only while it grows).
type txQueue struct {
	r       []txRec
	head, n int
	lost    int // bytes in records marked lost
}

func (q *txQueue) at(i int) *txRec { return &q.r[(q.head+i)&(len(q.r)-1)] }

// push records a new segment [s, e) sent at now.
func (q *txQueue) push(s, e Seq, now int64) {
	if q.n == len(q.r) {
		if len(q.r) >= maxTxRecs {
			last := q.at(q.n - 1)
			last.end, last.at = e, now
			return
		}
		q.grow()
	}
	*q.at(q.n) = txRec{start: s, end: e, at: now}
	q.n++
}

func (q *txQueue) grow() {
	nr := make([]txRec, max(2*len(q.r), 64))
	for i := 0; i < q.n; i++ {
		nr[i] = *q.at(i)
	}
	q.r, q.head = nr, 0
}

// split cuts record i at s (start < s < end); both halves keep the flags.
func (q *txQueue) split(i int, s Seq) {
	if q.n == len(q.r) {
		if len(q.r) >= maxTxRecs {
			return // full: the record stays whole
		}
		q.grow()
	}
	for k := q.n; k > i+1; k-- {
		*q.at(k) = *q.at(k - 1)
	}
	q.n++
	a := q.at(i)
	b := q.at(i + 1)
	*b = *a
	a.end, b.start = s, s
}

func (q *txQueue) setLost(r *txRec) {
	if r.flags&(recLost|recSACKed) == 0 {
		r.flags |= recLost
		q.lost += r.len()
	}
}

func (q *txQueue) clearLost(r *txRec) {
	if r.flags&recLost != 0 {
		r.flags &^= recLost
		q.lost -= r.len()
	}
}

// rackState is RFC 8985's per-connection state, plus TLP and undo.
type rackState struct {
	xmitTS      int64 // RACK.xmit_ts: latest send time of a delivered segment
	endSeq      Seq   // RACK.end_seq
	rtt         int64 // RACK.rtt
	fack        Seq   // highest end of a delivered segment
	delivered   bool  // this ACK delivered something (run detection)
	reordSeen   bool  // RACK.reordering_seen
	reoMult     int   // RACK.reo_wnd_mult
	reoPersist  int   // recoveries left before reoMult resets
	dsackRound  Seq   // reoMult grows at most once per round trip
	timerAt     int64 // reorder timer deadline (0: off)
	tlpAt       int64 // probe timeout deadline (0: off)
	tlpEnd      Seq   // TLP.end_seq of the outstanding probe
	tlpOut      bool  // a probe is outstanding
	tlpRetrans  bool  // TLP.is_retrans
	tlpRearm    bool  // new data went out or snd.una advanced: restart the PTO
	tlpNewData  bool  // the PTO fired with new data to send: one segment beyond cwnd
	forceRexmit bool  // entering recovery: one retransmission regardless of cwnd
	undoRetrans int   // retransmissions of this episode not yet D-SACKed
	undoOK      bool  // no retransmission of this episode proved needed yet
	undoAny     bool  // the episode retransmitted something
}

// rackRecord notes a transmission of [seq, end) for RACK.
func (e *Endpoint) rackRecord(now int64, seq, end Seq, retrans bool) {
	q := &e.txq
	if !retrans && !seq.LessThan(e.sndMax) {
		q.push(seq, end, now)
		return
	}
	for i := 0; i < q.n; i++ {
		r := q.at(i)
		if r.end.LessEq(seq) {
			continue
		}
		if !r.start.LessThan(end) {
			break
		}
		if r.start.LessThan(seq) {
			q.split(i, seq)
			continue
		}
		if end.LessThan(r.end) {
			q.split(i, end)
			r = q.at(i)
		}
		q.clearLost(r)
		r.at = now
		r.flags |= recRetrans
	}
	if e.inRecovery || e.sndUna.LessThan(e.recoverSeq) {
		e.rack.undoRetrans++
		e.rack.undoAny = true
	}
}

// rackDelivered is RFC 8985 6.2 steps 2 and 3 for one segment newly
// delivered (cumulatively acknowledged or SACKed).
func (e *Endpoint) rackDelivered(now int64, r *txRec) {
	rs := &e.rack
	rs.delivered = true
	if r.flags&recRetrans == 0 {
		if r.end.LessThan(rs.fack) {
			rs.reordSeen = true
		}
	} else if now-r.at < e.minRTT {
		return // the ACK is for the original transmission
	}
	if r.end.GreaterThan(rs.fack) {
		rs.fack = r.end
	}
	rs.rtt = now - r.at
	if r.at > rs.xmitTS || r.at == rs.xmitTS && r.end.GreaterThan(rs.endSeq) {
		rs.xmitTS, rs.endSeq = r.at, r.end
	}
}

// rackAckTo drops the records below una, feeding the delivered ones to
// RACK.
func (e *Endpoint) rackAckTo(now int64, una Seq) {
	q := &e.txq
	for q.n > 0 {
		r := q.at(0)
		if r.start.GreaterEq(una) {
			return
		}
		if r.end.GreaterThan(una) { // partly acknowledged
			if r.flags&recLost != 0 {
				q.lost -= int(una.Sub(r.start))
			}
			r.start = una
			return
		}
		if r.flags&recSACKed == 0 {
			e.rackDelivered(now, r)
		}
		q.clearLost(r)
		q.head = (q.head + 1) & (len(q.r) - 1)
		q.n--
	}
}

// rackSACKed marks the records wholly covered by the scoreboard within
// [s, en) and feeds them to RACK.
func (e *Endpoint) rackSACKed(now int64, s, en Seq) {
	q := &e.txq
	for i := 0; i < q.n; i++ {
		r := q.at(i)
		if r.end.LessEq(s) || r.flags&recSACKed != 0 {
			continue
		}
		if !r.start.LessThan(en) {
			break
		}
		if end, ok := e.sb.sackedAt(r.start); ok && !end.LessThan(r.end) {
			q.clearLost(r)
			r.flags |= recSACKed
			e.rackDelivered(now, r)
		}
	}
}

// reoWnd is RFC 8985 6.2 step 4.
func (e *Endpoint) reoWnd() int64 {
	rs := &e.rack
	if !rs.reordSeen && (e.inRecovery || e.sb.sacked > (dupThresh-1)*e.mss()) {
		return 0
	}
	return min(int64(max(rs.reoMult, 1))*e.minRTT/4, e.srtt)
}

// rackDetect is RFC 8985 6.2 step 5: mark lost every segment sent before
// RACK.xmit_ts more than RACK.rtt + reo_wnd ago, and arm the reorder
// timer for the others that were sent before it. It reports whether it
// marked any.
func (e *Endpoint) rackDetect(now int64) bool {
	rs := &e.rack
	q := &e.txq
	reo := e.reoWnd()
	var wait int64
	marked := false
	for i := 0; i < q.n; i++ {
		r := q.at(i)
		before := r.at < rs.xmitTS || r.at == rs.xmitTS && r.end.LessEq(rs.endSeq)
		if !before && r.flags&recRetrans == 0 && !r.start.LessThan(e.highRxt) {
			break // sent in order after RACK.xmit_ts, and so is the rest
		}
		if !before || r.flags&(recSACKed|recLost) != 0 {
			continue
		}
		if left := r.at + rs.rtt + reo - now; left > 0 {
			wait = max(wait, left)
			continue
		}
		q.setLost(r)
		e.stats.LostMarked++
		marked = true
	}
	rs.timerAt = 0
	if wait > 0 {
		rs.timerAt = now + wait
	}
	return marked
}

// rackOnAck runs detection after an ACK processed by inputAck and starts
// fast recovery (one window reduction per episode) when it found a loss.
func (e *Endpoint) rackOnAck(now int64) {
	if !e.rack.delivered {
		return
	}
	e.rack.delivered = false
	if e.rackDetect(now) {
		e.rackEnterRecovery(now)
	}
}

// rackEnterRecovery starts fast recovery unless an episode (fast recovery,
// the RTO's or simpleRetransmit's) is still under way, or the loss is an
// MTU probe's (pmtu.go).
func (e *Endpoint) rackEnterRecovery(now int64) {
	if end, ok := e.mtuProbeLost(); ok {
		e.simpleRetransmit(end) // the MTU probe was too large: no congestion response
		return
	}
	if e.inRecovery || e.sndUna.LessThan(e.recoverSeq) {
		return
	}
	e.cc.EnterRecovery(e.inflight()+e.txq.lost, now)
	e.inRecovery = true
	e.recoverSeq = e.sndMax
	e.rack.forceRexmit = true
	e.rack.undoRetrans, e.rack.undoOK, e.rack.undoAny = 0, true, false
	e.rack.tlpAt = 0
	e.rttTiming = false
	e.stats.FastRetrans++
}

// onRackTimer is the reorder timer (RFC 8985 6.3).
func (e *Endpoint) onRackTimer(now int64) {
	if e.rackDetect(now) {
		e.rackEnterRecovery(now)
	}
}

// markAllLost is RFC 8985 6.3's RTO step: every unSACKed segment is lost.
func (e *Endpoint) markAllLost() {
	q := &e.txq
	for i := 0; i < q.n; i++ {
		r := q.at(i)
		if e.sb.n == 0 {
			r.flags &^= recSACKed // reneging: the scoreboard was cleared
		}
		q.setLost(r)
	}
	e.rack.undoRetrans, e.rack.undoOK, e.rack.undoAny = 0, true, false
	e.rack.timerAt, e.rack.tlpAt, e.rack.tlpOut = 0, 0, false
}

// firstLost returns the first lost byte (at or above from) and the end of
// what may go in one retransmission from it: NextSeg rule 1 with RACK's
// marks.
func (e *Endpoint) firstLost() (Seq, Seq, bool) {
	q := &e.txq
	if q.lost == 0 {
		return 0, 0, false
	}
	for i := 0; i < q.n; i++ {
		r := q.at(i)
		if r.flags&recLost == 0 {
			continue
		}
		s := r.start
		if end, ok := e.sb.sackedAt(s); ok {
			s = end // a SACKed prefix (a record SACKed in part)
		}
		if !s.LessThan(r.end) {
			continue
		}
		return s, e.sb.nextSackedAfter(s, r.end), true
	}
	return 0, 0, false
}

// onDSACK handles a D-SACK block [s, en) (RFC 2883): it proves one
// retransmission spurious. reo_wnd widens (RFC 8985 6.2 step 4), a TLP
// retransmission it covers ends the probe episode without a window
// reduction (7.4), and when every retransmission of the last recovery
// episode was D-SACKed the window reduction is undone (RFC 2883 / Linux's
// DSACK undo).
func (e *Endpoint) onDSACK(s, en Seq) {
	rs := &e.rack
	if !e.sndUna.LessThan(rs.dsackRound) {
		rs.reoMult = min(rs.reoMult+1, 64)
		rs.dsackRound = e.sndMax
	}
	rs.reoPersist = 16
	if rs.tlpOut && rs.tlpRetrans && !en.LessThan(rs.tlpEnd) && s.LessThan(rs.tlpEnd) {
		rs.tlpOut = false
		return
	}
	if rs.undoOK && rs.undoRetrans > 0 && en.LessEq(e.highRxt) {
		rs.undoRetrans--
		e.tryUndo()
	}
}

// tryUndo undoes the last window reduction once its episode is over and
// every retransmission it made was D-SACKed.
func (e *Endpoint) tryUndo() {
	rs := &e.rack
	if rs.undoOK && rs.undoAny && rs.undoRetrans == 0 && !e.inRecovery && !e.sndUna.LessThan(e.recoverSeq) {
		rs.undoOK = false
		e.cc.UndoRecovery()
		e.stats.Undos++
	}
}

// rackExitRecovery is called when a recovery episode ends.
func (e *Endpoint) rackExitRecovery() {
	if e.rack.reoPersist > 0 {
		e.rack.reoPersist--
		if e.rack.reoPersist == 0 {
			e.rack.reoMult = 1
		}
	}
}

// tlpOnAck is RFC 8985 7.4: an ACK beyond the probe ends the episode; a
// retransmitted probe that repaired a loss (no D-SACK for it) calls for
// one window reduction.
func (e *Endpoint) tlpOnAck(now int64, ack Seq) {
	rs := &e.rack
	if !rs.tlpOut || ack.LessThan(rs.tlpEnd) {
		return
	}
	rs.tlpOut = false
	if rs.tlpRetrans && !e.inRecovery && !ack.LessThan(e.recoverSeq) {
		e.cc.EnterRecovery(e.inflight(), now)
		e.cc.ExitRecovery(now)
		e.stats.TLPRepairs++
	}
}

// armTLP (re)starts the probe timeout (RFC 8985 7.2): 2·SRTT, plus the
// peer's delayed-ACK time when one segment is in flight, never later
// than the RTO. The probe needs SACK, an RTT sample, data in flight, no
// recovery and no probe outstanding.
func (e *Endpoint) armTLP(now int64) {
	rs := &e.rack
	rs.tlpRearm = false
	rs.tlpAt = 0
	if !e.sackOK || e.srtt == 0 || e.inRecovery || e.sndUna.LessThan(e.recoverSeq) || rs.tlpOut ||
		e.sndUna == e.sndMax || !e.state.synchronized() || e.state == TimeWait {
		return
	}
	pto := 2 * e.srtt
	if int(e.sndMax.Sub(e.sndUna)) <= e.mss() {
		pto += e.cfg.DelAck
	}
	at := now + pto
	if e.rtoAt != 0 && at >= e.rtoAt {
		return
	}
	rs.tlpAt = at
}

// onPTO sends the loss probe (RFC 8985 7.3): a new segment when the
// windows allow, else the last segment again. The RTO is restarted.
func (e *Endpoint) onPTO(now int64) {
	rs := &e.rack
	if !e.sackOK || e.inRecovery || e.sndUna.LessThan(e.recoverSeq) || e.sndUna == e.sndMax {
		return
	}
	mss := uint32(e.mss())
	if e.dataEnd().Sub(e.sndNxt) >= mss && e.dataEnd().GreaterThan(e.sndNxt) &&
		e.sndUna.Add(e.sndWnd).GreaterEq(e.sndNxt.Add(mss)) {
		rs.tlpNewData, rs.tlpRetrans = true, false // a full new segment
	} else {
		// The last segment not SACKed, marked lost so that NextSeg
		// resends it at once.
		q := &e.txq
		i := q.n - 1
		for i >= 0 && q.at(i).flags&recSACKed != 0 {
			i--
		}
		if i < 0 {
			return
		}
		q.setLost(q.at(i))
		rs.forceRexmit, rs.tlpRetrans = true, true
	}
	rs.tlpOut, rs.tlpEnd = true, e.sndMax
	e.stats.TLPs++
	e.rtoAt = now + e.currentRTO()
}

// dropLost clears the lost mark of the record holding s (a record with
// nothing left to resend).
func (q *txQueue) dropLost(s Seq) {
	for i := 0; i < q.n; i++ {
		if r := q.at(i); s.InRange(r.start, r.end) || r.start == s {
			q.clearLost(r)
			return
		}
	}
}

func (e *Endpoint) tryUndoIfSACK() {
	if e.sackOK {
		e.tryUndo()
	}
}
