package ring

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"unsafe"
)

// api is the method set both ring kinds share; the tests run every case
// against both.
type api[T any] interface {
	Enqueue(T) bool
	EnqueueBulk([]T) bool
	EnqueueBurst([]T) int
	Dequeue() (T, bool)
	DequeueBulk([]T) bool
	DequeueBurst([]T) int
	Len() int
	Free() int
	Cap() int
}

// startAt is the test hook that moves an empty ring's free-running indexes
// to start, so wraparound of the indexes themselves (near 2^64) is covered
// without 2^64 operations.
func (r *SPSC[T]) startAt(start uint64) {
	r.prodPos.Store(start)
	r.consPos.Store(start)
	r.consCache = start
	r.prodCache = start
}

func (r *MPMC[T]) startAt(start uint64) {
	r.prod.head.Store(start)
	r.prod.tail.Store(start)
	r.cons.head.Store(start)
	r.cons.tail.Store(start)
}

type kind struct {
	name string
	new  func(size int, start uint64) (api[uint64], error)
}

var kinds = []kind{
	{"SPSC", func(size int, start uint64) (api[uint64], error) {
		r, err := NewSPSC[uint64](size)
		if err != nil {
			return nil, err
		}
		r.startAt(start)
		return r, nil
	}},
	{"MPMC", func(size int, start uint64) (api[uint64], error) {
		r, err := NewMPMC[uint64](size)
		if err != nil {
			return nil, err
		}
		r.startAt(start)
		return r, nil
	}},
}

// starts are the initial index values every edge case runs from: zero, just
// below the 32-bit boundary (a ring with 32-bit arithmetic would break
// there) and just below the 64-bit wrap.
var starts = []uint64{0, math.MaxUint32 - 2, math.MaxUint64 - 2}

func TestNewSize(t *testing.T) {
	for _, tc := range []struct {
		size int
		ok   bool
	}{
		{-4, false}, {0, false}, {1, true}, {2, true}, {3, false}, {6, false},
		{1024, true}, {1023, false}, {MaxSize, true}, {MaxSize + 1, false}, {MaxSize * 2, false},
	} {
		for _, k := range kinds {
			if tc.size == MaxSize && tc.ok {
				continue // a 2^30-slot allocation: covered by checkSize below
			}
			r, err := k.new(tc.size, 0)
			if tc.ok {
				if err != nil || r.Cap() != tc.size {
					t.Errorf("%s size %d: got err %v, want capacity %d", k.name, tc.size, err, tc.size)
				}
				continue
			}
			if !errors.Is(err, ErrSize) {
				t.Errorf("%s size %d: got err %v, want ErrSize", k.name, tc.size, err)
			}
		}
		if err := checkSize(tc.size); (err == nil) != tc.ok {
			t.Errorf("checkSize(%d) = %v, want ok=%v", tc.size, err, tc.ok)
		}
	}
}

// step is one call in an edge-case script. Enqueued values are numbered
// consecutively; every dequeued value must be the next number, which checks
// FIFO order across the wrap of both the slot array and the indexes.
type step struct {
	op   string // enq, enqBulk, enqBurst, deq, deqBulk, deqBurst
	n    int    // slice length for bulk/burst
	want int    // elements moved (bulk: n or 0; single: 1 or 0)
	len  int    // Len after the call
}

