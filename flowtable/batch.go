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
			b := h[i] & t.mask
			prefetch(unsafe.Pointer(&t.meta[b]))
			prefetch(unsafe.Pointer(&t.slots[b*BucketSlots+prefOf(h[i])]))
		}
		for i := range c {
			b := h[i] & t.mask
			// Pairs with the tags.Store in fill and remove. The full lookup
			// below loads the tags again.
			m := matchTag(t.meta[b].tags.Load(), tagOf(h[i]))
			if m != 0 && m&(0x80<<(8*prefOf(h[i]))) == 0 {
				// The key is not in its preferred slot (prefetched above):
				// fetch the first slot whose tag matches.
				prefetch(unsafe.Pointer(&t.slots[b*BucketSlots+uint64(bits.TrailingZeros64(m)>>3)]))
			}
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
