package sock

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpengine/engine/ring"
)

// roundWaker is a worker's Waker in the direct mode: a round's wakeups
// are sent at its end, and the consumer then yields its P so that the
// goroutines it readied run on its thread (datapath.Waker).
type roundWaker struct{ pending []chan struct{} }

func (k *roundWaker) Wake(ch chan struct{}, waiting *atomic.Int32) {
	if waiting.Load() > 0 {
		k.pending = append(k.pending, ch)
	}
}

func (k *roundWaker) flush() {
	if len(k.pending) == 0 {
		return
	}
	for _, ch := range k.pending {
		Notify(ch)
	}
	k.pending = k.pending[:0]
	runtime.Gosched()
}

// fakeWorker consumes q as an engine worker does, at a bounded rate: a
// round takes at most batch elements, each costing cost of CPU, then hands
// out the room (Grant), delivers its wakeups and, when it did anything,
// yields its P (run to completion); it sleeps on an eventfd-like channel
// when there is nothing to do (Pending), and Wake gets it out.
type fakeWorker struct {
	q        *Queue[int]
	batch    int
	cost     time.Duration
	k        roundWaker
	sleeping atomic.Bool
	wakeCh   chan struct{}
	stop     atomic.Bool
	got      atomic.Int64
	seen     []bool // by element, worker only
	dups     int
	done     chan struct{}
}

func startFakeWorker(t *testing.T, q *Queue[int], n, batch int, cost time.Duration) *fakeWorker {
	w := &fakeWorker{q: q, batch: batch, cost: cost, wakeCh: make(chan struct{}, 1),
		seen: make([]bool, n), done: make(chan struct{})}
	go w.run()
	t.Cleanup(func() {
		w.stop.Store(true)
		Notify(w.wakeCh)
		<-w.done
	})
	return w
}

func (w *fakeWorker) Wake() {
	if w.sleeping.Load() { // pairs with the Store(true) below
		Notify(w.wakeCh)
	}
}

func (w *fakeWorker) run() {
	defer close(w.done)
	for !w.stop.Load() {
		work := 0
		for work < w.batch {
			v, ok := w.q.Dequeue()
			if !ok {
				break
			}
			if w.seen[v] {
				w.dups++
			}
			w.seen[v] = true
			for t0 := time.Now(); time.Since(t0) < w.cost; {
			}
			work++
		}
		w.got.Add(int64(work))
		work += w.q.Grant(&w.k)
		if work > 0 {
			runtime.Gosched() // the worker yields at every busy round's end
		}
		w.k.flush()
		if work > 0 {
			continue
		}
		w.sleeping.Store(true)
		if w.q.Pending() || w.stop.Load() {
			w.sleeping.Store(false)
			continue
		}
		select {
		case <-w.wakeCh:
		case <-time.After(100 * time.Millisecond): // the engine's sleepTimeout
		}
		w.sleeping.Store(false)
	}
}

func never() error { return nil }

// TestPushStorm: thousands of producers push at once into a small queue
// that a worker drains at a bounded rate, yielding its P at every round's
// end. Before the wait list (producers retried in a loop: Gosched, then
// 20 µs sleeps) the worker, queued behind thousands of runnable producers,
// got a round in now and then, and 6,000 pushes into 64 slots took 211 s
// on the 2-vCPU VM; the worker's own work here is 12 ms.
func TestPushStorm(t *testing.T) {
	const n, size = 6000, 64
	q, err := NewQueue[int](size)
	if err != nil {
		t.Fatal(err)
	}
	w := startFakeWorker(t, q, n, 16, 2*time.Microsecond)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := Push(q, i, w.Wake, never); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	pushed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for w.got.Load() < n {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the worker consumed %d of %d in 30 s", w.got.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("%d pushes into %d slots: all queued in %v, consumed in %v",
		n, size, pushed, time.Since(start))
	if pushed > 5*time.Second {
		t.Errorf("the pushes took %v", pushed)
	}
	if q.Waiting() != 0 || q.head != nil || q.tail != nil {
		t.Errorf("after the storm: %d waiting", q.Waiting())
	}
	w.stop.Store(true)
	Notify(w.wakeCh)
	<-w.done
	if w.dups != 0 {
		t.Errorf("%d elements consumed twice", w.dups)
	}
	for i, ok := range w.seen {
		if !ok {
			t.Fatalf("element %d lost", i)
		}
	}
}

