package pacer

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// fixedFlow sends frames of one size.
type fixedFlow int

func (f fixedFlow) NextSize() int { return int(f) }

// imixFlow cycles through the Simple IMIX as package stream does.
type imixFlow struct{ i int }

var imix = [12]int{64, 594, 64, 64, 594, 64, 1518, 64, 594, 64, 594, 64}

func (f *imixFlow) NextSize() int { return imix[f.i] }
func (f *imixFlow) sent()         { f.i = (f.i + 1) % len(imix) }

// simulate runs a sender over the flows of m for d of simulated time: it
// polls, sends every frame the mux allows (up to batch per poll), then
// waits a random gap of up to maxGap. It returns frames and L1 bits sent
// per flow, and the time of the last poll, which rates are measured over
// (a poll leaves the bucket empty).
func simulate(m *Mux, flows []Flow, d, maxGap time.Duration, batch int, seed uint64) (frames, bitsL1 []uint64, last time.Duration) {
	r := rand.New(rand.NewPCG(seed, 1))
	frames, bitsL1 = make([]uint64, m.Len()), make([]uint64, m.Len())
	for now := int64(0); now < int64(d); now += 1 + r.Int64N(int64(maxGap)) {
		last = time.Duration(now)
		for range batch {
			i, ok := m.Next(now)
			if !ok {
				break
			}
			frames[i]++
			bitsL1[i] += BitsL1.Cost(flows[i].NextSize())
			if f, ok := flows[i].(*imixFlow); ok {
				f.sent()
			}
		}
	}
	return frames, bitsL1, last
}

func within(got, want, tol float64) bool { return math.Abs(got-want) <= want*tol }

// TestRateAccuracy: one flow from 10 kpps to 100 Mpps, a sender polling at
// random gaps below the burst's time, ±1% over at least 100,000 frames.
func TestRateAccuracy(t *testing.T) {
	for _, pps := range []float64{1e4, 3e4, 1e5, 1e6, 1e7, 14.88e6, 1e8} {
		d := time.Duration(max(2e5/pps, 0.01) * float64(time.Second))
		var m Mux
		flows := []Flow{fixedFlow(64)}
		if _, err := m.Add(flows[0], Rate{Value: pps}, 64, 0); err != nil {
			t.Fatal(err)
		}
		frames, _, d := simulate(&m, flows, d, 40*time.Microsecond, 1<<20, uint64(pps))
		got := float64(frames[0]) / d.Seconds()
		if !within(got, pps, 0.01) {
			t.Errorf("%.0f pps asked, %.0f sent (%+.3f%%)", pps, got, 100*(got/pps-1))
		} else {
			t.Logf("%.0f pps asked, %.0f sent (%+.4f%%)", pps, got, 100*(got/pps-1))
		}
	}
}

// TestBitRate: bits per second on the wire with the IMIX, and a 10 Gb/s
// link's 14.88 Mpps of 64-byte frames.
func TestBitRate(t *testing.T) {
	for _, c := range []struct {
		flow Flow
		bps  float64
	}{{&imixFlow{}, 1e9}, {&imixFlow{}, 40e9}, {fixedFlow(64), 10e9}, {fixedFlow(1518), 1e8}} {
		var m Mux
		if _, err := m.Add(c.flow, Rate{Value: c.bps, Unit: BitsL1}, 1518, 0); err != nil {
			t.Fatal(err)
		}
		d := 50 * time.Millisecond
		frames, bits, d := simulate(&m, []Flow{c.flow}, d, 20*time.Microsecond, 1<<20, 3)
		got := float64(bits[0]) / d.Seconds()
		if !within(got, c.bps, 0.01) {
			t.Errorf("%T %.0f bps asked, %.0f sent", c.flow, c.bps, got)
		}
		if c.flow == fixedFlow(64) && !within(float64(frames[0])/d.Seconds(), 14880952, 0.01) {
			t.Errorf("10G of 64-byte frames: %.0f pps", float64(frames[0])/d.Seconds())
		}
	}
	// L2 counts the frame alone.
	if BitsL2.Cost(64) != 512 || BitsL1.Cost(64) != 672 || PacketsPerSecond.Cost(1518) != 1 {
		t.Fatal("costs")
	}
}

// TestMultiplexed: three flows with their own rates share one sender.
func TestMultiplexed(t *testing.T) {
	var m Mux
	rates := []Rate{{Value: 1e6}, {Value: 3e6}, {Value: 2e9, Unit: BitsL1}}
	im := &imixFlow{}
	flows := []Flow{fixedFlow(64), fixedFlow(128), im}
	for i, r := range rates {
		if _, err := m.Add(flows[i], r, 1518, 0); err != nil {
			t.Fatal(err)
		}
	}
	d := 100 * time.Millisecond
	frames, bits, d := simulate(&m, flows, d, 5*time.Microsecond, 64, 9)
	for i := range 2 {
		if got := float64(frames[i]) / d.Seconds(); !within(got, rates[i].Value, 0.01) {
			t.Errorf("flow %d: %.0f pps, want %.0f", i, got, rates[i].Value)
		}
	}
	if got := float64(bits[2]) / d.Seconds(); !within(got, 2e9, 0.01) {
		t.Errorf("IMIX flow: %.0f bps, want 2e9", got)
	}
}

// TestUnlimited: a zero rate lets every poll send.
func TestUnlimited(t *testing.T) {
	var m Mux
	m.Add(fixedFlow(64), Rate{}, 64, 0)
	for i := range 100 {
		if _, ok := m.Next(0); !ok {
			t.Fatalf("unlimited flow refused at %d", i)
		}
	}
	if m.Wait(0) != 0 {
		t.Fatal("unlimited flow waits")
	}
}

