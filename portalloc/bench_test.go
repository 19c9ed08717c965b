package portalloc

import (
	"fmt"
	"testing"
)

// BenchmarkConnectPort90 measures choosing a port for a connect when 90% of
// the shard's share of the default range, toward that destination, is in
// use. The share is filled with Connect itself (so even ports are used up
// first, as under real load); each iteration chooses a port and releases it,
// keeping the load at 90%.
func BenchmarkConnectPort90(b *testing.B) {
	for _, workers := range []int{1, 4, 16} {
		for _, name := range []string{"metro", "toeplitz"} {
			b.Run(fmt.Sprintf("%s/workers=%d", name, workers), func(b *testing.B) {
				a, err := New(Config{Steering: steerings(b, workers)[name], NewRand: seeded(9)})
				if err != nil {
					b.Fatal(err)
				}
				sh := a.Shard(workers - 1)
				k := dest(2, 443)
				share := sh.Available(k)
				for range share * 9 / 10 {
					if _, err := sh.Connect(k); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(share), "share-ports")
				b.ReportAllocs()
				for b.Loop() {
					p, err := sh.Connect(k)
					if err != nil {
						b.Fatal(err)
					}
					k.DstPort = p
					a.Release(k)
				}
			})
		}
	}
}
