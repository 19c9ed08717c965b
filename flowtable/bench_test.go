package flowtable_test

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/xdpengine/engine/flowtable"
)

// The benchmarks compare the flow table with sync.Map and an RWMutex-guarded
// Go map, side by side in one run, at one million live flows (xsync.Map, a
// third-party baseline, runs beside the flow table and the RWMutex map in
// the module bench/baselines, package flowmaps, so that the engine's go.mod
// does not require it).
// Keys are visited in a precomputed random order, so most lookups miss the
// CPU caches, as they do with real traffic over a large flow set.
//
//	go test -run '^$' -bench . -benchtime 200ms -count 5 ./flowtable

const benchFlows = 1 << 20 // live flows

// benchKey returns distinct keys for distinct i < 2^32.
func benchKey(i uint32) flowtable.Key {
	return flowtable.KeyFrom4([4]byte{198, 18 + byte(i>>31), byte(i >> 24), byte(i >> 16)},
		[4]byte{198, 19, 0, 1}, uint16(i), 443, 6)
}

// shuffledKeys returns keys first..first+n-1 in random order.
func shuffledKeys(first, n int, seed uint64) []flowtable.Key {
	keys := make([]flowtable.Key, n)
	for i := range keys {
		keys[i] = benchKey(uint32(first + i))
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	rng.Shuffle(n, func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	return keys
}

// lookupSetup holds the four maps filled with the same benchFlows keys.
type lookupSetup struct {
	hits, misses []flowtable.Key  // live keys, absent keys; both shuffled
	table        *flowtable.Table // huge-page mapping (the default)
	heapTable    *flowtable.Table // the same on the Go heap (NoHugePages)
	syncMap      *sync.Map
	rw           *rwMap
}

type rwMap struct {
	mu sync.RWMutex
	m  map[flowtable.Key]uint64
}

func (m *rwMap) load(k flowtable.Key) (uint64, bool) {
	m.mu.RLock()
	v, ok := m.m[k]
	m.mu.RUnlock()
	return v, ok
}

// getLookupSetup builds the maps with benchFlows keys once per process:
// every sub-benchmark and every -count round shares them.
var getLookupSetup = sync.OnceValue(func() *lookupSetup { return newLookupSetup(benchFlows) })

// smallFlows is the cache-resident case: the tables fit in the CPU caches,
// so its figures are the CPU cost of a lookup (hashing, probing, comparing)
// without the DRAM latency that dominates at benchFlows.
const smallFlows = 1 << 12

var getSmallSetup = sync.OnceValue(func() *lookupSetup { return newLookupSetup(smallFlows) })

// newLookupSetup fills the maps with n keys.
func newLookupSetup(n int) *lookupSetup {
	// Insert in one random order, look up in another: maps that allocate
	// an entry per key (sync.Map) lay entries out in insertion
	// order, and looking up in that same order would walk memory
	// sequentially.
	insert := shuffledKeys(0, n, 1)
	s := &lookupSetup{
		hits:    shuffledKeys(0, n, 4),
		misses:  shuffledKeys(n, n, 2),
		syncMap: new(sync.Map),
		rw:      &rwMap{m: make(map[flowtable.Key]uint64, n)},
	}
	var err error
	s.table, err = flowtable.New(flowtable.Config{Capacity: 2 * n})
	if err != nil {
		panic(err)
	}
	if n >= benchFlows && !s.table.Stats().Mapped {
		panic("the benchmark table did not get a huge-page mapping")
	}
	s.heapTable, err = flowtable.New(flowtable.Config{Capacity: 2 * n, NoHugePages: true})
	if err != nil {
		panic(err)
	}
	for i, k := range insert {
		v := uint64(i)
		if err := s.table.Insert(k, v, 0, 0); err != nil {
			panic(err)
		}
		if err := s.heapTable.Insert(k, v, 0, 0); err != nil {
			panic(err)
		}
		s.syncMap.Store(k, v)
		s.rw.m[k] = v
	}
	return s
}

// BenchmarkLookup1M: one million live flows, looked up in random order; the
// tables are far larger than the CPU caches.
func BenchmarkLookup1M(b *testing.B) { benchLookup(b, getLookupSetup()) }

// BenchmarkLookup4k: 4096 live flows, the same access pattern; everything is
// cache-resident.
func BenchmarkLookup4k(b *testing.B) { benchLookup(b, getSmallSetup()) }

// benchLookup runs every implementation over the same keys in the same
// order: hits (live keys) and misses (absent keys).
func benchLookup(b *testing.B, s *lookupSetup) {
	impls := []struct {
		name   string
		lookup func(flowtable.Key) (uint64, bool)
	}{
		{"flowtable", s.table.Lookup},
		{"flowtable-goheap", s.heapTable.Lookup},
		{"syncmap", func(k flowtable.Key) (uint64, bool) {
			v, ok := s.syncMap.Load(k)
			if !ok {
				return 0, false
			}
			return v.(uint64), true
		}},
		{"rwmutexmap", s.rw.load},
	}
	for _, kind := range []struct {
		name string
		keys []flowtable.Key
		hit  bool
	}{{"hit", s.hits, true}, {"miss", s.misses, false}} {
		for _, impl := range impls {
			b.Run(kind.name+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				keys, lookup := kind.keys, impl.lookup
				i, found := 0, 0
				for b.Loop() {
					if _, ok := lookup(keys[i]); ok {
						found++
					}
					if i++; i == len(keys) {
						i = 0
					}
				}
				if want := map[bool]int{true: b.N}[kind.hit]; found != want {
					b.Fatalf("%d of %d lookups found a key, want %d", found, b.N, want)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/lookup")
			})
		}
		// LookupBatch over bursts of 32 keys, as a worker would after
		// parsing a burst of packets; one op is one burst.
		b.Run(kind.name+"/flowtable-batch32", func(b *testing.B) {
			b.ReportAllocs()
			const burst = 32
			var vals [burst]uint64
			var found [burst]bool
			keys, i, hits := kind.keys, 0, 0
			for b.Loop() {
				if i+burst > len(keys) {
					i = 0
				}
				hits += s.table.LookupBatch(keys[i:i+burst], vals[:], found[:])
				i += burst
			}
			if want := map[bool]int{true: burst * b.N}[kind.hit]; hits != want {
				b.Fatalf("%d of %d lookups found a key, want %d", hits, burst*b.N, want)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(burst*b.N), "ns/lookup")
		})
	}
	// LookupTouch with a clock that moves every 64 lookups (a burst).
	b.Run("hit/flowtable-touch", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := s.table.LookupTouch(s.hits[i], int64(i>>6)); !ok {
				b.Fatal("miss")
			}
			if i++; i == len(s.hits) {
				i = 0
			}
		}
	})
}