func TestBucket(t *testing.T) {
	b, err := NewBucket(1000, 10, 0) // 1 token per ms, 10 at most
	if err != nil {
		t.Fatal(err)
	}
	if b.Take(0, 1) {
		t.Fatal("a new bucket is not empty")
	}
	if w := b.Wait(0, 1); w != time.Millisecond {
		t.Fatalf("Wait %v, want 1ms", w)
	}
	if !b.Take(int64(time.Millisecond), 1) || b.Take(int64(time.Millisecond), 1) {
		t.Fatal("one token after 1 ms")
	}
	// A long stall fills to the burst, no more.
	if n := b.TakeN(int64(time.Second), 1, 100); n != 10 {
		t.Fatalf("after a stall: %d tokens, burst 10", n)
	}
	// A clock going backwards adds nothing.
	if b.Take(0, 1) {
		t.Fatal("token from the past")
	}
	if b.Take(int64(2*time.Second), 11) || b.Wait(0, 11) != math.MaxInt64 {
		t.Fatal("a cost above the burst passes")
	}
	// SetRate keeps the tokens up to the new burst.
	if err := b.SetRate(1, 3, int64(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := b.TakeN(int64(2*time.Second), 1, 100); n != 3 {
		t.Fatalf("after SetRate: %d tokens, want 3", n)
	}
	if b.Rate() != 1 || b.Burst() != 3 {
		t.Fatalf("rate %d burst %d", b.Rate(), b.Burst())
	}
	// Huge rates and gaps do not overflow.
	h, _ := NewBucket(400e9, 1e9, 0)
	if n := h.TakeN(math.MaxInt64, 1e6, 10000); n != 1000 {
		t.Fatalf("400 Gb/s after a long gap: %d", n)
	}
	for _, bad := range [][2]uint64{{0, 1}, {1, 0}, {1, math.MaxUint64}} {
		if _, err := NewBucket(bad[0], bad[1], 0); !errors.Is(err, ErrRate) {
			t.Errorf("NewBucket(%d, %d): %v", bad[0], bad[1], err)
		}
	}
}

func TestMuxErrorsAndWait(t *testing.T) {
	var m Mux
	for _, r := range []Rate{{Value: 0.5}, {Value: math.Inf(1)}, {Value: 100, Unit: 7}, {Value: 1e6, Unit: BitsL1, Burst: 100}} {
		if _, err := m.Add(fixedFlow(1518), r, 1518, 0); !errors.Is(err, ErrRate) {
			t.Errorf("Add(%v): %v", r, err)
		}
	}
	m.Add(fixedFlow(64), Rate{Value: 1000}, 64, 0)
	m.Add(fixedFlow(64), Rate{Value: 4000}, 64, 0)
	if w := m.Wait(0); w != 250*time.Microsecond {
		t.Fatalf("Wait %v, want 250µs", w)
	}
	if i, ok := m.Next(int64(250 * time.Microsecond)); !ok || i != 1 {
		t.Fatalf("Next: %d %v", i, ok)
	}
	if err := m.SetRate(0, Rate{Value: 1e6}, 64, int64(250*time.Microsecond)); err != nil {
		t.Fatal(err)
	}
	if i, ok := m.Next(int64(251 * time.Microsecond)); !ok || i != 0 {
		t.Fatalf("after SetRate: %d %v", i, ok)
	}
	if (Rate{}).String() != "unlimited" || (Rate{Value: 5, Unit: BitsL2}).String() != "5 bps-l2" {
		t.Fatal("String")
	}
}

func TestTimeline(t *testing.T) {
	ms := time.Millisecond
	tl, err := NewTimeline([]time.Duration{10 * ms, 11 * ms, 13 * ms}, 2, true, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// Offsets 0, 0.5, 1.5 ms; the loop adds the mean gap (0.75 ms).
	want := []int64{0, 500_000, 1_500_000, 2_250_000, 2_750_000, 3_750_000, 4_500_000}
	for i, w := range want {
		at := 1000 + w
		if tl.Wait(at-1) != 1 || tl.Due(at-1) {
			t.Fatalf("frame %d due before %d", i, at)
		}
		if tl.Wait(at) != 0 || !tl.Due(at) {
			t.Fatalf("frame %d not due at %d", i, at)
		}
	}
	once, _ := NewTimeline([]time.Duration{0, ms}, 1, false, 0)
	if !once.Due(0) || !once.Due(int64(ms)) || once.Due(int64(time.Hour)) || !once.Done() || once.Wait(0) != math.MaxInt64 {
		t.Fatal("a timeline without loop")
	}
	for _, bad := range [][]time.Duration{nil, {2, 1}} {
		if _, err := NewTimeline(bad, 1, false, 0); !errors.Is(err, ErrRate) {
			t.Errorf("NewTimeline(%v): %v", bad, err)
		}
	}
	if _, err := NewTimeline([]time.Duration{0}, 0, false, 0); !errors.Is(err, ErrRate) {
		t.Error("speed 0 accepted")
	}
}

// TestStalledSender: a sender that comes back less often than the burst
// lasts gets a burst per poll, not the rate (the documented limit).
func TestStalledSender(t *testing.T) {
	var m Mux
	m.Add(fixedFlow(64), Rate{Value: 1e6}, 64, 0) // burst 51 frames
	sent := 0
	for now := int64(time.Millisecond); now <= int64(time.Second); now += int64(time.Millisecond) {
		for {
			if _, ok := m.Next(now); !ok {
				break
			}
			sent++
		}
	}
	if sent != 1000*51 {
		t.Fatalf("%d frames sent polling every ms, want 51 per poll", sent)
	}
}
