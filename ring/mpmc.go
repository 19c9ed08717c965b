package ring

import (
	"runtime"
	"sync/atomic"
)

// spinsBeforeYield bounds how long a goroutine busy-waits for an earlier
// producer (consumer) to publish before it yields its P with
// runtime.Gosched, so that the goroutine it waits for can run even when
// GOMAXPROCS is smaller than the number of goroutines using the ring.
// The usual wait is another core finishing a copy (well under a
// microsecond); Gosched costs more than that, hence the generous bound.
const spinsBeforeYield = 1024

// headTail is one side's two-phase state. head is the next index to be
// reserved by that side (advanced with CAS); tail is the index up to which
// the side has finished its work and published it to the other side.
// Invariant (free-running, mod 2^64): cons.tail <= cons.head <= prod.tail
// <= prod.head <= cons.tail + size.
type headTail struct {
	head atomic.Uint64
	tail atomic.Uint64
}

// MPMC is a bounded FIFO ring that any number of goroutines may enqueue to
// and dequeue from concurrently. It uses two-phase reservation on each side
// (see the package documentation for the algorithm and its progress
// guarantees): a CAS on the side's head reserves slots, the slots are
// copied, and the side's tail is then advanced in reservation order.
//
// Concurrency: every method is safe for concurrent use by any number of
// goroutines. Elements enqueued by one producer are dequeued in the order
// that producer enqueued them; a bulk or burst enqueue occupies contiguous
// slots, so a consumer that dequeues it whole sees it unbroken.
//
// The zero MPMC is a ring of capacity 0. Use NewMPMC.
type MPMC[T any] struct {
	_    pad
	s    storage[T] // read-only after construction
	_    pad
	prod headTail // written by producers, tail read by consumers
	_    pad
	cons headTail // written by consumers, tail read by producers
	_    pad
}

// NewMPMC returns an empty multi-producer multi-consumer ring holding up to
// size elements. size must be a power of two in [MinSize, MaxSize];
// otherwise the error wraps ErrSize. All size slots are usable.
func NewMPMC[T any](size int) (*MPMC[T], error) {
	if err := checkSize(size); err != nil {
		return nil, err
	}
	return &MPMC[T]{s: newStorage[T](size)}, nil
}

// reserveProd reserves up to want slots (exactly want when bulk) and
// returns the first reserved index and the count, 0 when nothing fits.
// want must not exceed the size.
func (r *MPMC[T]) reserveProd(want uint64, bulk bool) (head, n uint64) {
	for {
		// Only the CAS below validates this value: no ordering needed
		// beyond reading some value of head.
		head = r.prod.head.Load()
		// Acquire: pairs with the consumers' release store of cons.tail
		// in publishCons, made after they read the slots below it; we
		// may overwrite those slots. A value read while head above is
		// already stale can make free exceed size, but then head has
		// moved and the CAS fails (64-bit indexes: no ABA).
		consTail := r.cons.tail.Load()
		free := r.s.size + consTail - head
		n = want
		if n > free {
			if bulk || free == 0 {
				return head, 0
			}
			n = free
		}
		// CAS: pairs with the other producers' CAS on prod.head; the
		// winner owns slots [head, head+n) exclusively until it
		// publishes them with publishProd.
		if r.prod.head.CompareAndSwap(head, head+n) {
			return head, n
		}
	}
}

// publishProd makes the reserved slots [head, head+n) visible to consumers
// once every earlier reservation has been published, keeping prod.tail
// contiguous.
func (r *MPMC[T]) publishProd(head, n uint64) {
	// Acquire: pairs with the previous producer's release store of
	// prod.tail below; we wait for it to publish so that prod.tail never
	// covers a slot that is still being written.
	for i := 0; r.prod.tail.Load() != head; i++ {
		if i == spinsBeforeYield {
			runtime.Gosched()
			i = 0
		}
	}
	// Release: publishes our slot writes; pairs with the consumers'
	// acquire load of prod.tail in reserveCons and with the next
	// producer's wait loop above.
	storeRelease(&r.prod.tail, head+n)
}

// reserveCons reserves up to want queued elements (exactly want when bulk)
// and returns the first reserved index and the count, 0 when none.
// want must not exceed the size.
func (r *MPMC[T]) reserveCons(want uint64, bulk bool) (head, n uint64) {
	for {
		// Validated by the CAS below, as in reserveProd.
		head = r.cons.head.Load()
		// Acquire: pairs with the producers' release store of prod.tail
		// in publishProd; slots below it hold published elements. A
		// stale head can make avail exceed size; then the CAS fails.
		prodTail := r.prod.tail.Load()
		avail := prodTail - head
		n = want
		if n > avail {
			if bulk || avail == 0 {
				return head, 0
			}
			n = avail
		}
		// CAS: pairs with the other consumers' CAS on cons.head; the
		// winner owns slots [head, head+n) until publishCons.
		if r.cons.head.CompareAndSwap(head, head+n) {
			return head, n
		}
	}
}