// BenchmarkLookup1MParallel runs hit lookups from GOMAXPROCS goroutines at
// once (each from its own place in the key order): readers of the flow table
// share no written memory, readers of the RWMutex map share the lock word.
func BenchmarkLookup1MParallel(b *testing.B) {
	s := getLookupSetup()
	impls := []struct {
		name   string
		lookup func(flowtable.Key) (uint64, bool)
	}{
		{"flowtable", s.table.Lookup},
		{"syncmap", func(k flowtable.Key) (uint64, bool) {
			v, ok := s.syncMap.Load(k)
			if !ok {
				return 0, false
			}
			return v.(uint64), true
		}},
		{"rwmutexmap", s.rw.load},
	}
	for _, impl := range impls {
		b.Run("hit/"+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			var start atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				i := int(start.Add(benchFlows/8)) % benchFlows
				for pb.Next() {
					if _, ok := impl.lookup(s.hits[i]); !ok {
						panic("miss")
					}
					if i++; i == benchFlows {
						i = 0
					}
				}
			})
		})
	}
}

// churner is a map under churn: benchFlows live keys, and each op deletes a
// random live key and inserts a new one (flows end in an order unrelated to
// the order they started in).
type churner interface {
	insert(k flowtable.Key, v uint64)
	delete(k flowtable.Key)
}

type tableChurn struct{ t *flowtable.Table }

func (c tableChurn) insert(k flowtable.Key, v uint64) {
	if err := c.t.Insert(k, v, 0, 0); err != nil {
		panic(err)
	}
}
func (c tableChurn) delete(k flowtable.Key) {
	if _, err := c.t.Delete(k); err != nil {
		panic(err)
	}
}

type syncMapChurn struct{ m *sync.Map }

func (c syncMapChurn) insert(k flowtable.Key, v uint64) { c.m.Store(k, v) }
func (c syncMapChurn) delete(k flowtable.Key)           { c.m.Delete(k) }

type rwChurn struct{ m *rwMap }

func (c rwChurn) insert(k flowtable.Key, v uint64) {
	c.m.mu.Lock()
	c.m.m[k] = v
	c.m.mu.Unlock()
}
func (c rwChurn) delete(k flowtable.Key) {
	c.m.mu.Lock()
	delete(c.m.m, k)
	c.m.mu.Unlock()
}

// churnState is one implementation's map, its live keys and the next fresh
// key number; it survives across -count rounds so the 1M-entry fill is paid
// once.
type churnState struct {
	c     churner
	live  []flowtable.Key
	fresh uint32
	pos   int
}

// churnVictims is a fixed random sequence of indexes into live.
var churnVictims = sync.OnceValue(func() []uint32 {
	rng := rand.New(rand.NewPCG(5, 6))
	v := make([]uint32, benchFlows)
	for i := range v {
		v[i] = uint32(rng.IntN(benchFlows))
	}
	return v
})

var churnStates = map[string]*churnState{}

func churnFor(name string, mk func() churner) *churnState {
	if st, ok := churnStates[name]; ok {
		return st
	}
	st := &churnState{c: mk(), live: shuffledKeys(0, benchFlows, 3), fresh: benchFlows}
	for i, k := range st.live {
		st.c.insert(k, uint64(i))
	}
	churnStates[name] = st
	return st
}

func BenchmarkChurn1M(b *testing.B) {
	impls := []struct {
		name string
		mk   func() churner
	}{
		{"flowtable", func() churner {
			t, err := flowtable.New(flowtable.Config{Capacity: 2 * benchFlows})
			if err != nil {
				panic(err)
			}
			return tableChurn{t}
		}},
		{"syncmap", func() churner { return syncMapChurn{new(sync.Map)} }},
		{"rwmutexmap", func() churner {
			return rwChurn{&rwMap{m: make(map[flowtable.Key]uint64, benchFlows)}}
		}},
	}
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) {
			st := churnFor(impl.name, impl.mk)
			victims := churnVictims()
			b.ReportAllocs()
			for b.Loop() {
				j := victims[st.pos]
				st.c.delete(st.live[j])
				k := benchKey(st.fresh)
				st.c.insert(k, uint64(st.fresh))
				st.live[j] = k
				st.fresh++
				if st.pos++; st.pos == len(victims) {
					st.pos = 0
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/mapop")
		})
	}
}
