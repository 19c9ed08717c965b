package flowtable

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// BenchmarkMemoryLatency measures the floor under a lookup: the time of one
// random cache-line access that depends on the previous one (pointer
// chasing through a random cyclic permutation of the lines of a buffer),
// in a huge-page mapping (as New makes for large tables) and on the Go
// heap, for a buffer the size of the 1M-flow benchmark table (128 MiB) and
// a cache-resident one (512 KiB). A single Lookup hit cannot be faster than
// one such access when its line is not cached; "chains8" follows eight
// independent chains at once, the most a batch can overlap, and reports the
// time per access.
//
//	go test -run '^$' -bench MemoryLatency -benchtime 200ms -count 5 ./flowtable
func BenchmarkMemoryLatency(b *testing.B) {
	for _, size := range []uintptr{128 << 20, 512 << 10} {
		for _, huge := range []bool{true, false} {
			name := fmt.Sprintf("%dKiB/goheap", size>>10)
			var lines []uint64
			if huge {
				name = fmt.Sprintf("%dKiB/hugepage", size>>10)
				r, err := mapRegion(size)
				if err != nil {
					b.Fatal(err)
				}
				defer func() { _ = r.unmap() }()
				lines = unsafe.Slice((*uint64)(r.base), size/8)
			} else {
				lines = make([]uint64, size/8)
			}
			// Sattolo's shuffle: one cycle through every line. Word 0 of
			// line i holds the index of the next line's word 0.
			n := int(size / 64)
			perm := make([]int, n)
			for i := range perm {
				perm[i] = i
			}
			rng := rand.New(rand.NewPCG(7, 8))
			for i := n - 1; i > 0; i-- {
				j := rng.IntN(i)
				perm[i], perm[j] = perm[j], perm[i]
			}
			for i := range n {
				lines[i*8] = uint64(perm[i] * 8)
			}
			for _, chains := range []int{1, 8} {
				b.Run(fmt.Sprintf("%s/chains%d", name, chains), func(b *testing.B) {
					var p [8]uint64
					for c := range p {
						p[c] = uint64(c * (n / 8) * 8)
					}
					for b.Loop() {
						if chains == 1 {
							p[0] = lines[p[0]]
							continue
						}
						p[0], p[1], p[2], p[3] = lines[p[0]], lines[p[1]], lines[p[2]], lines[p[3]]
						p[4], p[5], p[6], p[7] = lines[p[4]], lines[p[5]], lines[p[6]], lines[p[7]]
					}
					sinkU64 += p[0] + p[7]
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*chains), "ns/access")
				})
			}
		}
	}
}
