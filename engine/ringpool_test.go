package engine

import (
	"testing"
	"unsafe"
)

func TestRingPool(t *testing.T) {
	var p ringPool
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
	x := p.Get(1 << 16)
	p.Put(x)
	y := p.Get(1 << 16)
	if unsafe.SliceData(x) != unsafe.SliceData(y) {
		t.Log("the pool dropped the buffer (a collection ran): not an error")
	}
}
