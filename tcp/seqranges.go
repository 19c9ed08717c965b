package tcp

import "sync"

// seqRange is [start, end) in sequence space.
type seqRange struct {
	start, end Seq
	stamp      uint32 // oooQueue: when last extended (for SACK block order)
}

func (r seqRange) len() int { return int(r.end.Sub(r.start)) }

// seqRanges is a sorted list of disjoint, non-adjacent ranges [start, end)
// in sequence space, in a fixed array taken from a pool by the first
// insert and given back by release when the list is empty (an idle
// connection holds none): nothing allocates once the pool is warm. Both
// the receiver's out-of-order queue and the sender's SACK scoreboard are
// one (sack.go); they keep their own byte counts from what insert and
// trimBelow return.
//
// Order is Seq's modulo 2^32 order, so a list may straddle the wrap of
// the sequence space: every range it holds lies within one window, less
// than 2^31 bytes wide, as every range of a connection does.
type seqRanges struct {
	r *[DefaultMaxOOORanges]seqRange // nil until the first insert
	n int
}

var rangeArrays = sync.Pool{New: func() any { return new([DefaultMaxOOORanges]seqRange) }}

// release gives the array back to the pool when the list is empty.
func (l *seqRanges) release() {
	if l.n == 0 && l.r != nil {
		rangeArrays.Put(l.r)
		l.r = nil
	}
}

// insert merges [s, e) (s before e) into the list: the ranges it overlaps
// or touches and [s, e) itself become one range, their union. It returns
// that range and the bytes of [s, e) the list did not hold. When [s, e)
// needs a range of its own while the list holds max ranges already, or
// when it would add more than room bytes, it returns nil and 0 and
// nothing changed.
func (l *seqRanges) insert(s, e Seq, max, room int) (merged *seqRange, added int) {
	// r[i:j] are the ranges that overlap or touch [s, e).
	i := 0
	for i < l.n && l.r[i].end.LessThan(s) {
		i++
	}
	j := i
	covered := 0
	ns, ne := s, e
	for j < l.n && l.r[j].start.LessEq(e) {
		covered += l.r[j].len()
		ns = seqMin(ns, l.r[j].start)
		ne = seqMax(ne, l.r[j].end)
		j++
	}
	added = int(ne.Sub(ns)) - covered
	if added > room || i == j && l.n >= max {
		return nil, 0
	}
	if l.r == nil {
		l.r = rangeArrays.Get().(*[DefaultMaxOOORanges]seqRange)
	}
	// Replace r[i:j] by the union.
	switch {
	case i == j:
		copy(l.r[i+1:l.n+1], l.r[i:l.n])
		l.n++
	case j-i > 1:
		copy(l.r[i+1:], l.r[j:l.n])
		l.n -= j - i - 1
	}
	l.r[i] = seqRange{start: ns, end: ne}
	return &l.r[i], added
}

// trimBelow drops everything before s: the ranges that end at or before
// it, and the part below s of the one that holds it. It returns the bytes
// dropped.
func (l *seqRanges) trimBelow(s Seq) int {
	dropped := 0
	k := 0
	for k < l.n && l.r[k].end.LessEq(s) {
		dropped += l.r[k].len()
		k++
	}
	if k > 0 {
		copy(l.r[:], l.r[k:l.n])
		l.n -= k
	}
	if l.n > 0 && l.r[0].start.LessThan(s) {
		dropped += int(s.Sub(l.r[0].start))
		l.r[0].start = s
	}
	return dropped
}
