package xdpgen

import (
	"context"
	"time"

	"github.com/xdpengine/engine/bench/measure"
	"github.com/xdpengine/engine/bench/pacer"
	"github.com/xdpengine/engine/bench/rfc2544"
	"github.com/xdpengine/engine/bench/stream"
)

// DefaultTrialWait is RFC 2544's wait for frames in flight after a trial
// (section 23).
const DefaultTrialWait = 2 * time.Second

// Trialer runs RFC 2544 trials on a Port: one signed stream of Spec, at the
// trial's frame size and rate for the trial's duration, then up to Wait
// for the frames in flight (less when every frame is back). Frames of an
// earlier trial that arrive late are not counted (their transmit time is
// before the trial's start).
type Trialer struct {
	Port *Port
	// Spec is the stream's template; Size and Sign are set per trial.
	Spec stream.Spec
	// Wait is the wait after each trial (DefaultTrialWait; negative: none).
	Wait time.Duration
	// CatchUp is how long a stall of the generator may be made up for by
	// sending what it missed at once (see DefaultCatchUp). 0 spaces the
	// frames evenly, as RFC 2544 asks: a trial whose worker the machine
	// stalled then sends less than asked, and is flagged short.
	CatchUp time.Duration
	// Progress, if set, gets each trial's intervals.
	Progress func(Interval)
	// Last is the last trial's full result.
	Last *Result
}

var _ rfc2544.Trialer = (*Trialer)(nil)

// Trial implements rfc2544.Trialer.
func (t *Trialer) Trial(ctx context.Context, size int, rate float64, d time.Duration) (sent, received uint64, lat measure.Latency, err error) {
	sp := t.Spec
	sp.Size, sp.Sign = stream.Fixed(size), stream.SignOn
	wait := t.Wait
	if wait == 0 {
		wait = DefaultTrialWait
	}
	// Without CatchUp, evenly spaced frames: the pacer's smallest burst
	// (50 µs worth).
	burst := uint64(rate/20000) + 1
	if t.CatchUp > 0 {
		burst = uint64(rate*t.CatchUp.Seconds()) + 1
	}
	res, err := t.Port.Run(ctx, Traffic{
		Streams:  []Stream{{Spec: sp, Rate: pacer.Rate{Value: rate, Burst: burst}}},
		Duration: d, Drain: wait, Progress: t.Progress,
	})
	if err != nil {
		return 0, 0, measure.Latency{}, err
	}
	t.Last = res
	return res.Sent, res.Received, res.Latency, nil
}
