package flowtable

import (
	"fmt"
	"testing"

	"github.com/xdpengine/engine/internal/memlat"
)

// BenchmarkMemoryLatency measures the floor under a lookup: the time of one
// random cache-line access that depends on the previous one (pointer
// chasing through a random cyclic permutation of the lines of a buffer,
// package memlat), in a huge-page mapping (as New makes for large tables)
// and on the Go heap, for a buffer the size of the 1M-flow benchmark table
// (128 MiB) and a cache-resident one (512 KiB). A single Lookup hit cannot
// be faster than one such access when its line is not cached; "chains8"
// follows eight independent chains at once, the most a batch can overlap,
// and reports the time per access. lb's BenchmarkConntrack measures the
// same beside its lookups.
//
//	go test -run '^$' -bench MemoryLatency -benchtime 200ms -count 5 ./flowtable
func BenchmarkMemoryLatency(b *testing.B) {
	for _, size := range []uintptr{128 << 20, 512 << 10} {
		for _, huge := range []bool{true, false} {
			name := fmt.Sprintf("%dKiB/goheap", size>>10)
			if huge {
				name = fmt.Sprintf("%dKiB/hugepage", size>>10)
			}
			buf, err := memlat.New(size, huge, 7)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = buf.Close() }()
			for _, chains := range []int{1, memlat.MaxChains} {
				b.Run(fmt.Sprintf("%s/chains%d", name, chains), func(b *testing.B) {
					buf.Bench(b, chains)
				})
			}
		}
	}
}
