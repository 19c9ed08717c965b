package ring

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The stress tests are bounded in element count so that they take seconds
// under -race on two cores. They pass ordering and exactly-once checks, not
// timings. Every one runs from index 0 and from just below the 64-bit wrap.

// stressDeadline turns a lost element (a consumer waiting forever) into a
// test failure instead of a hung test binary.
const stressDeadline = 60 * time.Second

// element encodes the producer and its sequence number in one value.
func element(producer, seq int) uint64 { return uint64(producer)<<32 | uint64(seq) }

func split(v uint64) (producer, seq int) { return int(v >> 32), int(v & math.MaxUint32) }

// watchLen calls Len and Free from a third goroutine until stop is closed
// and reports any value outside [0, Cap].
func watchLen(t *testing.T, r api[uint64], stop <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if l, f := r.Len(), r.Free(); l < 0 || l > r.Cap() || f < 0 || f > r.Cap() {
				t.Errorf("Len %d Free %d outside [0, %d]", l, f, r.Cap())
				return
			}
			runtime.Gosched()
		}
	}()
}

// produce sends element(id, 0..count-1) with a random mix of Enqueue,
// EnqueueBulk and EnqueueBurst, yielding while the ring is full.
func produce(r api[uint64], id, count int, rng *rand.Rand, deadline time.Time) error {
	buf := make([]uint64, 16)
	for seq := 0; seq < count; {
		n := min(1+rng.IntN(len(buf)), count-seq)
		for j := range n {
			buf[j] = element(id, seq+j)
		}
		moved := 0
		switch rng.IntN(3) {
		case 0:
			if r.Enqueue(buf[0]) {
				moved = 1
			}
		case 1:
			if r.EnqueueBulk(buf[:n]) {
				moved = n
			}
		default:
			moved = r.EnqueueBurst(buf[:n])
		}
		seq += moved
		if moved == 0 {
			if time.Now().After(deadline) {
				return fmt.Errorf("producer %d stuck at %d of %d: ring full", id, seq, count)
			}
			runtime.Gosched()
		}
	}
	return nil
}

// consumeOnce takes elements with a random call and appends them to out.
func consumeOnce(r api[uint64], buf []uint64, rng *rand.Rand) []uint64 {
	n := 1 + rng.IntN(len(buf))
	switch rng.IntN(3) {
	case 0:
		if v, ok := r.Dequeue(); ok {
			buf[0], n = v, 1
		} else {
			n = 0
		}
	case 1:
		if !r.DequeueBulk(buf[:n]) {
			n = 0
		}
	default:
		n = r.DequeueBurst(buf[:n])
	}
	return buf[:n]
}

