package flowtable

import (
	"math/bits"
	"unsafe"
)

// batchChunk is how many keys LookupBatch works on at a time (its stack
// arrays).
const batchChunk = 16

// LookupBatch looks up keys[i] into vals[i] and found[i] for every i (vals
// and found must be at least len(keys) long) and returns the number found.
// Safe from any goroutine, like Lookup, with the same guarantees per key.
//
// It is meant for a worker's burst of packets. Lookup of one key is a chain
// of two dependent cache misses (bucket header, then slot) that the CPU
// cannot overlap with the next lookup's misses, because the branches in
// between stop its speculation. LookupBatch goes through a chunk of keys in
// passes: hash every key and prefetch its home bucket's header and its
// preferred slot; then load the tags and prefetch the first matching slot
// of each key not in its preferred slot; then do the full lookups, whose
// memory is by now in cache. Within a pass the accesses of different keys
// are independent, so their misses overlap.
func (t *Table) LookupBatch(keys []Key, vals []uint64, found []bool) int {
	vals, found = vals[:len(keys)], found[:len(keys)]
	n := 0
	var w [batchChunk]keyWords
	var h [batchChunk]uint64
	for len(keys) > 0 {
		c := min(len(keys), batchChunk)
		for i := range c {
			w[i].set(&keys[i])
			h[i] = w[i].hash(t.seed)
			t.prefetchHome(h[i])
		}
		for i := range c {
			t.prefetchMatch(h[i])
		}
		for i := range c {
			v, s := t.lookup(&w[i], h[i])
			vals[i], found[i] = v, s != nil
			if s != nil {
				n++
			}
		}
		keys, vals, found = keys[c:], vals[c:], found[c:]
	}
	return n
}

// The passes of a batch. Each only loads and prefetches: what it finds is
// a guess about where the lookup will look, never a result, so it needs no
// snapshot and is safe from any goroutine at any time (a prefetch never
// faults, whatever the address).

// prefetchHome is the first pass: it prefetches the home bucket header of
// hash h, its preferred slot and, in an Index, that slot's pointer. The
// three addresses come from the hash alone, so nothing waits.
func (t *Table) prefetchHome(h uint64) {
	b := h & t.mask
	i := b*BucketSlots + prefOf(h)
	if t.ptrs != nil {
		prefetch3(unsafe.Pointer(&t.meta[b]), unsafe.Pointer(&t.slots[i]), unsafe.Pointer(&t.ptrs[i]))
		return
	}
	prefetch(unsafe.Pointer(&t.meta[b]))
	prefetch(unsafe.Pointer(&t.slots[i]))
}

// prefetchMatch is the second pass: it loads the home bucket's tags (whose
// header prefetchHome asked for) and returns the slot a lookup of h will
// read first, or -1 when no tag matches (a miss in the home bucket; a key
// that overflowed to a later bucket is left to the lookup). When that slot
// is not the preferred one, already prefetched, it prefetches the slot and,
// in an Index, its pointer.
func (t *Table) prefetchMatch(h uint64) int {
	b := h & t.mask
	p := prefOf(h)
	// Pairs with the tags.Store in fill and remove. The lookup loads the
	// tags again.
	m := matchTag(t.meta[b].tags.Load(), tagOf(h))
	switch {
	case m == 0:
		return -1
	case m&(0x80<<(8*p)) != 0:
		return int(b*BucketSlots + p)
	}
	i := b*BucketSlots + uint64(bits.TrailingZeros64(m)>>3)
	prefetch(unsafe.Pointer(&t.slots[i]))
	if t.ptrs != nil {
		prefetch(unsafe.Pointer(&t.ptrs[i]))
	}
	return int(i)
}
