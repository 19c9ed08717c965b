package tcp

import (
	"fmt"
	"sync/atomic"
)

// ByteRing is a single-producer single-consumer byte ring with a
// power-of-two capacity and free-running 64-bit indexes (masked on access,
// never wrapping in practice). It carries a connection's bytes between the
// application goroutine and the worker that owns the endpoint:
//
//   - send ring: the application produces (Write); the worker peeks unsent
//     bytes at any offset to build segments (Peek) and consumes them only
//     when they are acknowledged (Discard).
//   - receive ring: the worker produces in-order data (Append, or WriteAt
//     for out-of-order data parked in the free space, then Commit); the
//     application consumes (Read).
//
// Memory ordering. head is stored only by the producer and tail only by
// the consumer. The producer writes bytes and then stores head; the
// consumer loads head and then reads the bytes below it (the head store /
// head load pair publishes data). The consumer reads bytes and then stores
// tail; the producer loads tail and only then overwrites the bytes below
// it (the tail store / tail load pair returns space). Go's atomics are
// sequentially consistent, which gives both orders.
//
// Stale memory. The consumer only ever sees bytes in [tail, head), and
// head only advances over bytes written first: Write and Append copy and
// then publish; Commit publishes bytes that WriteAt placed (the receive
// side commits only the contiguous ranges its out-of-order queue recorded
// as written, and WriteAt reports exactly what it wrote). So a ring may be
// built on reused memory (NewByteRingOn) holding anything: no byte of it
// is read before this ring wrote it.
//
// Producer methods: Write, Append, WriteAt, Commit, Free. Consumer
// methods: Read, Peek, Discard, Len. Cap may be called by anyone. Each role
// belongs to one goroutine at a time.
type ByteRing struct {
	buf  []byte
	mask uint64
	_    [48]byte
	// head: next byte the producer writes. Stored by the producer after
	// the bytes (pairs with the consumer's loads in Len/Read/Peek).
	head atomic.Uint64
	_    [56]byte
	// tail: next byte the consumer reads. Stored by the consumer after it
	// is done with the bytes (pairs with the producer's loads in Free).
	tail atomic.Uint64
	_    [56]byte
}

// MinRing and MaxRing bound a ByteRing's capacity.
const (
	MinRing = 1 << 10
	MaxRing = 1 << 30
)

// NewByteRing returns an empty ring of size bytes, a power of two in
// [MinRing, MaxRing]; otherwise the error wraps ErrConfig.
func NewByteRing(size int) (*ByteRing, error) {
	if size < MinRing || size > MaxRing || size&(size-1) != 0 {
		return nil, fmt.Errorf("tcp: ring size %d is not a power of two in [%d, %d]: %w", size, MinRing, MaxRing, ErrConfig)
	}
	return &ByteRing{buf: make([]byte, size), mask: uint64(size - 1)}, nil
}

// NewByteRingOn returns an empty ring over buf (not cleared: see "Stale
// memory" above), whose length must be a power of two in [MinRing,
// MaxRing]; otherwise the error wraps ErrConfig.
func NewByteRingOn(buf []byte) (*ByteRing, error) {
	size := len(buf)
	if size < MinRing || size > MaxRing || size&(size-1) != 0 {
		return nil, fmt.Errorf("tcp: ring size %d is not a power of two in [%d, %d]: %w", size, MinRing, MaxRing, ErrConfig)
	}
	return &ByteRing{buf: buf[:size:size], mask: uint64(size - 1)}, nil
}

// detach takes the ring's memory away and returns it. The ring then has
// no room and no data (capacity 0, head = tail): Write, Append and WriteAt
// store nothing and Read and Peek return nothing, so a stray access after
// the memory went back to a pool sees none of it.
func (r *ByteRing) detach() []byte {
	b := r.buf
	r.buf, r.mask = nil, 0
	r.tail.Store(r.head.Load())
	return b
}

// Cap returns the capacity in bytes.
func (r *ByteRing) Cap() int { return len(r.buf) }

// Len returns the number of bytes queued (exact for the consumer; a
// snapshot for anyone else).
func (r *ByteRing) Len() int {
	t := r.tail.Load() // own index (consumer) or snapshot
	h := r.head.Load() // pairs with the producer's head store
	return int(h - t)
}