// TestGrantOnlyWhereRoom: the consumer moves the elements of waiting
// producers into the ring in the order they parked, as many as it has free
// slots, and wakes only those producers; none when nobody waits.
func TestGrantOnlyWhereRoom(t *testing.T) {
	q, err := NewQueue[int](4)
	if err != nil {
		t.Fatal(err)
	}
	var k roundWaker
	if q.Grant(&k) != 0 || len(k.pending) != 0 || q.Pending() {
		t.Fatal("a grant with nobody waiting")
	}
	for i := range 4 {
		if err := Push(q, i, func() {}, never); err != nil {
			t.Fatal(err)
		}
	}
	const parked = 10
	var returned atomic.Int32
	var wg sync.WaitGroup
	for i := range parked {
		wg.Go(func() {
			if err := Push(q, 100+i, func() {}, never); err != nil {
				t.Error(err)
			}
			returned.Add(1)
		})
		for q.Waiting() != i+1 { // one at a time: the order is known
			time.Sleep(100 * time.Microsecond)
		}
	}
	if q.Enqueue(-1) {
		t.Fatal("Enqueue went ahead of the waiting producers")
	}
	if g := q.Grant(&k); g != 0 || !q.Pending() {
		t.Errorf("granted %d on a full queue, pending %v", g, q.Pending())
	}
	q.Dequeue()
	q.Dequeue()
	if g := q.Grant(&k); g != 2 || len(k.pending) != 2 {
		t.Errorf("granted %d (%d wakeups) for 2 free slots", g, len(k.pending))
	}
	if g := q.Grant(&k); g != 0 {
		t.Errorf("granted %d more on a full queue", g)
	}
	k.flush()
	for returned.Load() != 2 {
		time.Sleep(100 * time.Microsecond)
	}
	if q.Len() != 4 || q.Waiting() != parked-2 {
		t.Errorf("len %d waiting %d, want 4 and %d", q.Len(), q.Waiting(), parked-2)
	}
	var order []int
	for q.Pending() {
		for {
			v, ok := q.Dequeue()
			if !ok {
				break
			}
			order = append(order, v)
		}
		q.Grant(&k)
		k.flush()
	}
	wg.Wait()
	want := []int{2, 3}
	for i := range parked {
		want = append(want, 100+i)
	}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("consumed %v, want %v", order, want)
	}
}

// TestPushStops: a producer waiting for room returns stop's error when its
// deadline passes or its done channel closes (a closed socket), and
// net.ErrClosed when the queue closes (the worker stopped).
func TestPushStops(t *testing.T) {
	q, err := NewQueue[int](2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := Push(q, i, func() {}, never); err != nil {
			t.Fatal(err)
		}
	}
	var deadline atomic.Int64
	deadline.Store(UnixNano(time.Now().Add(20 * time.Millisecond)))
	pastDeadline := func() error {
		if time.Now().UnixNano() >= deadline.Load() {
			return os.ErrDeadlineExceeded
		}
		return nil
	}
	start := time.Now()
	err = PushUntil(q, 3, func() {}, pastDeadline, &deadline, nil)
	if d := time.Since(start); !errors.Is(err, os.ErrDeadlineExceeded) || d > 500*time.Millisecond {
		t.Errorf("push on a full queue with a deadline: %v after %v", err, d)
	}
	closed := make(chan struct{})
	errPipe := errors.New("closed socket")
	go func() {
		time.Sleep(10 * time.Millisecond)
		close(closed)
	}()
	err = PushUntil(q, 3, func() {}, func() error {
		select {
		case <-closed:
			return errPipe
		default:
			return nil
		}
	}, nil, closed)
	if !errors.Is(err, errPipe) {
		t.Errorf("push on a full queue, socket closed: %v, want its error", err)
	}
	errc := make(chan error)
	for range 3 {
		go func() { errc <- Push(q, 4, func() {}, never) }()
	}
	for q.Waiting() != 3 {
		time.Sleep(time.Millisecond)
	}
	q.Close()
	for range 3 {
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Errorf("push on a closed queue: %v, want net.ErrClosed", err)
		}
	}
	if q.Waiting() != 0 {
		t.Errorf("%d still waiting", q.Waiting())
	}
}

// BenchmarkPush: a push and a pop with room in the queue, the cost of the
// wait list on the fast path (one more atomic load) against the bare ring,
// and the consumer's Grant when nobody waits. No allocations.
func BenchmarkPush(b *testing.B) {
	b.Run("ring.Enqueue", func(b *testing.B) {
		r, _ := ring.NewMPMC[int](4096)
		b.ReportAllocs()
		for b.Loop() {
			r.Enqueue(1)
			r.Dequeue()
		}
	})
	b.Run("Queue.Enqueue", func(b *testing.B) {
		q, _ := NewQueue[int](4096)
		b.ReportAllocs()
		for b.Loop() {
			q.Enqueue(1)
			q.Dequeue()
		}
	})
	b.Run("Push", func(b *testing.B) {
		q, _ := NewQueue[int](4096)
		wake := func() {}
		b.ReportAllocs()
		for b.Loop() {
			if Push(q, 1, wake, never) != nil {
				b.Fatal("push")
			}
			q.Dequeue()
		}
	})
	b.Run("Grant", func(b *testing.B) {
		q, _ := NewQueue[int](4096)
		var k roundWaker
		b.ReportAllocs()
		for b.Loop() {
			q.Grant(&k)
		}
	})
}
