package flowtable

import (
	"iter"
	"math/bits"
	"sync/atomic"
)

// Sweep is the incremental aging pass. Writer only. It visits at most budget
// buckets (BucketSlots entries each), continuing where the previous call
// stopped and wrapping around, and removes every entry whose class has a
// nonzero idle timeout and whose last-seen time is more than that timeout
// before now. Each removed entry is reported to Config.OnRemove with
// RemoveExpired. It returns the number of entries removed.
//
// The worker calls it once per poll loop with a small budget (tens of
// buckets), so a full pass over the table takes buckets/budget loops and no
// call stops the world. An entry is removed at most one full pass after its
// timeout ran out.
func (t *Table) Sweep(now int64, budget int) int {
	budget = min(budget, len(t.meta))
	removed := 0
	for range budget {
		b := t.cursor
		t.cursor = (b + 1) & t.mask
		occupied := ^zeroBytes(t.meta[b].tags.Load()) & msb
		for ; occupied != 0; occupied &= occupied - 1 {
			i := int(b)*BucketSlots + bits.TrailingZeros64(occupied)>>3
			s := &t.slots[i]
			to := t.timeouts[s.class]
			// Pairs with the stamp stores in fill, SetClass and LookupTouch.
			if to == 0 || now-s.stamp.Load() <= to {
				continue
			}
			t.drop(i, &t.expired, RemoveExpired)
			removed++
		}
	}
	return removed
}

// drop removes slot i, which Sweep or an eviction took out, counts it in
// counter and reports it to onRemove. Writer only.
func (t *Table) drop(i int, counter *atomic.Uint64, why RemoveReason) {
	k, v := t.slots[i].entry()
	p := t.ptr(i)
	t.remove(i)
	counter.Store(counter.Load() + 1)
	if t.onRemove != nil {
		t.onRemove(k, v, p, why)
	}
}

// entry returns the slot's key and value. Writer only.
func (s *slot) entry() (Key, uint64) {
	var w keyWords
	for j := range w {
		w[j] = s.key[j].Load()
	}
	return w.key(), s.value.Load()
}

// evictOldest removes the entry with the smallest last-seen time among the
// MaxProbe buckets starting at home (all full when this is called) and
// returns its slot and its distance from home.
func (t *Table) evictOldest(home uint64) (int, int) {
	victim, victimDist := -1, 0
	var oldest int64
	b := home
	for d := range t.maxProbe {
		for j := range BucketSlots {
			i := int(b)*BucketSlots + j
			// Pairs with the stamp stores in fill, SetClass and LookupTouch.
			if st := t.slots[i].stamp.Load(); victim < 0 || st < oldest {
				victim, victimDist, oldest = i, d, st
			}
		}
		b = (b + uint64(d) + 1) & t.mask
	}
	t.drop(victim, &t.evictions, RemoveEvicted)
	return victim, victimDist
}

// All iterates over the entries in table order. Writer only (it reads
// entries without version checks); the loop body must not modify the table.
func (t *Table) All() iter.Seq2[Key, uint64] {
	return func(yield func(Key, uint64) bool) {
		for b := range t.meta {
			occupied := ^zeroBytes(t.meta[b].tags.Load()) & msb
			for ; occupied != 0; occupied &= occupied - 1 {
				k, v := t.slots[b*BucketSlots+bits.TrailingZeros64(occupied)>>3].entry()
				if !yield(k, v) {
					return
				}
			}
		}
	}
}
