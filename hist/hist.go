package hist

import "math/bits"

// Buckets is the number of buckets of a Log2: bucket i < Buckets-1 has
// the upper bound 2^i; the last one is unbounded (values above 2^30).
const Buckets = 32

// Log2 is a histogram with power-of-two bucket bounds. The zero value is
// empty and ready to use.
type Log2 struct {
	Count  uint64          `json:"count"`  // values added
	Sum    uint64          `json:"sum"`    // their sum
	Counts [Buckets]uint64 `json:"counts"` // Counts[i]: values in (2^(i-1), 2^i]; the last: above 2^(Buckets-2)
}

// Add counts v. One goroutine only (the owner); no allocation.
func (h *Log2) Add(v uint64) {
	h.Count++
	h.Sum += v
	// The bucket of v is the bit length of v-1: 1 -> 0, 2 -> 1, 3..4 -> 2,
	// 5..8 -> 3; 0 goes with 1. Both clamps are branches that a worker
	// predicts (no 0, rarely a value above the last bound).
	b := max(v, 1) - 1
	h.Counts[min(bits.Len64(b), Buckets-1)]++
}

// Bound is the upper bound of bucket i (inclusive): 2^i. The last bucket's
// is +Inf, which Bound does not represent: callers stop before it.
func Bound(i int) uint64 { return 1 << i }

// Cumulative returns how many values are at most Bound(i), for i below
// Buckets-1.
func (h *Log2) Cumulative(i int) uint64 {
	var n uint64
	for _, c := range h.Counts[:min(i, Buckets-2)+1] {
		n += c
	}
	return n
}

// AddHist adds o's counts to h (sums over workers).
func (h *Log2) AddHist(o *Log2) {
	h.Count += o.Count
	h.Sum += o.Sum
	for i := range h.Counts {
		h.Counts[i] += o.Counts[i]
	}
}
