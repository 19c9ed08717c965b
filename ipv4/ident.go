package ipv4

import (
	"math/bits"
	"sync/atomic"
)

// IDGenerator picks IPv4 identification numbers per (source, destination,
// protocol), the way Linux's ip_select_ident does, in our own words:
//
//   - The triple is hashed with a secret key into an array of counters, so
//     the IDs one destination sees say nothing about the traffic to others
//     (a single global counter leaks the host's send rate and lets an off-
//     path attacker predict IDs for idle-scans and fragment injection).
//   - Each counter remembers the tick (millisecond) it was last used. When
//     a counter is used after k idle ticks, it first jumps by a random
//     amount in [0, k), so that sampling one's own IDs from a bucket does
//     not reveal how many datagrams others sent through it meanwhile.
//   - Within one tick IDs from a bucket increase by one per datagram, which
//     keeps them unique for the 2^16 datagrams the reassembly timeout
//     cares about.
//
// An IDGenerator is safe for concurrent use by all workers (one host-wide
// generator, as in Linux, keeps IDs unique per destination across
// workers). Counters are updated with atomic add; the tick stamp with
// compare-and-swap so that only one of several concurrent users applies
// the random jump. Neither publishes other memory, so no ordering beyond
// each atomic's own is needed.
type IDGenerator struct {
	buckets []idBucket
	mask    uint32
	k0, k1  uint64
	rand    Rand
}

// Rand is the randomness an IDGenerator draws its perturbations from; a
// *math/rand/v2.Rand fits. Uint32N must be safe for concurrent use if the
// generator is shared between goroutines (math/rand/v2's top-level
// functions are; wrap a seeded Rand in a lock for tests).
type Rand interface {
	Uint32N(n uint32) uint32
}

type idBucket struct {
	id    atomic.Uint32 // pairs with nothing: a counter, read-modify-write only
	stamp atomic.Int64  // last tick used; CAS decides who applies the jump
	_     [48]byte      // one bucket per cache line: workers do not false-share
}

const idTick = 1_000_000 // ns

// NewIDGenerator returns a generator with n counters (rounded up to a power
// of two; Linux sizes its array from memory, 2048 or more), hash key secret
// and randomness rnd.
func NewIDGenerator(n int, secret [2]uint64, rnd Rand) *IDGenerator {
	if n < 1 {
		n = 2048
	}
	n = 1 << bits.Len(uint(n-1))
	g := &IDGenerator{
		buckets: make([]idBucket, n),
		mask:    uint32(n - 1),
		k0:      secret[0],
		k1:      secret[1],
		rand:    rnd,
	}
	if rnd != nil {
		for i := range g.buckets {
			g.buckets[i].id.Store(rnd.Uint32N(1 << 16))
		}
	}
	return g
}

// Next returns the identification for a datagram from src to dst with
// protocol proto sent at now (monotonic ns). It reserves one ID; NextN
// reserves several consecutive ones (for segmentation offload).
func (g *IDGenerator) Next(src, dst [4]byte, proto uint8, now int64) uint16 {
	return g.NextN(src, dst, proto, 1, now)
}

// NextN reserves n consecutive IDs and returns the first.
func (g *IDGenerator) NextN(src, dst [4]byte, proto uint8, n uint32, now int64) uint16 {
	a := uint64(src[0])<<24 | uint64(src[1])<<16 | uint64(src[2])<<8 | uint64(src[3])
	b := uint64(dst[0])<<24 | uint64(dst[1])<<16 | uint64(dst[2])<<8 | uint64(dst[3])
	hi, lo := bits.Mul64((a<<32|b)^g.k0, (uint64(proto)<<32|b)^g.k1)
	bk := &g.buckets[uint32(mix(hi^lo))&g.mask]

	tick := now / idTick
	var jump uint32
	if old := bk.stamp.Load(); old != tick && bk.stamp.CompareAndSwap(old, tick) {
		if d := tick - old; d > 0 && g.rand != nil {
			jump = g.rand.Uint32N(uint32(min(d, 1<<16)))
		}
	}
	return uint16(bk.id.Add(n+jump) - n)
}