func TestEdges(t *testing.T) {
	repeat := func(k int, s ...step) []step {
		var out []step
		for range k {
			out = append(out, s...)
		}
		return out
	}
	cases := []struct {
		name  string
		size  int
		steps []step
	}{
		{"empty", 4, []step{
			{"deq", 0, 0, 0}, {"deqBulk", 1, 0, 0}, {"deqBurst", 4, 0, 0}, {"deqBulk", 0, 0, 0},
		}},
		{"fill exactly then full", 4, []step{
			{"enqBulk", 4, 4, 4}, {"enq", 0, 0, 4}, {"enqBurst", 2, 0, 4}, {"enqBulk", 1, 0, 4},
			{"deqBulk", 4, 4, 0}, {"deq", 0, 0, 0},
		}},
		{"bulk is all or nothing", 4, []step{
			{"enqBulk", 3, 3, 3}, {"enqBulk", 2, 0, 3}, {"enqBurst", 2, 1, 4},
			{"deqBulk", 5, 0, 4}, {"deqBulk", 2, 2, 2}, {"deqBulk", 3, 0, 2}, {"deqBurst", 3, 2, 0},
		}},
		{"burst takes what fits", 8, []step{
			{"enqBurst", 5, 5, 5}, {"enqBurst", 5, 3, 8}, {"enqBurst", 5, 0, 8},
			{"deqBurst", 6, 6, 2}, {"deqBurst", 6, 2, 0}, {"deqBurst", 6, 0, 0},
		}},
		{"longer than capacity", 4, []step{
			{"enqBulk", 5, 0, 0}, {"enqBurst", 9, 4, 4}, {"deqBulk", 5, 0, 4}, {"deqBurst", 9, 4, 0},
		}},
		{"zero length", 4, []step{
			{"enqBulk", 0, 0, 0}, {"enqBurst", 0, 0, 0}, {"enqBulk", 4, 4, 4}, {"enqBulk", 0, 0, 4},
			{"deqBurst", 0, 0, 4}, {"deqBulk", 0, 0, 4},
		}},
		{"size one", 1, []step{
			{"enq", 0, 1, 1}, {"enq", 0, 0, 1}, {"enqBurst", 3, 0, 1}, {"deq", 0, 1, 0}, {"deq", 0, 0, 0},
			{"enqBurst", 3, 1, 1}, {"deqBurst", 3, 1, 0},
		}},
		{"wrap slot array", 8, repeat(9, step{"enqBulk", 3, 3, 3}, step{"enq", 0, 1, 4},
			step{"deqBurst", 2, 2, 2}, step{"deq", 0, 1, 1}, step{"deqBulk", 1, 1, 0})},
		{"wrap while full", 4, repeat(6, step{"enqBurst", 4, 4, 4}, step{"deqBurst", 3, 3, 1},
			step{"enqBulk", 3, 3, 4}, step{"deqBulk", 4, 4, 0})},
	}
	for _, tc := range cases {
		for _, k := range kinds {
			for _, start := range starts {
				t.Run(fmt.Sprintf("%s/%s/start=%#x", tc.name, k.name, start), func(t *testing.T) {
					r, err := k.new(tc.size, start)
					if err != nil {
						t.Fatal(err)
					}
					runSteps(t, r, tc.steps)
				})
			}
		}
	}
}

func runSteps(t *testing.T, r api[uint64], steps []step) {
	t.Helper()
	var next, expect uint64 // next value to enqueue, next value a dequeue must return
	for i, s := range steps {
		var got int
		switch s.op {
		case "enq":
			if r.Enqueue(next) {
				got = 1
			}
		case "enqBulk", "enqBurst":
			src := make([]uint64, s.n)
			for j := range src {
				src[j] = next + uint64(j)
			}
			if s.op == "enqBulk" {
				if r.EnqueueBulk(src) {
					got = s.n
				}
			} else {
				got = r.EnqueueBurst(src)
			}
		case "deq":
			v, ok := r.Dequeue()
			if ok {
				got = 1
				if v != expect {
					t.Fatalf("step %d %+v: dequeued %d, want %d", i, s, v, expect)
				}
			} else if v != 0 {
				t.Fatalf("step %d %+v: failed Dequeue returned %d, want zero value", i, s, v)
			}
		case "deqBulk", "deqBurst":
			dst := make([]uint64, s.n)
			for j := range dst {
				dst[j] = math.MaxUint64 // sentinel: must be untouched past the count
			}
			if s.op == "deqBulk" {
				if r.DequeueBulk(dst) {
					got = s.n
				}
			} else {
				got = r.DequeueBurst(dst)
			}
			for j, v := range dst {
				if j < got && v != expect+uint64(j) {
					t.Fatalf("step %d %+v: dst[%d] = %d, want %d", i, s, j, v, expect+uint64(j))
				}
				if j >= got && v != math.MaxUint64 {
					t.Fatalf("step %d %+v: dst[%d] written past the count %d", i, s, j, got)
				}
			}
		default:
			t.Fatalf("bad op %q", s.op)
		}
		if got != s.want {
			t.Fatalf("step %d %+v: moved %d elements, want %d", i, s, got, s.want)
		}
		if s.op[:3] == "enq" {
			next += uint64(got)
		} else {
			expect += uint64(got)
		}
		if r.Len() != s.len || r.Free() != r.Cap()-s.len {
			t.Fatalf("step %d %+v: Len %d Free %d, want Len %d of Cap %d", i, s, r.Len(), r.Free(), s.len, r.Cap())
		}
	}
}

