package flowtable

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentReaders runs one writer that inserts, updates, deletes,
// sweeps and evicts in a tiny table (so slots are reused all the time)
// against several readers, for a bounded time. Run it under -race.
//
// Values are key index << 32 | generation. The writer announces a
// generation in next[idx] before it stores it, and generations of a key
// only grow, so a reader that sees value v for key idx checks that v's key
// index is idx (not another key's value, not a mix of two entries) and that
// its generation is at most next[idx] (a value that was written for idx).
// The keys differ in their first and last key words, so a torn key read
// that mixed two entries would look like a third valid key. Under
// FullRefuse, pinned keys are inserted first and never touched again: every
// lookup of them must hit with their exact value.
func TestConcurrentReaders(t *testing.T) {
	for _, policy := range []FullPolicy{FullRefuse, FullEvictOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			concurrentReaders(t, policy)
		})
		// The same on a table in mapped memory (see memory.go).
		t.Run(policy.String()+"/mapped", func(t *testing.T) {
			withMapMin(t, 1)
			concurrentReaders(t, policy)
		})
	}
}

func concurrentReaders(t *testing.T, policy FullPolicy) {
	const (
		nkeys   = 48
		readers = 3
		runFor  = 400 * time.Millisecond
	)
	pinned := 4 // FullEvictOldest may evict any key: nothing is pinned there
	if policy == FullEvictOldest {
		pinned = 0
	}
	keys := make([]Key, nkeys)
	for i := range keys {
		keys[i] = KeyFrom4([4]byte{198, 18, 0, byte(i % 4)}, [4]byte{198, 18, 1, 1}, uint16(1000+i/4), 53, 17)
	}
	tbl := newTable(t, Config{Capacity: 32, MaxProbe: 4, Full: policy,
		IdleTimeouts: []int64{2000, 0}}) // class 1 never expires
	if want := mapMinBytes <= 1; tbl.Stats().Mapped != want {
		t.Fatalf("Stats().Mapped = %v, want %v", !want, want)
	}
	for i := range pinned {
		if err := tbl.Insert(keys[i], uint64(i)<<32, 1, 0); err != nil {
			t.Fatal(err)
		}
	}
	var next [nkeys]atomic.Uint32 // generation announced per key
	var stop atomic.Bool
	var wg sync.WaitGroup
	var hits, misses atomic.Uint64
	errs := make(chan string, readers)
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			var h, m uint64
			defer func() { hits.Add(h); misses.Add(m) }()
			for n := 0; !stop.Load(); n++ {
				idx := rng.IntN(nkeys)
				var v uint64
				var ok bool
				switch n % 4 {
				case 0:
					v, ok = tbl.LookupTouch(keys[idx], int64(n))
				case 1:
					var vs [2]uint64
					var fs [2]bool
					tbl.LookupBatch([]Key{keys[idx], keys[(idx+1)%nkeys]}, vs[:], fs[:])
					v, ok = vs[0], fs[0]
				default:
					v, ok = tbl.Lookup(keys[idx])
				}
				if n%1024 == 0 {
					_ = tbl.Stats()
					_ = tbl.Len()
					hits.Add(h) // progress, for the writer's loop
					misses.Add(m)
					h, m = 0, 0
				}
				if !ok {
					m++
					if idx < pinned {
						errs <- "a pinned key was not found"
						return
					}
					continue
				}
				h++
				gen := uint32(v)
				if int(v>>32) != idx || gen > next[idx].Load() || (idx < pinned && gen != 0) {
					errs <- fmt.Sprintf("key %d: value of key %d generation %d, announced %d",
						idx, v>>32, gen, next[idx].Load())
					return
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(99, uint64(policy)))
	now := int64(0)
	deadline := time.Now().Add(runFor)
	var ops int
	insert := func(idx int) {
		g := next[idx].Load() + 1
		next[idx].Store(g) // announce before the value can be seen
		_ = tbl.Insert(keys[idx], uint64(idx)<<32|uint64(g), 0, now)
	}
	// Run for runFor, and on a starved machine until the readers have seen
	// both hits and misses (at most 20 s more).
	starved := func() bool {
		return (hits.Load() == 0 || misses.Load() == 0) && time.Now().Before(deadline.Add(20*time.Second))
	}
	for ; ops < 20 || time.Now().Before(deadline) || starved(); ops++ {
		// Fill the table and go one past full: a refusal or an eviction
		// every round.
		for i := 0; i < 4*nkeys && tbl.Len() < tbl.Cap(); i++ {
			insert(pinned + rng.IntN(nkeys-pinned))
		}
		insert(pinned + rng.IntN(nkeys-pinned))
		for range 64 {
			idx := pinned + rng.IntN(nkeys-pinned)
			now++
			switch rng.IntN(8) {
			case 0, 1, 2:
				insert(idx)
			case 3:
				g := next[idx].Load() + 1
				next[idx].Store(g)
				_ = tbl.Update(keys[idx], uint64(idx)<<32|uint64(g))
			case 4, 5:
				_, _ = tbl.Delete(keys[idx])
			case 6:
				now += 100 // idle keys age out now and then
				tbl.Sweep(now, 2)
			case 7:
				_ = tbl.SetClass(keys[idx], Class(rng.IntN(2)), now)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	tbl.check(t)
	st := tbl.Stats()
	t.Logf("%d writer rounds of 64 ops, reader hits %d misses %d, stats %+v", ops, hits.Load(), misses.Load(), st)
	if hits.Load() == 0 || misses.Load() == 0 || st.Deletes == 0 || st.Expired == 0 {
		t.Errorf("the run did not exercise hits, misses, deletes and expiry: hits %d misses %d stats %+v", hits.Load(), misses.Load(), st)
	}
	if policy == FullRefuse && st.FullRefusals == 0 || policy == FullEvictOldest && st.Evictions == 0 {
		t.Errorf("the run never filled a window: %+v", st)
	}
}
