package rfc2544_test

import (
	"context"
	"fmt"
	"time"

	"github.com/xdpengine/engine/bench/measure"
	"github.com/xdpengine/engine/bench/rfc2544"
)

// A device under test that forwards at most 1 Mpps, measured on a 1 Gb/s
// link with 64-byte frames. In the harness the Trialer drives the AF_XDP
// datapath: it paces a stream at rate for d, waits for stragglers, and
// reads the tracker.
func Example() {
	dut := rfc2544.TrialFunc(func(ctx context.Context, size int, rate float64, d time.Duration) (uint64, uint64, measure.Latency, error) {
		sent := uint64(rate * d.Seconds())
		received := min(sent, uint64(1e6*d.Seconds()))
		return sent, received, measure.Latency{Count: received, P50: 20 * time.Microsecond}, nil
	})
	res, err := rfc2544.Run(context.Background(), dut, rfc2544.Config{
		LinkBps:         1e9,
		Sizes:           []int{64},
		TrialDuration:   time.Second, // the RFC's 60 s in a real run
		LatencyDuration: time.Second,
		LatencyTrials:   2,
		Resolution:      0.005,
	})
	if err != nil {
		panic(err)
	}
	r := res[0]
	fmt.Printf("%d bytes: line rate %.0f fps, throughput %.0f fps (%.0f Mb/s), latency p50 %v\n",
		r.Size, r.MaxRate, r.Throughput, r.ThroughputBps/1e6, r.Latency.P50)
	for _, p := range r.FrameLoss {
		fmt.Printf("  at %3.0f%%: %.1f%% lost\n", p.Percent, 100*p.Loss)
	}
	// Output:
	// 64 bytes: line rate 1488095 fps, throughput 999814 fps (672 Mb/s), latency p50 20µs
	//   at 100%: 32.8% lost
	//   at  90%: 25.3% lost
	//   at  80%: 16.0% lost
	//   at  70%: 4.0% lost
	//   at  60%: 0.0% lost
	//   at  50%: 0.0% lost
}