func TestStressSPSC(t *testing.T) {
	const count = 500_000
	for _, start := range []uint64{0, math.MaxUint64 - 1000} {
		t.Run(fmt.Sprintf("start=%#x", start), func(t *testing.T) {
			r, _ := NewSPSC[uint64](16)
			r.startAt(start)
			deadline := time.Now().Add(stressDeadline)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			watchLen(t, r, stop, &wg)
			errc := make(chan error, 1)
			go func() { errc <- produce(r, 7, count, rand.New(rand.NewPCG(1, 2)), deadline) }()

			rng := rand.New(rand.NewPCG(3, 4))
			buf := make([]uint64, 16)
			for want := 0; want < count; {
				got := consumeOnce(r, buf, rng)
				for _, v := range got {
					if p, seq := split(v); p != 7 || seq != want {
						t.Fatalf("got producer %d seq %d, want producer 7 seq %d", p, seq, want)
					}
					want++
				}
				if len(got) == 0 {
					if time.Now().After(deadline) {
						t.Fatalf("consumer stuck at %d of %d", want, count)
					}
					runtime.Gosched()
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			close(stop)
			wg.Wait()
			if r.Len() != 0 {
				t.Fatalf("Len %d after draining", r.Len())
			}
		})
	}
}

// TestStressMPMC runs four producers and four consumers with random call
// kinds and sizes. Every element must arrive exactly once, and each
// consumer must see each producer's sequence numbers strictly increasing
// (the ring is FIFO, and a consumer's dequeues take increasing positions).
func TestStressMPMC(t *testing.T) {
	const producers, consumers, count = 4, 4, 50_000
	for _, start := range []uint64{0, math.MaxUint64 - 1000} {
		t.Run(fmt.Sprintf("start=%#x", start), func(t *testing.T) {
			r, _ := NewMPMC[uint64](64)
			r.startAt(start)
			deadline := time.Now().Add(stressDeadline)
			stop := make(chan struct{})
			var watch sync.WaitGroup
			watchLen(t, r, stop, &watch)

			var wg sync.WaitGroup
			errs := make(chan error, producers+consumers)
			for p := range producers {
				wg.Go(func() {
					if err := produce(r, p, count, rand.New(rand.NewPCG(uint64(p), 1)), deadline); err != nil {
						errs <- err
					}
				})
			}
			var total atomic.Int64 // elements received by all consumers
			received := make([][]uint64, consumers)
			for c := range consumers {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(c), 2))
					buf := make([]uint64, 16)
					last := make([]int, producers)
					for i := range last {
						last[i] = -1
					}
					for total.Load() < producers*count {
						got := consumeOnce(r, buf, rng)
						for _, v := range got {
							p, seq := split(v)
							if p >= producers || seq >= count || seq <= last[p] {
								errs <- fmt.Errorf("consumer %d: producer %d seq %d after seq %d", c, p, seq, last[p])
								return
							}
							last[p] = seq
						}
						received[c] = append(received[c], got...)
						total.Add(int64(len(got)))
						if len(got) == 0 {
							if time.Now().After(deadline) {
								errs <- fmt.Errorf("consumer %d: stuck with %d of %d received", c, total.Load(), producers*count)
								return
							}
							runtime.Gosched()
						}
					}
				})
			}
			wg.Wait()
			close(stop)
			watch.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			seen := make([][]uint8, producers)
			for p := range seen {
				seen[p] = make([]uint8, count)
			}
			for _, vs := range received {
				for _, v := range vs {
					p, seq := split(v)
					seen[p][seq]++
				}
			}
			for p := range seen {
				for seq, n := range seen[p] {
					if n != 1 {
						t.Fatalf("producer %d seq %d received %d times, want once", p, seq, n)
					}
				}
			}
			if r.Len() != 0 || r.Free() != r.Cap() {
				t.Fatalf("Len %d Free %d after draining", r.Len(), r.Free())
			}
		})
	}
}

// TestStressMPMCBulkContiguous checks that a bulk enqueue lands in
// contiguous slots: producers and consumers all move batches of four, so
// every batch a consumer takes must be one producer's four consecutive
// elements, never an interleaving.
func TestStressMPMCBulkContiguous(t *testing.T) {
	const producers, consumers, batches, batch = 3, 3, 4000, 4
	r, _ := NewMPMC[uint64](32)
	r.startAt(math.MaxUint64 - 100)
	deadline := time.Now().Add(stressDeadline)
	var wg sync.WaitGroup
	errs := make(chan error, producers+consumers)
	for p := range producers {
		wg.Go(func() {
			var buf [batch]uint64
			for b := range batches {
				for j := range buf {
					buf[j] = element(p, b*batch+j)
				}
				for !r.EnqueueBulk(buf[:]) {
					if time.Now().After(deadline) {
						errs <- fmt.Errorf("producer %d stuck", p)
						return
					}
					runtime.Gosched()
				}
			}
		})
	}
	var taken atomic.Int64
	for c := range consumers {
		wg.Go(func() {
			var buf [batch]uint64
			for taken.Load() < producers*batches {
				if !r.DequeueBulk(buf[:]) {
					if time.Now().After(deadline) {
						errs <- fmt.Errorf("consumer %d stuck", c)
						return
					}
					runtime.Gosched()
					continue
				}
				taken.Add(1)
				p0, s0 := split(buf[0])
				for j, v := range buf {
					if p, s := split(v); p != p0 || s != s0+j || s0%batch != 0 {
						errs <- fmt.Errorf("consumer %d: batch %x is not one producer's bulk enqueue", c, buf)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
