package socktab

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/flowtable"
)

// TestCOWExactAgainstMap: Put, Put again (replace) and Delete of random
// keys agree with a plain map while the shards grow past exactSmall
// entries (list → map) and shrink back (map → list → empty).
func TestCOWExactAgainstMap(t *testing.T) {
	c := newCOWExact()
	want := map[flowtable.Key]*Socket{}
	rng := rand.New(rand.NewPCG(1, 2))
	local := netip.MustParseAddrPort("198.18.0.1:80")
	key := func(i int) flowtable.Key {
		peer := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 16), byte(i >> 8)}), uint16(i))
		return flowtable.KeyFrom(peer, local, 6)
	}
	socks := make([]Socket, 4)
	check := func(step string, keys int) {
		t.Helper()
		for i := range keys {
			if got := c.Get(key(i)); got != want[key(i)] {
				t.Fatalf("%s: key %d: got %p, want %p", step, i, got, want[key(i)])
			}
		}
	}
	const n = 60_000 // about 15 a shard: past exactSmall
	for i := range n {
		s := &socks[rng.IntN(len(socks))]
		c.Put(key(i), s)
		want[key(i)] = s
	}
	check("filled", n+100)
	big := 0
	for i := range c.shards {
		if set := c.shards[i].Load(); set != nil && set.big != nil {
			big++
		}
	}
	if big == 0 {
		t.Fatal("no shard went past exactSmall: the map form is untested")
	}
	for range n / 4 { // replace
		i, s := rng.IntN(n), &socks[rng.IntN(len(socks))]
		c.Put(key(i), s)
		want[key(i)] = s
	}
	check("replaced", n)
	for _, i := range rng.Perm(n)[:n*9/10] {
		c.Delete(key(i))
		c.Delete(key(i)) // twice: nothing
		delete(want, key(i))
	}
	check("most deleted", n)
	for i := range n {
		c.Delete(key(i))
	}
	for i := range c.shards {
		if c.shards[i].Load() != nil {
			t.Fatalf("shard %d not empty after every delete", i)
		}
	}
}

// TestCOWExactPutAllocs: a connect into an empty shard copies one small
// entry, not a map.
func TestCOWExactPutAllocs(t *testing.T) {
	c := newCOWExact()
	k := flowtable.KeyFrom(netip.MustParseAddrPort("198.19.0.1:40000"), netip.MustParseAddrPort("198.18.0.1:80"), 6)
	s := &Socket{}
	allocs := testing.AllocsPerRun(100, func() {
		c.Put(k, s)
		c.Delete(k)
	})
	if allocs > 2 {
		t.Errorf("Put and Delete into an empty shard: %.1f allocations, want 2 (the set and its entry)", allocs)
	}
}
