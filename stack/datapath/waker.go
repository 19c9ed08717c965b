package datapath

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/ring"
)

// Waker wakes application goroutines on behalf of one worker. The worker
// collects a round's wakeups (Wake) and delivers them at the round's end
// (Flush), in one of two ways.
//
// The Go runtime puts a goroutine readied by a channel send in the
// sender's P (its runnext slot). A worker that went on spinning would keep
// it there until another P stole it, and stealing from runnext backs off
// with a short sleep that timer slack stretches to ~50 µs: measured on the
// 2-vCPU test VM, such a wakeup takes ~120 µs to run its receiver
// (BenchmarkWakeFromSpinner).
//
// Direct (the default; the worker is an ordinary goroutine): the worker
// sends the wakeups itself and then yields its P (runtime.Gosched), so the
// readied goroutines run at once on the worker's own thread, with no
// thread wakeup, and the worker resumes when they block: run to
// completion, as a DPDK application runs its logic on the polling core.
//
// Through the netpoller (a worker locked to its thread: Config.CPUs, or
// PollBusy): a
// locked worker cannot share its thread, so it hands the wakeups to a
// goroutine of its own that sleeps in the netpoller on an eventfd (one
// eventfd write per round that woke anyone) and parks right after
// delivering them, so the readied goroutines run on its P (~15 µs).
type Waker struct {
	direct  bool                      // deliver on the worker's P, then yield it
	q       *ring.SPSC[chan struct{}] // worker → delivery goroutine
	pending []chan struct{}           // this round's wakeups (worker only)
	armed   atomic.Bool               // an eventfd write is not yet consumed
	soloP   bool                      // GOMAXPROCS is 1: the delivery goroutine needs the worker's P
	efd     int
	f       *os.File // efd, registered with the netpoller
	done    sync.WaitGroup
	stopped atomic.Bool
}

const wakerRing = 4096

// NewWaker makes a worker's waker: direct for a worker that is an
// ordinary goroutine, through the netpoller for one locked to its thread.
func NewWaker(direct bool) (*Waker, error) {
	if direct {
		return &Waker{direct: true, efd: -1, pending: make([]chan struct{}, 0, 64)}, nil
	}
	q, err := ring.NewSPSC[chan struct{}](wakerRing)
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("datapath: eventfd: %w", err)
	}
	return &Waker{q: q, efd: efd, f: os.NewFile(uintptr(efd), "waker"),
		pending: make([]chan struct{}, 0, 64)}, nil
}

// Wake records a wakeup for ch if a goroutine announced that it waits on
// it (waiting > 0); flush delivers it. Worker only.
func (k *Waker) Wake(ch chan struct{}, waiting *atomic.Int32) {
	if ch != nil && waiting.Load() > 0 { // pairs with the waiter's Add(1) before its last look
		k.pending = append(k.pending, ch)
	}
}

// Flush delivers the round's wakeups: direct, it sends them and yields the
// P; otherwise it hands them to the delivery goroutine, and what does not
// fit in its ring, or comes after it stopped, is sent directly. Worker
// only.
func (k *Waker) Flush() {
	if len(k.pending) == 0 {
		return
	}
	if k.direct || k.soloP {
		// With GOMAXPROCS=1 a worker locked to its thread delivers too:
		// the netpoller would find the delivery goroutine's eventfd
		// only when the scheduler has nothing else to run, and the
		// worker, yielding, is always runnable.
		for _, ch := range k.pending {
			notify(ch)
		}
		clear(k.pending)
		k.pending = k.pending[:0]
		runtime.Gosched() // the readied goroutines run now, on this thread
		return
	}
	n := 0
	if !k.stopped.Load() {
		n = k.q.EnqueueBurst(k.pending)
	}
	for _, ch := range k.pending[n:] {
		notify(ch)
	}
	clear(k.pending)
	k.pending = k.pending[:0]
	if n > 0 && !k.armed.Swap(true) { // pairs with the Store(false) in run
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(k.efd, one[:])
	}
}

// Direct reports whether the waker delivers on the worker's own P (an
// ordinary worker goroutine) rather than through its netpoller goroutine.
func (k *Waker) Direct() bool { return k.direct }

// Start runs the delivery goroutine (none when direct).
func (k *Waker) Start() {
	if k.direct {
		return
	}
	rc, err := k.f.SyscallConn()
	if err != nil {
		k.stopped.Store(true)
		return
	}
	k.done.Add(1)
	go k.run(rc)
}

func (k *Waker) run(rc interface {
	Read(func(fd uintptr) bool) error
}) {
	defer k.done.Done()
	buf := make([]byte, 8)
	batch := make([]chan struct{}, 64)
	consume := func(fd uintptr) bool { // made once: the loop does not allocate
		_, err := unix.Read(int(fd), buf)
		return err != unix.EAGAIN
	}
	for {
		if err := rc.Read(consume); err != nil {
			return // the file was closed
		}
		// Clear armed before draining: a flush that finds it set has
		// enqueued before this Store, so the drain below sees its items;
		// one that finds it clear writes the eventfd again.
		k.armed.Store(false)
		for {
			n := k.q.DequeueBurst(batch)
			for _, ch := range batch[:n] {
				notify(ch)
			}
			clear(batch[:n])
			if n < len(batch) {
				break
			}
		}
	}
}

// Close stops the delivery goroutine after delivering what was queued;
// call it once the worker has stopped.
func (k *Waker) Close() {
	if k.direct || k.f == nil {
		return
	}
	k.stopped.Store(true)
	k.f.Close() // the netpoller wakes run with an error
	k.done.Wait()
	for {
		ch, ok := k.q.Dequeue()
		if !ok {
			break
		}
		notify(ch)
	}
	k.f = nil
}

// notify delivers one wakeup (a token; the receiver re-checks its state).
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
