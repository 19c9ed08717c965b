package tcp

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// wrapBase is a base near the top of the sequence space: ranges at small
// offsets from it straddle the wrap to 0.
const wrapBase = Seq(1<<32 - 100)

// rel is a range given by its offsets from a base.
type rel struct{ s, e uint32 }

func rangesAt(base Seq, rs ...rel) seqRanges {
	l := seqRanges{r: new([DefaultMaxOOORanges]seqRange)}
	for _, r := range rs {
		l.r[l.n] = seqRange{start: base.Add(r.s), end: base.Add(r.e)}
		l.n++
	}
	return l
}

// offsets returns l's ranges as offsets from base.
func (l *seqRanges) offsets(base Seq) []rel {
	var out []rel
	if l.r == nil {
		return nil
	}
	for _, r := range l.r[:l.n] {
		out = append(out, rel{r.start.Sub(base), r.end.Sub(base)})
	}
	return out
}

func TestSeqRangesInsert(t *testing.T) {
	const noLimit = 1 << 30
	for _, tc := range []struct {
		name      string
		have      []rel
		ins       rel
		max, room int
		at, added int // at: the merged range's index, -1 when refused
		want      []rel
	}{
		{"into empty", nil, rel{10, 20}, 32, noLimit, 0, 10, []rel{{10, 20}}},
		{"before all", []rel{{30, 40}}, rel{10, 20}, 32, noLimit, 0, 10, []rel{{10, 20}, {30, 40}}},
		{"after all", []rel{{10, 20}}, rel{30, 40}, 32, noLimit, 1, 10, []rel{{10, 20}, {30, 40}}},
		{"between", []rel{{10, 20}, {50, 60}}, rel{30, 40}, 32, noLimit, 1, 10, []rel{{10, 20}, {30, 40}, {50, 60}}},
		{"touches left", []rel{{10, 20}}, rel{20, 30}, 32, noLimit, 0, 10, []rel{{10, 30}}},
		{"touches right", []rel{{20, 30}}, rel{10, 20}, 32, noLimit, 0, 10, []rel{{10, 30}}},
		{"fills a hole", []rel{{10, 20}, {30, 40}}, rel{20, 30}, 32, noLimit, 0, 10, []rel{{10, 40}}},
		{"overlaps", []rel{{10, 20}}, rel{15, 25}, 32, noLimit, 0, 5, []rel{{10, 25}}},
		{"covers several", []rel{{10, 20}, {30, 40}, {50, 60}, {70, 80}}, rel{15, 55}, 32, noLimit, 0, 20, []rel{{10, 60}, {70, 80}}},
		{"spans all", []rel{{10, 20}, {30, 40}}, rel{0, 50}, 32, noLimit, 0, 30, []rel{{0, 50}}},
		{"already held", []rel{{10, 40}}, rel{15, 25}, 32, noLimit, 0, 0, []rel{{10, 40}}},
		{"full: new range refused", []rel{{10, 20}, {30, 40}}, rel{50, 60}, 2, noLimit, -1, 0, []rel{{10, 20}, {30, 40}}},
		{"full: merge taken", []rel{{10, 20}, {30, 40}}, rel{20, 25}, 2, noLimit, 0, 5, []rel{{10, 25}, {30, 40}}},
		{"room: exactly", []rel{{10, 20}}, rel{20, 30}, 32, 10, 0, 10, []rel{{10, 30}}},
		{"room: one byte short", []rel{{10, 20}}, rel{20, 30}, 32, 9, -1, 0, []rel{{10, 20}}},
		{"room: counts new bytes only", []rel{{10, 20}}, rel{5, 25}, 32, 10, 0, 10, []rel{{5, 25}}},
		{"room: negative, nothing new", []rel{{10, 20}}, rel{12, 18}, 32, -1, -1, 0, []rel{{10, 20}}},
	} {
		for _, base := range []Seq{0, wrapBase, 1<<31 - 30} {
			t.Run(fmt.Sprintf("%s/base=%d", tc.name, base), func(t *testing.T) {
				l := rangesAt(base, tc.have...)
				merged, added := l.insert(base.Add(tc.ins.s), base.Add(tc.ins.e), tc.max, tc.room)
				at := -1 // refused
				for k := range l.r {
					if merged == &l.r[k] {
						at = k
					}
				}
				if merged != nil && at < 0 {
					t.Fatalf("insert [%d,%d) returned a range outside the list", tc.ins.s, tc.ins.e)
				}
				if at != tc.at || added != tc.added {
					t.Errorf("insert [%d,%d) = range %d, %d bytes, want range %d, %d bytes", tc.ins.s, tc.ins.e, at, added, tc.at, tc.added)
				}
				if got := l.offsets(base); !slices.Equal(got, tc.want) {
					t.Errorf("ranges %v, want %v", got, tc.want)
				}
			})
		}
	}
}