// publishCons hands slots [head, head+n) back to producers once every
// earlier consumer reservation has been handed back.
func (r *MPMC[T]) publishCons(head, n uint64) {
	// Acquire: pairs with the previous consumer's release store below.
	for i := 0; r.cons.tail.Load() != head; i++ {
		if i == spinsBeforeYield {
			runtime.Gosched()
			i = 0
		}
	}
	// Release: our reads of the slots happen before producers may reuse
	// them; pairs with the producers' acquire load of cons.tail in
	// reserveProd and with the next consumer's wait loop above.
	storeRelease(&r.cons.tail, head+n)
}

// Enqueue appends v and reports true, or reports false and leaves the ring
// unchanged when it is full.
func (r *MPMC[T]) Enqueue(v T) bool {
	head, n := r.reserveProd(1, true)
	if n == 0 {
		return false
	}
	r.s.buf[head&r.s.mask] = v
	r.publishProd(head, 1)
	return true
}

// EnqueueBulk appends all of src in contiguous slots and reports true, or,
// when fewer than len(src) slots are free, appends nothing and reports
// false (all or nothing). A src longer than Cap never fits. An empty src
// reports true.
func (r *MPMC[T]) EnqueueBulk(src []T) bool {
	if len(src) == 0 {
		return true
	}
	if uint64(len(src)) > r.s.size {
		return false
	}
	head, n := r.reserveProd(uint64(len(src)), true)
	if n == 0 {
		return false
	}
	r.s.put(head, src)
	r.publishProd(head, n)
	return true
}

// EnqueueBurst appends as many leading elements of src as there are free
// slots, in contiguous slots, and returns how many (0 when full).
func (r *MPMC[T]) EnqueueBurst(src []T) int {
	if len(src) == 0 {
		return 0
	}
	head, n := r.reserveProd(clampLen(len(src), r.s.size), false)
	if n == 0 {
		return 0
	}
	r.s.put(head, src[:n])
	r.publishProd(head, n)
	return int(n)
}

// Dequeue removes and returns the oldest element, or returns the zero T and
// false when the ring is empty.
func (r *MPMC[T]) Dequeue() (T, bool) {
	head, n := r.reserveCons(1, true)
	if n == 0 {
		var zero T
		return zero, false
	}
	v := r.s.take(head)
	r.publishCons(head, 1)
	return v, true
}

// DequeueBulk fills all of dst with the oldest elements and reports true,
// or, when fewer than len(dst) elements are queued, removes nothing and
// reports false (all or nothing). An empty dst reports true.
func (r *MPMC[T]) DequeueBulk(dst []T) bool {
	if len(dst) == 0 {
		return true
	}
	if uint64(len(dst)) > r.s.size {
		return false
	}
	head, n := r.reserveCons(uint64(len(dst)), true)
	if n == 0 {
		return false
	}
	r.s.get(head, dst)
	r.publishCons(head, n)
	return true
}

// DequeueBurst removes up to len(dst) of the oldest elements into dst and
// returns how many (0 when empty).
func (r *MPMC[T]) DequeueBurst(dst []T) int {
	if len(dst) == 0 {
		return 0
	}
	head, n := r.reserveCons(clampLen(len(dst), r.s.size), false)
	if n == 0 {
		return 0
	}
	r.s.get(head, dst[:n])
	r.publishCons(head, n)
	return int(n)
}

// Cap returns the number of slots, the size given to NewMPMC.
func (r *MPMC[T]) Cap() int { return int(r.s.size) }

// Len returns the number of published elements not yet handed back by
// consumers (prod.tail - cons.tail). Under concurrent use it is a snapshot
// that may already be stale; it is always within [0, Cap]. Elements being
// written by a producer are not counted; elements being read by a consumer
// still are.
func (r *MPMC[T]) Len() int {
	// cons.tail first: prod.tail >= cons.tail at any moment and only
	// grows, so the later load cannot give a negative count. The loads
	// pair with the publish stores only for this estimate.
	c := r.cons.tail.Load()
	p := r.prod.tail.Load()
	return int(min(p-c, r.s.size))
}

// Free returns Cap minus Len, with the same caveat as Len. Producers may
// still find fewer free slots, as some may be reserved but unpublished.
func (r *MPMC[T]) Free() int { return r.Cap() - r.Len() }
