package measure

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/xdpengine/engine/bench/signature"
	"github.com/xdpengine/engine/bench/stream"
	"github.com/xdpengine/engine/header"
)

func newTracker(t testing.TB, n int) *Tracker {
	t.Helper()
	tr, err := New(Config{Streams: n})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// feed observes the 64-bit sequence numbers seqs of stream 0, each with
// a latency of lat ns.
func feed(tr *Tracker, seqs []uint64, lat int64) {
	for _, q := range seqs {
		tr.Observe(signature.Signature{Seq: uint32(q), TxNs: int64(q)}, int64(q)+lat)
	}
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for q := from; q < to; q++ {
		s = append(s, q)
	}
	return s
}

func TestInOrder(t *testing.T) {
	tr := newTracker(t, 1)
	feed(tr, seqRange(0, 10000), 500)
	r := tr.Result(0, 10000)
	if r.Received != 10000 || r.Lost != 0 || r.Duplicates != 0 || r.Reordered != 0 || r.Missing != 0 {
		t.Fatalf("%+v", r)
	}
	if r.Latency.Count != 10000 || r.Latency.P50 != 500 || r.Latency.Max != 500 || r.Latency.Min != 500 {
		t.Fatalf("latency %v", r.Latency)
	}
}

func TestLoss(t *testing.T) {
	tr := newTracker(t, 1)
	var s []uint64
	for q := range uint64(10000) {
		if q%10 != 3 {
			s = append(s, q)
		}
	}
	feed(tr, s, 1)
	r := tr.Result(0, 10010) // the last ten were lost in flight
	if r.Received != 9000 || r.Lost != 1010 || r.Missing != 1000 || r.Reordered != 0 {
		t.Fatalf("%+v", r)
	}
	if got := r.LossRatio(); got < 0.1008 || got > 0.1010 {
		t.Fatalf("loss ratio %v", got)
	}
}

func TestDuplicatesAndReordering(t *testing.T) {
	tr := newTracker(t, 1)
	// Pairs swapped: 1 0 3 2 5 4 ...; every packet then again.
	var s []uint64
	for q := uint64(0); q < 1000; q += 2 {
		s = append(s, q+1, q)
	}
	feed(tr, s, 1)
	feed(tr, s, 1)
	st := tr.Stats(0)
	if st.Received != 1000 || st.Reordered != 500 || st.MaxReorder != 1 || st.Duplicates != 1000 || st.Late != 0 {
		t.Fatalf("%+v", st)
	}
	if st.Latency.Count != 1000 {
		t.Fatalf("duplicates recorded a latency: %d samples", st.Latency.Count)
	}
}

func TestWindowEdge(t *testing.T) {
	tr := newTracker(t, 1)
	feed(tr, []uint64{10000}, 1)
	feed(tr, []uint64{10000 - WindowSize + 1, 10000 - WindowSize + 1}, 1) // inside: the second is a duplicate
	feed(tr, []uint64{10000 - WindowSize, 10000 - WindowSize}, 1)         // outside: late, twice
	st := tr.Stats(0)
	if st.Duplicates != 1 || st.Late != 2 || st.Reordered != 3 || st.MaxReorder != WindowSize || st.Received != 4 {
		t.Fatalf("%+v", st)
	}
}

// TestWrap: a stream whose 32-bit sequence numbers wrap is tracked through
// the wrap, with reordering across it.
func TestWrap(t *testing.T) {
	tr := newTracker(t, 1)
	start := uint64(1<<32 - 1000)
	s := seqRange(start, start+2000)
	s[999], s[1000] = s[1000], s[999] // 2^32 before 2^32-1
	feed(tr, s, 1)
	st := tr.Stats(0)
	// Missing counts from 0, where a generator starts.
	if st.Received != 2000 || st.Reordered != 1 || st.Duplicates != 0 || st.Highest != start+1999 || st.Missing != start {
		t.Fatalf("%+v", st)
	}
}

// TestAgainstModel compares the tracker with a map that remembers every
// sequence number, on random traffic: loss, duplication and displacement
// below the window.
func TestAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := range 20 {
		tr := newTracker(t, 1)
		var arrivals []uint64
		n := uint64(20000 + r.IntN(20000))
		for q := range n {
			if r.IntN(100) < 3 {
				continue // lost
			}
			arrivals = append(arrivals, q)
			if r.IntN(100) < 2 {
				arrivals = append(arrivals, q) // duplicated
			}
		}
		// Displace 5% of the packets by up to maxDisp places (sorting
		// on position plus delay keeps every displacement below it).
		maxDisp := 1 + r.IntN(WindowSize/2)
		key := make(map[int]int, len(arrivals))
		idx := make([]int, len(arrivals))
		for i := range arrivals {
			idx[i], key[i] = i, i
			if r.IntN(100) < 5 {
				key[i] = i + r.IntN(maxDisp)
			}
		}
		slices.SortStableFunc(idx, func(a, b int) int { return key[a] - key[b] })
		shuffled := make([]uint64, len(arrivals))
		for i, j := range idx {
			shuffled[i] = arrivals[j]
		}
		arrivals = shuffled
		seen := map[uint64]bool{}
		var highest uint64
		var want Stats
		for i, q := range arrivals {
			switch {
			case seen[q]:
				want.Duplicates++
				continue
			case i > 0 && q < highest:
				want.Reordered++
				want.MaxReorder = max(want.MaxReorder, highest-q)
			}
			seen[q] = true
			want.Received++
			highest = max(highest, q)
		}
		feed(tr, arrivals, 1)
		got := tr.Stats(0)
		if got.Received != want.Received || got.Duplicates != want.Duplicates ||
			got.Reordered != want.Reordered || got.MaxReorder != want.MaxReorder || got.Late != 0 {
			t.Fatalf("round %d:\n got %+v\nwant %+v", round, got, want)
		}
		if res := tr.Result(0, n); res.Lost != n-want.Received {
			t.Fatalf("round %d: lost %d, want %d", round, res.Lost, n-want.Received)
		}
	}
}

