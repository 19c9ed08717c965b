package engine

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/xdpengine/engine/afxdp"
)

// Fault injection (testing only).
//
// A worker with Config.Faults set passes every IPv4 frame it receives from
// the link, and every frame it transmits, through a seeded injector that
// drops it, duplicates it, or holds it back and releases it after later
// frames have overtaken it: the loss, duplication and reordering of a real
// network, made reproducible, on the engine's own I/O. ARP frames pass
// untouched (neighbour resolution has its own tests). A worker without
// faults pays one nil check per received burst and per transmitted batch.
//
// One draw of the worker's PCG per frame decides its fate, so a given seed
// and a given sequence of frames always produce the same faults. Held
// received frames are copied out of UMEM into pool buffers (the fill ring
// gets its frame back at once); held transmitted frames keep their UMEM
// frame until released. A held frame leaves after ReorderDepth later frames
// in the same direction, or after ReorderDelay, whichever comes first; at
// most maxHeld frames are held per direction (past that, frames pass).

// FaultConfig injects faults into a worker's frames. Testing only: it
// exists so that tests can prove the stack survives loss, duplication and
// reordering; never set it in production.
type FaultConfig struct {
	// Seed seeds each worker's generator (worker i uses Seed and i).
	Seed uint64
	// Rx and Tx are the faults on received and on transmitted frames.
	Rx, Tx FaultRates
	// ReorderDepth is how many later frames overtake a held frame (default
	// 3, at most maxHeld).
	ReorderDepth int
	// ReorderDelay releases a held frame after this long even when no
	// later frame came (default 1 ms).
	ReorderDelay time.Duration
}

// FaultRates are per-frame probabilities in [0, 1]; their sum is at most 1.
type FaultRates struct {
	Drop, Duplicate, Reorder float64
}

// FaultStats count what the injector did.
type FaultStats struct {
	RxDropped, RxDuplicated, RxReordered uint64
	TxDropped, TxDuplicated, TxReordered uint64
}

func (t *FaultStats) add(w *FaultStats) {
	t.RxDropped += w.RxDropped
	t.RxDuplicated += w.RxDuplicated
	t.RxReordered += w.RxReordered
	t.TxDropped += w.TxDropped
	t.TxDuplicated += w.TxDuplicated
	t.TxReordered += w.TxReordered
}

const (
	maxHeld             = 256
	defaultReorderDepth = 3
	defaultReorderDelay = time.Millisecond
)

