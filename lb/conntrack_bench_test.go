package lb

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

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
//   - batched: Index.PrefetchHash of the burst, then LookupTouchHashed of
//     each key with the hash the pre-pass computed, as a worker does with
//     the balancer's burst pre-pass (prefetch.go); x-chains8 is its time
//     per lookup over the chains8 figure of the same round;
//   - rehash: Index.Prefetch, then LookupTouch (which hashes again);
//   - lookupbatch: Index.LookupBatch of the burst, for comparison;
//   - table4: the same keys in a flowtable.Table4 as the balancer keeps
//     its IPv4 flows (conntrack4.go): PrefetchHash of the burst, then
//     LookupTouchHashed of each key and the reads its translation starts
//     with (a client key: its backend from the registry, the NAT port; a
//     reply key: the client's address and port, the VIP from the
//     registry);
//   - table4+record: a Table4 whose values index a slab of flow records,
//     each read after its lookup.
//
// One op is a burst; ns/lookup is per key; nothing allocates.
//
//	go test -run '^$' -bench Conntrack -benchtime 200ms -count 5 ./lb
func BenchmarkConntrack(b *testing.B) {
	s := getConntrackSetup()
	var chains8, cpuChains8 float64
	b.Run("memory/chains1", func(b *testing.B) {
		defer onThread(b, 1)()
		s.mem.Bench(b, 1)
	})
	b.Run("memory/chains8", func(b *testing.B) {
		done := onThread(b, memlat.MaxChains)
		chains8 = s.mem.Bench(b, memlat.MaxChains)
		cpuChains8 = done()
	})
	bursts := func(b *testing.B, lookup func(burst []flowtable.Key, now int64) uint64) (float64, float64) {
		return runBursts(b, s.order, lookup)
	}
	// ratios reports a run's time per lookup over chains8's.
	ratios := func(b *testing.B, ns, cpu float64) {
		if chains8 > 0 && cpuChains8 > 0 {
			b.ReportMetric(ns/chains8, "x-chains8")
			b.ReportMetric(cpu/cpuChains8, "cpu-x-chains8")
		}
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
	var hs [ctBurst]uint64
	b.Run("batched", func(b *testing.B) {
		ns, cpu := bursts(b, func(burst []flowtable.Key, now int64) (sum uint64) {
			ix.PrefetchHash(burst, hs[:])
			for j := range burst {
				fl := ix.LookupTouchHashed(&burst[j], hs[j], now)
				sum += uint64(fl.snatPort) + uint64(fl.be.port)
			}
			return sum
		})
		ratios(b, ns, cpu)
	})
	b.Run("rehash", func(b *testing.B) {
		bursts(b, func(burst []flowtable.Key, now int64) (sum uint64) {
			ix.Prefetch(burst)
			for j := range burst {
				fl := ix.LookupTouch(&burst[j], now)
				sum += uint64(fl.snatPort) + uint64(fl.be.port)
			}
			return sum
		})
	})
	// table4: the keys as the balancer tracks IPv4 flows, each value all
	// its translation needs: one cache line a lookup, nothing behind it.
	// table4+record: the value is the index of the flow's record in a
	// slab (one []flow), which the lookup then reads: two lines.
	run4 := func(name string, t4 *flowtable.Table4, read func(v uint64, c flowtable.Class) uint64) {
		b.Run(name, func(b *testing.B) {
			ns, cpu := runBursts(b, s.order4, func(burst []flowtable.Key4, i int64) (sum uint64) {
				now := i << flowtable.StampShift
				t4.PrefetchHash(burst, hs[:])
				for j := range burst {
					if v, c, ok := t4.LookupTouchHashed(burst[j], hs[j], now); ok {
						sum += read(v, c)
					}
				}
				return sum
			})
			ratios(b, ns, cpu)
		})
	}
	run4("table4", s.t4, func(v uint64, c flowtable.Class) uint64 {
		if c == classReverse { // the client's address and port, the VIP's
			return uint64(s.vipReg.get(revVIP(v)).cfg.Port) + uint64(revCPort(v)) + uint64(revClient(v)[3])
		}
		return uint64(s.beReg.get(fwdBackend(v)).port) + uint64(fwdPort(v))
	})
	run4("table4+record", s.t4r, func(v uint64, _ flowtable.Class) uint64 {
		fl := &s.slab[v]
		return uint64(fl.snatPort) + uint64(fl.be.port)
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

// runBursts runs lookup over bursts of order's keys (copied into a
// scratch burst, as the forwarder builds them) for b's iterations, with
// the burst's offset as the clock, and reports ns/lookup and, through
// onThread, cpu-ns/lookup; it returns both.
func runBursts[K any](b *testing.B, order []K, lookup func(burst []K, now int64) uint64) (float64, float64) {
	b.ReportAllocs()
	var burst [ctBurst]K
	i, sum := 0, uint64(0)
	done := onThread(b, ctBurst)
	for b.Loop() {
		if i+ctBurst > len(order) {
			i = 0
		}
		copy(burst[:], order[i:])
		sum += lookup(burst[:], int64(i))
		i += ctBurst
	}
	if sum == 0 {
		b.Fatal("no flow found")
	}
	cpu := done()
	sinkConntrack += sum
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*ctBurst)
	b.ReportMetric(ns, "ns/lookup")
	return ns, cpu
}

const (
	ctFlows = 1 << 20 // per worker
	ctBurst = 64      // the worker's receive burst
)

var sinkConntrack uint64

// onThread locks the benchmark to its thread and starts measuring the
// thread's CPU time; the function it returns reports and returns it per
// op/per (as cpu-ns/lookup, or cpu-ns/access for per of memlat.MaxChains
// or 1). On this shared 2-core VM the wall clock also counts the time
// other processes hold the core: CPU time leaves that out (a stall on
// memory still counts), which makes a round's ratios far steadier.
func onThread(b *testing.B, per int) func() float64 {
	runtime.LockOSThread()
	t0 := threadNanos()
	return func() float64 {
		ns := float64(threadNanos()-t0) / float64(b.N*per)
		runtime.UnlockOSThread()
		unit := "cpu-ns/lookup"
		if per != ctBurst {
			unit = "cpu-ns/access"
		}
		b.ReportMetric(ns, unit)
		return ns
	}
}

// threadNanos returns the calling thread's CPU time.
func threadNanos() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}

type conntrackSetup struct {
	ix     *flowtable.Index[flow]
	order  []flowtable.Key // every key of every flow, in random order
	mem    *memlat.Buffer
	t4     *flowtable.Table4
	order4 []flowtable.Key4 // order's keys, packed
	vipReg *registry[vip]
	beReg  *registry[backend]
	t4r    *flowtable.Table4 // the keys to their flow's index in slab
	slab   []flow
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
	vip4 := [4]byte{198, 18, 0, 100}
	s := &conntrackSetup{order: make([]flowtable.Key, 0, 2*ctFlows)}
	for i := 0; i < ctFlows; {
		client := [4]byte{198, 18 + byte(rng.IntN(2)), byte(rng.IntN(256)), byte(rng.IntN(256))}
		cport := uint16(1024 + rng.IntN(64512))
		fwd := flowtable.KeyFrom4(client, vip4, cport, 80, header.ProtocolTCP)
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
	if s.t4, err = flowtable.NewTable4(flowtable.Config{Capacity: 2*ctFlows + ctFlows/4, IdleTimeouts: []int64{0, 1, 2, 3, 4},
		Rand: rng}, nil); err != nil {
		panic(err)
	}
	s.vipReg, s.beReg = newRegistry[vip](), newRegistry[backend]()
	v := &vip{cfg: VIP{Addr: netip.AddrFrom4(vip4), Port: 80}, tr: s.vipReg.track(1)}
	s.vipReg.publish(v.tr, v)
	for _, be := range bes {
		be.tr = s.beReg.track(1)
		s.beReg.publish(be.tr, be)
	}
	if s.t4r, err = flowtable.NewTable4(flowtable.Config{Capacity: 2*ctFlows + ctFlows/4, IdleTimeouts: []int64{0, 1, 2, 3, 4},
		Rand: rng}, nil); err != nil {
		panic(err)
	}
	s.slab = make([]flow, 0, ctFlows)
	slot := map[*flow]uint64{}
	for _, k := range s.order {
		k4 := flowtable.MakeKey4([4]byte(k.Src[12:]), [4]byte(k.Dst[12:]), k.SrcPort, k.DstPort, k.Proto)
		fl := ix.Lookup(&k)
		be := 0
		for be < nBackends && bes[be] != fl.be {
			be++
		}
		val, class := fwdValue(bes[be].tr.slot, fl.snatPort, v.tr.slot, true), classEstablished
		if k == fl.rev {
			val, class = revValue(fl.client, fl.cport, v.tr.slot), classReverse
		}
		if err := s.t4.Insert(k4, val, class, 0); err != nil {
			panic(err)
		}
		i, ok := slot[fl]
		if !ok {
			i = uint64(len(s.slab))
			slot[fl] = i
			s.slab = append(s.slab, *fl)
		}
		if err := s.t4r.Insert(k4, i, 0, 0); err != nil {
			panic(err)
		}
		s.order4 = append(s.order4, k4)
	}
	if !s.t4.Stats().Mapped {
		panic("the Table4 did not get a huge-page mapping")
	}
	if s.mem, err = memlat.New(128<<20, true, 7); err != nil {
		panic(err)
	}
	s.ix = ix
	return s
})
