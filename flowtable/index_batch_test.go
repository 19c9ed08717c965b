package flowtable

import (
	"testing"
	"unsafe"
)

// batchIndex is an index holding keys in every kind of place a lookup
// finds them: in their preferred slot, elsewhere in their home bucket, and
// in later buckets of their probe window (one bucket's worth of keys
// three times over); and keys deleted again.
func batchIndex(t *testing.T) (ix *Index[conn], present, absent []Key) {
	ix = newIndex(t, Config{Capacity: 256, MaxProbe: 8, Rand: fixedRand(11)}, nil)
	crowd := colliding(ix.t, 2, 3*BucketSlots)
	for i, k := range crowd {
		if err := ix.Insert(k, &conn{id: i}, 0); err != nil {
			t.Fatalf("Insert crowd %d: %v", i, err)
		}
	}
	present = append(present, crowd...)
	for i := range uint32(60) {
		k := testKey(1000 + i)
		if ix.Lookup(&k) != nil || ix.t.home(k) == 2 {
			continue
		}
		if err := ix.Insert(k, &conn{id: 1000 + int(i)}, 0); err != nil {
			t.Fatalf("Insert %d: %v", i, err)
		}
		if i%3 == 0 {
			ix.Delete(k)
			absent = append(absent, k)
			continue
		}
		present = append(present, k)
	}
	for i := range uint32(20) {
		absent = append(absent, testKey(5000+i))
	}
	ix.check(t)
	return ix, present, absent
}

// TestIndexLookupBatch checks LookupBatch against Lookup for batch lengths
// around the chunk size, hits and misses mixed, and that Prefetch changes
// nothing.
func TestIndexLookupBatch(t *testing.T) {
	ix, present, absent := batchIndex(t)
	all := append(append([]Key(nil), present...), absent...)
	for _, n := range []int{0, 1, batchChunk - 1, batchChunk, batchChunk + 1, prefetchChunk - 1,
		prefetchChunk, prefetchChunk + 1, 3*batchChunk + 5, len(all)} {
		keys := make([]Key, n)
		for i := range keys {
			keys[i] = all[(i*37)%len(all)]
		}
		ix.Prefetch(keys)
		out := make([]*conn, n+3) // longer than keys is fine
		for i := range out {
			out[i] = &conn{id: -1} // overwritten, nil for a miss
		}
		got := ix.LookupBatch(keys, out)
		want := 0
		for i := range keys {
			c := ix.Lookup(&keys[i])
			if c != nil {
				want++
			}
			if out[i] != c {
				t.Fatalf("n %d: key %d (%v): batch %p, Lookup %p", n, i, keys[i], out[i], c)
			}
		}
		if got != want {
			t.Errorf("n %d: LookupBatch found %d, Lookup %d", n, got, want)
		}
		if out[n].id != -1 {
			t.Errorf("n %d: LookupBatch wrote past len(keys)", n)
		}
	}
	if ix.Len() != len(present) {
		t.Errorf("Len %d after Prefetch and LookupBatch, want %d", ix.Len(), len(present))
	}
	ix.check(t)
}

// TestIndexPrefetchGuess checks what the passes prefetch: for a key in its
// home bucket, the slot the lookup reads; for a key in a later bucket or
// an absent one, no slot or one whose tag collides.
func TestIndexPrefetchGuess(t *testing.T) {
	ix, present, absent := batchIndex(t)
	tbl := ix.t
	var home, later int
	for _, k := range present {
		w := wordsOf(&k)
		h := w.hash(tbl.seed)
		at, got := tbl.slotOf(k), tbl.prefetchMatch(h)
		if uint64(at/BucketSlots) == h&tbl.mask {
			home++
			if got != at {
				t.Errorf("key %v in slot %d of its home bucket: prefetchMatch %d", k, at, got)
			}
			continue
		}
		later++
		if got >= 0 && uint8(tbl.meta[got/BucketSlots].tags.Load()>>(8*(got%BucketSlots))) != tagOf(h) {
			t.Errorf("key %v in a later bucket: prefetchMatch %d, whose tag is not the key's", k, got)
		}
	}
	if home == 0 || later == 0 {
		t.Fatalf("%d keys in their home bucket, %d beyond: the test needs both", home, later)
	}
	for _, k := range absent {
		w := wordsOf(&k)
		h := w.hash(tbl.seed)
		if got := tbl.prefetchMatch(h); got >= 0 && uint8(tbl.meta[got/BucketSlots].tags.Load()>>(8*(got%BucketSlots))) != tagOf(h) {
			t.Errorf("absent key %v: prefetchMatch %d, whose tag is not the key's", k, got)
		}
	}
}

