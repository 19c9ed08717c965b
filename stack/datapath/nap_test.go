package datapath

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkNap measures how long a nap of each length takes (timer slack,
// the timer's interrupt, the thread's wakeup): ns/op is one nap.
//
//	go test ./stack/datapath -run '^$' -bench Nap
func BenchmarkNap(b *testing.B) {
	for _, d := range []time.Duration{5 * time.Microsecond, 10 * time.Microsecond, 20 * time.Microsecond} {
		b.Run(fmt.Sprint(d), func(b *testing.B) {
			w := &Worker{cfg: Config{Nap: d}}
			b.ReportAllocs()
			for b.Loop() {
				w.nap()
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(d), "x-nap")
		})
	}
}
