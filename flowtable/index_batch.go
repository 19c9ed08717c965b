package flowtable

import (
	"sync/atomic"
	"unsafe"
)

// prefetchChunk is how many keys Index.Prefetch works on at a time: a
// worker's burst (its stack arrays).
const prefetchChunk = 64

// prefetchValueBytes is how much of a *T Prefetch brings in: its first
// 32 bytes, one cache line or the two they straddle. The fields a lookup's
// caller reads at once go first in T. (Measured with BenchmarkConntrack's
// 112-byte records: 32 bytes 3 ns a lookup faster than 64, whose second
// line is mostly unused; 1 byte 35 ns slower, the hot fields of one record
// in four lying in the next line.)
const prefetchValueBytes = 32

// Prefetch starts loading, for every key, the memory a lookup of it will
// touch: the key's home bucket header, its slot and the slot's pointer,
// and the first 32 bytes of the *T that pointer points to (put the fields
// read first at the start of T). It returns no result and changes nothing;
// a Lookup or LookupTouch of the same keys that follows soon after (within
// the burst) finds their lines in the cache instead of waiting for memory
// one lookup after the other. Like Lookup, it is safe from any goroutine,
// concurrently with the writer and other readers; it never allocates and
// does not keep keys.
//
// A lookup is a chain of dependent cache misses (bucket header, slot,
// pointer, then the caller's read of the *T) that the CPU cannot overlap
// with those of the next packet's lookup: the packet's processing lies in
// between. Prefetch walks the keys in passes, and within a pass the keys'
// accesses are independent, so their misses overlap: hash every key and
// prefetch its bucket header, its preferred slot and that slot's pointer
// (addresses that follow from the hash); then load the tags and prefetch
// the slot whose tag matches when it is not the preferred one; then load
// the matching slot's pointer and prefetch the *T. The last two passes load
// what the first asked for, so they wait for memory, but for all keys at
// once, not one after the other.
//
// What Prefetch reads is a guess: a slot refilled or a pointer cleared by
// the writer meanwhile makes it prefetch the wrong line, never return a
// wrong result (it returns none). A key in a later bucket of its probe
// window (one whose home bucket was full at insert time; rare below 80%
// load) gets its home bucket prefetched only. The *T is prefetched through
// a pointer the writer may have removed since; the pointer is held while
// the prefetch runs, so the memory is still the Go heap's.
func (ix *Index[T]) Prefetch(keys []Key) {
	t := ix.t
	var h [prefetchChunk]uint64
	var at [prefetchChunk]int
	for len(keys) > 0 {
		c := min(len(keys), prefetchChunk)
		for i := range c {
			var w keyWords
			w.set(&keys[i])
			h[i] = w.hash(t.seed)
			t.prefetchHome(h[i])
		}
		for i := range c {
			at[i] = t.prefetchMatch(h[i])
		}
		for i := range c {
			if at[i] >= 0 {
				ix.prefetchValue(at[i])
			}
		}
		keys = keys[c:]
	}
}

// prefetchValue prefetches the first prefetchValueBytes of the *T of slot
// i (one cache line, or the two they straddle).
func (ix *Index[T]) prefetchValue(i int) {
	// Pairs with the StorePointer in fill and remove (a guess: see
	// Prefetch).
	p := atomic.LoadPointer(&ix.t.ptrs[i])
	if p == nil {
		return
	}
	prefetch(p)
	var zero T
	if end := unsafe.Add(p, max(min(unsafe.Sizeof(zero), prefetchValueBytes), 1)-1); uintptr(end)/64 != uintptr(p)/64 {
		prefetch(end)
	}
}

// LookupBatch looks up keys[i] into out[i] (nil when absent) for every i
// (out must be at least len(keys) long) and returns the number found. Each
// result is what Lookup would return for the key at some moment during the
// call, with Lookup's guarantees (never another key's pointer). Safe from
// any goroutine; no allocation. It goes through the keys in chunks, with
// the passes of Prefetch (the *T included, for the caller's reads) before
// the lookups.
func (ix *Index[T]) LookupBatch(keys []Key, out []*T) int {
	t := ix.t
	out = out[:len(keys)]
	n := 0
	var w [batchChunk]keyWords
	var h [batchChunk]uint64
	var at [batchChunk]int
	for len(keys) > 0 {
		c := min(len(keys), batchChunk)
		for i := range c {
			w[i].set(&keys[i])
			h[i] = w[i].hash(t.seed)
			t.prefetchHome(h[i])
		}
		for i := range c {
			at[i] = t.prefetchMatch(h[i])
		}
		for i := range c {
			if at[i] >= 0 {
				ix.prefetchValue(at[i])
			}
		}
		for i := range c {
			out[i] = nil
			if v, s := t.lookup(&w[i], h[i]); s != nil {
				if out[i] = ix.load(v, s); out[i] != nil {
					n++
				}
			}
		}
		keys, out = keys[c:], out[c:]
	}
	return n
}
