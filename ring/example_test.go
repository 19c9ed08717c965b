package ring_test

import (
	"fmt"

	"github.com/xdpengine/engine/ring"
)

// desc stands in for a packet descriptor: where the frame is and how long.
type desc struct {
	Addr uint64
	Len  uint32
}

// A receive worker hands bursts of descriptors to a transmit worker. The
// producer uses a burst (keep what did not fit, or drop it and count), the
// consumer drains up to a burst per poll.
func ExampleSPSC() {
	r, err := ring.NewSPSC[desc](4)
	if err != nil {
		panic(err)
	}
	rx := []desc{{0, 60}, {2048, 1514}, {4096, 60}, {6144, 98}, {8192, 60}, {10240, 60}}
	n := r.EnqueueBurst(rx)
	fmt.Println("enqueued", n, "of", len(rx), "dropped", len(rx)-n)

	batch := make([]desc, 32)
	got := r.DequeueBurst(batch)
	fmt.Println("dequeued", got, "first", batch[0], "empty now:", r.Len() == 0)
	// Output:
	// enqueued 4 of 6 dropped 2
	// dequeued 4 first {0 60} empty now: true
}

// Bulk calls move everything or nothing: a worker that must keep a set of
// descriptors together (the fragments of one datagram) uses EnqueueBulk.
func ExampleMPMC_EnqueueBulk() {
	r, _ := ring.NewMPMC[desc](4)
	fmt.Println(r.EnqueueBulk([]desc{{0, 1500}, {2048, 1500}, {4096, 100}}))
	fmt.Println(r.EnqueueBulk([]desc{{6144, 1500}, {8192, 100}}), "free", r.Free())
	// Output:
	// true
	// false free 1
}

func ExampleNewSPSC_size() {
	_, err := ring.NewSPSC[uint64](1000)
	fmt.Println(err)
	// Output:
	// ring: size must be a power of two between 1 and 2^30: got 1000, round it up to 1024
}
