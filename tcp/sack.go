package tcp

import "github.com/xdpengine/engine/header"

// seqRange is [start, end) in sequence space.
type seqRange struct {
	start, end Seq
	stamp      uint32 // oooQueue: when last extended (for SACK block order)
}

func (r seqRange) len() int { return int(r.end.Sub(r.start)) }

// oooQueue tracks the out-of-order data parked in the receive ring's free
// space: sorted, disjoint, non-adjacent ranges above rcvNxt, at most
// DefaultMaxOOORanges of them and at most the configured bytes.
type oooQueue struct {
	r     [DefaultMaxOOORanges]seqRange
	n     int
	bytes int
	clock uint32
}

// add records [s, e) (already written to the ring) and reports the bytes
// it adds; ok is false when the range cannot be recorded (too many ranges
// or over limit bytes), in which case nothing changed.
func (q *oooQueue) add(s, e Seq, limit int) (added int, ok bool) {
	// Find the ranges that overlap or touch [s, e).
	i := 0
	for i < q.n && q.r[i].end.LessThan(s) {
		i++
	}
	j := i
	covered := 0
	ns, ne := s, e
	for j < q.n && q.r[j].start.LessEq(e) {
		covered += q.r[j].len()
		ns = seqMin(ns, q.r[j].start)
		ne = seqMax(ne, q.r[j].end)
		j++
	}
	added = int(ne.Sub(ns)) - covered
	if q.bytes+added > limit {
		return 0, false
	}
	if i == j && q.n == len(q.r) {
		return 0, false
	}
	q.clock++
	nr := seqRange{ns, ne, q.clock}
	// Replace r[i:j] by nr.
	switch {
	case i == j:
		copy(q.r[i+1:q.n+1], q.r[i:q.n])
		q.n++
	case j-i > 1:
		copy(q.r[i+1:], q.r[j:q.n])
		q.n -= j - i - 1
	}
	q.r[i] = nr
	q.bytes += added
	return added, true
}

// popUpTo removes the ranges starting at or before nxt and returns the
// end of the contiguous data from nxt (nxt itself when none).
func (q *oooQueue) popUpTo(nxt Seq) Seq {
	k := 0
	for k < q.n && q.r[k].start.LessEq(nxt) {
		if q.r[k].end.GreaterThan(nxt) {
			nxt = q.r[k].end
		}
		q.bytes -= q.r[k].len()
		k++
	}
	if k > 0 {
		copy(q.r[:], q.r[k:q.n])
		q.n -= k
	}
	return nxt
}

// blocks writes up to max SACK blocks, most recently changed first
// (RFC 2018 section 4), and returns the count.
func (q *oooQueue) blocks(dst []header.SACKBlock, max int) int {
	n := 0
	var used uint64 // bitmask of ranges already reported (n <= 32)
	for n < max && n < q.n {
		best := -1
		for k := 0; k < q.n; k++ {
			if used&(1<<k) == 0 && (best < 0 || q.r[k].stamp > q.r[best].stamp) {
				best = k
			}
		}
		used |= 1 << best
		dst[n] = header.SACKBlock{Start: uint32(q.r[best].start), End: uint32(q.r[best].end)}
		n++
	}
	return n
}

// scoreboard is the sender's record of SACKed ranges above snd.una (RFC
// 6675): sorted and disjoint, bounded; when full, new blocks are ignored,
// which only makes the sender retransmit more than needed.
type scoreboard struct {
	r      [DefaultMaxOOORanges]seqRange
	n      int
	max    int
	sacked int // bytes in r
}

func (b *scoreboard) clear() { b.n, b.sacked = 0, 0 }

// ackTo drops everything below una.
func (b *scoreboard) ackTo(una Seq) {
	k := 0
	for k < b.n && b.r[k].end.LessEq(una) {
		b.sacked -= b.r[k].len()
		k++
	}
	if k > 0 {
		copy(b.r[:], b.r[k:b.n])
		b.n -= k
	}
	if b.n > 0 && b.r[0].start.LessThan(una) {
		b.sacked -= int(una.Sub(b.r[0].start))
		b.r[0].start = una
	}
}

// add merges [s, e) and returns the bytes newly SACKed.
func (b *scoreboard) add(s, e Seq) int {
	i := 0
	for i < b.n && b.r[i].end.LessThan(s) {
		i++
	}
	j := i
	covered := 0
	ns, ne := s, e
	for j < b.n && b.r[j].start.LessEq(e) {
		covered += b.r[j].len()
		ns = seqMin(ns, b.r[j].start)
		ne = seqMax(ne, b.r[j].end)
		j++
	}
	if i == j && b.n == b.max {
		return 0
	}
	added := int(ne.Sub(ns)) - covered
	switch {
	case i == j:
		copy(b.r[i+1:b.n+1], b.r[i:b.n])
		b.n++
	case j-i > 1:
		copy(b.r[i+1:], b.r[j:b.n])
		b.n -= j - i - 1
	}
	b.r[i] = seqRange{start: ns, end: ne}
	b.sacked += added
	return added
}

// sackedAt returns the end of the SACKed range containing s, if any.
func (b *scoreboard) sackedAt(s Seq) (Seq, bool) {
	for k := 0; k < b.n; k++ {
		if b.r[k].start.LessEq(s) && s.LessThan(b.r[k].end) {
			return b.r[k].end, true
		}
		if s.LessThan(b.r[k].start) {
			break
		}
	}
	return 0, false
}

// nextSackedAfter returns the start of the first SACKed range above s
// (limit when none).
func (b *scoreboard) nextSackedAfter(s, limit Seq) Seq {
	for k := 0; k < b.n; k++ {
		if s.LessThan(b.r[k].start) {
			return seqMin(b.r[k].start, limit)
		}
	}
	return limit
}