// TestModel drives each ring kind with random single-goroutine calls and
// compares every result with a plain slice queue.
func TestModel(t *testing.T) {
	for _, k := range kinds {
		for _, start := range starts {
			for _, size := range []int{1, 2, 8, 64} {
				t.Run(fmt.Sprintf("%s/size=%d/start=%#x", k.name, size, start), func(t *testing.T) {
					r, err := k.new(size, start)
					if err != nil {
						t.Fatal(err)
					}
					rng := rand.New(rand.NewPCG(uint64(size), start))
					var model []uint64
					var next uint64
					buf := make([]uint64, 2*size+1)
					for i := range 4000 {
						n := rng.IntN(len(buf))
						op := rng.IntN(6)
						switch op {
						case 0, 1: // Enqueue / EnqueueBulk / EnqueueBurst
							src := buf[:n]
							for j := range src {
								src[j] = next + uint64(j)
							}
							want := min(n, size-len(model))
							var got int
							switch {
							case op == 0 && n%2 == 0:
								want = 0
								if n <= size-len(model) {
									want = n
								}
								if r.EnqueueBulk(src) {
									got = n
								}
							case op == 0:
								want = min(1, size-len(model))
								if r.Enqueue(next) {
									got = 1
								}
							default:
								got = r.EnqueueBurst(src)
							}
							if got != want {
								t.Fatalf("call %d: enqueue moved %d, want %d (len %d, n %d)", i, got, want, len(model), n)
							}
							for j := range got {
								model = append(model, next+uint64(j))
							}
							next += uint64(got)
						default: // Dequeue / DequeueBulk / DequeueBurst
							dst := buf[:n]
							want := min(n, len(model))
							var got int
							switch op {
							case 2:
								want = 0
								if n <= len(model) {
									want = n
								}
								if r.DequeueBulk(dst) {
									got = n
								}
							case 3:
								want = min(1, len(model))
								dst = buf[:1]
								if v, ok := r.Dequeue(); ok {
									dst[0], got = v, 1
								}
							default:
								got = r.DequeueBurst(dst)
							}
							if got != want {
								t.Fatalf("call %d: dequeue moved %d, want %d (len %d, n %d)", i, got, want, len(model), n)
							}
							for j := range got {
								if dst[j] != model[j] {
									t.Fatalf("call %d: dst[%d] = %d, want %d", i, j, dst[j], model[j])
								}
							}
							model = model[got:]
						}
						if r.Len() != len(model) {
							t.Fatalf("call %d: Len %d, want %d", i, r.Len(), len(model))
						}
					}
				})
			}
		}
	}
}

// TestZeroValue: a zero ring has capacity 0 and neither panics nor moves
// anything.
func TestZeroValue(t *testing.T) {
	for name, r := range map[string]api[int]{"SPSC": &SPSC[int]{}, "MPMC": &MPMC[int]{}} {
		buf := make([]int, 4)
		if r.Enqueue(1) || r.EnqueueBulk(buf) || r.EnqueueBurst(buf) != 0 ||
			r.DequeueBulk(buf) || r.DequeueBurst(buf) != 0 || r.Cap() != 0 || r.Len() != 0 || r.Free() != 0 {
			t.Errorf("%s: zero ring moved elements or reported capacity", name)
		}
		if _, ok := r.Dequeue(); ok {
			t.Errorf("%s: zero ring dequeued", name)
		}
	}
}

