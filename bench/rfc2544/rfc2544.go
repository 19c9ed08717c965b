package rfc2544

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/xdpengine/engine/bench/measure"
)

// Errors.
var (
	// ErrConfig: the Config cannot be used (wrapped with what is wrong).
	ErrConfig = errors.New("rfc2544: bad configuration")
	// ErrNothingSent: a trial sent no frame, so it says nothing.
	ErrNothingSent = errors.New("rfc2544: trial sent nothing")
)

// DefaultSizes are the Ethernet frame sizes of RFC 2544 (section 9.1),
// FCS included.
var DefaultSizes = []int{64, 128, 256, 512, 1024, 1280, 1518}

// Defaults of the RFC (section 26).
const (
	DefaultTrialDuration   = 60 * time.Second
	DefaultLatencyDuration = 120 * time.Second
	DefaultLatencyTrials   = 20
	DefaultLossStep        = 0.10
	DefaultResolution      = 0.001
	// WireOverhead is the preamble, start delimiter and inter-frame gap
	// that LinkBps counts with each frame, in bytes.
	WireOverhead = 20
	// shortFraction: a trial that sent less than this fraction of what
	// it asked for was limited by the generator.
	shortFraction = 0.99
)

// A Trialer runs one trial: frames of size bytes (FCS included) offered at
// rate frames per second for d, then, after frames in flight had time to
// arrive, the counts of frames sent and received and the latency of the
// received ones. An error ends the benchmark.
type Trialer interface {
	Trial(ctx context.Context, size int, rate float64, d time.Duration) (sent, received uint64, lat measure.Latency, err error)
}

// TrialFunc makes a function a Trialer.
type TrialFunc func(ctx context.Context, size int, rate float64, d time.Duration) (sent, received uint64, lat measure.Latency, err error)

// Trial calls f.
func (f TrialFunc) Trial(ctx context.Context, size int, rate float64, d time.Duration) (uint64, uint64, measure.Latency, error) {
	return f(ctx, size, rate, d)
}

// Config is a benchmark's parameters. Zero fields take the defaults named
// in their comments; LinkBps or MaxRate is required.
type Config struct {
	Sizes []int // DefaultSizes

	// LinkBps is the link's bit rate: a frame of size bytes takes
	// (size+20)*8 bits of it, so the maximum rate is LinkBps /
	// ((size+20)*8) frames per second (14,880,952 for 64 bytes at 10
	// Gb/s). MaxRate, when set, gives the maximum rate per size instead.
	LinkBps float64
	MaxRate func(size int) float64

	LossTolerance float64 // the fraction of frames a passing trial may lose; 0
	Resolution    float64 // search precision, a fraction of the maximum rate; DefaultResolution
	MinRate       float64 // frames per second below which the search gives up; Resolution × maximum

	TrialDuration   time.Duration // DefaultTrialDuration
	LatencyDuration time.Duration // DefaultLatencyDuration
	LatencyTrials   int           // DefaultLatencyTrials
	LossStep        float64       // DefaultLossStep, a fraction of the maximum rate
	AllLossSteps    bool          // frame loss down to the last step, not until two loss-free trials

	// Progress, when set, is called after every trial.
	Progress func(Trial)
}

// Phase names the benchmark a trial belongs to.
type Phase string

// Phases.
const (
	PhaseThroughput Phase = "throughput"
	PhaseLatency    Phase = "latency"
	PhaseFrameLoss  Phase = "frame-loss"
)

// Trial is one trial's outcome.
type Trial struct {
	Phase    Phase
	Size     int
	Rate     float64 // frames per second offered
	Duration time.Duration
	Sent     uint64
	Received uint64
	Loss     float64 // fraction of Sent not received (0 when more arrived)
	Pass     bool    // Loss within the tolerance
	Short    bool    // sent under 99% of Rate × Duration: the generator's limit
	Latency  measure.Latency
}

// LossPoint is one step of the frame loss rate benchmark.
type LossPoint struct {
	Percent float64 // of the maximum rate
	Rate    float64 // frames per second
	Loss    float64 // fraction lost
}

// Result is the benchmarks' outcome for one frame size.
type Result struct {
	Size          int
	MaxRate       float64 // frames per second at 100%
	Throughput    float64 // frames per second; 0: even MinRate lost frames
	ThroughputBps float64 // on the wire, preamble and gap included
	Latency       measure.Latency
	LatencyTrials []measure.Latency
	FrameLoss     []LossPoint
	// GeneratorLimited: a trial sent under 99% of what it asked for, so
	// the figures may be the generator's and not the device's.
	GeneratorLimited bool
	Trials           []Trial
}

// withDefaults returns c with its zero fields filled, or an error.
func (c Config) withDefaults() (Config, error) {
	if len(c.Sizes) == 0 {
		c.Sizes = DefaultSizes
	}
	for _, s := range c.Sizes {
		if s < 64 {
			return c, fmt.Errorf("%w: frame size %d", ErrConfig, s)
		}
	}
	if c.MaxRate == nil {
		if !(c.LinkBps > 0) {
			return c, fmt.Errorf("%w: neither LinkBps nor MaxRate", ErrConfig)
		}
		bps := c.LinkBps
		c.MaxRate = func(size int) float64 { return bps / float64((size+WireOverhead)*8) }
	}
	if c.Resolution == 0 {
		c.Resolution = DefaultResolution
	}
	if c.TrialDuration == 0 {
		c.TrialDuration = DefaultTrialDuration
	}
	if c.LatencyDuration == 0 {
		c.LatencyDuration = DefaultLatencyDuration
	}
	if c.LatencyTrials == 0 {
		c.LatencyTrials = DefaultLatencyTrials
	}
	if c.LossStep == 0 {
		c.LossStep = DefaultLossStep
	}
	switch {
	case !(c.Resolution > 0 && c.Resolution < 1):
		return c, fmt.Errorf("%w: resolution %v", ErrConfig, c.Resolution)
	case !(c.LossTolerance >= 0 && c.LossTolerance < 1):
		return c, fmt.Errorf("%w: loss tolerance %v", ErrConfig, c.LossTolerance)
	case !(c.LossStep > 0 && c.LossStep <= 1):
		return c, fmt.Errorf("%w: loss step %v", ErrConfig, c.LossStep)
	case c.MinRate < 0 || c.TrialDuration < 0 || c.LatencyDuration < 0 || c.LatencyTrials < 0:
		return c, fmt.Errorf("%w: negative rate, duration or count", ErrConfig)
	}
	return c, nil
}

// Run runs the three benchmarks for every frame size, in order. On an
// error (the Trialer's, or the context's) it returns the results so far,
// the last one partial.
func Run(ctx context.Context, t Trialer, cfg Config) ([]Result, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, size := range c.Sizes {
		r, err := runSize(ctx, t, size, &c)
		out = append(out, r)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// RunSize runs the three benchmarks for one frame size.
func RunSize(ctx context.Context, t Trialer, size int, cfg Config) (Result, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return Result{Size: size}, err
	}
	return runSize(ctx, t, size, &c)
}

func runSize(ctx context.Context, t Trialer, size int, c *Config) (Result, error) {
	r := &Result{Size: size, MaxRate: c.MaxRate(size)}
	if !(r.MaxRate > 0) {
		return *r, fmt.Errorf("%w: maximum rate %v for %d bytes", ErrConfig, r.MaxRate, size)
	}
	run := runner{t: t, c: c, r: r}
	if err := run.throughput(ctx); err != nil {
		return *r, err
	}
	if err := run.latency(ctx); err != nil {
		return *r, err
	}
	err := run.frameLoss(ctx)
	return *r, err
}
