// Package ring provides bounded lock-free FIFO rings for handing packet
// descriptors (or any value type) between workers, in the manner of DPDK's
// rte_ring: SPSC for one producer and one consumer, MPMC for any number of
// each.
//
// # Model
//
// A ring is an array of size slots, size a power of two, and free-running
// 64-bit indexes that only ever grow (wrapping modulo 2^64, which never
// happens in practice); a slot is found by masking an index with size-1.
// The number of queued elements is producer index minus consumer index, so
// all size slots are usable and full and empty are told apart without a
// spare slot. Sizes run from MinSize to MaxSize; NewSPSC and NewMPMC return
// an error wrapping ErrSize for anything else.
//
// Elements are copied in and out by value; the ring never allocates after
// construction. When T holds pointers, dequeued slots are zeroed so the
// ring does not keep garbage alive; pointer-free T (descriptors) skip it.
//
// # Calls
//
// Every ring has the same methods:
//
//   - Enqueue(v) / Dequeue(): one element; false when full / empty.
//   - EnqueueBulk(src) / DequeueBulk(dst): all or nothing. Either all
//     len(src) elements are enqueued (all len(dst) dequeued) and the call
//     reports true, or the ring is left unchanged and it reports false.
//     A length above Cap can never succeed; a length of 0 always does.
//   - EnqueueBurst(src) / DequeueBurst(dst): as many as fit (as many as are
//     queued), up to the slice length; returns the count, 0 when full
//     (empty). Elements are taken from the front of src and written to the
//     front of dst.
//   - Len, Free, Cap. Cap is fixed. Len and Free are snapshots: exact when
//     no other goroutine uses the ring, approximate (but within [0, Cap])
//     under concurrency, so they suit statistics, not decisions.
//
// No call blocks waiting for room or for elements: a full or empty ring is
// reported at once and the caller decides whether to poll again, drop, or
// back off. That is the poll-mode worker model.
//
// # SPSC
//
// One goroutine enqueues and one goroutine dequeues (they may be the same
// goroutine). Each side owns one index and a cached copy of the other
// side's index, on its own cache lines. The producer re-reads the
// consumer's index only when its cached copy shows too little room, and the
// consumer re-reads the producer's index only when its copy shows too few
// elements, so in the steady state each side touches only its own line plus
// the slots (the scheme of DPDK's and libxdp's cached producer/consumer).
// Every operation is wait-free: a bounded number of steps, no loops.
//
// # MPMC
//
// MPMC uses DPDK's two-phase head/tail scheme rather than per-slot sequence
// numbers (Vyukov): bulk and burst operations then reserve any number of
// contiguous slots with one CAS and publish them with one store, and the
// slot array holds bare elements with no sequence words beside them. Each
// side has a head and a tail:
//
//  1. Reserve: read head and the other side's tail, compute room (or
//     elements), and CAS head forward by the amount taken. The CAS decides
//     which goroutine owns which slots.
//  2. Copy the elements into (out of) the reserved slots.
//  3. Publish: wait until the side's tail equals the reserved head, i.e.
//     every earlier reservation on this side has been published, then store
//     tail = head + n. The other side only ever looks at tail, so it sees
//     slots only after they were written (read).
//
// Progress. Reservation is lock-free: a CAS fails only because another
// goroutine's succeeded. Publication is not: a goroutine that reserved
// slots and is then descheduled before publishing holds back the tails, so
// later goroutines on the same side wait for it in step 3 (spinning, then
// yielding with runtime.Gosched so the holder can run even at GOMAXPROCS=1),
// and the other side sees nothing past it. Nothing is lost or reordered;
// the ring is "lock-free" in DPDK's loose sense (no locks, no syscalls) but
// not non-blocking in the formal sense, and it is not suitable where a
// goroutine may be stopped for long while holding a reservation. Per-slot
// sequence designs have the same window for the slot in question. Use one
// SPSC ring per producer/consumer pair where the topology allows it: it is
// wait-free and cheaper.
//
// Indexes are 64-bit, so a goroutine delayed between reading head and its
// CAS cannot be fooled by the index wrapping back to the same value (ABA);
// with DPDK's 32-bit indexes that takes 2^32 operations in the window.
//
// # Memory ordering
//
// The algorithms need acquire loads and release stores, plus the CAS on
// the MPMC heads. Loads and CAS use sync/atomic (sequentially consistent,
// a plain MOV for loads on amd64). Index publication uses storeRelease: a
// plain MOV on amd64 (TSO makes every store a release) and STLR on arm64,
// written in assembly, instead of atomic Store, whose full barrier (XCHG)
// stalls the publishing core until the index line arrives from the other
// core. Race-detector builds and other architectures use atomic Store, so
// the race detector checks the same happens-before edges. Each atomic
// in the source carries a comment naming the operation it pairs with: the
// release store that publishes an index after the slot writes (reads), and
// the acquire load on the other side that makes those writes visible
// before the slots are read (overwritten). Under the Go memory model the
// store is synchronized-before the load that observes it, so the plain slot
// accesses never race; the race detector checks this in the tests.
//
// # Layout
//
// The read-only fields (slot array, mask), the producer's state and the
// consumer's state are separated by 128-byte pads, so that the two sides
// never write the same cache line or the same adjacent-line prefetch pair.
package ring
