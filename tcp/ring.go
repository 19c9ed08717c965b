package tcp

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"
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
// Memory that changes. The worker may give a ring other memory while the
// connection lives (the endpoint's buffers grow with use and are trimmed
// when idle, ringmem.go): the memory is published through an atomic
// pointer, always loaded after head, so a reader that saw bytes below head
// finds them in the memory it loads. The application's side is marked
// while it is inside Read or Write (inC, inP):
//
//   - Receive ring (the application consumes): read-copy-update. The
//     worker copies the content into the new memory and publishes it at
//     any time, never waiting. The reader counts its Reads in inC (odd
//     inside one); old memory is reused at once if the reader was not
//     inside a Read, else once that Read is over (inC moved on), which a
//     later change or reclaim sees.
//   - Send ring (the application produces): exclusion. The worker raises
//     moving and gives up if the writer is inside Write; the writer raises
//     inP and waits, without blocking, while moving is up (Dekker's
//     protocol on sequentially consistent atomics: at least one side sees
//     the other's flag). A send ring without memory gets its first from
//     the writer, inside Write (Endpoint's attachSend).
//
// Stale memory. The consumer only ever sees bytes in [tail, head), and
// head only advances over bytes written first: Write and Append copy and
// then publish; Commit publishes bytes that WriteAt placed (the receive
// side commits only the contiguous ranges its out-of-order queue recorded
// as written, and WriteAt reports exactly what it wrote). So a ring may be
// built on reused memory (NewByteRingOn) holding anything: no byte of it
// is read before this ring wrote it.
//
// Producer methods: Write (the application) or Append, WriteAt, Commit (the
// worker), Free. Consumer methods: Read (the application) or Peek, Discard
// (the worker), Len. Cap may be called by anyone. Each role belongs to one
// goroutine at a time.
type ByteRing struct {
	// mem is the memory now (a slot, or noMem when there is none); stored
	// by the side that changes it (ringmem.go), loaded after head.
	mem    atomic.Pointer[ringMem]
	slots  [2]ringMem
	ep     *Endpoint     // attaches memory on a Write to an empty ring (nil: standalone)
	moving atomic.Uint32 // the worker is changing the send ring's memory
	// stale (worker): the slots not in use may still be held by the
	// reader, inside the Read numbered stale (inC's odd value then); 0:
	// none.
	stale uint32
	// capacity is mem's size, for Cap and Free from anywhere: stored after
	// mem by the side that changes the memory.
	capacity atomic.Uint64
	// head: next byte the producer writes. Stored by the producer after
	// the bytes (pairs with the consumer's loads in Len/Read/Peek).
	head atomic.Uint64
	inP  atomic.Uint32 // the application is inside Write (send ring)
	_    [52]byte
	// tail: next byte the consumer reads. Stored by the consumer after it
	// is done with the bytes (pairs with the producer's loads in Free).
	tail atomic.Uint64
	inC  atomic.Uint32 // the application's Reads (receive ring): odd while inside one
	_    [52]byte
}

// ringMem describes a ring's memory: size bytes at p (a power of two), or
// none (size 0).
type ringMem struct {
	p    *byte
	size uint64
}

func (m *ringMem) bytes() []byte {
	if m.size == 0 {
		return nil
	}
	return unsafe.Slice(m.p, m.size)
}

// noMem is the memory of a ring that has none: capacity 0.
var noMem ringMem

// MinRing and MaxRing bound a ByteRing's capacity.
const (
	MinRing = 1 << 10
	MaxRing = 1 << 30
)

func checkRingSize(size int) error {
	if size < MinRing || size > MaxRing || size&(size-1) != 0 {
		return fmt.Errorf("tcp: ring size %d is not a power of two in [%d, %d]: %w", size, MinRing, MaxRing, ErrConfig)
	}
	return nil
}

// NewByteRing returns an empty ring of size bytes, a power of two in
// [MinRing, MaxRing]; otherwise the error wraps ErrConfig.
func NewByteRing(size int) (*ByteRing, error) {
	if err := checkRingSize(size); err != nil {
		return nil, err
	}
	return NewByteRingOn(make([]byte, size))
}

// NewByteRingOn returns an empty ring over buf (not cleared: see "Stale
// memory" above), whose length must be a power of two in [MinRing,
// MaxRing]; otherwise the error wraps ErrConfig.
func NewByteRingOn(buf []byte) (*ByteRing, error) {
	if err := checkRingSize(len(buf)); err != nil {
		return nil, err
	}
	r := new(ByteRing)
	r.init(nil)
	r.slots[0] = ringMem{p: unsafe.SliceData(buf), size: uint64(len(buf))}
	r.mem.Store(&r.slots[0])
	r.capacity.Store(uint64(len(buf)))
	return r, nil
}