// Free returns the room left for the producer (exact for the producer).
func (r *ByteRing) Free() int {
	h := r.head.Load()
	t := r.tail.Load() // pairs with the consumer's tail store
	return max(len(r.buf)-int(h-t), 0)
}

// Consumed returns the total number of bytes ever consumed (the tail
// index). The worker uses it on the receive ring to see how fast the
// application reads.
func (r *ByteRing) Consumed() uint64 { return r.tail.Load() } // pairs with the consumer's tail store

// Write copies as much of p as fits and publishes it; it returns the count
// (0 when full). Producer only.
func (r *ByteRing) Write(p []byte) int {
	n := min(len(p), r.Free())
	if n == 0 {
		return 0
	}
	r.copyIn(r.head.Load(), p[:n])
	r.head.Store(r.head.Load() + uint64(n)) // publish: pairs with the consumer's head load
	return n
}

// Append is Write for the worker on a receive ring.
func (r *ByteRing) Append(p []byte) int { return r.Write(p) }

// WriteAt copies p into the free space at offset off past the published
// bytes without publishing it; bytes that would not fit are left out and
// the count written is returned. Commit publishes. Producer only.
func (r *ByteRing) WriteAt(off int, p []byte) int {
	free := r.Free()
	if off >= free {
		return 0
	}
	n := min(len(p), free-off)
	r.copyIn(r.head.Load()+uint64(off), p[:n])
	return n
}

// Commit publishes n bytes already placed by WriteAt at offset 0..n. n
// must not exceed Free. Producer only.
func (r *ByteRing) Commit(n int) {
	n = min(n, r.Free())
	if n <= 0 {
		return
	}
	r.head.Store(r.head.Load() + uint64(n)) // publish: pairs with the consumer's head load
}

func (r *ByteRing) copyIn(pos uint64, p []byte) {
	i := int(pos & r.mask)
	c := copy(r.buf[i:], p)
	copy(r.buf, p[c:])
}

// Read copies up to len(p) queued bytes into p, frees them, and returns the
// count (0 when empty). Consumer only.
func (r *ByteRing) Read(p []byte) int {
	a, b := r.Peek(0, len(p))
	n := copy(p, a)
	n += copy(p[n:], b)
	r.Discard(n)
	return n
}

// Peek returns up to n queued bytes starting offset off past the tail,
// as one or two slices of the ring (two when they wrap), without consuming
// them. The slices stay valid until Discard frees them. Consumer only.
func (r *ByteRing) Peek(off, n int) (a, b []byte) {
	t := r.tail.Load()
	h := r.head.Load() // pairs with the producer's head store
	avail := int(h-t) - off
	if avail <= 0 || n <= 0 {
		return nil, nil
	}
	n = min(n, avail)
	i := int((t + uint64(off)) & r.mask)
	if i+n <= len(r.buf) {
		return r.buf[i : i+n], nil
	}
	return r.buf[i:], r.buf[:n-(len(r.buf)-i)]
}

// Discard frees the first n queued bytes (n is clamped to Len). Consumer
// only.
func (r *ByteRing) Discard(n int) {
	if n <= 0 {
		return
	}
	n = min(n, r.Len())
	r.tail.Store(r.tail.Load() + uint64(n)) // return space: pairs with the producer's tail load
}

// regrow moves the ring's content into buf, a larger power of two, keeping
// the indexes (the same bytes at the same stream offsets), and returns the
// old memory. Neither side may use the ring meanwhile: the caller holds
// both (see Endpoint.GrowSendRing).
func (r *ByteRing) regrow(buf []byte) []byte {
	t, h := r.tail.Load(), r.head.Load()
	old, oldMask := r.buf, r.mask
	r.buf, r.mask = buf[:len(buf):len(buf)], uint64(len(buf)-1)
	for i := t; i < h; {
		src := old[i&oldMask : min(uint64(len(old)), (i&oldMask)+(h-i))]
		dst := r.buf[i&r.mask:]
		n := copy(dst, src)
		i += uint64(n)
	}
	return old
}
