package ring

import "sync/atomic"

// SPSC is a bounded FIFO ring for exactly one producer goroutine and exactly
// one consumer goroutine at a time.
//
// Concurrency: the Enqueue* methods may be called by one goroutine (the
// producer) concurrently with the Dequeue* methods called by one other
// goroutine (the consumer). Two goroutines must never call Enqueue* (or
// Dequeue*) concurrently; hand the role over with ordinary synchronisation
// (a mutex, a channel) if it must move. The race detector reports such
// misuse, because the cached indexes are plain fields. Len, Free and Cap
// may be called by anyone at any time.
//
// The zero SPSC is a ring of capacity 0: every enqueue reports full
// and every dequeue reports empty. Use NewSPSC.
type SPSC[T any] struct {
	_ pad
	s storage[T] // read-only after construction

	_ pad
	// Producer's cache line(s): written only by the producer.
	// prodPos is the next free-running index the producer writes; all
	// slots below it are published.
	prodPos atomic.Uint64
	// consCache is the producer's last observed value of consPos. It can
	// only lag the real value, so the free space it implies is never
	// overestimated; the producer re-reads consPos only when the cached
	// value says there is not enough room.
	consCache uint64

	_ pad
	// Consumer's cache line(s): written only by the consumer.
	// consPos is the next free-running index the consumer reads; all slots
	// below it are free for the producer to overwrite.
	consPos atomic.Uint64
	// prodCache is the consumer's last observed value of prodPos (lagging,
	// so the element count it implies is never overestimated).
	prodCache uint64

	_ pad
}

// NewSPSC returns an empty single-producer single-consumer ring holding up
// to size elements. size must be a power of two in [MinSize, MaxSize];
// otherwise the error wraps ErrSize. All size slots are usable.
func NewSPSC[T any](size int) (*SPSC[T], error) {
	if err := checkSize(size); err != nil {
		return nil, err
	}
	return &SPSC[T]{s: newStorage[T](size)}, nil
}

// freeFor returns how many slots the producer may fill, at least want if
// possible, reading the consumer's index only when the cache says less.
// Producer only.
func (r *SPSC[T]) freeFor(pos, want uint64) uint64 {
	free := r.s.size - (pos - r.consCache)
	if free < want {
		// Acquire: pairs with the consumer's release store of consPos
		// (end of dequeue), which it makes only after it finished
		// reading the slots below it; those slots may now be overwritten.
		r.consCache = r.consPos.Load()
		free = r.s.size - (pos - r.consCache)
	}
	return free
}

// availFor returns how many elements the consumer may take, at least want
// if possible, reading the producer's index only when the cache says less.
// Consumer only.
func (r *SPSC[T]) availFor(pos, want uint64) uint64 {
	avail := r.prodCache - pos
	if avail < want {
		// Acquire: pairs with the producer's release store of prodPos
		// (end of enqueue), made after the slots below it were written;
		// those writes are visible to us from here on.
		r.prodCache = r.prodPos.Load()
		avail = r.prodCache - pos
	}
	return avail
}

// Enqueue appends v and reports true, or reports false and leaves the ring
// unchanged when it is full. Producer only.
func (r *SPSC[T]) Enqueue(v T) bool {
	// Own index: only this goroutine stores prodPos, so this load pairs
	// with nothing; it is atomic only because the consumer reads it.
	pos := r.prodPos.Load()
	if r.freeFor(pos, 1) == 0 {
		return false
	}
	r.s.buf[pos&r.s.mask] = v
	// Release: publishes the slot written above; pairs with the
	// consumer's acquire load of prodPos in availFor.
	storeRelease(&r.prodPos, pos+1)
	return true
}

// EnqueueBulk appends all of src and reports true, or, when fewer than
// len(src) slots are free, appends nothing and reports false (all or
// nothing). A src longer than Cap never fits. An empty src reports true.
// Producer only.
func (r *SPSC[T]) EnqueueBulk(src []T) bool {
	if len(src) == 0 {
		return true
	}
	if uint64(len(src)) > r.s.size {
		return false
	}
	n := uint64(len(src))
	pos := r.prodPos.Load() // own index, see Enqueue
	if r.freeFor(pos, n) < n {
		return false
	}
	r.s.put(pos, src)
	// Release: publishes the slots written by put; pairs with the
	// consumer's acquire load of prodPos in availFor.
	storeRelease(&r.prodPos, pos+n)
	return true
}

// EnqueueBurst appends as many leading elements of src as there are free
// slots and returns how many (0 when full). Producer only.
func (r *SPSC[T]) EnqueueBurst(src []T) int {
	n := clampLen(len(src), r.s.size)
	pos := r.prodPos.Load() // own index, see Enqueue
	n = min(n, r.freeFor(pos, n))
	if n == 0 {
		return 0
	}
	r.s.put(pos, src[:n])
	// Release: pairs with the consumer's acquire load in availFor.
	storeRelease(&r.prodPos, pos+n)
	return int(n)
}

// Dequeue removes and returns the oldest element, or returns the zero T and
// false when the ring is empty. Consumer only.
func (r *SPSC[T]) Dequeue() (T, bool) {
	// Own index: only this goroutine stores consPos; pairs with nothing.
	pos := r.consPos.Load()
	if r.availFor(pos, 1) == 0 {
		var zero T
		return zero, false
	}
	v := r.s.take(pos)
	// Release: hands the slot back; pairs with the producer's acquire
	// load of consPos in freeFor, so it cannot overwrite the slot before
	// our read above.
	storeRelease(&r.consPos, pos+1)
	return v, true
}

// DequeueBulk fills all of dst with the oldest elements and reports true,
// or, when fewer than len(dst) elements are queued, removes nothing and
// reports false (all or nothing). An empty dst reports true. Consumer only.
func (r *SPSC[T]) DequeueBulk(dst []T) bool {
	if len(dst) == 0 {
		return true
	}
	if uint64(len(dst)) > r.s.size {
		return false
	}
	n := uint64(len(dst))
	pos := r.consPos.Load() // own index, see Dequeue
	if r.availFor(pos, n) < n {
		return false
	}
	r.s.get(pos, dst)
	// Release: pairs with the producer's acquire load in freeFor.
	storeRelease(&r.consPos, pos+n)
	return true
}

// DequeueBurst removes up to len(dst) of the oldest elements into dst and
// returns how many (0 when empty). Consumer only.
func (r *SPSC[T]) DequeueBurst(dst []T) int {
	n := clampLen(len(dst), r.s.size)
	pos := r.consPos.Load() // own index, see Dequeue
	n = min(n, r.availFor(pos, n))
	if n == 0 {
		return 0
	}
	r.s.get(pos, dst[:n])
	// Release: pairs with the producer's acquire load in freeFor.
	storeRelease(&r.consPos, pos+n)
	return int(n)
}

// Cap returns the number of slots, the size given to NewSPSC.
func (r *SPSC[T]) Cap() int { return int(r.s.size) }

// Len returns the number of queued elements. While the other side runs the
// figure is a snapshot that may already be stale; it is always within
// [0, Cap]. Safe from any goroutine.
func (r *SPSC[T]) Len() int {
	// Consumer index first: prodPos is at least consPos at any moment and
	// only grows, so a later read of prodPos cannot give a negative count.
	// Both loads pair with the owners' stores only for this estimate.
	c := r.consPos.Load()
	p := r.prodPos.Load()
	return int(min(p-c, r.s.size))
}

// Free returns Cap minus Len, with the same caveat as Len.
func (r *SPSC[T]) Free() int { return r.Cap() - r.Len() }
