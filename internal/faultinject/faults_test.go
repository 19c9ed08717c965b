package faultinject

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/xdpengine/engine/stack/stats"
)

// runFaulter passes frames 0..n-1 through a faulter the way the workers do
// (one frame per step, the clock advancing by step ns) and returns what
// came out, then what was still held at the end.
func runFaulter(r Rates, depth int, delay time.Duration, seed uint64, n int, step int64) (out []int, st stats.Faults) {
	f := newFaulter[int](r, depth, delay, seed, 0, &st.RxDropped, &st.RxDuplicated, &st.RxReordered)
	now := int64(0)
	for i := range n {
		now += step
		switch f.decide() {
		case fatePass:
			out = append(out, i)
			f.passed(1)
		case fateDuplicate:
			out = append(out, i, i)
			f.passed(2)
		case fateHold:
			f.hold(i, now)
		}
		for v, ok := f.release(now); ok; v, ok = f.release(now) {
			out = append(out, v)
		}
	}
	for v, ok := f.release(math.MaxInt64); ok; v, ok = f.release(math.MaxInt64) {
		out = append(out, v)
	}
	return out, st
}

func TestFaulterCounts(t *testing.T) {
	const n = 100000
	r := Rates{Drop: 0.05, Duplicate: 0.03, Reorder: 0.1}
	out, st := runFaulter(r, 3, time.Hour, 1, n, 1)
	// Every frame comes out once, twice when duplicated, never when
	// dropped: nothing is lost or invented by holding.
	seen := make([]int, n)
	for _, v := range out {
		seen[v]++
	}
	var dropped, duped uint64
	for i, c := range seen {
		switch c {
		case 0:
			dropped++
		case 2:
			duped++
		case 1:
		default:
			t.Fatalf("frame %d came out %d times", i, c)
		}
	}
	if dropped != st.RxDropped || duped != st.RxDuplicated {
		t.Errorf("counted %d dropped, %d duplicated; observed %d, %d", st.RxDropped, st.RxDuplicated, dropped, duped)
	}
	// The rates are what was asked, within 5 standard deviations (seeded:
	// the result is the same every run).
	for _, c := range []struct {
		name string
		got  uint64
		p    float64
	}{{"drop", st.RxDropped, r.Drop}, {"duplicate", st.RxDuplicated, r.Duplicate}, {"reorder", st.RxReordered, r.Reorder}} {
		want := c.p * n
		if sd := math.Sqrt(n * c.p * (1 - c.p)); math.Abs(float64(c.got)-want) > 5*sd {
			t.Errorf("%s: %d of %d frames, want about %.0f", c.name, c.got, n, want)
		}
	}
	// Reordering: count the frames that came out after a later one.
	late := 0
	for i := 1; i < len(out); i++ {
		if out[i] < out[i-1] {
			late++
		}
	}
	if late == 0 || uint64(late) > st.RxReordered {
		t.Errorf("%d frames out of order, %d held", late, st.RxReordered)
	}
}

// TestFaulterDepth: a held frame is overtaken by exactly depth frames.
func TestFaulterDepth(t *testing.T) {
	f := newFaulter[int](Rates{}, 2, time.Hour, 1, 0, new(uint64), new(uint64), new(uint64))
	f.hold(0, 0)
	var out []int
	for i := 1; i <= 4; i++ {
		out = append(out, i)
		f.passed(1)
		for v, ok := f.release(0); ok; v, ok = f.release(0) {
			out = append(out, v)
		}
	}
	if want := []int{1, 2, 0, 3, 4}; !slices.Equal(out, want) {
		t.Errorf("got %v, want %v", out, want)
	}
}

// TestFaulterDelay: a held frame leaves after the delay with no traffic.
func TestFaulterDelay(t *testing.T) {
	f := newFaulter[int](Rates{}, 100, time.Millisecond, 1, 0, new(uint64), new(uint64), new(uint64))
	f.hold(7, 1000)
	if got := f.nextDeadline(); got != 1000+int64(time.Millisecond) {
		t.Errorf("deadline %d", got)
	}
	if _, ok := f.release(1000 + int64(time.Millisecond) - 1); ok {
		t.Error("released before its delay")
	}
	if v, ok := f.release(1000 + int64(time.Millisecond)); !ok || v != 7 {
		t.Errorf("release at the deadline: %v %v", v, ok)
	}
	if f.nextDeadline() != 0 {
		t.Error("still a deadline with nothing held")
	}
}

// TestFaulterBounded: no more than maxHeld frames are held.
func TestFaulterBounded(t *testing.T) {
	var st stats.Faults
	f := newFaulter[int](Rates{Reorder: 1}, maxHeld, time.Hour, 1, 0, &st.RxDropped, &st.RxDuplicated, &st.RxReordered)
	for i := range 2 * maxHeld {
		if f.decide() == fateHold {
			f.hold(i, 0)
		}
	}
	if len(f.held) != maxHeld || st.RxReordered != maxHeld {
		t.Errorf("held %d (counted %d), want %d", len(f.held), st.RxReordered, maxHeld)
	}
}

func TestFaulterDeterministic(t *testing.T) {
	r := Rates{Drop: 0.1, Duplicate: 0.1, Reorder: 0.2}
	a, _ := runFaulter(r, 3, time.Millisecond, 42, 5000, 10000)
	b, _ := runFaulter(r, 3, time.Millisecond, 42, 5000, 10000)
	c, _ := runFaulter(r, 3, time.Millisecond, 43, 5000, 10000)
	if !slices.Equal(a, b) {
		t.Error("same seed, different faults")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds, same faults")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, f := range []Config{
		{Rx: Rates{Drop: -0.1}},
		{Tx: Rates{Duplicate: 1.5}},
		{Rx: Rates{Drop: 0.5, Duplicate: 0.3, Reorder: 0.3}},
		{Tx: Rates{Reorder: math.NaN()}},
		{ReorderDepth: maxHeld + 1},
		{ReorderDelay: -time.Second},
	} {
		if _, err := New(f); err == nil {
			t.Errorf("%+v: accepted", f)
		}
	}
	if _, err := New(Config{Rx: Rates{Drop: 0.5, Duplicate: 0.5}}); err != nil {
		t.Error(err)
	}
}
