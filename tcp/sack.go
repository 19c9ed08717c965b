package tcp

import (
	"math"

	"github.com/xdpengine/engine/header"
)

// oooQueue tracks the out-of-order data parked in the receive ring's free
// space: sorted, disjoint, non-adjacent ranges above rcvNxt, at most
// DefaultMaxOOORanges of them and at most the configured bytes.
type oooQueue struct {
	seqRanges
	bytes int
	clock uint32
}

// add records [s, e) (already written to the ring) and reports the bytes
// it adds; ok is false when the range cannot be recorded (too many ranges
// or over limit bytes), in which case nothing changed.
func (q *oooQueue) add(s, e Seq, limit int) (added int, ok bool) {
	r, added := q.insert(s, e, len(q.r), limit-q.bytes)
	if r == nil {
		return 0, false
	}
	q.clock++
	r.stamp = q.clock
	q.bytes += added
	return added, true
}

// popUpTo removes the ranges starting at or before nxt and returns the
// end of the contiguous data from nxt (nxt itself when none).
func (q *oooQueue) popUpTo(nxt Seq) Seq {
	q.bytes -= q.trimBelow(nxt)
	if q.n > 0 && q.r[0].start == nxt {
		// The range that continues the data; the next one starts past
		// its end (the ranges do not touch).
		nxt = q.r[0].end
		q.bytes -= q.trimBelow(nxt)
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
	seqRanges
	max    int
	sacked int // bytes in r
}

func (b *scoreboard) clear() { b.n, b.sacked = 0, 0 }

// ackTo drops everything below una.
func (b *scoreboard) ackTo(una Seq) { b.sacked -= b.trimBelow(una) }

// add merges [s, e) and returns the bytes newly SACKed.
func (b *scoreboard) add(s, e Seq) int {
	_, added := b.insert(s, e, b.max, math.MaxInt) // 0 when refused
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
