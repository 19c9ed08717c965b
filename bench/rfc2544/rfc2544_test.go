package rfc2544

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/xdpengine/engine/bench/measure"
)

// fakeDUT forwards up to capacity frames per second (per size, from cap)
// and drops the rest; below capacity it loses a fraction baseLoss at
// random. Its latency grows with its load. It counts the trials it ran.
type fakeDUT struct {
	cap      func(size int) float64
	baseLoss float64
	genMax   float64 // the generator's own limit, frames per second; 0: none
	rng      *rand.Rand
	trials   int
	failAt   int // return an error on this trial (1-based); 0: never
}

func (f *fakeDUT) Trial(ctx context.Context, size int, rate float64, d time.Duration) (uint64, uint64, measure.Latency, error) {
	f.trials++
	if f.trials == f.failAt {
		return 0, 0, measure.Latency{}, errors.New("link down")
	}
	offered := rate
	if f.genMax > 0 {
		offered = min(rate, f.genMax)
	}
	sent := uint64(offered * d.Seconds())
	fwd := min(float64(sent), f.cap(size)*d.Seconds())
	if f.baseLoss > 0 {
		fwd *= 1 - f.baseLoss*(0.5+f.rng.Float64())
	}
	load := min(1, offered/f.cap(size))
	us := time.Duration(10+90*load) * time.Microsecond
	lat := measure.Latency{Count: uint64(fwd), Min: us / 2, Mean: us, P50: us, P90: us * 2, P99: us * 3, P999: us * 4, Max: us * 5}
	return sent, uint64(fwd), lat, nil
}

const tenGig = 10e9

func lineRate(size int) float64 { return tenGig / float64((size+20)*8) }

func fastConfig() Config {
	return Config{LinkBps: tenGig, TrialDuration: time.Second, LatencyDuration: time.Second, LatencyTrials: 3}
}

// TestThroughputSearch: a device that forwards at most a known rate, for
// many rates and resolutions; the search finds a rate that passed, within
// the resolution below the known one.
func TestThroughputSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for range 200 {
		frac := 0.01 + 0.98*r.Float64() // capacity, fraction of line rate
		res := []float64{0.01, 0.001, 0.0001}[r.IntN(3)]
		size := DefaultSizes[r.IntN(len(DefaultSizes))]
		dut := &fakeDUT{cap: func(s int) float64 { return frac * lineRate(s) }}
		cfg := fastConfig()
		cfg.Sizes, cfg.Resolution, cfg.LatencyTrials = []int{size}, res, 0
		got, err := Run(context.Background(), dut, cfg)
		if err != nil {
			t.Fatal(err)
		}
		res0 := got[0]
		want := frac * lineRate(size)
		if res0.Throughput > want || res0.Throughput < want-res*lineRate(size) {
			t.Fatalf("%d bytes, capacity %.0f, resolution %v: throughput %.0f", size, want, res, res0.Throughput)
		}
		// log2(1/res) halvings at most, plus the first trial.
		throughputTrials := 0
		for _, tr := range res0.Trials {
			if tr.Phase == PhaseThroughput {
				throughputTrials++
				if tr.Rate <= res0.Throughput && !tr.Pass || tr.Rate > want && tr.Pass {
					t.Fatalf("trial at %.0f: pass %v (capacity %.0f)", tr.Rate, tr.Pass, want)
				}
			}
		}
		if limit := 2 + int(math.Ceil(math.Log2(1/res))); throughputTrials > limit {
			t.Fatalf("%d throughput trials at resolution %v (limit %d)", throughputTrials, res, limit)
		}
		if bps := res0.ThroughputBps; math.Abs(bps-res0.Throughput*float64((size+20)*8)) > 1 {
			t.Fatalf("throughput %v bps", bps)
		}
	}
}

