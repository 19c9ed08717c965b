package lb

import (
	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/stack/inet4"
)

// prefetchChunk is how many keys PrefetchBurst works on at a time (the
// burst cache's arrays): the worker's burst.
const prefetchChunk = 64

// prefetchMinKeys is the size of a connection table below which
// PrefetchBurst leaves it alone: a small table stays in the caches, and
// the pre-pass would only add its own work. Measured on the 2-core VM
// with the records of the Index the IPv4 flows had before Table4 (lookups
// of a burst of 64 with and without the prefetch, NAT flows of two keys
// each): 4096 flows 52 ns a lookup against 38, 16384 flows 58 against 58,
// 65536 flows 67 against 126. Tests lower it.
var prefetchMinKeys = 1 << 15

// burstCache is what PrefetchBurst learned about the keys of the last
// burst (the last chunk of a larger one), in arrival order, for Forward:
// each key's owner and its hash in the owner's IPv4 table. Both are
// functions of the key alone (steering and the table's seeds do not
// change), so an entry Forward matches by key is right whatever happened
// since, and one left over from an earlier burst is as good as a fresh
// one. Worker goroutine only.
type burstCache struct {
	keys  [prefetchChunk]flowtable.Key4
	hash  [prefetchChunk]uint64
	owner [prefetchChunk]int32
	n     int // entries
	next  int // where Forward looks first: the entry after its last match
	// Scratch of PrefetchBurst: the key steering takes, and for a burst
	// with more than one owner the keys grouped by owner, their hashes,
	// and where each came from.
	key   flowtable.Key
	gkeys [prefetchChunk]flowtable.Key4
	ghash [prefetchChunk]uint64
	from  [prefetchChunk]int32
}

// PrefetchBurst implements inet4.BurstForwarder: before the worker hands
// the burst's packets to Forward one by one, it builds the key of each
// TCP and UDP packet as Forward will (arrival order: a client's packet or
// a backend's NAT reply, both looked up under that key), finds its owner,
// and prefetches each key's bucket in its owner's IPv4 connection table
// (flowtable.Table4.PrefetchHash: one cache line a key, which holds all
// Forward needs). Forward's lookups then find their lines there instead
// of waiting for memory one packet after the other, and take the key's
// owner and hash from the burst cache instead of computing them again
// (cached). It changes no state Forward depends on (the cache holds
// functions of the key) and allocates nothing. Keys whose owner is another
// worker are grouped by owner, so that each table gets one batch; tables
// smaller than prefetchMinKeys are skipped (and their keys not cached).
func (f *forwarder) PrefetchBurst(tuples []inet4.Tuple) {
	c := &f.burst
	c.n, c.next = 0, 0
	if f.b.cur.Load() == nil {
		return // no configuration: Forward passes every packet
	}
	fwds := f.b.fwds
	large := false
	for _, of := range fwds {
		large = large || of.ct4.Len() >= prefetchMinKeys
	}
	if !large {
		return // every table is cache-resident
	}
	for len(tuples) > 0 {
		n := min(len(tuples), prefetchChunk)
		mixed := false
		for i := range n {
			t := &tuples[i]
			c.keys[i] = flowtable.MakeKey4(t.Src, t.Dst, t.SrcPort, t.DstPort, t.Proto)
			c.owner[i] = int32(f.queue)
			if len(fwds) > 1 {
				c.key.SetFrom4(t.Src, t.Dst, t.SrcPort, t.DstPort, t.Proto) // in place: see SetFrom4
				c.owner[i] = int32(f.b.p.Host.Owner(c.key).Queue())
			}
			mixed = mixed || c.owner[i] != c.owner[0]
		}
		c.n = n
		if !mixed {
			// Usually the NIC's queue owns every flow of the burst: one
			// batch, in place.
			if ct := fwds[c.owner[0]].ct4; ct.Len() >= prefetchMinKeys {
				ct.PrefetchHash(c.keys[:n], c.hash[:n])
			} else {
				c.n = 0
			}
		} else {
			c.prefetchGrouped(fwds, n)
		}
		tuples = tuples[n:]
	}
}

// prefetchGrouped prefetches the first n keys of a burst with more than
// one owner, a batch per owner, and scatters their hashes back to arrival
// order.
func (c *burstCache) prefetchGrouped(fwds []*forwarder, n int) {
	var done [prefetchChunk]bool
	for start := 0; start < n; {
		q := int32(-1)
		g := 0
		for i := range n {
			if done[i] || q >= 0 && c.owner[i] != q {
				continue
			}
			q, done[i] = c.owner[i], true
			c.gkeys[g], c.from[g] = c.keys[i], int32(i)
			g++
		}
		ct := fwds[q].ct4
		if ct.Len() >= prefetchMinKeys {
			ct.PrefetchHash(c.gkeys[:g], c.ghash[:g])
		} else {
			for j := range g {
				c.ghash[j] = ct.Hash(c.gkeys[j])
			}
		}
		for j := range g {
			c.hash[c.from[j]] = c.ghash[j]
		}
		start += g
	}
}

// cached returns key's owner and hash from the burst cache, or ok false
// when the cache does not hold it (the pre-pass skipped its burst, or the
// packet was not in one: a reassembled datagram, one steered here).
// Packets come in arrival order, some of them not at all (the Hook or the
// address check dropped them), so the entry after the last match is
// tried first, and the few after it (a miss costs a few key compares).
func (c *burstCache) cached(key flowtable.Key4) (owner int, h uint64, ok bool) {
	for i := c.next; i < min(c.n, c.next+cacheScan); i++ {
		if c.keys[i] == key {
			c.next = i + 1
			return int(c.owner[i]), c.hash[i], true
		}
	}
	return 0, 0, false
}

// cacheScan is how many burst cache entries Forward compares its key
// with before it gives up and hashes.
const cacheScan = 8

var _ inet4.BurstForwarder = (*forwarder)(nil)
