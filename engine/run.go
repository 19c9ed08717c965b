package engine

import (
	"context"
	"errors"
	"fmt"
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
	if err := e.Start(); err != nil && !(errors.Is(err, ErrStarted) && e.state.Running()) {
		if e.state.Closed() {
			return ErrClosed
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

// runWorker runs w's loop (Start's goroutine) and reports its failure.
func (e *Engine) runWorker(w *datapath.Worker) {
	w.Run(&e.wg)
	if err := w.Err(); err != nil {
		e.log.Error("worker failed: its queue is not served any more", "queue", w.Queue(), "err", err)
		e.life.end(&WorkerError{Queue: w.Queue(), Err: err})
	}
}
