package flowtable

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// BenchmarkDemux measures what a TCP worker pays to find a segment's
// connection: an Index[conn] against the Go map[Key]*conn it replaces, side
// by side, at 1k, 100k and 1M connections. Both hold the same keys (four
// server addresses, ports 80 and 443, random client addresses and ports)
// pointing to the same conns; each op looks up one live key, in a
// precomputed random order, and reads a field of the conn, as the demux
// then does.
//
// With lookups=independent the next key does not depend on the conn read,
// so the CPU overlaps the cache misses of consecutive lookups (what a tight
// loop over a burst could get). With lookups=dependent the next key's index
// depends on a field of the conn (always 0), so every lookup waits for the
// one before: the cost of one demux when the segment's processing sits
// between two lookups, as in the worker, which is the figure to compare.
//
// bytes/entry is the structure's memory per connection, not counting the
// conns: the map's measured with runtime.MemStats around its build, grown
// from empty as the worker's is; the index's from its sizes (Index.Bytes),
// with the table's capacity n*8/7 rounded up to a power of two.
//
//	go test ./flowtable -run '^$' -bench Demux -benchtime 2000000x -count 3
func BenchmarkDemux(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		for _, dep := range []bool{false, true} {
			name := fmt.Sprintf("conns=%dk/lookups=%s", n/1000, map[bool]string{false: "independent", true: "dependent"}[dep])
			b.Run(name+"/impl=index", func(b *testing.B) {
				s := demuxFor(n)
				b.ReportAllocs()
				keys, ix := s.order, s.ix
				i, sum := 0, uint32(0)
				for b.Loop() {
					c := ix.Lookup(&keys[i]) // a miss would fault: nil
					sum += c.rcvNxt
					if dep {
						i += int(c.state)
					}
					if i++; i >= len(keys) {
						i = 0
					}
				}
				s.sink += sum
				b.ReportMetric(s.ixBytes, "bytes/entry")
			})
			b.Run(name+"/impl=map", func(b *testing.B) {
				s := demuxFor(n)
				b.ReportAllocs()
				keys, m := s.order, s.m
				i, sum := 0, uint32(0)
				for b.Loop() {
					c := m[keys[i]]
					sum += c.rcvNxt
					if dep {
						i += int(c.state)
					}
					if i++; i >= len(keys) {
						i = 0
					}
				}
				s.sink += sum
				b.ReportMetric(s.mapBytes, "bytes/entry")
			})
		}
	}
}

// demuxConn stands in for a connection (48 bytes): its key and the fields
// the demux reads.
type demuxConn struct {
	key    Key
	rcvNxt uint32
	state  uint8
}

// demuxSetup is one size's structures, built once per process and shared
// by both sub-benchmarks and every -count round.
type demuxSetup struct {
	order             []Key // the live keys in lookup order
	ix                *Index[demuxConn]
	m                 map[Key]*demuxConn
	ixBytes, mapBytes float64 // per entry
	sink              uint32
}

var demuxSetups = map[int]func() *demuxSetup{}

func demuxFor(n int) *demuxSetup {
	f, ok := demuxSetups[n]
	if !ok {
		f = sync.OnceValue(func() *demuxSetup { return newDemuxSetup(n) })
		demuxSetups[n] = f
	}
	return f()
}

// demuxKeys returns n distinct keys of connections to a few server
// endpoints from random clients, in random order.
func demuxKeys(n int, rng *rand.Rand) []Key {
	servers := [][4]byte{{198, 18, 0, 1}, {198, 18, 0, 2}, {198, 18, 0, 3}, {198, 18, 0, 4}}
	ports := []uint16{80, 443}
	seen := make(map[Key]struct{}, n)
	keys := make([]Key, 0, n)
	for len(keys) < n {
		var client [4]byte
		a := rng.Uint32()
		client[0], client[1], client[2], client[3] = byte(a>>24), byte(a>>16), byte(a>>8), byte(a)
		k := KeyFrom4(client, servers[rng.IntN(len(servers))],
			uint16(1024+rng.IntN(65536-1024)), ports[rng.IntN(len(ports))], 6)
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			keys = append(keys, k)
		}
	}
	return keys
}

func newDemuxSetup(n int) *demuxSetup {
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	keys := demuxKeys(n, rng)
	conns := make([]*demuxConn, n) // one allocation each, as a worker's
	for i, k := range keys {
		conns[i] = &demuxConn{key: k, rcvNxt: uint32(i)}
	}
	s := &demuxSetup{order: append([]Key(nil), keys...)}
	rng.Shuffle(n, func(i, j int) { s.order[i], s.order[j] = s.order[j], s.order[i] })

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s.m = map[Key]*demuxConn{}
	for i, k := range keys {
		s.m[k] = conns[i]
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	s.mapBytes = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)

	var err error
	s.ix, err = NewIndex[demuxConn](Config{Capacity: n * 8 / 7}, nil)
	if err != nil {
		panic(err)
	}
	for i, k := range keys {
		if err := s.ix.Insert(k, conns[i], 0); err != nil {
			panic(fmt.Sprintf("insert %d of %d: %v", i, n, err))
		}
	}
	s.ixBytes = float64(s.ix.Bytes()) / float64(n)
	return s
}