// init makes r an empty ring without memory, attached to ep (nil: none).
func (r *ByteRing) init(ep *Endpoint) {
	r.ep = ep
	r.mem.Store(&noMem)
	r.capacity.Store(0)
}

// Cap returns the capacity in bytes (0 while the ring has no memory): exact
// for the side that may change the memory (the producer of a send ring
// inside Write, the worker), a snapshot for anyone else.
func (r *ByteRing) Cap() int { return int(r.capacity.Load()) }

// Len returns the number of bytes queued (exact for the consumer; a
// snapshot for anyone else).
func (r *ByteRing) Len() int {
	t := r.tail.Load() // own index (consumer) or snapshot
	h := r.head.Load() // pairs with the producer's head store
	return int(h - t)
}

// Free returns the room left for the producer (exact for the producer).
// An endpoint's send ring without memory reports what the application's
// next Write may attach (Config.SendBuf, or BufMin under pressure).
func (r *ByteRing) Free() int {
	h := r.head.Load()
	t := r.tail.Load() // pairs with the consumer's tail store
	c := r.Cap()
	if c == 0 && r.ep != nil {
		return r.ep.sendAttachSize(1 << 30)
	}
	return max(c-int(h-t), 0)
}

// Consumed returns the total number of bytes ever consumed (the tail
// index). The worker uses it on the receive ring to see how fast the
// application reads.
func (r *ByteRing) Consumed() uint64 { return r.tail.Load() } // pairs with the consumer's tail store

// Write copies as much of p as fits and publishes it; it returns the count
// (0 when full). The application's producer call (send ring): a ring
// without memory gets its endpoint's first buffer here (ringmem.go).
func (r *ByteRing) Write(p []byte) int {
	r.inP.Store(1)             // Dekker: pairs with the worker's moving store and inP load
	for r.moving.Load() != 0 { // the worker is changing the memory: a few instructions
		runtime.Gosched()
	}
	if r.Cap() == 0 && len(p) > 0 && r.ep != nil {
		r.ep.attachSend(r, len(p))
	}
	n := r.Append(p)
	r.inP.Store(0)
	return n
}

// Append copies as much of p as fits and publishes it: the worker's
// producer call on a receive ring.
func (r *ByteRing) Append(p []byte) int {
	n := min(len(p), r.Free())
	if n == 0 {
		return 0
	}
	h := r.head.Load()
	r.copyIn(r.mem.Load(), h, p[:n])
	r.head.Store(h + uint64(n)) // publish: pairs with the consumer's head load
	return n
}

