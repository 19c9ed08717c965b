package tcp

// Seq is a TCP sequence number. Comparisons are modulo 2^32 (RFC 9293,
// 3.4): a is before b when the signed distance b-a is positive, which is
// correct as long as the two are less than 2^31 apart, as every window is.
type Seq uint32

// LessThan reports whether s is before w.
func (s Seq) LessThan(w Seq) bool { return int32(s-w) < 0 }

// LessEq reports whether s is before or equal to w.
func (s Seq) LessEq(w Seq) bool { return int32(s-w) <= 0 }

// GreaterThan reports whether s is after w.
func (s Seq) GreaterThan(w Seq) bool { return int32(s-w) > 0 }

// GreaterEq reports whether s is after or equal to w.
func (s Seq) GreaterEq(w Seq) bool { return int32(s-w) >= 0 }

// Add returns s advanced by n bytes.
func (s Seq) Add(n uint32) Seq { return s + Seq(n) }

// Sub returns the distance from w to s (s - w), for s at or after w.
func (s Seq) Sub(w Seq) uint32 { return uint32(s - w) }

// InWindow reports whether s lies in [start, start+size).
func (s Seq) InWindow(start Seq, size uint32) bool { return uint32(s-start) < size }

// InRange reports whether s lies in [a, b).
func (s Seq) InRange(a, b Seq) bool { return a.LessEq(s) && s.LessThan(b) }

// seqMax returns the later of a and b.
func seqMax(a, b Seq) Seq {
	if a.LessThan(b) {
		return b
	}
	return a
}

// seqMin returns the earlier of a and b.
func seqMin(a, b Seq) Seq {
	if a.LessThan(b) {
		return a
	}
	return b
}
