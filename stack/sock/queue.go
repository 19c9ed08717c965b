package sock

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdpengine/engine/ring"
)

// Queue is a worker's inbound queue: a ring.MPMC that applications produce
// into and one worker consumes (commands, datagrams), with a wait list for
// the producers that find it full. See the package documentation for the
// protocol; in short, a producer that finds no room parks in a FIFO list
// with its element, and the consumer, once a round, moves as many parked
// elements into the ring as it has free slots and wakes their producers.
//
// Concurrency: Enqueue, Push, PushUntil and Close are safe for any number
// of goroutines; Grant and Pending belong to the one consumer (the
// worker); Dequeue, DequeueBurst and Len are safe for any goroutine.
type Queue[T any] struct {
	r *ring.MPMC[T] // read-only after NewQueue
	// waiting is the length of the wait list, written under mu and read
	// without it: a producer adds itself before it wakes the consumer,
	// the consumer looks after its dequeues (Grant) and after its sleep
	// announcement (Pending), so that one of the two sees the other.
	waiting atomic.Int32
	owed    atomic.Int32 // always 1: the Waker delivers every wakeup Grant asks for
	mu      sync.Mutex   // guards the wait list and the queued flags
	// pmu serializes the producers' enqueues into r (taken after mu where
	// both are). The ring's two-phase enqueue publishes slots in the order
	// they were reserved: with thousands of producers on a few Ps, one
	// preempted between its reservation and its publication holds up every
	// later one, each spinning and yielding, and each link of that chain
	// waits for a turn behind all the others (15,000 dials at once took
	// 500 s). Under pmu no producer waits for another's publication, and
	// the ones waiting for pmu park instead of spinning.
	pmu  sync.Mutex
	head *waiter[T] // the wait list, oldest first
	tail *waiter[T]
	done chan struct{} // closed by Close
	once sync.Once
}

// waiter is a producer parked in PushUntil with its element.
type waiter[T any] struct {
	v          T
	ready      chan struct{} // capacity 1: v is in the ring
	prev, next *waiter[T]    // under mu
	queued     bool          // under mu: the consumer moved v into the ring
}

// Waker records a wakeup for ch on behalf of the consumer, to be delivered
// at the end of its round (datapath.Waker implements it).
type Waker interface {
	Wake(ch chan struct{}, waiting *atomic.Int32)
}

// NewQueue returns an empty queue of size slots (ring.NewMPMC's rules:
// a power of two in [ring.MinSize, ring.MaxSize]).
func NewQueue[T any](size int) (*Queue[T], error) {
	r, err := ring.NewMPMC[T](size)
	if err != nil {
		return nil, err
	}
	q := &Queue[T]{r: r, done: make(chan struct{})}
	q.owed.Store(1)
	return q, nil
}

// Enqueue appends v and reports true, or reports false when the queue is
// full or producers wait for room (they go first: the caller then waits
// its turn in Push). It allocates nothing: the fast path of every send.
func (q *Queue[T]) Enqueue(v T) bool {
	// Pairs with the Add(1) in PushUntil; a stale 0 only lets this
	// producer in ahead of one that is parking.
	return q.waiting.Load() == 0 && q.enqueue(v)
}

// enqueue puts v in the ring under pmu.
func (q *Queue[T]) enqueue(v T) bool {
	q.pmu.Lock()
	ok := q.r.Enqueue(v)
	q.pmu.Unlock()
	return ok
}

// Dequeue removes and returns the oldest element (false when empty).
func (q *Queue[T]) Dequeue() (T, bool) { return q.r.Dequeue() }

// DequeueBurst removes up to len(dst) of the oldest elements into dst and
// returns how many.
func (q *Queue[T]) DequeueBurst(dst []T) int { return q.r.DequeueBurst(dst) }

// Len returns the number of elements in the ring, not counting those of
// waiting producers (a snapshot).
func (q *Queue[T]) Len() int { return q.r.Len() }

// Cap returns the number of slots.
func (q *Queue[T]) Cap() int { return q.r.Cap() }

// Waiting returns the number of producers waiting for room (a snapshot).
func (q *Queue[T]) Waiting() int { return int(q.waiting.Load()) }

// Pending reports work for the consumer: elements in the ring, or
// producers waiting (their elements go into the ring at the next Grant).
// Consumer only, before it sleeps: its sleep announcement (a full barrier)
// comes before this look, as the producer's Add(1) comes before its
// wake's look at the announcement, so that one of the two sees the other.
func (q *Queue[T]) Pending() bool {
	return q.r.Len() > 0 || q.waiting.Load() > 0
}

