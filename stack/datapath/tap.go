package datapath

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/xdpengine/engine/afxdp"
)

// Packet capture. A Tap is a bounded single-producer single-consumer ring
// of copied frames: the worker (producer) copies the frames it receives
// (Deliver) and those it hands to the link (FlushTx) into it, a capture
// goroutine (consumer) drains it. Without a tap the worker pays one atomic
// load of a nil pointer per received frame and per transmitted batch; with
// one it pays the filter, a copy of at most Snaplen bytes and never blocks:
// a frame that finds the ring full is counted (Overruns) and dropped from
// the capture, never from the link.

// ErrTapBusy is returned by SetTap when the worker already has a tap.
var ErrTapBusy = errors.New("datapath: a capture is already running on this worker")

// Direction of a captured frame.
type Direction uint8

const (
	DirRx Direction = iota // received from the link
	DirTx                  // handed to the link
)

func (d Direction) String() string {
	if d == DirTx {
		return "tx"
	}
	return "rx"
}

// TapConfig configures a Tap.
type TapConfig struct {
	// Slots is the ring's capacity in frames: a power of two (default
	// 4096).
	Slots int
	// Snaplen is the most bytes kept of each frame (default and maximum
	// 4096, the largest UMEM frame).
	Snaplen int
	// Match, if set, selects the frames to capture. It runs on the worker
	// goroutine, is given frames that alias UMEM (valid only during the
	// call: it must not keep or modify them) and must not block. One Tap
	// per worker: a Match with state (a BPF VM) needs no locking.
	Match func(frame []byte) bool
}

// DefaultTapSlots and MaxSnaplen are TapConfig's defaults.
const (
	DefaultTapSlots = 4096
	MaxSnaplen      = 4096
)

// TapRecord is one captured frame, as Drain hands it over.
type TapRecord struct {
	Time int64     // the worker's clock (Worker.Nanotime) when captured
	Dir  Direction // received or sent
	Len  int       // the frame's length on the wire
	Data []byte    // its first Snaplen bytes; valid only during the call
}

// TapStats counts what a tap saw.
type TapStats struct {
	Captured uint64 `json:"captured"` // put in the ring
	Overruns uint64 `json:"overruns"` // matched, but the ring was full
}

type tapSlot struct {
	time int64
	dir  Direction
	len  int
	data []byte // cap Snaplen
}

// Tap is one worker's capture ring (see TapConfig).
type Tap struct {
	match   func([]byte) bool
	snaplen int
	slots   []tapSlot
	mask    uint64

	// head is written by the producer only, tail by the consumer only.
	// Separate cache lines: the worker and the capture goroutine run on
	// different cores.
	_        [64]byte
	head     atomic.Uint64
	overruns atomic.Uint64
	_        [64]byte
	tail     atomic.Uint64
	_        [64]byte
}

// NewTap allocates a tap's ring (Slots × Snaplen bytes).
func NewTap(cfg TapConfig) (*Tap, error) {
	if cfg.Slots == 0 {
		cfg.Slots = DefaultTapSlots
	}
	if cfg.Snaplen <= 0 || cfg.Snaplen > MaxSnaplen {
		cfg.Snaplen = MaxSnaplen
	}
	if cfg.Slots < 2 || cfg.Slots&(cfg.Slots-1) != 0 || cfg.Slots > 1<<20 {
		return nil, fmt.Errorf("datapath: tap of %d slots: want a power of two from 2 to %d", cfg.Slots, 1<<20)
	}
	t := &Tap{match: cfg.Match, snaplen: cfg.Snaplen, slots: make([]tapSlot, cfg.Slots), mask: uint64(cfg.Slots - 1)}
	buf := make([]byte, cfg.Slots*cfg.Snaplen)
	for i := range t.slots {
		t.slots[i].data = buf[i*cfg.Snaplen : (i+1)*cfg.Snaplen : (i+1)*cfg.Snaplen]
	}
	return t, nil
}

// put copies one frame into the ring (producer: the worker goroutine).
func (t *Tap) put(now int64, dir Direction, frame []byte) {
	if t.match != nil && !t.match(frame) {
		return
	}
	h := t.head.Load() // our own index
	// Acquire: pairs with the consumer's tail.Store in Drain, made after
	// it finished reading the slots below tail.
	if h-t.tail.Load() > t.mask {
		t.overruns.Add(1)
		return
	}
	s := &t.slots[h&t.mask]
	s.time, s.dir, s.len = now, dir, len(frame)
	s.data = s.data[:copy(s.data[:t.snaplen], frame)]
	// Release: publishes the slot; pairs with the head.Load in Drain.
	t.head.Store(h + 1)
}

// Drain hands every frame in the ring to fn, oldest first, and frees their
// slots (consumer: one goroutine at a time). It returns how many it handed
// over.
func (t *Tap) Drain(fn func(r TapRecord)) int {
	tail := t.tail.Load()
	head := t.head.Load() // acquire: pairs with put's head.Store
	for i := tail; i != head; i++ {
		s := &t.slots[i&t.mask]
		fn(TapRecord{Time: s.time, Dir: s.dir, Len: s.len, Data: s.data})
	}
	// Release: the slots below head may be overwritten now; pairs with
	// put's tail.Load.
	t.tail.Store(head)
	return int(head - tail)
}

// Stats returns the tap's counters (any goroutine).
func (t *Tap) Stats() TapStats {
	return TapStats{Captured: t.head.Load(), Overruns: t.overruns.Load()}
}

// Snaplen returns the most bytes kept of a frame.
func (t *Tap) Snaplen() int { return t.snaplen }

// SetTap starts capturing the worker's frames into t (any goroutine); it
// fails with ErrTapBusy if the worker has a tap.
func (w *Worker) SetTap(t *Tap) error {
	if !w.tap.CompareAndSwap(nil, t) {
		return ErrTapBusy
	}
	return nil
}

// ClearTap stops capturing into t (any goroutine). The worker may still
// finish a frame it was copying: drain t once more afterwards.
func (w *Worker) ClearTap(t *Tap) { w.tap.CompareAndSwap(t, nil) }

// tapTx captures the frames of a transmitted batch.
func (w *Worker) tapTx(t *Tap, descs []afxdp.Desc) {
	now := w.Nanotime()
	for _, d := range descs {
		t.put(now, DirTx, w.sock.Frame(d))
	}
}
