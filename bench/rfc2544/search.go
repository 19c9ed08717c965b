package rfc2544

import (
	"context"
	"fmt"
	"time"

	"github.com/xdpengine/engine/bench/measure"
)

// runner runs the trials of one frame size into r.
type runner struct {
	t Trialer
	c *Config
	r *Result
}

// trial runs one trial and records it.
func (u *runner) trial(ctx context.Context, p Phase, rate float64, d time.Duration) (Trial, error) {
	if err := ctx.Err(); err != nil {
		return Trial{}, err
	}
	sent, recv, lat, err := u.t.Trial(ctx, u.r.Size, rate, d)
	if err != nil {
		return Trial{}, fmt.Errorf("rfc2544: %d bytes at %.0f frames/s: %w", u.r.Size, rate, err)
	}
	if sent == 0 {
		return Trial{}, fmt.Errorf("%w: %d bytes at %.0f frames/s", ErrNothingSent, u.r.Size, rate)
	}
	tr := Trial{Phase: p, Size: u.r.Size, Rate: rate, Duration: d, Sent: sent, Received: recv, Latency: lat}
	if recv < sent {
		tr.Loss = float64(sent-recv) / float64(sent)
	}
	tr.Pass = tr.Loss <= u.c.LossTolerance
	tr.Short = float64(sent) < shortFraction*rate*d.Seconds()
	u.r.GeneratorLimited = u.r.GeneratorLimited || tr.Short
	u.r.Trials = append(u.r.Trials, tr)
	if u.c.Progress != nil {
		u.c.Progress(tr)
	}
	return tr, nil
}

// throughput finds the highest passing rate by binary search.
func (u *runner) throughput(ctx context.Context) error {
	c, r := u.c, u.r
	top := r.MaxRate
	t, err := u.trial(ctx, PhaseThroughput, top, c.TrialDuration)
	if err != nil {
		return err
	}
	if t.Pass {
		u.setThroughput(top)
		return nil
	}
	lo, hi := 0.0, top // lo passed (0: nothing did yet), hi failed
	step := c.Resolution * top
	floor := c.MinRate
	if floor == 0 {
		floor = step
	}
	for hi-lo > step {
		mid := (lo + hi) / 2
		if mid < floor {
			break
		}
		t, err := u.trial(ctx, PhaseThroughput, mid, c.TrialDuration)
		if err != nil {
			return err
		}
		if t.Pass {
			lo = mid
		} else {
			hi = mid
		}
	}
	u.setThroughput(lo)
	return nil
}

func (u *runner) setThroughput(fps float64) {
	u.r.Throughput = fps
	u.r.ThroughputBps = fps * float64((u.r.Size+WireOverhead)*8)
}

// latency runs the latency trials at the throughput rate and averages them.
func (u *runner) latency(ctx context.Context) error {
	r := u.r
	if r.Throughput == 0 || u.c.LatencyTrials == 0 {
		return nil
	}
	for range u.c.LatencyTrials {
		t, err := u.trial(ctx, PhaseLatency, r.Throughput, u.c.LatencyDuration)
		if err != nil {
			return err
		}
		r.LatencyTrials = append(r.LatencyTrials, t.Latency)
	}
	r.Latency = Average(r.LatencyTrials)
	return nil
}

// frameLoss steps the rate down from 100% of the maximum.
func (u *runner) frameLoss(ctx context.Context) error {
	r, c := u.r, u.c
	clean := 0
	for k := 0; ; k++ {
		pct := 1 - float64(k)*c.LossStep
		if pct <= 1e-9 {
			break
		}
		t, err := u.trial(ctx, PhaseFrameLoss, pct*r.MaxRate, c.TrialDuration)
		if err != nil {
			return err
		}
		r.FrameLoss = append(r.FrameLoss, LossPoint{Percent: 100 * pct, Rate: t.Rate, Loss: t.Loss})
		if t.Sent > t.Received {
			clean = 0
		} else if clean++; clean == 2 && !c.AllLossSteps {
			break
		}
	}
	return nil
}

// Average combines the latency of several trials as RFC 2544 asks (the
// average of the trials' values): each percentile and the mean are
// averaged, weighted equally per trial; Min is the smallest, Max the
// largest, Count the sum. Trials without samples are left out.
func Average(ls []measure.Latency) measure.Latency {
	var out measure.Latency
	var n int64
	var sum [5]time.Duration
	for _, l := range ls {
		if l.Count == 0 {
			continue
		}
		if n == 0 || l.Min < out.Min {
			out.Min = l.Min
		}
		out.Max = max(out.Max, l.Max)
		out.Count += l.Count
		for i, v := range [5]time.Duration{l.Mean, l.P50, l.P90, l.P99, l.P999} {
			sum[i] += v
		}
		n++
	}
	if n == 0 {
		return measure.Latency{}
	}
	d := time.Duration(n)
	out.Mean, out.P50, out.P90, out.P99, out.P999 = sum[0]/d, sum[1]/d, sum[2]/d, sum[3]/d, sum[4]/d
	return out
}
