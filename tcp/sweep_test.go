package tcp

import (
	"fmt"
	"testing"
)

// TestSeedSweep runs the mixed-fault transfer over many seeds and every
// option combination (1 MiB each way) to shake out rare interleavings.
func TestSeedSweep(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 5
	}
	for seed := 1; seed <= seeds; seed++ {
		for mode := 0; mode < 4; mode++ {
			t.Run(fmt.Sprintf("seed%d/mode%d", seed, mode), func(t *testing.T) {
				s := newSim(t, simOpts{seed: uint64(seed), bytes: 1 << 20, sack: mode&1 != 0, ts: mode&2 != 0,
					loss: 0.08, reorder: 0.05, dup: 0.03, jitter: 3 * ms, delay: ms, bw: 0.05, maxQueue: 5 * ms,
					bidirectional: true, recvBufMin: 16 << 10, recvBufM: 1 << 20})
				s.run(3_600_000 * ms)
				s.verify()
			})
		}
	}
}
