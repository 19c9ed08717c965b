package afxdp

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Desc is one rx or tx descriptor: a frame's address in the UMEM (plus the
// data offset inside the frame, for rx) and the length of the packet.
// It has the layout of the kernel's struct xdp_desc.
type Desc struct {
	Addr    uint64
	Len     uint32
	Options uint32
}

// ring is the user side of one of the four single-producer single-consumer
// rings the kernel shares with us. Its indexes are free-running uint32
// values; an entry's slot is index & mask. The same struct serves producer
// rings (fill, tx: we produce, the kernel consumes) and consumer rings
// (rx, completion: the kernel produces, we consume); only the methods of one
// role are called on a given ring.
//
// Cached indexes follow libxdp's xsk.h: a producer keeps cachedCons as the
// kernel's consumer index plus the ring size, so that the free space is the
// single subtraction cachedCons - cachedProd, and reads the shared consumer
// index only when that cached space is not enough. A consumer reads the
// shared producer index only when its cached view is empty.
//
// Memory ordering. The kernel side (net/xdp/xsk_queue.h) documents the
// protocol: the producer writes entries, then publishes the producer index
// with a release store (smp_store_release); the consumer reads the producer
// index with an acquire load before reading entries, and publishes the
// consumer index with a release store after it has finished reading them;
// the producer reads the consumer index with an acquire load before it
// overwrites slots. Go's sync/atomic loads and stores are sequentially
// consistent, which is at least acquire (loads) and release (stores), so
// each atomic below is the C11 operation libxdp uses, or stronger.
type ring[T uint64 | Desc] struct {
	cachedProd uint32
	cachedCons uint32
	mask       uint32
	size       uint32
	producer   *uint32 // shared with the kernel
	consumer   *uint32 // shared with the kernel
	flags      *uint32 // shared with the kernel (XDP_RING_NEED_WAKEUP)
	entries    []T     // size entries, shared with the kernel
}

// initRing points r at a ring laid out in mem at the offsets the kernel gave
// (XDP_MMAP_OFFSETS). A producer ring starts with size free slots.
func initRing[T uint64 | Desc](r *ring[T], mem []byte, off unix.XDPRingOffset, size uint32, producer bool) {
	base := unsafe.Pointer(unsafe.SliceData(mem))
	r.producer = (*uint32)(unsafe.Add(base, off.Producer))
	r.consumer = (*uint32)(unsafe.Add(base, off.Consumer))
	r.flags = (*uint32)(unsafe.Add(base, off.Flags))
	r.entries = unsafe.Slice((*T)(unsafe.Add(base, off.Desc)), size)
	r.size = size
	r.mask = size - 1
	// Acquire loads: pair with whatever the kernel last published (on a new
	// socket both indexes are 0; on a shared fill ring they may not be).
	r.cachedProd = atomic.LoadUint32(r.producer)
	r.cachedCons = atomic.LoadUint32(r.consumer)
	if producer {
		r.cachedCons += size
	}
}

// free returns how many slots the producer may fill, refreshing the cached
// consumer index from the kernel only if fewer than n are known free
// (libxdp xsk_prod_nb_free).
func (r *ring[T]) free(n uint32) uint32 {
	if f := r.cachedCons - r.cachedProd; f >= n {
		return f
	}
	// Acquire: pairs with the kernel's release store of the consumer index
	// (xskq_cons_release/__xskq_cons_release), so the kernel has finished
	// reading the slots we are about to overwrite.
	r.cachedCons = atomic.LoadUint32(r.consumer) + r.size
	return r.cachedCons - r.cachedProd
}

// reserve claims exactly n slots for the producer, or none: it returns the
// index of the first slot and true, or false if fewer than n are free.
// Slots are written with set and published with submit.
func (r *ring[T]) reserve(n uint32) (uint32, bool) {
	if r.free(n) < n {
		return 0, false
	}
	idx := r.cachedProd
	r.cachedProd += n
	return idx, true
}

// set writes the entry at free-running index idx.
func (r *ring[T]) set(idx uint32, v T) { r.entries[idx&r.mask] = v }

// get reads the entry at free-running index idx.
func (r *ring[T]) get(idx uint32) T { return r.entries[idx&r.mask] }

// submit publishes n reserved (and written) slots to the kernel.
func (r *ring[T]) submit(n uint32) {
	// Release: pairs with the kernel's acquire load of the producer index
	// (xskq_cons_peek / __xskq_cons_peek's smp_load_acquire), making the
	// entries written by set visible before the new index. We are the only
	// writer of the producer index, so a plain load of it is exact.
	atomic.StoreUint32(r.producer, *r.producer+n)
}

// avail returns how many entries the consumer may read, at most n,
// refreshing the cached producer index only when the cache is empty
// (libxdp xsk_cons_nb_avail).
func (r *ring[T]) avail(n uint32) uint32 {
	e := r.cachedProd - r.cachedCons
	if e == 0 {
		// Acquire: pairs with the kernel's release store of the producer
		// index (xskq_prod_submit*), so the entries up to it are visible.
		r.cachedProd = atomic.LoadUint32(r.producer)
		e = r.cachedProd - r.cachedCons
	}
	return min(e, n)
}

// peek claims up to n entries for reading; it returns how many and the index
// of the first. They stay the consumer's until release.
func (r *ring[T]) peek(n uint32) (uint32, uint32) {
	e := r.avail(n)
	idx := r.cachedCons
	r.cachedCons += e
	return e, idx
}

// release hands n read entries back to the kernel.
func (r *ring[T]) release(n uint32) {
	// Release: pairs with the kernel's acquire load of the consumer index
	// (xskq_prod_nb_free's smp_load_acquire): our reads of the entries
	// happen before the kernel may overwrite them. We are the only writer of
	// the consumer index, so a plain load of it is exact.
	atomic.StoreUint32(r.consumer, *r.consumer+n)
}

// needWakeup reports whether the kernel asked to be woken with a syscall
// (XDP_RING_NEED_WAKEUP); libxdp reads the flag with READ_ONCE.
func (r *ring[T]) needWakeup() bool {
	// Relaxed in libxdp; an atomic load here pairs with the kernel's
	// WRITE_ONCE of the flags word (xsk_set/clear_*_need_wakeup) so the
	// compiler cannot hoist it out of a polling loop.
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}