// WriteAt copies p into the free space at offset off past the published
// bytes without publishing it; bytes that would not fit are left out and
// the count written is returned. Commit publishes. Producer only.
func (r *ByteRing) WriteAt(off int, p []byte) int {
	free := r.Free()
	if off >= free {
		return 0
	}
	n := min(len(p), free-off)
	r.copyIn(r.mem.Load(), r.head.Load()+uint64(off), p[:n])
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

func (r *ByteRing) copyIn(m *ringMem, pos uint64, p []byte) {
	buf := m.bytes()
	i := int(pos & (m.size - 1))
	c := copy(buf[i:], p)
	copy(buf, p[c:])
}

// Read copies up to len(p) queued bytes into p, frees them, and returns the
// count (0 when empty). The application's consumer call (receive ring).
func (r *ByteRing) Read(p []byte) int {
	r.inC.Add(1) // inside (odd), read-copy-update: pairs with the worker's inC load after it publishes new memory
	a, b := r.Peek(0, len(p))
	n := copy(p, a)
	n += copy(p[n:], b)
	r.Discard(n)
	r.inC.Add(1) // outside (even)
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
	m := r.mem.Load() // after head: it holds every byte below h
	buf := m.bytes()
	n = min(n, avail)
	i := int((t + uint64(off)) & (m.size - 1))
	if i+n <= len(buf) {
		return buf[i : i+n], nil
	}
	return buf[i:], buf[:n-(len(buf)-i)]
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

// spent are buffers a ring gave up that no one can touch any more: the
// caller gives them back (nil entries are none).
type spent [3][]byte

// spareSlot returns a descriptor for new memory that no reader can hold:
// a slot not in use, unless slots retired while the reader was inside a
// Read may still be held by it (stale) and it is still inside that Read:
// then a new descriptor. It may free stale slots, whose buffers it adds
// to sp.
func (r *ByteRing) spareSlot(sp *spent) *ringMem {
	if r.stale != 0 {
		if r.inC.Load() == r.stale { // pairs with the reader's inC adds
			return new(ringMem) // rare: two changes within one Read
		}
		r.clearSpare(sp)
	}
	if r.mem.Load() == &r.slots[0] {
		return &r.slots[1]
	}
	return &r.slots[0]
}

// clearSpare empties the slots not in use, adding their buffers to sp:
// only when no reader can hold them.
func (r *ByteRing) clearSpare(sp *spent) {
	cur := r.mem.Load()
	for i := range r.slots {
		if &r.slots[i] != cur {
			sp.add(r.slots[i].bytes())
			r.slots[i] = ringMem{}
		}
	}
	r.stale = 0
}

func (sp *spent) add(b []byte) {
	if len(b) == 0 {
		return
	}
	for i := range sp {
		if sp[i] == nil {
			sp[i] = b
			return
		}
	}
}

// reclaim gives back the memory retired while the reader was inside a
// Read, once that Read is over (worker only).
func (r *ByteRing) reclaim() (sp spent) {
	if r.stale != 0 && r.inC.Load() != r.stale { // pairs with the reader's inC adds
		r.clearSpare(&sp)
	}
	return sp
}

// moveTo gives the ring buf (nil: no memory), copying the bytes in [tail,
// head+extra) to their offsets in it (extra covers out-of-order data
// placed past head). buf must hold them. The caller has the right to
// change the memory (replace, tryReplace, or the application's Write on a
// ring without memory). The old memory stays in its slot until
// clearSpare; old is set only when it had none (a descriptor of its own).
func (r *ByteRing) moveTo(buf []byte, extra int, sp *spent) (old []byte) {
	cur := r.mem.Load()
	s := &noMem
	if len(buf) > 0 {
		s = r.spareSlot(sp)
		*s = ringMem{p: unsafe.SliceData(buf), size: uint64(len(buf))}
		t, h := r.tail.Load(), r.head.Load()+uint64(extra)
		if old := cur.bytes(); len(old) > 0 {
			for i := t; i < h; {
				src := old[i&(cur.size-1) : min(cur.size, (i&(cur.size-1))+(h-i))]
				i += uint64(copy(buf[i&(s.size-1):], src))
			}
		}
	}
	r.mem.Store(s) // publish: pairs with the loads after head in Peek and Append
	r.capacity.Store(s.size)
	if cur != &r.slots[0] && cur != &r.slots[1] {
		return cur.bytes()
	}
	return nil
}

// replace gives a receive ring new memory, or none (buf nil, only when
// the ring holds no data: Len is 0 and nothing was placed past head),
// without waiting for the reader (read-copy-update; worker only): see
// moveTo. It returns the buffers that may be reused, and one the garbage
// collector must free instead (rare: see spareSlot). When the reader was
// inside Read while there was data, it may still copy from the old
// memory: that stays in its slot until reclaim or a later replace finds
// the reader out. An empty ring's reader copies nothing: it stored tail,
// which made the ring empty, after its copy.
func (r *ByteRing) replace(buf []byte, extra int) (sp spent, gc []byte) {
	old := r.moveTo(buf, extra, &sp)
	if in := r.inC.Load(); buf != nil && in&1 != 0 { // pairs with the reader's inC adds: it may hold the old memory
		r.stale = in
		return sp, old
	}
	r.clearSpare(&sp)
	sp.add(old)
	return sp, nil
}

// tryReplace gives a send ring new memory, or none (buf nil: only when it
// is empty), unless the application is inside Write: then it changes
// nothing and reports false. Worker only; see moveTo. It returns the old
// memory, which may be reused at once.
func (r *ByteRing) tryReplace(buf []byte) (sp spent, ok bool) {
	r.moving.Store(1)      // Dekker: pairs with Write's inP store and moving load
	if r.inP.Load() != 0 { // the writer is inside: try later
		r.moving.Store(0)
		return sp, false
	}
	if buf == nil && r.Len() > 0 { // written since the caller looked
		r.moving.Store(0)
		return sp, false
	}
	sp.add(r.moveTo(buf, 0, &sp))
	r.clearSpare(&sp)
	r.moving.Store(0)
	return sp, true
}

// regrow moves the ring's content into buf, a larger power of two, keeping
// the indexes (the same bytes at the same stream offsets), and returns the
// old memory; neither side may use the ring meanwhile (tests).
func (r *ByteRing) regrow(buf []byte) []byte {
	var sp spent
	sp.add(r.moveTo(buf, 0, &sp))
	r.clearSpare(&sp)
	return sp[0]
}

// detach takes the ring's memory away and returns it: the ring then has no
// room and no data (capacity 0, head = tail), so a stray access after the
// memory went back to a pool sees none of it. Only when neither side can
// use the ring (Endpoint.ReleaseBuffers).
func (r *ByteRing) detach() (sp spent) {
	r.tail.Store(r.head.Load())
	sp.add(r.moveTo(nil, 0, &sp))
	r.clearSpare(&sp)
	return sp
}
