package handleq

import (
	"slices"
	"testing"
)

// TestQueues: queues share the pool's nodes, drain in arrival order, give
// their nodes back, and a full pool refuses.
func TestQueues(t *testing.T) {
	p := NewPool(3)
	var a, b Queue
	for _, c := range []struct {
		q *Queue
		h uint64
	}{{&a, 1}, {&b, 2}, {&a, 3}} {
		if !p.Push(c.q, c.h) {
			t.Fatalf("push %d refused", c.h)
		}
	}
	if p.Push(&b, 4) {
		t.Fatal("a full pool took a handle")
	}
	var got []uint64
	p.Drain(&a, func(h uint64) { got = append(got, h) })
	if !slices.Equal(got, []uint64{1, 3}) || a.Len() != 0 || b.Len() != 1 {
		t.Fatalf("drained %v, lengths %d %d", got, a.Len(), b.Len())
	}
	if !p.Push(&b, 5) || !p.Push(&b, 6) || p.Push(&b, 7) {
		t.Fatal("the drained nodes were not free again")
	}
	got = got[:0]
	p.Drain(&b, func(h uint64) { got = append(got, h) })
	if !slices.Equal(got, []uint64{2, 5, 6}) {
		t.Fatalf("drained %v, want [2 5 6]", got)
	}
	p.Drain(&b, nil) // empty: nothing
	if z := NewPool(0); z.Push(&a, 1) {
		t.Fatal("an empty pool took a handle")
	}
}
