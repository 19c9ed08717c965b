package flowtable

import (
	"sync/atomic"
	"unsafe"
)

// prefetchChunk is how many keys Index.Prefetch works on at a time: a
// worker's burst (its stack arrays).
const prefetchChunk = 64

// prefetchValueBytes is how much of a *T Prefetch brings in: its first
// 16 bytes, which lie in one cache line whenever T is 16-aligned (the Go
// heap aligns objects of 16 bytes or more to 16), so a lookup costs one
// line of its record. The fields a lookup's caller reads at once go first
// in T. (Measured with BenchmarkConntrack's 112-byte records, whose 32
// hot bytes straddled two lines for one record in four: 16 bytes with the
// hot fields moved first saves that second line.)
const prefetchValueBytes = 16

// Prefetch starts loading, for every key, the memory a lookup of it will
// touch: the key's home bucket header, its slot and the slot's pointer,
// and the first 16 bytes of the *T that pointer points to (put the fields
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
// (addresses that follow from the hash); then, key by key, load the tags,
// prefetch the slot whose tag matches when it is not the preferred one,
// load that slot's pointer (in the bucket's line of pointers, already
// asked for) and prefetch the *T. The second pass loads what the first
// asked for, so it waits for memory, but for all keys at once, not one
// after the other.
//
// What Prefetch reads is a guess: a slot refilled or a pointer cleared by
// the writer meanwhile makes it prefetch the wrong line, never return a
// wrong result (it returns none). A key in a later bucket of its probe
// window (one whose home bucket was full at insert time; rare below 80%
// load) gets its home bucket prefetched only. The *T is prefetched through
// a pointer the writer may have removed since; the pointer is held while
// the prefetch runs, so the memory is still the Go heap's.
func (ix *Index[T]) Prefetch(keys []Key) {
	var h [prefetchChunk]uint64
	for len(keys) > 0 {
		c := min(len(keys), prefetchChunk)
		ix.PrefetchHash(keys[:c], h[:c])
		keys = keys[c:]
	}
}

// Hash returns k's hash in this index (the table's seeded metro64): what
// PrefetchHash hands back, and what LookupHashed and LookupTouchHashed
// take. It depends on the index and the key only. Safe from any goroutine.
func (ix *Index[T]) Hash(k *Key) uint64 {
	var w keyWords
	w.set(k)
	return w.hash(ix.t.seed)
}

// PrefetchHash is Prefetch that also stores keys[i]'s hash (Hash) in
// hashes[i] (hashes must be at least len(keys) long), so that the lookups
// that follow do not hash again: a worker's burst pre-pass hashes each
// packet's key once, here, and looks it up with LookupTouchHashed. Safe
// from any goroutine; no allocation.
//
// Its passes run over all of keys (the caller's burst: the more keys, the
// more misses overlap, up to what the CPU can have in flight): hash every
// key and prefetch what the hash locates; then, key by key, load the tags
// (prefetching the matching slot when it is not the preferred one) and
// the slot's pointer, whose line is the bucket's and already on its way,
// and prefetch the *T. Finishing each key just before its lookup instead,
// a few keys ahead (software pipelining), measured slower: 110-118 ns a
// lookup against 98 (BenchmarkConntrack's setting), the lookups then
// stalling one by one on lines still in flight. So did leaving the bucket
// header out for keys found in their preferred slot (the second pass
// comparing that slot's key first, the lookup reading it before the tags,
// a removed slot marked in its version): 113-115 ns against 97-98, 3 lines
// a key instead of 4 for most keys, but the others (about one in four at
// that load) then wait for their header in the second pass one after the
// other.
func (ix *Index[T]) PrefetchHash(keys []Key, hashes []uint64) {
	t := ix.t
	hashes = hashes[:len(keys)]
	for i := range keys {
		var w keyWords
		w.set(&keys[i])
		h := w.hash(t.seed)
		hashes[i] = h
		t.prefetchHome(h)
	}
	for _, h := range hashes {
		if at := t.prefetchMatch(h); at >= 0 {
			ix.prefetchValue(at)
		}
	}
}

// LookupHashed is Lookup of k whose hash h is ix.Hash(k) (from
// PrefetchHash): no hashing. With any other h it returns nil or k's
// pointer, never another key's (the full key is compared). Safe from any
// goroutine, with Lookup's guarantees.
func (ix *Index[T]) LookupHashed(k *Key, h uint64) *T {
	var w keyWords
	w.set(k)
	v, s := ix.t.lookup(&w, h)
	if s == nil {
		return nil
	}
	return ix.load(v, s)
}

// LookupTouchHashed is LookupTouch of k whose hash h is ix.Hash(k) (see
// LookupHashed).
func (ix *Index[T]) LookupTouchHashed(k *Key, h uint64, now int64) *T {
	var w keyWords
	w.set(k)
	v, s := ix.t.lookup(&w, h)
	if s == nil {
		return nil
	}
	// Pairs with the stamp loads in Sweep and evictOldest, as in
	// Table.LookupTouch.
	if s.stamp.Load() != now {
		s.stamp.Store(now)
	}
	return ix.load(v, s)
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
