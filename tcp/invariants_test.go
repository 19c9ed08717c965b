package tcp

import "fmt"

// checkInvariants returns the first broken invariant of e's state.
func (e *Endpoint) checkInvariants() error {
	if e.sndNxt.LessThan(e.sndUna) || e.sndMax.LessThan(e.sndNxt) {
		return fmt.Errorf("send space una %d nxt %d max %d", e.sndUna, e.sndNxt, e.sndMax)
	}
	if d := int32(e.sndUna - e.sndBase); d < -1 || d > 1 {
		return fmt.Errorf("sndBase %d una %d", e.sndBase, e.sndUna)
	}
	if n := e.snd.Len(); n < 0 || n > e.snd.Cap() {
		return fmt.Errorf("send ring len %d", n)
	}
	if n := e.rcv.Len(); n < 0 || n > e.rcv.Cap() {
		return fmt.Errorf("receive ring len %d", n)
	}
	if e.ooo.bytes > e.cfg.OOOLimit || e.ooo.bytes < 0 {
		return fmt.Errorf("ooo bytes %d limit %d", e.ooo.bytes, e.cfg.OOOLimit)
	}
	sum := 0
	for k := 0; k < e.ooo.n; k++ {
		r := e.ooo.r[k]
		if !r.start.LessThan(r.end) || !e.rcvNxt.LessThan(r.start) && e.state.synchronized() {
			return fmt.Errorf("ooo range %d [%d,%d) rcvNxt %d", k, r.start, r.end, e.rcvNxt)
		}
		if k > 0 && !e.ooo.r[k-1].end.LessThan(r.start) {
			return fmt.Errorf("ooo ranges %d,%d overlap or touch", k-1, k)
		}
		if int(r.end.Sub(e.rcvNxt)) > e.rcv.Free() {
			return fmt.Errorf("ooo range %d beyond ring free space", k)
		}
		sum += r.len()
	}
	if sum != e.ooo.bytes {
		return fmt.Errorf("ooo bytes %d, ranges hold %d", e.ooo.bytes, sum)
	}
	sum = 0
	for k := 0; k < e.sb.n; k++ {
		r := e.sb.r[k]
		if !r.start.LessThan(r.end) || r.start.LessThan(e.sndUna) || r.end.GreaterThan(e.sndMax) {
			return fmt.Errorf("scoreboard range [%d,%d) una %d max %d", r.start, r.end, e.sndUna, e.sndMax)
		}
		if k > 0 && !e.sb.r[k-1].end.LessThan(r.start) {
			return fmt.Errorf("scoreboard ranges %d,%d overlap", k-1, k)
		}
		sum += r.len()
	}
	if sum != e.sb.sacked {
		return fmt.Errorf("scoreboard sacked %d, ranges hold %d", e.sb.sacked, sum)
	}
	if err := e.checkPMTU(); err != nil {
		return err
	}
	return e.checkTxQueue()
}

// checkPMTU checks the path MTU state: the path MTU within its bounds, the
// full segment within the path MTU and the peer's MSS, an outstanding MTU
// probe in flight.
func (e *Endpoint) checkPMTU() error {
	hl := e.cfg.headers()
	if e.pmtu > e.cfg.MSS+hl || e.pmtu < min(e.cfg.minPathMTU(), e.cfg.MSS+hl) {
		return fmt.Errorf("path MTU %d outside [%d, %d]", e.pmtu, e.cfg.minPathMTU(), e.cfg.MSS+hl)
	}
	if e.segMax < minSndMSS || e.segMax > max(min(e.pmtu-hl, e.sndMSS), minSndMSS) {
		return fmt.Errorf("segMax %d, path MTU %d, peer MSS %d", e.segMax, e.pmtu, e.sndMSS)
	}
	if m := &e.mtup; m.probeSize != 0 {
		if !m.enabled || !e.sndUna.LessThan(m.probeEnd) || m.probeEnd.GreaterThan(e.sndMax) ||
			int(m.probeEnd.Sub(m.probeStart)) <= e.mss() {
			return fmt.Errorf("MTU probe [%d,%d) of %d, una %d max %d mss %d", m.probeStart, m.probeEnd, m.probeSize, e.sndUna, e.sndMax, e.mss())
		}
	}
	return nil
}

// checkTxQueue checks RACK's records: contiguous from snd.una to snd.max
// when SACK is on, and the lost byte count.
func (e *Endpoint) checkTxQueue() error {
	q := &e.txq
	if !e.sackOK || !e.state.synchronized() {
		return nil
	}
	lost := 0
	cur := e.sndUna
	for i := 0; i < q.n; i++ {
		r := q.at(i)
		if r.start != cur || !r.start.LessThan(r.end) {
			return fmt.Errorf("txq record %d [%d,%d) expected start %d (una %d max %d)", i, r.start, r.end, cur, e.sndUna, e.sndMax)
		}
		if r.flags&recLost != 0 {
			if r.flags&recSACKed != 0 {
				return fmt.Errorf("txq record %d lost and SACKed", i)
			}
			lost += r.len()
		}
		cur = r.end
	}
	if q.n > 0 && cur != e.sndMax {
		return fmt.Errorf("txq ends at %d, snd.max %d", cur, e.sndMax)
	}
	if lost != q.lost {
		return fmt.Errorf("txq lost %d, records hold %d", q.lost, lost)
	}
	return nil
}
