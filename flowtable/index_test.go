package flowtable

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// conn stands in for a connection.
type conn struct {
	id  int
	gen uint32
}

func newIndex(t testing.TB, cfg Config, onRemove func(Key, *conn, RemoveReason)) *Index[conn] {
	t.Helper()
	if cfg.Rand == nil {
		cfg.Rand = fixedRand(0x5eed)
	}
	ix, err := NewIndex(cfg, onRemove)
	if err != nil {
		t.Fatalf("NewIndex(%+v): %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := ix.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return ix
}

// check verifies the table's invariants and the pointers': every live slot
// has a pointer and a serial of its own, every free slot a nil pointer.
func (ix *Index[T]) check(tb testing.TB) {
	tb.Helper()
	t := ix.t
	t.check(tb)
	serials := map[uint64]bool{}
	for b := range t.meta {
		tags := t.meta[b].tags.Load()
		for j := range BucketSlots {
			i := b*BucketSlots + j
			p := t.ptr(i)
			if uint8(tags>>(8*j)) == 0 {
				if p != nil {
					tb.Fatalf("free slot %d holds pointer %p", i, p)
				}
				continue
			}
			k, v := t.slots[i].entry()
			if p == nil || serials[v] || v == 0 || v > ix.serial {
				tb.Fatalf("slot %d (key %v): pointer %p, serial %d (seen before: %v, last issued %d)",
					i, k, p, v, serials[v], ix.serial)
			}
			serials[v] = true
		}
	}
}

func TestIndexInsertLookupDelete(t *testing.T) {
	ix := newIndex(t, Config{Capacity: 1000}, nil)
	if ix.Cap() != 1024 || len(ix.t.ptrs) != 1024 {
		t.Fatalf("Cap %d, pointers %d; want 1024, 1024", ix.Cap(), len(ix.t.ptrs))
	}
	conns := make([]*conn, 500)
	for i := range conns {
		conns[i] = &conn{id: i}
		if err := ix.Insert(testKey(uint32(i)), conns[i], 0); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range conns {
		k := testKey(uint32(i))
		if got := ix.Lookup(&k); got != c {
			t.Fatalf("Lookup(%v) = %p, want %p", k, got, c)
		}
	}
	absent := testKey(10000)
	if got := ix.Lookup(&absent); got != nil {
		t.Errorf("Lookup of an absent key = %+v, want nil", got)
	}
	if err := ix.Insert(testKey(3), &conn{}, 0); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate Insert: %v, want ErrExists", err)
	}
	if err := ix.Insert(testKey(20000), nil, 0); !errors.Is(err, ErrNilValue) {
		t.Errorf("Insert of nil: %v, want ErrNilValue", err)
	}
	ix.check(t)
	for i := 0; i < len(conns); i += 2 {
		if got := ix.Delete(testKey(uint32(i))); got != conns[i] {
			t.Fatalf("Delete(key %d) = %p, want %p", i, got, conns[i])
		}
	}
	if got := ix.Delete(testKey(0)); got != nil {
		t.Errorf("second Delete = %p, want nil", got)
	}
	for i, c := range conns {
		k := testKey(uint32(i))
		want := c
		if i%2 == 0 {
			want = nil
		}
		if got := ix.Lookup(&k); got != want {
			t.Fatalf("after deletes, Lookup(key %d) = %p, want %p", i, got, want)
		}
	}
	// Reinsert with new pointers.
	for i := 0; i < len(conns); i += 2 {
		conns[i] = &conn{id: i, gen: 1}
		if err := ix.Insert(testKey(uint32(i)), conns[i], 0); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range conns {
		k := testKey(uint32(i))
		if got := ix.LookupTouch(&k, 5); got != c {
			t.Fatalf("after reinsert, LookupTouch(key %d) = %p, want %p", i, got, c)
		}
	}
	if ix.Len() != len(conns) || ix.Stats().Entries != uint64(len(conns)) {
		t.Errorf("Len %d, Stats %+v; want %d entries", ix.Len(), ix.Stats(), len(conns))
	}
	ix.check(t)
}

func TestIndexConfig(t *testing.T) {
	_, err := NewIndex[conn](Config{Capacity: 8, OnRemove: func(Key, uint64, RemoveReason) {}}, nil)
	if !errors.Is(err, ErrConfig) {
		t.Errorf("Config.OnRemove set: %v, want ErrConfig", err)
	}
	if _, err := NewIndex[conn](Config{}, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("Capacity 0: %v, want ErrConfig", err)
	}
}

// TestIndexFull fills a one-bucket index: FullRefuse refuses the ninth key
// and keeps the slab as it was; FullEvictOldest evicts the oldest key,
// frees its entry and reports its pointer.
func TestIndexFull(t *testing.T) {
	for _, policy := range []FullPolicy{FullRefuse, FullEvictOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			var evicted []*conn
			ix := newIndex(t, Config{Capacity: BucketSlots, Full: policy},
				func(_ Key, c *conn, why RemoveReason) {
					if why != RemoveEvicted {
						t.Errorf("reason %v, want evicted", why)
					}
					evicted = append(evicted, c)
				})
			conns := make([]*conn, BucketSlots+1)
			for i := range conns {
				conns[i] = &conn{id: i}
			}
			for i := range BucketSlots {
				if err := ix.Insert(testKey(uint32(i)), conns[i], int64(10+i)); err != nil {
					t.Fatal(err)
				}
			}
			ix.check(t)
			k := testKey(BucketSlots)
			err := ix.Insert(k, conns[BucketSlots], 100)
			ix.check(t)
			k0 := testKey(0)
			switch policy {
			case FullRefuse:
				if !errors.Is(err, ErrFull) || ix.Lookup(&k) != nil || ix.Lookup(&k0) != conns[0] {
					t.Errorf("Insert into a full index: %v, want ErrFull and nothing changed", err)
				}
			case FullEvictOldest:
				if err != nil || ix.Lookup(&k) != conns[BucketSlots] || ix.Lookup(&k0) != nil {
					t.Errorf("Insert into a full index: %v, want key 0 evicted and the new key in", err)
				}
				if len(evicted) != 1 || evicted[0] != conns[0] {
					t.Errorf("evicted %v, want [%p]", evicted, conns[0])
				}
			}
			if ix.Len() != BucketSlots {
				t.Errorf("Len %d, want %d", ix.Len(), BucketSlots)
			}
		})
	}
}

// TestIndexSlotReuse plays a reader that took its snapshot of a key's slot
// (serial and slot) and then stalled while the writer deleted the key and
// filled the slot with another: it must get nil, not the other key's
// pointer.
func TestIndexSlotReuse(t *testing.T) {
	ix := newIndex(t, Config{Capacity: 64}, nil)
	// Two keys with the same preferred slot: the second takes the slot the
	// first one left.
	slotOf := func(k Key) uint64 {
		w := wordsOf(&k)
		h := w.hash(ix.t.seed)
		return h&ix.t.mask*BucketSlots + prefOf(h)
	}
	ka := testKey(1)
	kb := testKey(2)
	for i := uint32(3); slotOf(kb) != slotOf(ka); i++ {
		kb = testKey(i)
	}
	a, b := &conn{id: 1}, &conn{id: 2}
	if err := ix.Insert(ka, a, 0); err != nil {
		t.Fatal(err)
	}
	w := wordsOf(&ka)
	va, sa := ix.t.lookup(&w, w.hash(ix.t.seed))
	if sa != &ix.t.slots[slotOf(ka)] {
		t.Fatal("key a is not in its preferred slot")
	}
	if got := ix.load(va, sa); got != a {
		t.Fatalf("load = %p, want %p", got, a)
	}
	if ix.Delete(ka) != a {
		t.Fatal("Delete did not return the inserted pointer")
	}
	if got := ix.load(va, sa); got != nil {
		t.Errorf("load of a deleted key's snapshot = %p, want nil", got)
	}
	if err := ix.Insert(kb, b, 0); err != nil {
		t.Fatal(err)
	}
	if ix.t.ptr(int(slotOf(kb))) != unsafe.Pointer(b) {
		t.Fatal("key b did not take key a's slot")
	}
	if got := ix.load(va, sa); got != nil {
		t.Errorf("load of a stale snapshot after reuse = %p (b is %p), want nil", got, b)
	}
	if got := ix.Lookup(&kb); got != b {
		t.Errorf("Lookup = %p, want %p", got, b)
	}
	ix.check(t)
}

func TestIndexAll(t *testing.T) {
	ix := newIndex(t, Config{Capacity: 256}, nil)
	want := map[Key]*conn{}
	for i := range 100 {
		k, c := testKey(uint32(i)), &conn{id: i}
		want[k] = c
		if err := ix.Insert(k, c, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		delete(want, testKey(uint32(i)))
		ix.Delete(testKey(uint32(i)))
	}
	got := map[Key]*conn{}
	for k, c := range ix.All() {
		got[k] = c
	}
	if len(got) != len(want) {
		t.Fatalf("All gave %d keys, want %d", len(got), len(want))
	}
	for k, c := range want {
		if got[k] != c {
			t.Errorf("All: %v = %p, want %p", k, got[k], c)
		}
	}
	n := 0
	for range ix.All() {
		if n++; n == 3 {
			break
		}
	}
}

// TestIndexSweep expires keys through Sweep: their slab entries are freed
// and their pointers reported; a key moved to a class that never expires
// stays.
func TestIndexSweep(t *testing.T) {
	expired := map[*conn]bool{}
	ix := newIndex(t, Config{Capacity: 256, IdleTimeouts: []int64{10, 0}},
		func(k Key, c *conn, why RemoveReason) {
			if why != RemoveExpired || k != testKey(uint32(c.id)) {
				t.Errorf("OnRemove(%v, %+v, %v): want the key's own conn, expired", k, c, why)
			}
			expired[c] = true
		})
	conns := make([]*conn, 40)
	for i := range conns {
		conns[i] = &conn{id: i}
		if err := ix.Insert(testKey(uint32(i)), conns[i], int64(100*(i%2))); err != nil {
			t.Fatal(err)
		}
	}
	if err := ix.SetClass(testKey(0), 1, 0); err != nil {
		t.Fatal(err)
	}
	if got := ix.Sweep(105, ix.Cap()/BucketSlots); got != 19 {
		t.Errorf("Sweep removed %d, want 19", got)
	}
	for i, c := range conns {
		k := testKey(uint32(i))
		gone := i%2 == 0 && i != 0
		if got := ix.Lookup(&k); (got == nil) != gone || expired[c] != gone {
			t.Errorf("key %d: Lookup %p, reported %v; want gone %v", i, got, expired[c], gone)
		}
	}
	ix.check(t) // the expired keys' pointers are cleared
}

func TestIndexNoAllocations(t *testing.T) {
	ix := newIndex(t, Config{Capacity: 4096, IdleTimeouts: []int64{10}}, nil)
	keys := make([]Key, 1000)
	conns := make([]conn, len(keys))
	for i := range keys {
		keys[i] = testKey(uint32(i))
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		j := i % len(keys)
		i++
		k := keys[j] // a local, as the demux's key: Lookup must not move it to the heap
		_ = ix.Insert(k, &conns[j], int64(i))
		ix.Lookup(&k)
		ix.LookupTouch(&k, int64(i))
		ix.Delete(k)
		ix.Lookup(&k)
		ix.Sweep(int64(i), 4)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per insert/lookup/delete/sweep, want 0", allocs)
	}
}

// TestIndexConcurrentReaders runs one writer that inserts, deletes, sweeps
// and evicts in a tiny index (so slots are reused all the time) against
// readers (Lookup, LookupTouch, LookupBatch, Prefetch). Each inserted conn
// is new and records its key index and generation before Insert publishes
// it; a reader checks that a pointer it gets for key idx is a conn of key
// idx, of a generation announced for it. Pinned keys (under FullRefuse)
// must always be found, with their one pointer. Run it under -race.
func TestIndexConcurrentReaders(t *testing.T) {
	for _, policy := range []FullPolicy{FullRefuse, FullEvictOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			indexReaders(t, policy)
		})
	}
}

