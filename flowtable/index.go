package flowtable

import (
	"errors"
	"fmt"
	"iter"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// ErrNilValue: Index.Insert was given a nil pointer, which Lookup could not
// tell from "absent".
var ErrNilValue = errors.New("flowtable: nil value")

// Index maps a Key to a *T: a Table with one more array, of pointers, one
// per table slot, so that a worker can demultiplex a segment to its
// connection (or a balancer to its tracked flow) with one table lookup and
// no Go map.
//
// # Concurrency contract
//
// As for Table: one writer, any number of readers. Insert, Delete,
// SetClass, Sweep and All must be called by one goroutine at a time (the
// owner); Lookup, LookupTouch, LookupBatch, Prefetch, Hash, PrefetchHash,
// LookupHashed, LookupTouchHashed (index_batch.go), Len, Cap and Stats may
// be called from any goroutine, concurrently with each other and with the
// writer. Lookup is wait-free, never allocates, and
// returns nil or a pointer that was stored for the key at some moment
// during the call: never a pointer stored for another key, even when the
// writer deletes the key and reuses its slot for another one meanwhile. The
// Index hands out the pointers it was given and does not synchronize access
// to the T behind them: a reader on another goroutine may read only what
// the owner publishes safely (fields set before Insert and never written
// again, or atomics).
//
// # Layout and memory ordering
//
// The pointer of the key in table slot i is in ptrs[i] (8 bytes a slot, on
// the Go heap so that the garbage collector sees it; a bucket's eight
// pointers share one cache line; next to a mapped table, in huge pages:
// allocPointers), and the slot's value
// word holds the insert's serial number. Entries never move, so a pointer's
// place follows from the slot's: when a key sits in its preferred slot,
// whose address comes from the hash alone, the CPU can load the pointer
// while the bucket header and the slot are still on their way, instead of
// after them. A slab of pointers indexed by the slot's value, with a free
// list, makes that load wait for the slot: measured side by side at 1M
// keys (BenchmarkDemux's setting), 338 ns against 258 a lookup with
// independent lookups, 657 against 488 with dependent ones.
//
// The writer's fill stores the serial, then the pointer, then publishes the
// slot (see the package documentation); remove unpublishes the slot, then
// stores nil. A reader takes a consistent snapshot of the slot (key and
// serial), loads the pointer, then loads the serial again, and returns the
// pointer only if the serial is unchanged. If the slot was refilled for
// another key after the snapshot, either the pointer load already sees the
// new pointer, stored after the new serial, so the second serial load sees
// the new serial (sequentially consistent atomics) and the reader returns
// nil, or it sees nil (the key was deleted: nil), or it sees the key's own
// pointer. Serials are 64 bits and never repeat.
//
// Entries the table removes by itself (Sweep expiry, FullEvictOldest
// eviction) are reported to NewIndex's onRemove with their pointer.
type Index[T any] struct {
	t      *Table
	serial uint64 // of the last insert; writer only
}

// NewIndex allocates an index of cfg.Capacity entries (rounded up as for
// New). cfg.OnRemove must be nil (the table's values are the Index's
// serials); onRemove, if not nil, is what Sweep and eviction report to,
// with the removed pointer (on the writer's goroutine, under the rules of
// Config.OnRemove). New entries start in Class 0 of cfg.IdleTimeouts.
// Errors wrap ErrConfig. Call Close when done.
func NewIndex[T any](cfg Config, onRemove func(k Key, v *T, why RemoveReason)) (*Index[T], error) {
	if cfg.OnRemove != nil {
		return nil, fmt.Errorf("%w: Config.OnRemove is set; an Index takes its callback as NewIndex's onRemove", ErrConfig)
	}
	t, err := New(cfg)
	if err != nil {
		return nil, err
	}
	t.ptrs = allocPointers(len(t.slots), t.mem.base != nil, !cfg.NoPopulate)
	if onRemove != nil {
		t.onRemove = func(k Key, _ uint64, p unsafe.Pointer, why RemoveReason) {
			onRemove(k, (*T)(p), why)
		}
	}
	return &Index[T]{t: t}, nil
}

// Lookup returns the pointer stored for k, or nil. Safe from any goroutine;
// wait-free, no allocation. k is taken by pointer: a Key is 38 bytes, and a
// copy made by the caller is then read back in words that span its stores,
// which stalls the loads and keeps the CPU from overlapping lookups (a
// by-value variant measured 70 ns against 27 at 1k keys in BenchmarkDemux's
// setting, lookups independent). Lookup does not keep k.
func (ix *Index[T]) Lookup(k *Key) *T {
	var w keyWords
	w.set(k)
	v, s := ix.t.lookup(&w, w.hash(ix.t.seed))
	if s == nil {
		return nil
	}
	return ix.load(v, s)
}

// LookupTouch is Lookup that also records now as the entry's last-seen time
// (see Table.LookupTouch). Safe from any goroutine.
func (ix *Index[T]) LookupTouch(k *Key, now int64) *T {
	var w keyWords
	w.set(k)
	v, s := ix.t.lookup(&w, w.hash(ix.t.seed))
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

// load returns the pointer of slot s, whose consistent snapshot had serial
// v, or nil if the slot was emptied or refilled since (see Index).
func (ix *Index[T]) load(v uint64, s *slot) *T {
	// The slot's index from its address, not from anything loaded: the
	// load below can issue before the slot's lines arrive.
	i := (uintptr(unsafe.Pointer(s)) - uintptr(unsafe.Pointer(unsafe.SliceData(ix.t.slots)))) / unsafe.Sizeof(slot{})
	// Pairs with the StorePointer in fill (after the serial) and remove.
	p := atomic.LoadPointer(&ix.t.ptrs[i])
	// Pairs with the value store in fill: the serial is still v, so p is
	// this key's pointer (or nil).
	if s.value.Load() != v {
		return nil
	}
	return (*T)(p)
}

// Insert adds k with pointer v, Class 0 and last-seen time now. Writer
// only. Errors are the table's (ErrExists, and ErrFull under FullRefuse;
// under FullEvictOldest an eviction makes room and is reported to
// onRemove), or ErrNilValue. It allocates nothing.
func (ix *Index[T]) Insert(k Key, v *T, now int64) error {
	if v == nil {
		return ErrNilValue
	}
	ix.serial++
	return ix.t.insert(&k, ix.serial, unsafe.Pointer(v), 0, now)
}

// Delete removes k and returns its pointer, or nil if k is absent. Writer
// only.
func (ix *Index[T]) Delete(k Key) *T {
	_, p, _ := ix.t.delete(&k)
	return (*T)(p)
}

// SetClass moves k to timeout class c and records now as its last-seen
// time (see Table.SetClass). Writer only.
func (ix *Index[T]) SetClass(k Key, c Class, now int64) error {
	return ix.t.SetClass(k, c, now)
}

// Meta returns k's timeout class and last-seen time (see Table.Meta).
// Writer only.
func (ix *Index[T]) Meta(k Key) (Class, int64, bool) { return ix.t.Meta(k) }

// SetIdleTimeouts changes the classes' idle timeouts (see
// Table.SetIdleTimeouts). Writer only.
func (ix *Index[T]) SetIdleTimeouts(ts []int64) error { return ix.t.SetIdleTimeouts(ts) }

// Sweep removes idle entries from at most budget buckets (see Table.Sweep)
// and reports each to onRemove. Writer only. It returns the number removed.
func (ix *Index[T]) Sweep(now int64, budget int) int {
	return ix.t.Sweep(now, budget)
}

// All iterates over the keys and pointers in table order. Writer only; the
// loop body must not modify the index.
func (ix *Index[T]) All() iter.Seq2[Key, *T] {
	return func(yield func(Key, *T) bool) {
		t := ix.t
		for b := range t.meta {
			occupied := ^zeroBytes(t.meta[b].tags.Load()) & msb
			for ; occupied != 0; occupied &= occupied - 1 {
				i := b*BucketSlots + bits.TrailingZeros64(occupied)>>3
				k, _ := t.slots[i].entry()
				if !yield(k, (*T)(t.ptr(i))) {
					return
				}
			}
		}
	}
}

// Len returns the number of keys. Safe from any goroutine.
func (ix *Index[T]) Len() int { return ix.t.Len() }

// Cap returns the number of table slots, the most keys the index can hold.
func (ix *Index[T]) Cap() int { return ix.t.Cap() }

// Stats returns the table's counters. Safe from any goroutine.
func (ix *Index[T]) Stats() Stats { return ix.t.Stats() }

// Bytes returns the memory the index allocated: the table's slots and
// bucket headers and the pointer array (not the T values).
func (ix *Index[T]) Bytes() int {
	t := ix.t
	return len(t.slots)*int(unsafe.Sizeof(slot{})) + len(t.meta)*int(unsafe.Sizeof(bucketMeta{})) +
		len(t.ptrs)*int(unsafe.Sizeof(unsafe.Pointer(nil)))
}

// Close releases the table's memory (see Table.Close) and drops the
// pointers. It must be called only after every reader and the writer are
// done with the index. Closing twice is a no-op.
func (ix *Index[T]) Close() error { return ix.t.Close() }

// The Table's side: the pointers of its slots (see Table.ptrs).

// delete removes k and returns its value and pointer (see ptrs).
func (t *Table) delete(k *Key) (uint64, unsafe.Pointer, bool) {
	i := t.find(k)
	if i < 0 {
		return 0, nil, false
	}
	v, p := t.slots[i].value.Load(), t.ptr(i)
	t.remove(i)
	t.deletes.Store(t.deletes.Load() + 1)
	return v, p, true
}

// ptr returns slot i's pointer (see ptrs). Writer only.
func (t *Table) ptr(i int) unsafe.Pointer {
	if t.ptrs == nil {
		return nil
	}
	return atomic.LoadPointer(&t.ptrs[i])
}