func TestLatencyPercentiles(t *testing.T) {
	tr := newTracker(t, 1)
	for i := range int64(100000) {
		tr.Observe(signature.Signature{Seq: uint32(i), TxNs: 1000}, 1000+i+1) // 1 to 100000 ns
	}
	l := tr.Stats(0).Latency
	near := func(got time.Duration, want float64) bool {
		return float64(got) >= want*0.999 && float64(got) <= want*1.001
	}
	if !near(l.P50, 50000) || !near(l.P90, 90000) || !near(l.P99, 99000) || !near(l.P999, 99900) ||
		l.Max != 100000 || l.Min != 1 || !near(l.Mean, 50000.5) {
		t.Fatalf("%v (mean %v)", l, l.Mean)
	}
}

func TestOddInputs(t *testing.T) {
	tr := newTracker(t, 2)
	tr.Observe(signature.Signature{Stream: 2}, 0)                        // unknown stream
	tr.Observe(signature.Signature{Stream: 1, TxNs: 100}, 50)            // arrived before it left
	tr.Observe(signature.Signature{Stream: 1, Seq: 1}, int64(time.Hour)) // beyond MaxLatency
	if tr.ObserveFrame(make([]byte, 60), 0) {
		t.Fatal("signature found in zeros")
	}
	st := tr.Stats(1)
	if tr.Unknown() != 1 || tr.Unsigned() != 1 || st.BadTime != 1 || st.Received != 2 || st.Latency.Count != 1 {
		t.Fatalf("unknown %d unsigned %d %+v", tr.Unknown(), tr.Unsigned(), st)
	}
	if st.Latency.Max != time.Hour || st.Latency.P50 < DefaultMaxLatency*999/1000 {
		t.Fatalf("latency beyond the maximum: %v", st.Latency)
	}
	if _, err := New(Config{Streams: 0}); !errors.Is(err, ErrConfig) {
		t.Fatal(err)
	}
	if _, err := New(Config{Streams: 1 << 17}); !errors.Is(err, ErrConfig) {
		t.Fatal(err)
	}
	tr.Reset()
	if st := tr.Stats(1); st.Received != 0 || st.Latency.Count != 0 || tr.Unknown() != 0 {
		t.Fatalf("after Reset: %+v", st)
	}
}

func TestMerge(t *testing.T) {
	a, b := newTracker(t, 1), newTracker(t, 1)
	feed(a, seqRange(0, 100), 10)
	feed(b, seqRange(100, 300), 30)
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	r := a.Result(0, 300)
	if r.Received != 300 || r.Lost != 0 || r.Highest != 299 || r.Latency.Min != 10 || r.Latency.Max != 30 || r.Latency.P50 != 30 {
		t.Fatalf("%+v", r)
	}
	if err := a.Merge(newTracker(t, 2)); !errors.Is(err, ErrConfig) {
		t.Fatal(err)
	}
	if l := a.Latency(); l.Count != 300 {
		t.Fatalf("all streams: %v", l)
	}
}

// TestObserveGenerated: frames from package stream, through ObserveFrame.
func TestObserveGenerated(t *testing.T) {
	s, err := stream.New(stream.Spec{
		ID: 1, SrcMAC: header.MAC{2}, DstMAC: header.MAC{2, 1},
		Src: stream.AddrRange{First: netip.MustParseAddr("198.18.0.1")}, Dst: stream.AddrRange{First: netip.MustParseAddr("198.18.0.2")},
		DstPort: stream.PortRange{First: 9}, Size: stream.IMIX(),
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := newTracker(t, 2)
	buf := make([]byte, s.MaxLen())
	for i := range int64(1000) {
		n := s.Next(buf, i*100)
		if i%7 == 0 {
			continue // lost
		}
		if !tr.ObserveFrame(buf[:n], i*100+2500) {
			t.Fatalf("frame %d: no signature", i)
		}
	}
	r := tr.Result(1, s.Count())
	if r.Received != 857 || r.Lost != 143 || r.Latency.Max != 2500 || r.Latency.P99 != 2500 {
		t.Fatalf("%+v", r)
	}
}

func TestObserveAllocs(t *testing.T) {
	tr := newTracker(t, 4)
	var q uint32
	if a := testing.AllocsPerRun(1000, func() {
		q++
		tr.Observe(signature.Signature{Stream: uint16(q % 4), Seq: q, TxNs: 1}, int64(q)*37)
	}); a != 0 {
		t.Fatalf("%v allocations per Observe", a)
	}
}
