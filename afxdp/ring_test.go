package afxdp

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fakeRing lays out a ring the way the kernel does in its mmap'd area, so
// the user-side code can be tested against a simulated kernel side.
type fakeRing struct {
	mem []byte
	off unix.XDPRingOffset
}

func newFakeRing(size uint32, entry uintptr, prod, cons uint32) *fakeRing {
	f := &fakeRing{
		mem: make([]byte, 256+uintptr(size)*entry),
		off: unix.XDPRingOffset{Producer: 0, Consumer: 64, Flags: 128, Desc: 256},
	}
	*f.producer() = prod
	*f.consumer() = cons
	return f
}

func (f *fakeRing) producer() *uint32 { return (*uint32)(unsafe.Pointer(&f.mem[f.off.Producer])) }
func (f *fakeRing) consumer() *uint32 { return (*uint32)(unsafe.Pointer(&f.mem[f.off.Consumer])) }
func (f *fakeRing) flags() *uint32    { return (*uint32)(unsafe.Pointer(&f.mem[f.off.Flags])) }

func TestRingProducerWraps(t *testing.T) {
	// Indexes start just below 2^32 so every subtraction wraps.
	const size = 8
	start := ^uint32(0) - 2
	f := newFakeRing(size, 8, start, start)
	var r ring[uint64]
	initRing(&r, f.mem, f.off, size, true)

	if got := r.free(1); got != size {
		t.Fatalf("free on empty ring = %d, want %d", got, size)
	}
	idx, ok := r.reserve(5)
	if !ok || idx != start {
		t.Fatalf("reserve(5) = %d, %v; want %d, true", idx, ok, start)
	}
	for i := range uint32(5) {
		r.set(idx+i, uint64(100+i))
	}
	if *f.producer() != start {
		t.Fatalf("producer moved before submit")
	}
	r.submit(5)
	if got, want := *f.producer(), start+5; got != want {
		t.Fatalf("producer after submit = %d, want %d (wrapped)", got, want)
	}
	// Only 3 slots left: an all-or-nothing reserve of 4 must fail.
	if _, ok := r.reserve(4); ok {
		t.Fatal("reserve(4) succeeded with 3 free slots")
	}
	// The kernel consumes 4 entries, checking their values and slots.
	for i := range uint32(4) {
		slot := (start + i) & (size - 1)
		v := *(*uint64)(unsafe.Pointer(&f.mem[f.off.Desc+uint64(slot)*8]))
		if v != uint64(100+i) {
			t.Fatalf("slot %d holds %d, want %d", slot, v, 100+i)
		}
	}
	*f.consumer() = start + 4
	// The cached consumer index is refreshed only when needed.
	if got := r.free(3); got != 3 {
		t.Fatalf("free(3) = %d, want 3 from the cache", got)
	}
	if got := r.free(4); got != 7 {
		t.Fatalf("free(4) = %d, want 7 after refresh", got)
	}
	idx, ok = r.reserve(7)
	if !ok || idx != start+5 {
		t.Fatalf("reserve(7) = %d, %v", idx, ok)
	}
	r.submit(7)
	if got := *f.producer(); got != start+12 {
		t.Fatalf("producer = %d, want %d", got, start+12)
	}
	if r.free(1) != 0 {
		t.Fatal("full ring reports free slots")
	}
}

func TestRingConsumerWraps(t *testing.T) {
	const size = 4
	start := ^uint32(0) - 1
	f := newFakeRing(size, unsafe.Sizeof(Desc{}), start, start)
	var r ring[Desc]
	initRing(&r, f.mem, f.off, size, false)

	if n, _ := r.peek(4); n != 0 {
		t.Fatalf("peek on empty ring = %d", n)
	}
	// Kernel produces 3 descriptors.
	for i := range uint32(3) {
		slot := (start + i) & (size - 1)
		*(*Desc)(unsafe.Pointer(&f.mem[f.off.Desc+uint64(slot)*16])) = Desc{Addr: uint64(i) << 12, Len: 60 + i}
	}
	*f.producer() = start + 3
	n, idx := r.peek(2)
	if n != 2 || idx != start {
		t.Fatalf("peek(2) = %d at %d", n, idx)
	}
	if d := r.get(idx + 1); d.Len != 61 || d.Addr != 1<<12 {
		t.Fatalf("entry 1 = %+v", d)
	}
	// Peeking again uses the cache, not the shared index.
	*f.producer() = start + 4 // a 4th entry the cache does not know yet
	if n, idx := r.peek(4); n != 1 || idx != start+2 {
		t.Fatalf("second peek = %d at %d, want 1 cached entry", n, idx)
	}
	if *f.consumer() != start {
		t.Fatal("consumer moved before release")
	}
	r.release(3)
	if got := *f.consumer(); got != start+3 {
		t.Fatalf("consumer = %d, want %d", got, start+3)
	}
	if n, _ := r.peek(4); n != 1 {
		t.Fatalf("peek after refresh = %d, want 1", n)
	}
}

func TestRingNeedWakeup(t *testing.T) {
	f := newFakeRing(4, 8, 0, 0)
	var r ring[uint64]
	initRing(&r, f.mem, f.off, 4, true)
	if r.needWakeup() {
		t.Fatal("needWakeup with flags 0")
	}
	*f.flags() = unix.XDP_RING_NEED_WAKEUP
	if !r.needWakeup() {
		t.Fatal("no needWakeup with XDP_RING_NEED_WAKEUP set")
	}
}

func TestRingNoAlloc(t *testing.T) {
	f := newFakeRing(64, 8, 0, 0)
	var r ring[uint64]
	initRing(&r, f.mem, f.off, 64, true)
	allocs := testing.AllocsPerRun(100, func() {
		idx, ok := r.reserve(16)
		if ok {
			for i := range uint32(16) {
				r.set(idx+i, uint64(i))
			}
			r.submit(16)
		}
		*f.consumer() = *f.producer()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per reserve/submit", allocs)
	}
}
