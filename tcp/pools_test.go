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
	// The pool keeps at most Max bytes; Decay lets go of half of what
	// nobody took since the last one, and the rest after more of them.
	const size = 1 << 22
	q := RingPool{Max: 8 * size}
	var bufs [][]byte
	for range 10 {
		bufs = append(bufs, q.Get(size))
	}
	for _, b := range bufs {
		q.Put(b)
	}
	if st := q.Stats(); st.Bytes != 8*size || st.Released != 2*size {
		t.Fatalf("after 10 puts over a bound of 8: %d bytes kept, %d released", st.Bytes, st.Released)
	}
	q.Decay() // the first decay after the puts: their low mark is 0, nothing goes
	if got := q.Stats().Bytes; got != 8*size {
		t.Fatalf("first decay kept %d bytes, want %d", got, 8*size)
	}
	runtime.GC()
	if got := q.Get(size); unsafe.SliceData(got) != unsafe.SliceData(bufs[7]) {
		t.Fatal("the pool's buffers did not survive a collection")
	} else {
		q.Put(got)
	}
	// 7 stayed untouched since the Get above: 4 go, then half of the rest.
	want := []int64{4, 2, 1, 0}
	for i := range want {
		q.Decay()
		if got := q.Stats().Bytes / size; got != want[i] {
			t.Fatalf("decay %d: %d buffers kept, want %d", i+1, got, want[i])
		}
	}
	if st := q.Stats(); st.Released != 10*size {
		t.Fatalf("released %d bytes in all, want %d", st.Released, 10*size)
	}
}
