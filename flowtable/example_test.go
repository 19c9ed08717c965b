package flowtable_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/xdpengine/engine/flowtable"
)

// A worker owns the table: it inserts flows, sweeps a few buckets per poll
// loop and deletes; any goroutine may look flows up.
func Example() {
	const (
		udp flowtable.Class = iota
		tcpEstablished
	)
	tbl, err := flowtable.New(flowtable.Config{
		Capacity:     1 << 16,
		Full:         flowtable.FullEvictOldest,
		IdleTimeouts: []int64{30e9, 7200e9}, // ns, per class
		Rand:         rand.New(rand.NewPCG(1, 2)),
		OnRemove: func(k flowtable.Key, v uint64, why flowtable.RemoveReason) {
			fmt.Println("removed", k, "handle", v, "reason", why)
		},
	})
	if err != nil {
		panic(err)
	}
	k := flowtable.KeyFrom(netip.MustParseAddrPort("198.18.0.2:40000"), netip.MustParseAddrPort("198.18.0.1:53"), 17)
	now := int64(1e9) // the worker's monotonic clock, read once per burst
	if err := tbl.Insert(k, 7, udp, now); err != nil {
		panic(err)
	}
	if h, ok := tbl.LookupTouch(k, now+1e9); ok {
		fmt.Println("handle", h)
	}
	// Much later: a full pass of the sweep, a little at a time.
	now += 60e9
	for range tbl.Cap() / flowtable.BucketSlots / 64 {
		tbl.Sweep(now, 64)
	}
	fmt.Println("entries", tbl.Len())
	// Output:
	// handle 7
	// removed proto 17 198.18.0.2:40000 -> 198.18.0.1:53 handle 7 reason expired
	// entries 0
}

// A worker demultiplexes segments to its connections with an Index; a
// connection that stays idle too long is swept out and reported.
func ExampleIndex() {
	type conn struct{ name string }
	ix, err := flowtable.NewIndex(flowtable.Config{
		Capacity:     1 << 16,
		IdleTimeouts: []int64{7200e9}, // class 0, ns
		Rand:         rand.New(rand.NewPCG(1, 2)),
	}, func(k flowtable.Key, c *conn, why flowtable.RemoveReason) {
		fmt.Println("removed", c.name, why)
	})
	if err != nil {
		panic(err)
	}
	defer ix.Close()
	k := flowtable.KeyFrom(netip.MustParseAddrPort("198.18.0.2:40000"), netip.MustParseAddrPort("198.18.0.1:443"), 6)
	now := int64(1e9)
	if err := ix.Insert(k, &conn{name: "c1"}, now); err != nil {
		panic(err)
	}
	if c := ix.LookupTouch(&k, now); c != nil { // per segment
		fmt.Println("segment for", c.name)
	}
	now += 7300e9
	for range ix.Cap() / flowtable.BucketSlots / 64 {
		ix.Sweep(now, 64)
	}
	fmt.Println("connections", ix.Len())
	// Output:
	// segment for c1
	// removed c1 expired
	// connections 0
}
