package measure

import (
	"fmt"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latency summarises a latency distribution. The zero value means no
// samples.
type Latency struct {
	Count                    uint64
	Min, Mean                time.Duration
	P50, P90, P99, P999, Max time.Duration
}

// String formats l as "p50 … p99 … max …".
func (l Latency) String() string {
	if l.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("min %v p50 %v p90 %v p99 %v p99.9 %v max %v (%d samples)",
		l.Min, l.P50, l.P90, l.P99, l.P999, l.Max, l.Count)
}

// Summarize reads the percentiles of h (values in nanoseconds). Max and
// Min are exact to the histogram's resolution (3 significant digits).
func Summarize(h *hdrhistogram.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	d := func(v int64) time.Duration { return time.Duration(v) }
	return Latency{
		Count: uint64(h.TotalCount()),
		Min:   d(h.Min()), Mean: d(int64(h.Mean())),
		P50: d(h.ValueAtQuantile(50)), P90: d(h.ValueAtQuantile(90)),
		P99: d(h.ValueAtQuantile(99)), P999: d(h.ValueAtQuantile(99.9)),
		Max: d(h.Max()),
	}
}
