package engine

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/ring"
)

// waker wakes application goroutines on behalf of one worker.
//
// Why not a plain channel send from the worker: the Go runtime puts a
// goroutine readied by a channel send in the sender's P (its runnext
// slot). A worker never gives its P up while it spins, so the readied
// goroutine waits there until another P steals it, and stealing from
// runnext backs off with a short sleep that timer slack stretches to
// ~50 µs: measured on the 2-vCPU test VM, a wakeup sent by a spinning
// goroutine reaches its receiver after ~130 µs, against ~12 µs through
// the netpoller (bench/wake_bench_test.go). So the worker collects the
// round's wakeups (wake), and at the end of the round (flush) hands them
// to a goroutine of its own that sleeps in the netpoller on an eventfd:
// one eventfd write per round that woke anyone, and the goroutine that
// delivers the wakeups parks right after, so the readied goroutines run on
// its P at once.
type waker struct {
	q       *ring.SPSC[chan struct{}] // worker → delivery goroutine
	pending []chan struct{}           // this round's wakeups (worker only)
	armed   atomic.Bool               // an eventfd write is not yet consumed
	efd     int
	f       *os.File // efd, registered with the netpoller
	done    sync.WaitGroup
	stopped atomic.Bool
}

const wakerRing = 4096

func newWaker() (*waker, error) {
	q, err := ring.NewSPSC[chan struct{}](wakerRing)
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("engine: eventfd: %w", err)
	}
	return &waker{q: q, efd: efd, f: os.NewFile(uintptr(efd), "waker"),
		pending: make([]chan struct{}, 0, 64)}, nil
}

// wake records a wakeup for ch if a goroutine announced that it waits on
// it (waiting > 0); flush delivers it. Worker only.
func (k *waker) wake(ch chan struct{}, waiting *atomic.Int32) {
	if waiting.Load() > 0 { // pairs with the waiter's Add(1) before its last look
		k.pending = append(k.pending, ch)
	}
}

// flush hands the round's wakeups to the delivery goroutine. What does not
// fit in its ring, or comes after it stopped, is delivered directly.
// Worker only.
func (k *waker) flush() {
	if len(k.pending) == 0 {
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

// start runs the delivery goroutine.
func (k *waker) start() {
	rc, err := k.f.SyscallConn()
	if err != nil {
		k.stopped.Store(true)
		return
	}
	k.done.Add(1)
	go k.run(rc)
}

func (k *waker) run(rc interface {
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

// close stops the delivery goroutine after delivering what was queued;
// call it once the worker has stopped.
func (k *waker) close() {
	if k.f == nil {
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
