package afxdp

import (
	"math/rand/v2"
	"testing"
)

func TestPoolStates(t *testing.T) {
	p := newFramePool(12, 10, 4) // frames 10..13 of a 4096-byte UMEM
	a, ok := p.pop(stateApp)
	if !ok || a != 10<<12 {
		t.Fatalf("first frame = %#x, %v; want %#x", a, ok, 10<<12)
	}
	if p.push(a, stateFill) {
		t.Fatal("push accepted a frame from the wrong stage")
	}
	if !p.push(a+256, stateApp) { // an address inside the frame (headroom)
		t.Fatal("push refused the owned frame by an inner address")
	}
	if p.push(a, stateApp) {
		t.Fatal("double release accepted")
	}
	if p.push(9<<12, stateApp) || p.push(14<<12, stateApp) {
		t.Fatal("foreign frame accepted")
	}
	if got := p.stats(); got != (FrameCounts{Free: 4, Refused: 4}) {
		t.Fatalf("counts = %+v", got)
	}
	for range 4 {
		if _, ok := p.pop(stateFill); !ok {
			t.Fatal("pool ran dry early")
		}
	}
	if _, ok := p.pop(stateApp); ok {
		t.Fatal("empty pool handed out a frame")
	}
	if got := p.stats(); got.Fill != 4 || got.Free != 0 {
		t.Fatalf("counts = %+v", got)
	}
}

// TestPoolNeverHandsOutTwice drives the pool through random rx/tx cycles
// with a simulated kernel and checks, against an independent model, that no
// frame is ever handed out while the kernel or the application holds it,
// and that a kernel delivering a descriptor twice is refused.
func TestPoolNeverHandsOutTwice(t *testing.T) {
	const n = 64
	p := newFramePool(11, 0, n)
	rng := rand.New(rand.NewPCG(1, 2))
	owner := map[uint64]string{} // model: frames not free
	var fill, tx, app []uint64   // what the kernel and app hold
	take := func(s *[]uint64) uint64 {
		i := rng.IntN(len(*s))
		v := (*s)[i]
		(*s)[i] = (*s)[len(*s)-1]
		*s = (*s)[:len(*s)-1]
		return v
	}
	for step := range 20000 {
		switch rng.IntN(6) {
		case 0: // fill
			if a, ok := p.pop(stateFill); ok {
				if o, held := owner[a]; held {
					t.Fatalf("step %d: frame %#x handed to fill while %s holds it", step, a, o)
				}
				owner[a] = "fill"
				fill = append(fill, a)
			}
		case 1: // kernel delivers an rx descriptor
			if len(fill) > 0 {
				a := take(&fill)
				if !p.move(a+64, stateFill, stateApp) {
					t.Fatalf("step %d: rx of %#x refused", step, a)
				}
				owner[a] = "app"
				app = append(app, a)
				// A buggy kernel delivering it again must be refused.
				if p.move(a, stateFill, stateApp) {
					t.Fatalf("step %d: duplicate rx descriptor accepted", step)
				}
			}
		case 2: // alloc
			if a, ok := p.pop(stateApp); ok {
				if o, held := owner[a]; held {
					t.Fatalf("step %d: frame %#x allocated while %s holds it", step, a, o)
				}
				owner[a] = "app"
				app = append(app, a)
			}
		case 3: // transmit
			if len(app) > 0 {
				a := take(&app)
				if !p.move(a, stateApp, stateTx) {
					t.Fatalf("step %d: tx refused", step)
				}
				owner[a] = "tx"
				tx = append(tx, a)
			}
		case 4: // completion
			if len(tx) > 0 {
				a := take(&tx)
				if !p.push(a, stateTx) {
					t.Fatalf("step %d: completion refused", step)
				}
				delete(owner, a)
			}
		case 5: // release, sometimes twice
			if len(app) > 0 {
				a := take(&app)
				if !p.push(a, stateApp) {
					t.Fatalf("step %d: release refused", step)
				}
				delete(owner, a)
				if rng.IntN(4) == 0 && p.push(a, stateApp) {
					t.Fatalf("step %d: double release accepted", step)
				}
			}
		}
		c := p.stats()
		if int(c.Fill) != len(fill) || int(c.Tx) != len(tx) || int(c.App) != len(app) ||
			int(c.Free) != n-len(owner) {
			t.Fatalf("step %d: counts %+v, model fill %d tx %d app %d free %d",
				step, c, len(fill), len(tx), len(app), n-len(owner))
		}
	}
}

func TestPoolNoAlloc(t *testing.T) {
	p := newFramePool(12, 0, 16)
	allocs := testing.AllocsPerRun(100, func() {
		a, _ := p.pop(stateApp)
		p.move(a, stateApp, stateTx)
		p.push(a, stateTx)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame cycle", allocs)
	}
}
