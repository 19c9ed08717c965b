package maglev_test

import (
	"fmt"

	"github.com/xdpengine/engine/lb/maglev"
)

func ExampleBuild() {
	backends := []maglev.Backend{
		{Key: "192.0.2.12:80", Weight: 2},
		{Key: "192.0.2.10:80", Weight: 1},
		{Key: "192.0.2.11:80", Weight: 1},
		{Key: "192.0.2.13:80", Weight: 0}, // draining
	}
	t, err := maglev.Build(backends, 0, 0x5eed) // 0: DefaultSize, 65537
	if err != nil {
		panic(err)
	}
	for i, b := range t.Backends() {
		fmt.Printf("%s weight %d: %d entries\n", b.Key, b.Weight, t.Counts()[i])
	}
	// A flow's hash (from its 5-tuple, or the NIC's RSS hash) picks a
	// backend; a new flow only: established ones follow connection
	// tracking.
	i := t.Lookup(0xdeadbeef)
	fmt.Println(i >= 0 && t.Backend(i).Weight > 0)

	_, err = maglev.Build(backends, 65536, 0x5eed)
	fmt.Println(err)
	// Output:
	// 192.0.2.10:80 weight 1: 16384 entries
	// 192.0.2.11:80 weight 1: 16384 entries
	// 192.0.2.12:80 weight 2: 32769 entries
	// 192.0.2.13:80 weight 0: 0 entries
	// true
	// maglev: invalid table size: 65536 is not prime; the next prime is 65537
}
