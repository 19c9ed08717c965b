package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/xdpengine/engine/stack/datapath"
)

var (
	// ErrClosed is what Err returns once Close was called, when no worker
	// had failed before.
	ErrClosed = errors.New("engine: closed")
	// ErrWorkerPanic is wrapped by a WorkerError whose worker's loop
	// panicked (in a Hook, or in the engine); the panic's stack is
	// logged at level error.
	ErrWorkerPanic = datapath.ErrPanic
)

// WorkerError is why a worker stopped on its own: its AF_XDP socket
// failed (ENETDOWN: the interface went away) or its loop panicked (a Hook
// or the engine: errors.Is(err, ErrWorkerPanic)).
type WorkerError struct {
	Queue int   // the worker's queue
	Err   error // why
}

func (e *WorkerError) Error() string {
	return fmt.Sprintf("engine: the worker of queue %d failed: %v", e.Queue, e.Err)
}

func (e *WorkerError) Unwrap() error { return e.Err }

// Run starts the engine (unless Start already did), serves until ctx is
// done or a worker fails, and then closes it, as a server's Serve does:
// sockets may be opened before Run (between New and Start) or from other
// goroutines while it runs. It returns Start's error, or the failed
// worker's *WorkerError joined with Close's error, or Close's error (nil
// after a clean stop: ctx done, or Close called elsewhere).
func (e *Engine) Run(ctx context.Context) error {
	// Start's error (ErrClosed for a closed engine), unless another call
	// started the engine and it still runs.
	if err := e.Start(); err != nil && !(errors.Is(err, ErrStarted) && e.state.Running()) {
		if errors.Is(err, ErrStarted) {
			return ErrClosed // closed since
		}
		return err
	}
	select {
	case <-ctx.Done():
	case <-e.Done():
	}
	failed := e.Err()
	cerr := e.Close()
	var we *WorkerError
	if errors.As(failed, &we) {
		return errors.Join(failed, cerr)
	}
	return cerr
}

// Done returns a channel that is closed when the engine stops serving: a
// worker failed (Err is a *WorkerError), or Close was called (Err is
// ErrClosed), as a context's Done. A worker that fails stops its queue
// only; the other workers serve until Close, which a program watching
// Done calls (Run does).
func (e *Engine) Done() <-chan struct{} { return e.life.doneCh() }

// Err returns nil while Done is open; after, why it closed: the first
// worker's *WorkerError, or ErrClosed.
func (e *Engine) Err() error {
	e.life.mu.Lock()
	defer e.life.mu.Unlock()
	return e.life.err
}

// lifecycle is Done and Err's state.
type lifecycle struct {
	mu   sync.Mutex
	done chan struct{} // made on first use
	err  error
}

func (l *lifecycle) doneCh() chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == nil {
		l.done = make(chan struct{})
	}
	return l.done
}

// end records err, closes done and reports whether err was the first.
func (l *lifecycle) end(err error) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return false
	}
	l.err = err
	if l.done == nil {
		l.done = make(chan struct{})
	}
	close(l.done)
	return true
}

// runLoop runs the workers ws in one goroutine (Start's; see loops) and
// reports each one's failure as it leaves.
func (e *Engine) runLoop(ws []*datapath.Worker) {
	defer e.wg.Done()
	datapath.RunLoop(ws, func(w *datapath.Worker) {
		if err := w.Err(); err != nil {
			e.log.Error("worker failed: its queue is not served any more", "queue", w.Queue(), "err", err)
			e.life.end(&WorkerError{Queue: w.Queue(), Err: err})
		}
	})
}

// Loops returns how many goroutines run the workers: one each, or, when
// the program had fewer Ps than workers at Start (and the workers need no
// thread of their own), one per P, each running its share of the workers
// a round of each in turn (stack/datapath's RunLoop). 0 before Start.
//
// Workers with a goroutine each that outnumber the Ps take turns on them
// at the Go scheduler's pace, and a spinning one keeps the others from the
// netpoller they sleep in. Measured on a 2-vCPU VM over veth, two queues
// on one P (package bench, -procs=1, 3 runs each, medians; the engine's
// rate at two queues over its rate at one): TCP short connections with 16
// in flight ×0.83 with a goroutine per worker, ×0.88-0.93 in one loop;
// with 64 ×0.82-0.96 and ×1.01-1.06; dials ×0.84-0.96 and ×1.01-1.06; UDP
// echo ×1.04-1.05 and ×1.02-1.03.
func (e *Engine) Loops() int { return int(e.nloops.Load()) }

// loops groups the workers into the goroutines that run them
// (datapath.RunLoop): a goroutine each, unless the program has fewer Ps
// than workers and the workers need no thread of their own (not pinned,
// not busy-polling); then as many goroutines as Ps, the workers dealt to
// them in turn. GOMAXPROCS is read here, at Start.
func (e *Engine) loops() [][]*datapath.Worker {
	n := min(len(e.workers), runtime.GOMAXPROCS(0))
	if e.cfg.ownThread() {
		n = len(e.workers)
	}
	loops := make([][]*datapath.Worker, n)
	for i, w := range e.workers {
		loops[i%n] = append(loops[i%n], w)
	}
	return loops
}
