package pacer_test

import (
	"fmt"
	"time"

	"github.com/xdpengine/engine/bench/pacer"
)

type frames int

func (f frames) NextSize() int { return int(f) }

// Two streams, 1 Mpps of 64-byte frames and 1 Gb/s of 1518-byte frames,
// one sender polling every 10 µs of a simulated clock.
func ExampleMux() {
	var m pacer.Mux
	small, _ := m.Add(frames(64), pacer.Rate{Value: 1e6}, 64, 0)
	large, _ := m.Add(frames(1518), pacer.Rate{Value: 1e9, Unit: pacer.BitsL1}, 1518, 0)
	sent := map[int]int{}
	for now := int64(0); now < int64(time.Second); now += int64(10 * time.Microsecond) {
		for {
			i, ok := m.Next(now)
			if !ok {
				break
			}
			sent[i]++ // the datapath writes stream i's next frame here
		}
	}
	fmt.Println("small:", sent[small], "large:", sent[large], "=", sent[large]*(1518+20)*8, "bits")
	// Output: small: 999990 large: 81273 = 999982992 bits
}