// Grant moves the elements of waiting producers into the room the
// consumer made, oldest first, as many as fit, and wakes those producers
// through k (their Push returns): a wakeup goes only to a producer whose
// element is queued, and the producers never compete for the ring, so
// the consumer does not wait for thousands of them to get a CPU. Consumer
// only, after its dequeues, once a round. It returns the number of
// elements moved; when nobody waits it costs one atomic load.
func (q *Queue[T]) Grant(k Waker) int {
	if q.waiting.Load() == 0 { // pairs with the Add(1) in PushUntil
		return 0
	}
	n := 0
	q.mu.Lock()
	for w := q.head; w != nil && q.enqueue(w.v); w = q.head {
		q.unlink(w)
		w.queued = true
		var zero T
		w.v = zero
		// Not &q.waiting: the Waker would drop the wakeup if the list
		// emptied meanwhile.
		k.Wake(w.ready, &q.owed)
		n++
	}
	q.mu.Unlock()
	return n
}

// unlink removes w from the wait list. Under mu.
func (q *Queue[T]) unlink(w *waiter[T]) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.prev, w.next = nil, nil
	q.waiting.Add(-1)
}

// Close wakes every producer waiting for room for good: the consumer is
// gone (its worker stopped). PushUntil then returns stop's error, or
// net.ErrClosed. Idempotent.
func (q *Queue[T]) Close() { q.once.Do(func() { close(q.done) }) }

// Done returns a channel that is closed by Close: the consumer is gone,
// and an element enqueued from then on may never be taken (a producer
// that waits for the consumer to act on one waits on this too).
func (q *Queue[T]) Done() <-chan struct{} { return q.done }

// recheck is how often a parked producer looks at stop by itself: a safety
// net for what only stop knows. Room, Close, PushUntil's done and deadline
// wake it at once. Rechecks are rare on purpose: a stream of timer wakeups
// from thousands of parked producers is the livelock this wait replaced
// (each readied goroutine runs before the worker that yielded its P).
const recheck = time.Second

// Push is PushUntil with neither a deadline nor a done channel: the wait
// for room ends with room, with Close, or with stop's error.
func Push[T any](q *Queue[T], v T, wake func(), stop func() error) error {
	return PushUntil(q, v, wake, stop, nil, nil)
}

// PushUntil enqueues v for q's consumer, waking it (wake), and waits for
// room while q is full, as a blocking send waits on a full socket buffer.
// A producer that finds no room (or finds producers waiting before it)
// parks in q's wait list with v, wakes the consumer, and sleeps until the
// consumer has moved v into the ring (Grant). The wait also ends, without
// v queued, when q closes (net.ErrClosed unless stop reports an error),
// and with stop's error, which is looked at before parking, when done
// closes, when the deadline (UnixNano in an atomic, 0: none; nil: none)
// passes, and every recheck. It allocates nothing when there is room;
// waiting, it allocates its list entry and a timer.
//
// A parked producer never touches the ring: the consumer queues its
// element and then wakes it, so that a wakeup never finds the queue full
// again, and thousands of waiting producers neither spin nor compete for
// the ring (see the package documentation).
func PushUntil[T any](q *Queue[T], v T, wake func(), stop func() error, deadline *atomic.Int64, done <-chan struct{}) error {
	if q.Enqueue(v) {
		wake()
		return nil
	}
	if err := stop(); err != nil {
		return err
	}
	w := &waiter[T]{v: v, ready: make(chan struct{}, 1)}
	q.mu.Lock()
	if q.waiting.Load() == 0 && q.enqueue(v) { // room came meanwhile, nobody waits before us
		q.mu.Unlock()
		wake()
		return nil
	}
	w.prev = q.tail
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
	// Announce, then wake: pairs with the loads in Grant and Pending.
	q.waiting.Add(1)
	q.mu.Unlock()
	wake()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		d := recheck
		if deadline != nil {
			if dl := deadline.Load(); dl != 0 {
				d = max(min(d, time.Until(time.Unix(0, dl))), time.Microsecond)
			}
		}
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		var err error
		select {
		case <-w.ready:
			return nil
		case <-timer.C:
			err = stop()
		case <-done:
			err = stop()
			if err == nil {
				err = net.ErrClosed
			}
		case <-q.done:
			err = stop()
			if err == nil {
				err = net.ErrClosed
			}
		}
		if err == nil {
			continue
		}
		q.mu.Lock()
		queued := w.queued
		if !queued {
			q.unlink(w)
		}
		q.mu.Unlock()
		if queued { // too late to leave: v is in the ring
			return nil
		}
		return err
	}
}