func (f *FaultConfig) validate() error {
	for _, r := range []FaultRates{f.Rx, f.Tx} {
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

func newFaulter[T any](r FaultRates, depth int, delay time.Duration, seed, stream uint64, dropped, duped, held *uint64) *faulter[T] {
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

// faults is a worker's injector: one faulter per direction.
type faults struct {
	rx    *faulter[rxHeld]
	tx    *faulter[afxdp.Desc]
	st    FaultStats
	txOut []afxdp.Desc // scratch: the batch after the faults
	dup   [1]uint64    // scratch: a duplicate's frame (not w.addrs, which callers of flushTx may be iterating)
}

// rxHeld is a received frame copied out of UMEM.
type rxHeld struct {
	buf *pbuf
	n   int
}

func newFaults(c *FaultConfig, queue int) *faults {
	f := &faults{txOut: make([]afxdp.Desc, 0, 4*burst)}
	f.rx = newFaulter[rxHeld](c.Rx, c.ReorderDepth, c.ReorderDelay, c.Seed, uint64(2*queue), &f.st.RxDropped, &f.st.RxDuplicated, &f.st.RxReordered)
	f.tx = newFaulter[afxdp.Desc](c.Tx, c.ReorderDepth, c.ReorderDelay, c.Seed, uint64(2*queue+1), &f.st.TxDropped, &f.st.TxDuplicated, &f.st.TxReordered)
	return f
}

// nextDeadline is the earliest time a held frame is due, 0 when none.
func (f *faults) nextDeadline() int64 {
	a, b := f.rx.nextDeadline(), f.tx.nextDeadline()
	if a == 0 || b != 0 && b < a {
		return b
	}
	return a
}

// isARP reports whether a frame is ARP (faults leave ARP alone).
func isARP(frame []byte) bool {
	return len(frame) >= ethHeaderLen && frame[12] == etherTypeARP>>8 && frame[13] == etherTypeARP&0xff
}

// receiveFaulty handles a received burst through the injector.
func (w *worker) receiveFaulty(descs []afxdp.Desc) {
	f := w.faults.rx
	for _, d := range descs {
		frame := w.sock.Frame(d)
		if isARP(frame) {
			w.receive(d)
			continue
		}
		switch f.decide() {
		case fatePass:
			w.receive(d)
			f.passed(1)
		case fateDrop:
			w.st.RxPackets++
			w.st.RxBytes += uint64(len(frame))
			w.sock.ReleaseAddr(d.Addr)
		case fateDuplicate:
			b := w.e.bufs.get(len(frame))
			n := copy(b.b, frame)
			w.receive(d)
			w.receiveCopy(rxHeld{b, n})
			f.passed(2)
		case fateHold:
			w.st.RxPackets++
			w.st.RxBytes += uint64(len(frame))
			b := w.e.bufs.get(len(frame))
			n := copy(b.b, frame)
			w.sock.ReleaseAddr(d.Addr)
			f.hold(rxHeld{b, n}, w.now)
		}
		w.releaseRx()
	}
}

// releaseRx handles the held received frames that are due. It returns how
// many.
func (w *worker) releaseRx() int {
	n := 0
	for {
		h, ok := w.faults.rx.release(w.now)
		if !ok {
			return n
		}
		w.receiveCopy(h)
		n++
	}
}

// receiveCopy handles a received frame the injector copied out of UMEM
// (a duplicate or a held frame); a reply written in place is sent.
func (w *worker) receiveCopy(h rxHeld) {
	if out := w.handleFrame(h.buf.b[:h.n], false); out > 0 {
		w.sendFrame(h.buf.b[:out])
	}
	w.e.bufs.put(h.buf)
}

// transmitFaulty passes a batch through the injector and returns what is to
// be transmitted (in f.txOut): dropped frames are released, duplicates
// copied into fresh frames, held ones kept, due ones added.
func (w *worker) transmitFaulty(descs []afxdp.Desc) []afxdp.Desc {
	f := w.faults.tx
	out := w.faults.txOut[:0]
	due := func() {
		for {
			d, ok := f.release(w.now)
			if !ok {
				return
			}
			out = append(out, d)
		}
	}
	due()
	for _, d := range descs {
		frame := w.sock.Frame(d)
		if isARP(frame) {
			out = append(out, d)
			continue
		}
		switch f.decide() {
		case fatePass:
			out = append(out, d)
			f.passed(1)
		case fateDrop:
			w.sock.ReleaseAddr(d.Addr)
		case fateDuplicate:
			out = append(out, d)
			f.passed(1)
			addrs := w.faults.dup[:]
			if w.allocFrames(addrs) == 1 {
				n := copy(w.sock.FrameBuffer(addrs[0]), frame)
				out = append(out, afxdp.Desc{Addr: addrs[0], Len: uint32(n)})
				f.passed(1)
			}
		case fateHold:
			f.hold(d, w.now)
		}
		due()
	}
	w.faults.txOut = out[:0]
	return out
}

// drainFaults returns the held frames when the worker stops.
func (w *worker) drainFaults() {
	for {
		h, ok := w.faults.rx.release(1<<63 - 1)
		if !ok {
			break
		}
		w.e.bufs.put(h.buf)
	}
	for {
		d, ok := w.faults.tx.release(1<<63 - 1)
		if !ok {
			break
		}
		w.sock.ReleaseAddr(d.Addr)
	}
}
