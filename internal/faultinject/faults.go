package faultinject

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/stats"
)

// Config injects faults into a worker's frames. Testing only: it exists
// so that tests can prove the stack survives loss, duplication and
// reordering.
type Config struct {
	// Seed seeds each worker's generator (worker i uses Seed and i).
	Seed uint64
	// Rx and Tx are the faults on received and on transmitted frames.
	Rx, Tx Rates
	// ReorderDepth is how many later frames overtake a held frame (default
	// 3, at most maxHeld).
	ReorderDepth int
	// ReorderDelay releases a held frame after this long even when no
	// later frame came (default 1 ms).
	ReorderDelay time.Duration
}

// Rates are per-frame probabilities in [0, 1]; their sum is at most 1.
type Rates struct {
	Drop, Duplicate, Reorder float64
}

const (
	maxHeld             = 256
	defaultReorderDepth = 3
	defaultReorderDelay = time.Millisecond
)

func (f *Config) validate() error {
	for _, r := range []Rates{f.Rx, f.Tx} {
		for _, p := range []float64{r.Drop, r.Duplicate, r.Reorder} {
			if !(p >= 0 && p <= 1) {
				return fmt.Errorf("fault probability %v: want 0..1", p)
			}
		}
		if r.Drop+r.Duplicate+r.Reorder > 1 {
			return fmt.Errorf("fault probabilities %+v add up to more than 1", r)
		}
	}
	if f.ReorderDepth < 0 || f.ReorderDepth > maxHeld {
		return fmt.Errorf("reorder depth %d: want 0..%d", f.ReorderDepth, maxHeld)
	}
	if f.ReorderDelay < 0 {
		return fmt.Errorf("reorder delay %v is negative", f.ReorderDelay)
	}
	return nil
}

// fate is what the injector does with one frame.
type fate uint8

const (
	fatePass fate = iota
	fateDrop
	fateDuplicate
	fateHold
)

// faulter decides the fate of the frames of one direction and keeps the
// frames it holds (a FIFO: all wait the same depth and delay, so the head
// is always the first due). T is a held frame: a pool buffer on receive, a
// UMEM descriptor on transmit.
type faulter[T any] struct {
	rng                    *rand.PCG
	drop, dup, reorder     float64 // cumulative thresholds
	depth                  int
	delay                  int64
	held                   []heldFrame[T] // FIFO, held[0] oldest
	dropped, duped, holdNo *uint64
}

type heldFrame[T any] struct {
	v     T
	left  int   // later frames still to pass
	until int64 // or this deadline
}

func newFaulter[T any](r Rates, depth int, delay time.Duration, seed, stream uint64, dropped, duped, held *uint64) *faulter[T] {
	if depth == 0 {
		depth = defaultReorderDepth
	}
	if delay == 0 {
		delay = defaultReorderDelay
	}
	return &faulter[T]{
		rng:  rand.NewPCG(seed, stream),
		drop: r.Drop, dup: r.Drop + r.Duplicate, reorder: r.Drop + r.Duplicate + r.Reorder,
		depth: depth, delay: int64(delay),
		held:    make([]heldFrame[T], 0, maxHeld),
		dropped: dropped, duped: duped, holdNo: held,
	}
}

// decide draws the fate of the next frame and counts it. A hold is
// refused (the frame passes) when maxHeld frames are already held.
func (f *faulter[T]) decide() fate {
	u := float64(f.rng.Uint64()>>11) / (1 << 53)
	switch {
	case u < f.drop:
		*f.dropped++
		return fateDrop
	case u < f.dup:
		*f.duped++
		return fateDuplicate
	case u < f.reorder && len(f.held) < maxHeld:
		*f.holdNo++
		return fateHold
	}
	return fatePass
}

// hold keeps v back.
func (f *faulter[T]) hold(v T, now int64) {
	f.held = append(f.held, heldFrame[T]{v: v, left: f.depth, until: now + f.delay})
}

// passed records that n frames went out, overtaking the held ones.
func (f *faulter[T]) passed(n int) {
	for i := range f.held {
		f.held[i].left -= n
	}
}

// release returns the oldest held frame when it is due.
func (f *faulter[T]) release(now int64) (T, bool) {
	var zero T
	if len(f.held) == 0 || f.held[0].left > 0 && f.held[0].until > now {
		return zero, false
	}
	v := f.held[0].v
	copy(f.held, f.held[1:])
	f.held[len(f.held)-1] = heldFrame[T]{}
	f.held = f.held[:len(f.held)-1]
	return v, true
}

// nextDeadline is the earliest release time, 0 when nothing is held.
func (f *faulter[T]) nextDeadline() int64 {
	if len(f.held) == 0 {
		return 0
	}
	return f.held[0].until
}

