package lb

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/memlat"
)

// BenchmarkConntrack measures connection tracking at one worker's scale:
// an Index[flow] sized as AddWorker sizes a worker's table for 1M flows,
// holding 1M NAT flows (two keys each, the client's and the backend's
// reply: 2M keys, half the slots), looked up in a random order (seeded) by
// bursts of 64 keys, as a worker receives them, each lookup followed by
// the reads of the record Forward makes first (backend, NAT port). No
// forwarder and no packets: the table's part of the datapath alone. The
// burst's keys are copied into a scratch array first, as the forwarder
// builds them. Side by side in one run:
//
//   - memory/chains1 and memory/chains8: package memlat's pointer chasing
//     through 128 MiB in huge pages (as flowtable's BenchmarkMemoryLatency),
//     the latency of one dependent DRAM access, and the time per access
//     with eight chains overlapped, the memory-level-parallel limit;
//   - unbatched: LookupTouch of each key in turn;
//   - batched: Index.Prefetch of the burst, then LookupTouch of each key,
//     as a worker does with the balancer's burst pre-pass (prefetch.go);
//     x-chains8 is its time per lookup over the chains8 figure of the same
//     round;
//   - lookupbatch: Index.LookupBatch of the burst, for comparison.
//
// One op is a burst; ns/lookup is per key; nothing allocates.
//
//	go test -run '^$' -bench Conntrack -benchtime 200ms -count 5 ./lb
func BenchmarkConntrack(b *testing.B) {
	s := getConntrackSetup()
	var chains8 float64
	b.Run("memory/chains1", func(b *testing.B) { s.mem.Bench(b, 1) })
	b.Run("memory/chains8", func(b *testing.B) { chains8 = s.mem.Bench(b, memlat.MaxChains) })
	// bursts runs lookup over the bursts for b's iterations and reports
	// ns/lookup.
	bursts := func(b *testing.B, lookup func(burst []flowtable.Key, now int64) uint64) float64 {
		b.ReportAllocs()
		var burst [ctBurst]flowtable.Key
		i, sum := 0, uint64(0)
		for b.Loop() {
			if i+ctBurst > len(s.order) {
				i = 0
			}
			copy(burst[:], s.order[i:])
			sum += lookup(burst[:], int64(i))
			i += ctBurst
		}
		if sum == 0 {
			b.Fatal("no flow found")
		}
		sinkConntrack += sum
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*ctBurst)
		b.ReportMetric(ns, "ns/lookup")
		return ns
	}
	ix := s.ix
	b.Run("unbatched", func(b *testing.B) {
		bursts(b, func(burst []flowtable.Key, now int64) (sum uint64) {
			for j := range burst {
				fl := ix.LookupTouch(&burst[j], now)
				sum += uint64(fl.snatPort) + uint64(fl.be.port)
			}
			return sum
		})
	})
	b.Run("batched", func(b *testing.B) {
		ns := bursts(b, func(burst []flowtable.Key, now int64) (sum uint64) {
			ix.Prefetch(burst)
			for j := range burst {
				fl := ix.LookupTouch(&burst[j], now)
				sum += uint64(fl.snatPort) + uint64(fl.be.port)
			}
			return sum
		})
		if chains8 > 0 {
			b.ReportMetric(ns/chains8, "x-chains8")
		}
	})
	var out [ctBurst]*flow
	b.Run("lookupbatch", func(b *testing.B) {
		bursts(b, func(burst []flowtable.Key, now int64) (sum uint64) {
			ix.LookupBatch(burst, out[:])
			for _, fl := range out {
				sum += uint64(fl.snatPort) + uint64(fl.be.port)
			}
			return sum
		})
	})
}

const (
	ctFlows = 1 << 20 // per worker
	ctBurst = 64      // the worker's receive burst
)

var sinkConntrack uint64

type conntrackSetup struct {
	ix    *flowtable.Index[flow]
	order []flowtable.Key // every key of every flow, in random order
	mem   *memlat.Buffer
}

// getConntrackSetup builds the table once per process (every -count round
// shares it): about 600 MiB with the records, the lookup order and the
// memlat buffer.
var getConntrackSetup = sync.OnceValue(func() *conntrackSetup {
	rng := rand.New(rand.NewPCG(14, 1))
	ix, err := flowtable.NewIndex[flow](flowtable.Config{
		Capacity:     2*ctFlows + ctFlows/4, // as AddWorker: a NAT flow has two keys
		IdleTimeouts: []int64{0, 1, 2, 3, 4},
		Rand:         rng,
	}, nil)
	if err != nil {
		panic(err)
	}
	const nBackends = 16
	bes := make([]*backend, nBackends)
	for i := range bes {
		bes[i] = &backend{addr: [4]byte{198, 18, 1, byte(10 + i)}, port: 8080}
	}
	snat := [4]byte{198, 18, 0, 1}
	vip := [4]byte{198, 18, 0, 100}
	s := &conntrackSetup{order: make([]flowtable.Key, 0, 2*ctFlows)}
	for i := 0; i < ctFlows; {
		client := [4]byte{198, 18 + byte(rng.IntN(2)), byte(rng.IntN(256)), byte(rng.IntN(256))}
		cport := uint16(1024 + rng.IntN(64512))
		fwd := flowtable.KeyFrom4(client, vip, cport, 80, header.ProtocolTCP)
		be := bes[i%nBackends]
		port := uint16(i / nBackends) // unique per backend: 65536 each
		rev := flowtable.KeyFrom4(be.addr, snat, be.port, port, header.ProtocolTCP)
		fl := &flow{be: be, client: client, cport: cport, vport: 80, snatPort: port,
			proto: header.ProtocolTCP, fwd: fwd, rev: rev}
		if ix.Insert(fwd, fl, 0) != nil {
			continue // a client tuple drawn twice
		}
		if err := ix.Insert(rev, fl, 0); err != nil {
			panic(err)
		}
		s.order = append(s.order, fwd, rev)
		i++
	}
	if !ix.Stats().Mapped {
		panic("the connection table did not get a huge-page mapping")
	}
	rng.Shuffle(len(s.order), func(i, j int) { s.order[i], s.order[j] = s.order[j], s.order[i] })
	if s.mem, err = memlat.New(128<<20, true, 7); err != nil {
		panic(err)
	}
	s.ix = ix
	return s
})
