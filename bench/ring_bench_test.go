package bench

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/xdpengine/engine/ring"
)

// desc is a stand-in for an AF_XDP descriptor (struct xdp_desc: a 64-bit
// UMEM address, a length and option bits): 16 bytes, no pointers.
type desc struct {
	Addr    uint64
	Len     uint32
	Options uint32
}

// ringSize is the capacity of every ring and channel compared here.
const ringSize = 1024

var bursts = []int{1, 8, 32, 64}

// idleSpins is how many empty (full) polls a benchmark goroutine makes
// before it yields, so the benchmarks also finish at GOMAXPROCS=1. It is
// large because runtime.Gosched costs more than a cache-line round trip: a
// small value makes the pair benchmarks measure the scheduler.
const idleSpins = 4096

func makeBurst(n int) []desc {
	src := make([]desc, n)
	for i := range src {
		src[i] = desc{Addr: uint64(i) * 2048, Len: 64}
	}
	return src
}

// reportPerElem adds ns/elem for iters iterations of n elements each.
func reportPerElem(b *testing.B, iters, n int) {
	if iters > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(iters*n), "ns/elem")
	}
}

// BenchmarkRingSame: one goroutine enqueues a burst and dequeues it again,
// the cost of the ring operations without cache-line transfers.
func BenchmarkRingSame(b *testing.B) {
	for _, n := range bursts {
		b.Run(fmt.Sprintf("burst=%d", n), func(b *testing.B) {
			b.Run("spsc", func(b *testing.B) {
				r, _ := ring.NewSPSC[desc](ringSize)
				src, dst := makeBurst(n), make([]desc, n)
				b.ReportAllocs()
				iters := 0
				for b.Loop() {
					if r.EnqueueBurst(src) != n || r.DequeueBurst(dst) != n {
						b.Fatal("ring lost elements")
					}
					iters++
				}
				reportPerElem(b, iters, n)
			})
			b.Run("mpmc", func(b *testing.B) {
				r, _ := ring.NewMPMC[desc](ringSize)
				src, dst := makeBurst(n), make([]desc, n)
				b.ReportAllocs()
				iters := 0
				for b.Loop() {
					if r.EnqueueBurst(src) != n || r.DequeueBurst(dst) != n {
						b.Fatal("ring lost elements")
					}
					iters++
				}
				reportPerElem(b, iters, n)
			})
			b.Run("chan", func(b *testing.B) {
				ch := make(chan desc, ringSize)
				src, dst := makeBurst(n), make([]desc, n)
				b.ReportAllocs()
				iters := 0
				for b.Loop() {
					for _, d := range src {
						ch <- d
					}
					for i := range dst {
						dst[i] = <-ch
					}
					iters++
				}
				reportPerElem(b, iters, n)
			})
		})
	}
}

// BenchmarkRingPair: a producer goroutine keeps the ring fed with bursts of
// n while the benchmark goroutine dequeues n elements per iteration, so
// every burst crosses between cores (when two are free).
func BenchmarkRingPair(b *testing.B) {
	for _, n := range bursts {
		b.Run(fmt.Sprintf("burst=%d", n), func(b *testing.B) {
			b.Run("spsc", func(b *testing.B) {
				r, _ := ring.NewSPSC[desc](ringSize)
				pairRing(b, n, r.EnqueueBurst, r.DequeueBurst)
			})
			b.Run("mpmc", func(b *testing.B) {
				r, _ := ring.NewMPMC[desc](ringSize)
				pairRing(b, n, r.EnqueueBurst, r.DequeueBurst)
			})
			b.Run("chan", func(b *testing.B) { pairChan(b, n) })
		})
	}
}

// pairRing takes the ring's burst calls as method values: the indirect call
// costs the same for both ring kinds and is paid once per burst.
func pairRing(b *testing.B, n int, enqueue, dequeue func([]desc) int) {
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		src := makeBurst(n)
		idle := 0
		for !stop.Load() {
			if enqueue(src) == 0 {
				if idle++; idle == idleSpins {
					runtime.Gosched()
					idle = 0
				}
			}
		}
	}()
	dst := make([]desc, n)
	b.ReportAllocs()
	iters, idle := 0, 0
	for b.Loop() {
		for got := 0; got < n; {
			k := dequeue(dst[got:])
			got += k
			if k == 0 {
				if idle++; idle == idleSpins {
					runtime.Gosched()
					idle = 0
				}
			}
		}
		iters++
	}
	stop.Store(true)
	<-done
	reportPerElem(b, iters, n)
}

func pairChan(b *testing.B, n int) {
	ch := make(chan desc, ringSize)
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		src := makeBurst(n)
		for !stop.Load() {
			for _, d := range src {
				ch <- d
			}
		}
	}()
	dst := make([]desc, n)
	b.ReportAllocs()
	iters := 0
	for b.Loop() {
		for i := range dst {
			dst[i] = <-ch
		}
		iters++
	}
	stop.Store(true)
	for { // the producer may be blocked on a full channel: drain until it exits
		select {
		case <-ch:
		case <-done:
			reportPerElem(b, iters, n)
			return
		}
	}
}

// BenchmarkRingEmptyPoll: the cost of one poll of an empty ring (a burst
// dequeue of up to 32 that finds nothing), what an idle poll-mode worker
// pays per loop; the channel does a non-blocking receive.
func BenchmarkRingEmptyPoll(b *testing.B) {
	dst := make([]desc, 32)
	b.Run("spsc", func(b *testing.B) {
		r, _ := ring.NewSPSC[desc](ringSize)
		b.ReportAllocs()
		for b.Loop() {
			if r.DequeueBurst(dst) != 0 {
				b.Fatal("empty ring returned elements")
			}
		}
	})
	b.Run("mpmc", func(b *testing.B) {
		r, _ := ring.NewMPMC[desc](ringSize)
		b.ReportAllocs()
		for b.Loop() {
			if r.DequeueBurst(dst) != 0 {
				b.Fatal("empty ring returned elements")
			}
		}
	})
	b.Run("chan", func(b *testing.B) {
		ch := make(chan desc, ringSize)
		b.ReportAllocs()
		for b.Loop() {
			select {
			case dst[0] = <-ch:
				b.Fatal("empty channel returned an element")
			default:
			}
		}
	})
}

// BenchmarkCoreToCore is the calibration for BenchmarkRingPair: one round
// trip of a cache line between two goroutines (each spins until it sees the
// other's store). A burst handed across cores costs at least about one such
// round trip, so ns/op here over the burst size is the floor for ns/elem on
// this machine; it also shows when the machine was busy during a run.
func BenchmarkCoreToCore(b *testing.B) {
	var ping, pong struct {
		_ [128]byte
		v atomic.Uint64
		_ [128]byte
	}
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := uint64(1); ; i++ {
			for spins := 0; ping.v.Load() != i; spins++ {
				if stop.Load() {
					return
				}
				if spins == idleSpins {
					runtime.Gosched()
					spins = 0
				}
			}
			pong.v.Store(i)
		}
	}()
	i := uint64(0)
	for b.Loop() {
		i++
		ping.v.Store(i)
		for spins := 0; pong.v.Load() != i; spins++ {
			if spins == idleSpins {
				runtime.Gosched()
				spins = 0
			}
		}
	}
	stop.Store(true)
	<-done
}