// injector is a worker's injector: one faulter per direction.
type injector struct {
	w     *datapath.Worker
	rx    *faulter[rxHeld]
	tx    *faulter[afxdp.Desc]
	st    stats.Faults
	txOut []afxdp.Desc // scratch: the batch after the faults
}

// rxHeld is a received frame copied out of UMEM.
type rxHeld struct {
	buf *datapath.Buf
	n   int
}

// New checks c and returns what makes each worker's injector, for
// datapath.Config.Injector (the engine's test hook WithFaults).
func New(c Config) (datapath.NewInjector, error) {
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("faultinject: %w", err)
	}
	return func(w *datapath.Worker) datapath.Injector {
		q := w.Queue()
		f := &injector{w: w, txOut: make([]afxdp.Desc, 0, 256)}
		f.rx = newFaulter[rxHeld](c.Rx, c.ReorderDepth, c.ReorderDelay, c.Seed, uint64(2*q), &f.st.RxDropped, &f.st.RxDuplicated, &f.st.RxReordered)
		f.tx = newFaulter[afxdp.Desc](c.Tx, c.ReorderDepth, c.ReorderDelay, c.Seed, uint64(2*q+1), &f.st.TxDropped, &f.st.TxDuplicated, &f.st.TxReordered)
		return f
	}, nil
}

// Stats implements datapath.Injector.
func (f *injector) Stats() stats.Faults { return f.st }

// NextDeadline implements datapath.Injector: the earliest time a held
// frame is due, 0 when none.
func (f *injector) NextDeadline() int64 {
	a, b := f.rx.nextDeadline(), f.tx.nextDeadline()
	if a == 0 || b != 0 && b < a {
		return b
	}
	return a
}

// isARP reports whether a frame is ARP (faults leave ARP alone).
func isARP(frame []byte) bool {
	return len(frame) >= 14 && frame[12] == 0x08 && frame[13] == 0x06
}

// Receive implements datapath.Injector.
func (f *injector) Receive(descs []afxdp.Desc) {
	w, r := f.w, f.rx
	for _, d := range descs {
		frame := w.Frame(d)
		if isARP(frame) {
			w.Deliver(d)
			continue
		}
		switch r.decide() {
		case fatePass:
			w.Deliver(d)
			r.passed(1)
		case fateDrop:
			w.CountRx(len(frame))
			w.Release(d.Addr)
		case fateDuplicate:
			b := w.Bufs().Get(len(frame))
			n := copy(b.B, frame)
			w.Deliver(d)
			f.deliverCopy(rxHeld{b, n})
			r.passed(2)
		case fateHold:
			w.CountRx(len(frame))
			b := w.Bufs().Get(len(frame))
			n := copy(b.B, frame)
			w.Release(d.Addr)
			r.hold(rxHeld{b, n}, w.Now())
		}
		f.Round()
	}
}

// Round implements datapath.Injector: it delivers the held received
// frames that are due and returns how many.
func (f *injector) Round() int {
	n := 0
	for {
		h, ok := f.rx.release(f.w.Now())
		if !ok {
			return n
		}
		f.deliverCopy(h)
		n++
	}
}

func (f *injector) deliverCopy(h rxHeld) {
	f.w.DeliverCopy(h.buf.B[:h.n])
	f.w.Bufs().Put(h.buf)
}

// Transmit implements datapath.Injector: dropped frames are released,
// duplicates copied into fresh frames, held ones kept, due ones added.
func (f *injector) Transmit(descs []afxdp.Desc) []afxdp.Desc {
	w, t := f.w, f.tx
	out := f.txOut[:0]
	due := func() {
		for {
			d, ok := t.release(w.Now())
			if !ok {
				return
			}
			out = append(out, d)
		}
	}
	due()
	for _, d := range descs {
		frame := w.Frame(d)
		if isARP(frame) {
			out = append(out, d)
			continue
		}
		switch t.decide() {
		case fatePass:
			out = append(out, d)
			t.passed(1)
		case fateDrop:
			w.Release(d.Addr)
		case fateDuplicate:
			out = append(out, d)
			t.passed(1)
			if c, ok := w.CopyTx(d); ok {
				out = append(out, c)
				t.passed(1)
			}
		case fateHold:
			t.hold(d, w.Now())
		}
		due()
	}
	f.txOut = out[:0]
	return out
}

// Drain implements datapath.Injector: the held frames go back.
func (f *injector) Drain() {
	for {
		h, ok := f.rx.release(1<<63 - 1)
		if !ok {
			break
		}
		f.w.Bufs().Put(h.buf)
	}
	for {
		d, ok := f.tx.release(1<<63 - 1)
		if !ok {
			break
		}
		f.w.Release(d.Addr)
	}
}
