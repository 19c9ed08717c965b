package tcp

import (
	"runtime"
	"testing"
	"unsafe"
)

func TestRingPool(t *testing.T) {
	var p RingPool
	b := p.Get(1 << 12)
	if len(b) != 1<<12 || cap(b) != 1<<12 {
		t.Fatalf("len %d cap %d", len(b), cap(b))
	}
	b[0] = 1
	p.Put(b)
	if p.lent() != 0 {
		t.Fatalf("lent %d after Put", p.lent())
	}
	// Another size class never returns it.
	if c := p.Get(1 << 13); len(c) != 1<<13 {
		t.Fatalf("len %d", len(c))
	}
	// Odd sizes are plain allocations, and Put ignores them.
	if c := p.Get(3000); len(c) != 3000 {
		t.Fatalf("len %d", len(c))
	}
	p.Put(make([]byte, 3000))
	p.Put(make([]byte, 4096, 8192))
	// A Get/Put cycle allocates nothing (the pool stores *byte).
	allocs := testing.AllocsPerRun(100, func() {
		p.Put(p.Get(1 << 16))
	})
	if allocs > 0 {
		t.Errorf("Get/Put allocates %.1f times", allocs)
	}
	// The first level outlives garbage collections, up to ringKeep bytes
	// per class; the rest goes to the sync.Pool.
	const size = 1 << 22
	keep := ringKeep / size
	var bufs [][]byte
	for range keep + 4 {
		bufs = append(bufs, p.Get(size))
	}
	for _, b := range bufs {
		p.Put(b)
	}
	runtime.GC()
	runtime.GC() // the sync.Pool level is empty now
	for i := range keep {
		got := p.Get(size)
		if unsafe.SliceData(got) != unsafe.SliceData(bufs[keep-1-i]) {
			t.Fatalf("buffer %d of the first level was not kept through collections", i)
		}
	}
	if n := len(p.keep[22]); n != 0 {
		t.Fatalf("first level holds %d after taking %d", n, keep)
	}
}