func TestIndexBatchNoAllocations(t *testing.T) {
	ix, present, _ := batchIndex(t)
	var keys [prefetchChunk + 8]Key // a local, as a worker's burst
	for i := range keys {
		keys[i] = present[i%len(present)]
	}
	var out [len(keys)]*conn
	allocs := testing.AllocsPerRun(1000, func() {
		ix.Prefetch(keys[:])
		ix.LookupBatch(keys[:], out[:])
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per Prefetch and LookupBatch, want 0", allocs)
	}
}

// TestIndexHashed checks the hashed entry points against Lookup: Hash and
// PrefetchHash agree, LookupHashed and LookupTouchHashed with the right
// hash return what Lookup does (and LookupTouchHashed records the time),
// and with a wrong hash they return nil or the key's own pointer, never
// another key's.
func TestIndexHashed(t *testing.T) {
	ix, present, absent := batchIndex(t)
	all := append(append([]Key(nil), present...), absent...)
	hashes := make([]uint64, len(all)+1)
	hashes[len(all)] = 42
	ix.PrefetchHash(all, hashes)
	if hashes[len(all)] != 42 {
		t.Errorf("PrefetchHash wrote past len(keys)")
	}
	for i := range all {
		k := &all[i]
		if h := ix.Hash(k); h != hashes[i] {
			t.Fatalf("key %v: Hash %#x, PrefetchHash %#x", *k, h, hashes[i])
		}
		want := ix.Lookup(k)
		if got := ix.LookupHashed(k, hashes[i]); got != want {
			t.Errorf("key %v: LookupHashed %p, Lookup %p", *k, got, want)
		}
		if got := ix.LookupTouchHashed(k, hashes[i], 77); got != want {
			t.Errorf("key %v: LookupTouchHashed %p, Lookup %p", *k, got, want)
		}
		if _, seen, ok := ix.Meta(*k); ok != (want != nil) || ok && seen != 77 {
			t.Errorf("key %v: after LookupTouchHashed at 77, Meta = %d, %v", *k, seen, ok)
		}
		// Wrong hashes: another key's, and one off.
		for _, h := range []uint64{hashes[(i+1)%len(all)], hashes[i] ^ 1} {
			if got := ix.LookupHashed(k, h); got != nil && got != want {
				t.Errorf("key %v with a wrong hash: %p, want nil or %p", *k, got, want)
			}
		}
	}
	allocs := testing.AllocsPerRun(1000, func() {
		ix.PrefetchHash(all, hashes)
		for i := range all {
			ix.LookupTouchHashed(&all[i], hashes[i], 78)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per PrefetchHash and LookupTouchHashed, want 0", allocs)
	}
	ix.check(t)
}

// TestIndexPointersHuge checks where an Index's pointer array goes: next
// to a mapped table of 2 MiB of pointers or more, at a 2 MiB boundary;
// else anywhere on the heap. Either way it has one pointer per slot.
func TestIndexPointersHuge(t *testing.T) {
	big := int(hugePageSize / unsafe.Sizeof(unsafe.Pointer(nil))) // 2 MiB of pointers
	for _, tc := range []struct {
		name      string
		cfg       Config
		wantAlign bool
	}{
		{"large", Config{Capacity: big}, true},
		{"large-nohuge", Config{Capacity: big, NoHugePages: true}, false},
		{"small", Config{Capacity: big / 4}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix := newIndex(t, tc.cfg, nil)
			p := ix.t.ptrs
			if len(p) != len(ix.t.slots) || cap(p) != len(p) {
				t.Fatalf("%d pointers (cap %d) for %d slots", len(p), cap(p), len(ix.t.slots))
			}
			if aligned := uintptr(unsafe.Pointer(&p[0]))%hugePageSize == 0; tc.wantAlign && !aligned {
				t.Errorf("pointer array at %p, want a 2 MiB boundary", &p[0])
			}
			k := testKey(1)
			if err := ix.Insert(k, &conn{id: 1}, 0); err != nil {
				t.Fatal(err)
			}
			if c := ix.Lookup(&k); c == nil || c.id != 1 {
				t.Errorf("Lookup after Insert: %v", c)
			}
		})
	}
}
