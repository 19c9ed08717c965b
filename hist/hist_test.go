package hist

import "testing"

func TestLog2Buckets(t *testing.T) {
	for _, c := range []struct {
		v      uint64
		bucket int
	}{{0, 0}, {1, 0}, {2, 1}, {3, 2}, {4, 2}, {5, 3}, {8, 3}, {9, 4}, {64, 6}, {65, 7},
		{1 << 30, 30}, {1<<30 + 1, 31}, {1 << 40, 31}, {^uint64(0), 31}} {
		var h Log2
		h.Add(c.v)
		if h.Counts[c.bucket] != 1 || h.Count != 1 || h.Sum != c.v {
			t.Errorf("Add(%d): counts %v, want bucket %d", c.v, h.Counts, c.bucket)
		}
		if c.bucket < Buckets-1 && (c.v > Bound(c.bucket) || c.bucket > 0 && c.v <= Bound(c.bucket-1)) {
			t.Errorf("%d is not within bucket %d's bounds", c.v, c.bucket)
		}
	}
}

func TestLog2Cumulative(t *testing.T) {
	var h, o Log2
	for v := uint64(1); v <= 64; v++ {
		h.Add(v)
	}
	o.Add(1 << 35)
	h.AddHist(&o)
	for i, want := range []uint64{1, 2, 4, 8, 16, 32, 64, 64} {
		if got := h.Cumulative(i); got != want {
			t.Errorf("Cumulative(%d) = %d, want %d", i, got, want)
		}
	}
	if got := h.Cumulative(Buckets - 2); got != 64 {
		t.Errorf("Cumulative(last bounded) = %d, want 64", got)
	}
	if h.Count != 65 || h.Sum != 64*65/2+1<<35 {
		t.Errorf("count %d, sum %d", h.Count, h.Sum)
	}
}

func TestLog2AddAllocs(t *testing.T) {
	var h Log2
	if n := testing.AllocsPerRun(100, func() { h.Add(12345) }); n != 0 {
		t.Errorf("Add allocates %v times", n)
	}
}

var sink uint64

// BenchmarkLog2Add: one Add back to back (its latency: each waits for the
// previous one's stores), and the cost in a worker round as the datapath
// pays it: a stand-in round (a 64-frame burst's worth of loads, about
// what a round that finds a burst reads of its descriptors) without the
// histograms, and with the two Adds a working round makes (its time, its
// burst size). The difference of the last two is the cost per round.
func BenchmarkLog2Add(b *testing.B) {
	vals := make([]uint64, 1024)
	x := uint64(88172645463325252)
	for i := range vals {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		vals[i] = x >> (x % 64)
	}
	descs := make([]uint64, 64)
	round := func(i int) uint64 {
		var s uint64
		for _, d := range descs {
			s += d ^ uint64(i)
		}
		return s
	}
	b.Run("alone", func(b *testing.B) {
		var h Log2
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			h.Add(vals[i&1023])
			i++
		}
		sink = h.Count
	})
	b.Run("round", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sink += round(i)
			i++
		}
	})
	b.Run("round+2adds", func(b *testing.B) {
		var r, burst Log2
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sink += round(i)
			r.Add(vals[i&1023])
			burst.Add(uint64(i&63) + 1)
			i++
		}
		sink += r.Count + burst.Count
	})
}
