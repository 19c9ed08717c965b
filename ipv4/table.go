package ipv4

import (
	"math/bits"

	"github.com/xdpengine/engine/internal/fragbuf"
)

// FragKey identifies the datagram a fragment belongs to (RFC 791): source,
// destination, identification and protocol.
type FragKey struct {
	Src, Dst [4]byte
	ID       uint16
	Proto    uint8
}

// interval is a run of payload bytes [start, end) already received.
type interval struct{ start, end int32 }

// queue is one datagram being reassembled.
type queue struct {
	key      FragKey
	hash     uint64
	deadline int64           // creation time + timeout; never extended
	prev     *queue          // age list: older
	next     *queue          // age list: newer
	buf      *fragbuf.Buffer // payload storage; nil until the first data
	ivs      []interval      // received runs, sorted, disjoint, coalesced
	end      int             // payload length, valid when lastIn
	maxEnd   int             // highest end received
	hdrLen   int             // the first fragment's header length, when firstIn
	nfrags   int             // fragments taken, duplicates included
	firstIn  bool            // the offset-0 fragment arrived
	lastIn   bool            // the MF-clear fragment arrived
	mem      int             // bytes accounted for this queue
}

// qtable maps FragKey to *queue: open addressing with linear probing and
// backward-shift deletion (no tombstones), a fixed power-of-two capacity of
// at least twice the queue cap, so it never grows and never allocates after
// New. The hash is keyed with Config.Seed so that a remote sender cannot
// aim fragments at one probe chain.
type qtable struct {
	slots []*queue
	mask  uint64
	seed0 uint64
	seed1 uint64
}

func newQtable(maxQueues int, seed uint64) qtable {
	n := 1 << bits.Len(uint(2*maxQueues-1))
	if n < 16 {
		n = 16
	}
	return qtable{
		slots: make([]*queue, n),
		mask:  uint64(n - 1),
		seed0: mix(seed ^ 0x9e3779b97f4a7c15),
		seed1: mix(seed ^ 0xc2b2ae3d27d4eb4f),
	}
}

// mix is a 64-bit finalizer (a variant of the murmur3/splitmix64 one).
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

func (t *qtable) hash(k *FragKey) uint64 {
	a := uint64(k.Src[0])<<56 | uint64(k.Src[1])<<48 | uint64(k.Src[2])<<40 | uint64(k.Src[3])<<32 |
		uint64(k.Dst[0])<<24 | uint64(k.Dst[1])<<16 | uint64(k.Dst[2])<<8 | uint64(k.Dst[3])
	b := uint64(k.ID)<<8 | uint64(k.Proto)
	hi, lo := bits.Mul64(a^t.seed0, b^t.seed1)
	return mix(hi ^ lo ^ a)
}

func (t *qtable) lookup(k *FragKey, h uint64) *queue {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		q := t.slots[i]
		if q == nil {
			return nil
		}
		if q.hash == h && q.key == *k {
			return q
		}
	}
}

// insert adds q, which must not be present. The table is never full: it
// holds at most half its capacity.
func (t *qtable) insert(q *queue) {
	i := q.hash & t.mask
	for t.slots[i] != nil {
		i = (i + 1) & t.mask
	}
	t.slots[i] = q
}

func (t *qtable) remove(q *queue) {
	i := q.hash & t.mask
	for t.slots[i] != q {
		i = (i + 1) & t.mask
	}
	// Backward-shift: move later members of the probe run into the hole
	// when their home slot does not lie strictly between the hole and them.
	j := i
	for {
		j = (j + 1) & t.mask
		e := t.slots[j]
		if e == nil {
			break
		}
		home := e.hash & t.mask
		if (j-home)&t.mask >= (j-i)&t.mask {
			t.slots[i] = e
			i = j
		}
	}
	t.slots[i] = nil
}
