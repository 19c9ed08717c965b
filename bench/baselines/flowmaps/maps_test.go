package flowmaps

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/puzpuzpuz/xsync/v4"
	"github.com/xdpengine/engine/flowtable"
)

const (
	bigFlows   = 1 << 20 // live flows, far more than the CPU caches hold
	smallFlows = 1 << 12 // cache-resident
)

// key returns distinct keys for distinct i < 2^32 (flowtable's benchKey).
func key(i uint32) flowtable.Key {
	return flowtable.KeyFrom4([4]byte{198, 18 + byte(i>>31), byte(i >> 24), byte(i >> 16)},
		[4]byte{198, 19, 0, 1}, uint16(i), 443, 6)
}

// shuffled returns keys first..first+n-1 in a random order fixed by seed.
func shuffled(first, n int, seed uint64) []flowtable.Key {
	keys := make([]flowtable.Key, n)
	for i := range keys {
		keys[i] = key(uint32(first + i))
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	rng.Shuffle(n, func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	return keys
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

func (m *rwMap) store(k flowtable.Key, v uint64) {
	m.mu.Lock()
	m.m[k] = v
	m.mu.Unlock()
}

func (m *rwMap) delete(k flowtable.Key) {
	m.mu.Lock()
	delete(m.m, k)
	m.mu.Unlock()
}

// impl is one map under test.
type impl struct {
	name   string
	lookup func(flowtable.Key) (uint64, bool)
	insert func(flowtable.Key, uint64)
	delete func(flowtable.Key)
}

// newImpls returns empty maps presized for n keys, in the order the
// benchmarks run them.
func newImpls(n int) []impl {
	t, err := flowtable.New(flowtable.Config{Capacity: 2 * n})
	if err != nil {
		panic(err)
	}
	rw := &rwMap{m: make(map[flowtable.Key]uint64, n)}
	xs := xsync.NewMap[flowtable.Key, uint64](xsync.WithPresize(n))
	return []impl{
		{"flowtable", t.Lookup,
			func(k flowtable.Key, v uint64) {
				if err := t.Insert(k, v, 0, 0); err != nil {
					panic(err)
				}
			},
			func(k flowtable.Key) {
				if _, err := t.Delete(k); err != nil {
					panic(err)
				}
			}},
		{"rwmutexmap", rw.load, rw.store, rw.delete},
		{"xsync", xs.Load, xs.Store, xs.Delete},
	}
}

// setup is every map filled with the same keys; hits and misses are
// shuffled in orders other than the insertion order, so that maps which
// allocate an entry per key do not get sequential memory walks.
type setup struct {
	hits, misses []flowtable.Key
	impls        []impl
}

func newSetup(n int) *setup {
	s := &setup{hits: shuffled(0, n, 4), misses: shuffled(n, n, 2), impls: newImpls(n)}
	for i, k := range shuffled(0, n, 1) {
		for _, m := range s.impls {
			m.insert(k, uint64(i))
		}
	}
	return s
}

var (
	bigSetup   = sync.OnceValue(func() *setup { return newSetup(bigFlows) })
	smallSetup = sync.OnceValue(func() *setup { return newSetup(smallFlows) })
)

func BenchmarkLookup1M(b *testing.B) { benchLookup(b, bigSetup()) }

func BenchmarkLookup4k(b *testing.B) { benchLookup(b, smallSetup()) }

func benchLookup(b *testing.B, s *setup) {
	for _, kind := range []struct {
		name string
		keys []flowtable.Key
		hit  bool
	}{{"hit", s.hits, true}, {"miss", s.misses, false}} {
		for _, m := range s.impls {
			b.Run(kind.name+"/"+m.name, func(b *testing.B) {
				b.ReportAllocs()
				keys, lookup := kind.keys, m.lookup
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
	}
}

// BenchmarkLookup1MParallel: hits from GOMAXPROCS goroutines at once, each
// from its own place in the key order.
func BenchmarkLookup1MParallel(b *testing.B) {
	s := bigSetup()
	for _, m := range s.impls {
		b.Run("hit/"+m.name, func(b *testing.B) {
			b.ReportAllocs()
			var start atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				i := int(start.Add(bigFlows/8)) % bigFlows
				for pb.Next() {
					if _, ok := m.lookup(s.hits[i]); !ok {
						panic("miss")
					}
					if i++; i == bigFlows {
						i = 0
					}
				}
			})
		})
	}
}

// churn is one map's live keys under churn; it survives -count rounds so
// that the fill is paid once.
type churn struct {
	m     impl
	live  []flowtable.Key
	fresh uint32
	pos   int
}

var churns = sync.OnceValue(func() []*churn {
	var out []*churn
	for _, m := range newImpls(bigFlows) {
		c := &churn{m: m, live: shuffled(0, bigFlows, 3), fresh: bigFlows}
		for i, k := range c.live {
			m.insert(k, uint64(i))
		}
		out = append(out, c)
	}
	return out
})

// victims is a fixed random sequence of indexes into churn.live.
var victims = sync.OnceValue(func() []uint32 {
	rng := rand.New(rand.NewPCG(5, 6))
	v := make([]uint32, bigFlows)
	for i := range v {
		v[i] = uint32(rng.IntN(bigFlows))
	}
	return v
})

// BenchmarkChurn1M: each op deletes a random live flow and inserts a new
// one (flows end in an order unrelated to the order they started in).
func BenchmarkChurn1M(b *testing.B) {
	vs := victims()
	for _, c := range churns() {
		b.Run(c.m.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				j := vs[c.pos]
				c.m.delete(c.live[j])
				k := key(c.fresh)
				c.m.insert(k, uint64(c.fresh))
				c.live[j] = k
				c.fresh++
				if c.pos++; c.pos == len(vs) {
					c.pos = 0
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/mapop")
		})
	}
}
