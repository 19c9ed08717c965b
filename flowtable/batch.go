package flowtable

import "math/bits"

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
// passes: hash every key and load its home bucket's tags; then touch the
// first slot whose tag matches; then do the full lookups, whose memory is by
// now in cache. Within a pass the loads of different keys are independent,
// so their misses overlap.
func (t *Table) LookupBatch(keys []Key, vals []uint64, found []bool) int {
	vals, found = vals[:len(keys)], found[:len(keys)]
	n := 0
	var w [batchChunk]keyWords
	var h [batchChunk]uint64
	var touch [batchChunk]uint64 // slot to touch, or ^0
	for len(keys) > 0 {
		c := min(len(keys), batchChunk)
		for i := range c {
			w[i].set(&keys[i])
			h[i] = w[i].hash(t.seed)
			b := h[i] & t.mask
			// Pairs with the tags.Store in fill and remove. The full lookup
			// below loads the tags again; this load brings the line in.
			touch[i] = ^uint64(0)
			if m := matchTag(t.meta[b].tags.Load(), tagOf(h[i])); m != 0 {
				touch[i] = b*BucketSlots + uint64(bits.TrailingZeros64(m)>>3)
			}
		}
		for i := range c {
			if touch[i] != ^uint64(0) {
				// Only brings the slot's line in; lookup validates. (An
				// atomic load is never removed as dead code.)
				_ = t.slots[touch[i]].ver.Load()
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