// TestClearsPointers: slots of a pointer-holding T are zeroed on dequeue so
// the ring does not pin garbage; pointer-free T are left alone.
func TestClearsPointers(t *testing.T) {
	type desc struct {
		addr uint64
		buf  *[64]byte
	}
	s, _ := NewSPSC[desc](4)
	m, _ := NewMPMC[desc](4)
	for name, r := range map[string]api[desc]{"SPSC": s, "MPMC": m} {
		d := desc{1, new([64]byte)}
		r.Enqueue(d)
		r.EnqueueBulk([]desc{d, d, d})
		r.Dequeue()
		r.DequeueBurst(make([]desc, 3))
		var bufs []desc
		if name == "SPSC" {
			bufs = s.s.buf
		} else {
			bufs = m.s.buf
		}
		for i, v := range bufs {
			if v != (desc{}) {
				t.Errorf("%s: slot %d still holds %+v after dequeue", name, i, v)
			}
		}
	}
	p, _ := NewSPSC[uint64](4)
	if p.s.clear {
		t.Error("uint64 ring clears slots; only pointer-holding types need it")
	}
}

func TestHasPointers(t *testing.T) {
	type plain struct {
		A uint64
		B [4]uint32
		C struct{ D float64 }
	}
	type withString struct {
		A uint64
		S string
	}
	for _, tc := range []struct {
		v    any
		want bool
	}{
		{uint64(0), false}, {plain{}, false}, {[0]*int{}, false}, {[2]int{}, false}, {struct{}{}, false},
		{(*int)(nil), true}, {withString{}, true}, {[]byte(nil), true}, {[1]any{}, true},
		{map[int]int(nil), true}, {(chan int)(nil), true}, {(func())(nil), true}, {unsafe.Pointer(nil), true},
	} {
		if got := hasPointers(reflect.TypeOf(tc.v)); got != tc.want {
			t.Errorf("hasPointers(%T) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

// TestLayout checks that the producer's and consumer's written fields are
// at least one pad apart, so they cannot share a cache line or an
// adjacent-line prefetch pair whatever the allocation's alignment.
func TestLayout(t *testing.T) {
	var s SPSC[uint64]
	ro := unsafe.Offsetof(s.s) + unsafe.Sizeof(s.s)
	prodEnd := unsafe.Offsetof(s.consCache) + unsafe.Sizeof(s.consCache)
	if unsafe.Offsetof(s.prodPos) < ro+cacheLinePad || unsafe.Offsetof(s.consPos) < prodEnd+cacheLinePad ||
		unsafe.Offsetof(s.s) < cacheLinePad || unsafe.Sizeof(s)-unsafe.Offsetof(s.prodCache) < cacheLinePad {
		t.Errorf("SPSC layout: ro ends %d, prod at %d..%d, cons at %d, size %d", ro,
			unsafe.Offsetof(s.prodPos), prodEnd, unsafe.Offsetof(s.consPos), unsafe.Sizeof(s))
	}
	var m MPMC[uint64]
	ro = unsafe.Offsetof(m.s) + unsafe.Sizeof(m.s)
	if unsafe.Offsetof(m.prod) < ro+cacheLinePad ||
		unsafe.Offsetof(m.cons) < unsafe.Offsetof(m.prod)+unsafe.Sizeof(m.prod)+cacheLinePad ||
		unsafe.Sizeof(m)-unsafe.Offsetof(m.cons) < cacheLinePad+unsafe.Sizeof(m.cons) {
		t.Errorf("MPMC layout: ro ends %d, prod at %d, cons at %d, size %d", ro,
			unsafe.Offsetof(m.prod), unsafe.Offsetof(m.cons), unsafe.Sizeof(m))
	}
}

// TestNoAllocs: no operation allocates.
func TestNoAllocs(t *testing.T) {
	for _, k := range kinds {
		r, _ := k.new(64, 0)
		buf := make([]uint64, 32)
		allocs := testing.AllocsPerRun(100, func() {
			r.Enqueue(1)
			r.EnqueueBulk(buf[:8])
			r.EnqueueBurst(buf)
			r.Dequeue()
			r.DequeueBulk(buf[:8])
			r.DequeueBurst(buf)
			r.DequeueBurst(buf)
			_ = r.Len() + r.Free()
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per round, want 0", k.name, allocs)
		}
	}
}
