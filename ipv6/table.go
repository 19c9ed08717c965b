package ipv6

import (
	"encoding/binary"
	"math/bits"

	"github.com/xdpengine/engine/internal/fragbuf"
)

// FragKey identifies the datagram a fragment belongs to (RFC 8200 4.5):
// source, destination and the 32-bit fragment identification. Unlike
// IPv4 the upper-layer protocol is not part of it.
type FragKey struct {
	Src, Dst [16]byte
	ID       uint32
}

// interval is a run of fragmentable-part bytes [start, end) received.
type interval struct{ start, end int32 }

// queue is one datagram being reassembled.
type queue struct {
	key      FragKey
	hash     uint64
	deadline int64           // creation time + timeout; never extended
	prev     *queue          // age list: older
	next     *queue          // age list: newer
	buf      *fragbuf.Buffer // storage; nil until the first data and after a kill
	ivs      []interval      // received runs, sorted, disjoint, coalesced
	end      int             // fragmentable length, valid when lastIn
	maxEnd   int             // highest end received
	nfrags   int             // fragments taken, duplicates included
	mem      int             // bytes accounted for this queue
	// From the first fragment (offset 0), when firstIn:
	hdrLen   int     // unfragmentable part (IPv6 header and extension headers)
	prevNH   int     // offset of the Next Header field naming the fragment header
	nextHdr  uint8   // the fragment header's next header
	firstLen int     // the first fragment's data length (for the timeout quote)
	fragHdr  [8]byte // its fragment header (for the timeout quote)
	firstIn  bool    // the offset-0 fragment arrived
	lastIn   bool    // the M-clear fragment arrived
	dead     bool    // discarded after an overlap: later fragments dropped
}

// qtable maps FragKey to *queue: open addressing, linear probing,
// backward-shift deletion. Its power-of-two capacity is at least twice the
// queue cap, fixed at creation: it neither grows nor allocates afterwards.
// The hash is keyed with Config.Seed, so that a sender cannot aim many
// keys at one probe chain.
type qtable struct {
	slots []*queue
	mask  uint64
	k0    uint64
	k1    uint64
}

func newQtable(maxQueues int, seed uint64) qtable {
	n := max(1<<bits.Len(uint(2*maxQueues-1)), 16)
	return qtable{
		slots: make([]*queue, n),
		mask:  uint64(n - 1),
		k0:    mix(seed + 0x9e3779b97f4a7c15),
		k1:    mix(seed ^ 0xd6e8feb86659fd93),
	}
}

// mix is the splitmix64 finalizer.
func mix(x uint64) uint64 {
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (t *qtable) hash(k *FragKey) uint64 {
	h := t.k0 ^ uint64(k.ID)
	for _, w := range [4]uint64{
		binary.LittleEndian.Uint64(k.Src[:8]), binary.LittleEndian.Uint64(k.Src[8:]),
		binary.LittleEndian.Uint64(k.Dst[:8]), binary.LittleEndian.Uint64(k.Dst[8:]),
	} {
		hi, lo := bits.Mul64(h^w, t.k1)
		h = hi ^ lo
	}
	return mix(h)
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

// insert adds q, which must not be present; the table is at most half
// full, so a free slot exists.
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
	// Backward shift: pull later members of the run into the hole unless
	// their home slot lies cyclically in (hole, position].
	for j := i; ; {
		j = (j + 1) & t.mask
		e := t.slots[j]
		if e == nil {
			break
		}
		if (j-e.hash&t.mask)&t.mask >= (j-i)&t.mask {
			t.slots[i] = e
			i = j
		}
	}
	t.slots[i] = nil
}