func TestSeqRangesTrimBelow(t *testing.T) {
	for _, tc := range []struct {
		name    string
		have    []rel
		below   uint32
		dropped int
		want    []rel
	}{
		{"empty", nil, 50, 0, nil},
		{"before all", []rel{{10, 20}}, 5, 0, []rel{{10, 20}}},
		{"at a start", []rel{{10, 20}}, 10, 0, []rel{{10, 20}}},
		{"inside", []rel{{10, 20}, {30, 40}}, 15, 5, []rel{{15, 20}, {30, 40}}},
		{"at an end", []rel{{10, 20}, {30, 40}}, 20, 10, []rel{{30, 40}}},
		{"in a hole", []rel{{10, 20}, {30, 40}}, 25, 10, []rel{{30, 40}}},
		{"several", []rel{{10, 20}, {30, 40}, {50, 60}}, 55, 25, []rel{{55, 60}}},
		{"all", []rel{{10, 20}, {30, 40}}, 90, 20, nil},
	} {
		for _, base := range []Seq{0, wrapBase} {
			t.Run(fmt.Sprintf("%s/base=%d", tc.name, base), func(t *testing.T) {
				l := rangesAt(base, tc.have...)
				if got := l.trimBelow(base.Add(tc.below)); got != tc.dropped {
					t.Errorf("trimBelow(%d) dropped %d, want %d", tc.below, got, tc.dropped)
				}
				if got := l.offsets(base); !slices.Equal(got, tc.want) {
					t.Errorf("ranges %v, want %v", got, tc.want)
				}
			})
		}
	}
}

// TestSeqRangesModel checks random inserts and trims against a bitmap of
// the bytes held, over a window that straddles the wrap of the sequence
// space.
func TestSeqRangesModel(t *testing.T) {
	const window = 600
	for _, base := range []Seq{wrapBase, 1<<32 - window/2, 0, 1 << 31} {
		rng := rand.New(rand.NewPCG(1, uint64(base)))
		var l seqRanges
		var held [window]bool
		lo := uint32(0) // bytes below lo were trimmed
		for step := range 4000 {
			var op string
			if rng.IntN(8) == 0 {
				lo = min(lo+uint32(rng.IntN(40)), window)
				op = fmt.Sprintf("trimBelow(%d)", lo)
				want := 0
				for k := range lo {
					if held[k] {
						want++
						held[k] = false
					}
				}
				if got := l.trimBelow(base.Add(lo)); got != want {
					t.Fatalf("base %d step %d: %s dropped %d, want %d", base, step, op, got, want)
				}
			} else {
				s := lo + uint32(rng.IntN(window-int(lo)+1))
				e := s + 1 + uint32(rng.IntN(30))
				if e > window {
					continue
				}
				mx, room := 1+rng.IntN(len(l.r)), rng.IntN(60)
				op = fmt.Sprintf("insert(%d, %d, max %d, room %d)", s, e, mx, room)
				before := l
				merged, added := l.insert(base.Add(s), base.Add(e), mx, room)
				ok := merged != nil
				want := 0
				for k := s; k < e; k++ {
					if !held[k] {
						want++
					}
				}
				if ok && added != want || !ok && want <= room && before.n < mx {
					t.Fatalf("base %d step %d: %s = %v, %d; %d bytes are new", base, step, op, merged, added, want)
				}
				if !ok {
					if added != 0 || l != before {
						t.Fatalf("base %d step %d: %s refused but added %d bytes or changed the list", base, step, op, added)
					}
					continue
				}
				if r := *merged; r.start.GreaterThan(base.Add(s)) || r.end.LessThan(base.Add(e)) {
					t.Fatalf("base %d step %d: %s: the merged range [%d,%d) does not hold it", base, step, op, r.start, r.end)
				}
				for k := s; k < e; k++ {
					held[k] = true
				}
			}
			// The list must be exactly the runs of held bytes.
			var runs []rel
			for k := uint32(0); k < window; k++ {
				if held[k] && (k == 0 || !held[k-1]) {
					runs = append(runs, rel{k, k})
				}
				if held[k] {
					runs[len(runs)-1].e = k + 1
				}
			}
			if got := l.offsets(base); !slices.Equal(got, runs) {
				t.Fatalf("base %d step %d: after %s ranges %v, want %v", base, step, op, got, runs)
			}
		}
	}
}

// BenchmarkSACKRanges exercises the range lists on their own: the
// out-of-order queue taking segments out of order then delivering them,
// and the scoreboard taking SACK blocks and then a cumulative ACK. It
// starts near the top of the sequence space so that the ranges wrap.
func BenchmarkSACKRanges(b *testing.B) {
	const mss = 1448
	const base = Seq(1<<32 - 8*mss)
	b.Run("ooo", func(b *testing.B) {
		b.ReportAllocs()
		var q oooQueue
		for b.Loop() {
			// Every other segment of 16 first (8 ranges), then the holes
			// (each joins its neighbors), then delivery from base.
			for k := 1; k < 16; k += 2 {
				s := base.Add(uint32(k * mss))
				q.add(s, s.Add(mss), 1<<20)
			}
			for k := 2; k < 16; k += 2 {
				s := base.Add(uint32(k * mss))
				q.add(s, s.Add(mss), 1<<20)
			}
			if q.popUpTo(base.Add(mss)) != base.Add(16*mss) || q.n != 0 || q.bytes != 0 {
				b.Fatalf("queue left %d ranges, %d bytes", q.n, q.bytes)
			}
		}
	})
	b.Run("scoreboard", func(b *testing.B) {
		b.ReportAllocs()
		sb := scoreboard{max: DefaultMaxOOORanges}
		for b.Loop() {
			for k := 1; k < 16; k += 2 {
				s := base.Add(uint32(k * mss))
				sb.add(s, s.Add(mss))
			}
			for k := 2; k < 16; k += 2 {
				s := base.Add(uint32(k * mss))
				sb.add(s, s.Add(mss))
			}
			sb.ackTo(base.Add(16 * mss))
			if sb.n != 0 || sb.sacked != 0 {
				b.Fatalf("scoreboard left %d ranges, %d bytes", sb.n, sb.sacked)
			}
		}
	})
}