// TestLineRate: a device that keeps up passes the first trial.
func TestLineRate(t *testing.T) {
	dut := &fakeDUT{cap: func(int) float64 { return math.Inf(1) }}
	cfg := fastConfig()
	cfg.Sizes = []int{64}
	got, err := Run(context.Background(), dut, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := got[0]
	if r.Throughput != lineRate(64) || math.Abs(r.Throughput-14880952.38) > 0.01 {
		t.Fatalf("throughput %.2f", r.Throughput)
	}
	// 1 throughput trial, 3 latency trials, frame loss at 100% and 90%.
	if len(r.Trials) != 6 || len(r.LatencyTrials) != 3 || len(r.FrameLoss) != 2 {
		t.Fatalf("%d trials, %d latency, %d loss points", len(r.Trials), len(r.LatencyTrials), len(r.FrameLoss))
	}
}

// TestLossTolerance: a device losing 0.01% to 0.015% at any rate, below a
// capacity, fails a zero-loss search entirely and passes a 0.1% one.
func TestLossTolerance(t *testing.T) {
	capFrac := 0.6
	mk := func() *fakeDUT {
		return &fakeDUT{cap: func(s int) float64 { return capFrac * lineRate(s) }, baseLoss: 0.0001, rng: rand.New(rand.NewPCG(1, 1))}
	}
	cfg := fastConfig()
	cfg.Sizes, cfg.LatencyTrials = []int{512}, 0
	got, err := Run(context.Background(), mk(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Throughput != 0 {
		t.Fatalf("zero-loss throughput of a lossy device: %.0f", got[0].Throughput)
	}
	cfg.LossTolerance = 0.001
	got, err = Run(context.Background(), mk(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := capFrac * lineRate(512)
	// Above capacity the loss grows fast: 0.1% is crossed just above it.
	if th := got[0].Throughput; th < want-cfg.resolution()*lineRate(512) || th > want*1.0011 {
		t.Fatalf("throughput at 0.1%% tolerance %.0f, capacity %.0f", th, want)
	}
}

func (c Config) resolution() float64 {
	if c.Resolution == 0 {
		return DefaultResolution
	}
	return c.Resolution
}

// TestFrameLossAndLatency: the steps, their losses, and the averaged
// latency at the throughput rate.
func TestFrameLossAndLatency(t *testing.T) {
	dut := &fakeDUT{cap: func(s int) float64 { return 0.75 * lineRate(s) }}
	cfg := fastConfig()
	cfg.Sizes = []int{1518}
	got, err := Run(context.Background(), dut, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := got[0]
	wantPct := []float64{100, 90, 80, 70, 60}
	wantLoss := []float64{0.25, 1 - 0.75/0.9, 1 - 0.75/0.8, 0, 0}
	if len(r.FrameLoss) != len(wantPct) {
		t.Fatalf("loss points %+v", r.FrameLoss)
	}
	for i, p := range r.FrameLoss {
		if math.Abs(p.Percent-wantPct[i]) > 1e-9 || math.Abs(p.Loss-wantLoss[i]) > 1e-5 || math.Abs(p.Rate-p.Percent/100*r.MaxRate) > 1e-6 {
			t.Fatalf("point %d: %+v, want %v%% losing %v", i, p, wantPct[i], wantLoss[i])
		}
	}
	// Latency: three trials at the throughput (about 75% of capacity's
	// 100%: load ~1, 100 µs).
	if len(r.LatencyTrials) != 3 || r.Latency.P50 < 99*time.Microsecond || r.Latency.P50 > 100*time.Microsecond || r.Latency.Max != 5*r.LatencyTrials[0].P50 {
		t.Fatalf("latency %v over %d trials", r.Latency, len(r.LatencyTrials))
	}
	// With every step: 10 points.
	cfg.AllLossSteps, cfg.LatencyTrials = true, 0
	got, _ = Run(context.Background(), &fakeDUT{cap: dut.cap}, cfg)
	if n := len(got[0].FrameLoss); n != 10 || got[0].FrameLoss[9].Percent < 9.99 {
		t.Fatalf("all steps: %+v", got[0].FrameLoss)
	}
}

func TestAverage(t *testing.T) {
	a := measure.Latency{Count: 10, Min: 5, Mean: 10, P50: 10, P90: 20, P99: 30, P999: 40, Max: 50}
	b := measure.Latency{Count: 30, Min: 7, Mean: 20, P50: 30, P90: 40, P99: 50, P999: 60, Max: 70}
	got := Average([]measure.Latency{a, {}, b})
	want := measure.Latency{Count: 40, Min: 5, Mean: 15, P50: 20, P90: 30, P99: 40, P999: 50, Max: 70}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if Average(nil) != (measure.Latency{}) {
		t.Fatal("average of nothing")
	}
}

func TestGeneratorLimited(t *testing.T) {
	dut := &fakeDUT{cap: func(int) float64 { return math.Inf(1) }, genMax: 5e6}
	cfg := fastConfig()
	cfg.Sizes, cfg.LatencyTrials = []int{64}, 0
	got, err := Run(context.Background(), dut, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].GeneratorLimited || !got[0].Trials[0].Short {
		t.Fatalf("a 5 Mpps generator at 14.88 Mpps not flagged: %+v", got[0].Trials[0])
	}
}

func TestErrors(t *testing.T) {
	ok := &fakeDUT{cap: func(int) float64 { return 1e6 }}
	for _, c := range []Config{
		{},
		{LinkBps: tenGig, Sizes: []int{32}},
		{LinkBps: tenGig, Resolution: 2},
		{LinkBps: tenGig, LossTolerance: -1},
		{LinkBps: tenGig, LossStep: 1.5},
		{LinkBps: tenGig, TrialDuration: -1},
	} {
		if _, err := Run(context.Background(), ok, c); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	cfg := fastConfig()
	cfg.Sizes = []int{64, 128}
	// The Trialer's error ends the run; the results so far come back.
	dut := &fakeDUT{cap: func(int) float64 { return 1e6 }, failAt: 3}
	got, err := Run(context.Background(), dut, cfg)
	if err == nil || len(got) != 1 || len(got[0].Trials) != 2 {
		t.Fatalf("failing trial: %v, %d results", err, len(got))
	}
	// Cancellation.
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Progress = func(Trial) { cancel() }
	if _, err := Run(ctx, ok, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	// A trial that sent nothing.
	none := TrialFunc(func(context.Context, int, float64, time.Duration) (uint64, uint64, measure.Latency, error) {
		return 0, 0, measure.Latency{}, nil
	})
	if _, err := RunSize(context.Background(), none, 64, fastConfig()); !errors.Is(err, ErrNothingSent) {
		t.Fatalf("nothing sent: %v", err)
	}
}

// TestDefaults: the RFC's durations and counts.
func TestDefaults(t *testing.T) {
	c, err := Config{LinkBps: 1e9}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.TrialDuration != 60*time.Second || c.LatencyDuration != 120*time.Second || c.LatencyTrials != 20 ||
		c.LossStep != 0.1 || c.LossTolerance != 0 || len(c.Sizes) != 7 || c.Sizes[6] != 1518 {
		t.Fatalf("%+v", c)
	}
	if r := c.MaxRate(64); math.Abs(r-1488095.24) > 0.01 {
		t.Fatalf("1 Gb/s at 64 bytes: %v", r)
	}
}
