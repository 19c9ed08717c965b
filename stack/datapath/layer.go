package datapath

import (
	"fmt"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/stack/stats"
)

// Input is the network layer a worker hands its frames to: the L2/L3 demux
// of the engine's stack, or a forwarder's. It runs on the worker goroutine
// and must not block or allocate per frame.
type Input interface {
	// Frame handles one frame received from the link (or copied out of
	// it by an Injector). It returns the length of a reply written in
	// place into the same frame, which the worker transmits from it, or
	// 0 when the frame can be released.
	Frame(frame []byte) int
	// Steered handles an item another worker handed over (SteerTo). The
	// worker returns its buffer to the pool afterwards.
	Steered(it *Steered)
}

// Layer is a protocol's per-worker part that the loop drives besides
// frames: a transport (UDP's send queue, TCP's commands and timers), a
// network layer (neighbor and reassembly timers), or a forwarder. The
// worker calls every method on its own goroutine, layers in the order
// they were added. Embed NoLayer for the methods a layer does not need.
type Layer interface {
	// Start runs once, before the first round.
	Start()
	// Round does the layer's per-round work (queues other goroutines
	// fill, timers due at Now) and returns how much it did: zero lets an
	// adaptive worker go idle.
	Round() int
	// Tick runs about every 100 ms: slow timers.
	Tick()
	// Pending reports work queued by other goroutines, checked after the
	// worker announced that it sleeps (a producer wakes it after its
	// enqueue, so nothing is lost).
	Pending() bool
	// NextTimer is the earliest deadline of the layer (Now's clock), 0
	// when none: the worker's sleep ends by then.
	NextTimer() int64
	// Publish adds the layer's gauges and derived counters to s, the
	// copy the worker is about to publish.
	Publish(s *stats.Worker)
	// Drain gives back what the layer holds; the worker is stopping.
	Drain()
}

// NoLayer implements every Layer method as doing nothing.
type NoLayer struct{}

// Start implements Layer.
func (NoLayer) Start() {}

// Round implements Layer.
func (NoLayer) Round() int { return 0 }

// Tick implements Layer.
func (NoLayer) Tick() {}

// Pending implements Layer.
func (NoLayer) Pending() bool { return false }

// NextTimer implements Layer.
func (NoLayer) NextTimer() int64 { return 0 }

// Publish implements Layer.
func (NoLayer) Publish(*stats.Worker) {}

// Drain implements Layer.
func (NoLayer) Drain() {}

// Injector stands between a worker and its AF_XDP socket to drop,
// duplicate and reorder frames: a test's model of a lossy network
// (internal/faultinject). Production workers have none and pay one nil
// check per burst.
type Injector interface {
	// Receive handles a received burst in place of the worker: it
	// delivers the frames that pass (Worker.Deliver, Worker.DeliverCopy)
	// and releases the others.
	Receive(descs []afxdp.Desc)
	// Round delivers held frames that are due; it returns how many.
	Round() int
	// Transmit filters a batch about to be transmitted and returns what
	// is to go out now (a slice of its own).
	Transmit(descs []afxdp.Desc) []afxdp.Desc
	// NextDeadline is when the next held frame is due, 0 when none.
	NextDeadline() int64
	// Stats returns what it did.
	Stats() stats.Faults
	// Drain gives back the frames it holds; the worker is stopping.
	Drain()
}

// NewInjector makes the injector of a worker (tests only).
type NewInjector func(w *Worker) Injector

// PollMode is how a worker waits for packets.
type PollMode int

const (
	// PollAdaptive spins while there is traffic and, after SpinTime of
	// empty polls, sleeps in poll(2) until the kernel or an application
	// wakes it: full speed under load, about no CPU when idle. The spin
	// is polite: sched_yield(2) between empty polls lets a thread that
	// shares the core (the application, a client) run at once. The default.
	PollAdaptive PollMode = iota
	// PollBusy never sleeps (DPDK-style): lowest latency, one core per
	// worker at 100% all the time; the worker keeps an OS thread (and a
	// GOMAXPROCS slot) of its own, so give the program GOMAXPROCS above
	// the number of workers.
	PollBusy
	// PollInterrupt sleeps in poll(2) whenever the rx ring is empty.
	PollInterrupt
)

func (m PollMode) String() string {
	switch m {
	case PollAdaptive:
		return "adaptive"
	case PollBusy:
		return "busy"
	case PollInterrupt:
		return "interrupt"
	}
	return fmt.Sprintf("PollMode(%d)", int(m))
}