func indexReaders(t *testing.T, policy FullPolicy) {
	const (
		nkeys   = 48
		readers = 3
		runFor  = 300 * time.Millisecond
	)
	pinned := 4
	if policy == FullEvictOldest {
		pinned = 0
	}
	keys := make([]Key, nkeys)
	for i := range keys {
		keys[i] = KeyFrom4([4]byte{198, 18, 0, byte(i % 4)}, [4]byte{198, 18, 1, 1}, uint16(1000+i/4), 53, 17)
	}
	ix := newIndex(t, Config{Capacity: 32, MaxProbe: 4, Full: policy, IdleTimeouts: []int64{2000, 0}}, nil)
	pins := make([]*conn, pinned)
	for i := range pins {
		pins[i] = &conn{id: i}
		if err := ix.Insert(keys[i], pins[i], 0); err != nil {
			t.Fatal(err)
		}
		if err := ix.SetClass(keys[i], 1, 0); err != nil {
			t.Fatal(err)
		}
	}
	var next [nkeys]atomic.Uint32
	var stop atomic.Bool
	var hits, misses atomic.Uint64
	var wg sync.WaitGroup
	errs := make(chan string, readers)
	for r := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			for n := 0; !stop.Load(); n++ {
				idx := rng.IntN(nkeys)
				var c *conn
				switch n % 4 {
				case 0:
					c = ix.Lookup(&keys[idx])
				case 1:
					c = ix.LookupTouch(&keys[idx], int64(n))
				case 2:
					var out [2]*conn
					ix.LookupBatch([]Key{keys[idx], keys[(idx+1)%nkeys]}, out[:])
					c = out[0]
				default:
					ix.Prefetch(keys[idx : idx+1])
					c = ix.Lookup(&keys[idx])
				}
				if c == nil {
					misses.Add(1)
					if idx < pinned {
						errs <- "a pinned key was not found"
						return
					}
					continue
				}
				hits.Add(1)
				if c.id != idx || c.gen > next[idx].Load() || idx < pinned && c != pins[idx] {
					errs <- fmt.Sprintf("key %d: conn of key %d generation %d, announced %d",
						idx, c.id, c.gen, next[idx].Load())
					return
				}
			}
		})
	}
	rng := rand.New(rand.NewPCG(99, uint64(policy)))
	now := int64(0)
	insert := func(idx int) {
		g := next[idx].Load() + 1
		next[idx].Store(g)
		_ = ix.Insert(keys[idx], &conn{id: idx, gen: g}, now)
	}
	deadline := time.Now().Add(runFor)
	starved := func() bool {
		return (hits.Load() == 0 || misses.Load() == 0) && time.Now().Before(deadline.Add(20*time.Second))
	}
	ops := 0
	for ; ops < 20 || time.Now().Before(deadline) || starved(); ops++ {
		for i := 0; i < 4*nkeys && ix.Len() < ix.Cap(); i++ {
			insert(pinned + rng.IntN(nkeys-pinned))
		}
		insert(pinned + rng.IntN(nkeys-pinned))
		for range 64 {
			idx := pinned + rng.IntN(nkeys-pinned)
			now++
			switch rng.IntN(6) {
			case 0, 1, 2:
				insert(idx)
			case 3, 4:
				ix.Delete(keys[idx])
			case 5:
				now += 100
				ix.Sweep(now, 2)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	ix.check(t)
	st := ix.Stats()
	t.Logf("%d writer rounds, reader hits %d misses %d, stats %+v", ops, hits.Load(), misses.Load(), st)
	if st.Deletes == 0 || st.Expired == 0 {
		t.Errorf("the run did not exercise deletes and expiry: %+v", st)
	}
	if policy == FullRefuse && st.FullRefusals == 0 || policy == FullEvictOldest && st.Evictions == 0 {
		t.Errorf("the run never filled a window: %+v", st)
	}
}
