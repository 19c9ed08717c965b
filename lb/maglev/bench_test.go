package maglev

import (
	"fmt"
	"testing"
)

// BenchmarkBuild times Build for the paper's two table sizes and 10, 100
// and 1000 backends: with equal weights (the paper's round robin), with
// weights 1 to 4 (four classes of weight), and with distinct weights (a
// class a backend).
func BenchmarkBuild(b *testing.B) {
	for _, m := range []uint32{65537, 655373} {
		for _, n := range []int{10, 100, 1000} {
			for _, kind := range []string{"equal", "weights1-4", "distinct"} {
				bs := addrs(n)
				for i := range bs {
					switch kind {
					case "weights1-4":
						bs[i].Weight = uint32(1 + i%4)
					case "distinct":
						bs[i].Weight = uint32(1000 + i*7)
					}
				}
				b.Run(fmt.Sprintf("size=%d/backends=%d/%s", m, n, kind), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if _, err := Build(bs, m, 1); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkLookup times Lookup over a table of 65537 entries (128 KiB,
// cache-resident) and one of 16777213 (32 MiB, mostly not).
func BenchmarkLookup(b *testing.B) {
	for _, m := range []uint32{65537, 16777213} {
		tab, err := Build(addrs(100), m, 1)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("size=%d", m), func(b *testing.B) {
			b.ReportAllocs()
			h, s := uint64(0x9e3779b97f4a7c15), 0
			for b.Loop() {
				s += tab.Lookup(h)
				h = h*6364136223846793005 + 1442695040888963407
			}
			sinkInt = s
		})
	}
}
