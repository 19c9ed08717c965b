package flowtable

import "unsafe"

// PrefetchHash hashes each key of a burst into hashes (which must be at
// least as long) and asks the CPU for each key's home bucket, so that the
// cache misses of the burst's lookups overlap instead of queueing one
// after the other; LookupHashed or LookupTouchHashed of each key with its
// hash follow. A key that is not in its home bucket (few, at the loads a
// table is sized for) finds the next bucket on the adjacent line, which
// the hardware's spatial prefetcher usually brings along. Safe from any
// goroutine; it changes nothing.
func (t *Table4) PrefetchHash(keys []Key4, hashes []uint64) {
	hashes = hashes[:len(keys)]
	base := unsafe.Pointer(unsafe.SliceData(t.buckets))
	for j := range keys {
		h := hash4(keys[j], t.s0, t.s1)
		hashes[j] = h
		prefetch(unsafe.Add(base, (h&t.mask)*uint64(unsafe.Sizeof(bucket4{}))))
	}
}

// LookupBatch looks up a burst of keys: PrefetchHash, then each lookup. It
// stores each key's value in vals and whether it was found in found (both
// at least as long as keys) and returns the number found. Safe from any
// goroutine; no allocation (a burst of up to 64 keys keeps its hashes on
// the stack; a longer one goes in chunks).
func (t *Table4) LookupBatch(keys []Key4, vals []uint64, found []bool) int {
	var hs [64]uint64
	n := 0
	for off := 0; off < len(keys); off += len(hs) {
		chunk := keys[off:min(len(keys), off+len(hs))]
		t.PrefetchHash(chunk, hs[:])
		for j := range chunk {
			v, b, _ := t.lookup(chunk[j], hs[j])
			vals[off+j], found[off+j] = v, b != nil
			if b != nil {
				n++
			}
		}
	}
	return n
}
