package datapath

import (
	"errors"
	"fmt"
	"runtime/debug"
)

// Failure. A worker's loop ends with an error, instead of at Stop, when
// its AF_XDP socket reports one (SO_ERROR, read at every tick: ENETDOWN
// once the interface went away), when a layer calls Fail, or when
// something in the loop panics (a Hook, a layer): the panic is recovered,
// logged with its stack and becomes the error. Err reports it once Run
// returned; the queue's traffic stops, the other workers go on.

// Fail stops the worker's loop with err (from the worker's goroutine or
// any other): Run returns after the layers drained, and Err returns err.
// The first failure wins; a nil err is ignored.
func (w *Worker) Fail(err error) {
	if err == nil {
		return
	}
	w.failed.CompareAndSwap(nil, &failure{err})
	w.Stop()
}

// Err returns why the worker's loop failed, or nil when it ran until
// Stop (or still runs).
func (w *Worker) Err() error {
	if f := w.failed.Load(); f != nil {
		return f.err
	}
	return nil
}

// failure boxes an error for an atomic.Pointer.
type failure struct{ err error }

// ErrPanic is wrapped by the error of a worker whose loop panicked.
var ErrPanic = errors.New("panic in the worker's loop")

// recoverLoop is deferred by Run: a panic in the loop becomes the
// worker's error, and the calls queued to it are answered with nil
// (they are not run: the worker's state is not to be trusted).
func (w *Worker) recoverLoop() {
	if v := recover(); v != nil {
		w.failPanic(v)
	}
}

// failPanic makes the recovered value v the worker's error.
func (w *Worker) failPanic(v any) {
	err := fmt.Errorf("%w: %v", ErrPanic, v)
	if e, ok := v.(error); ok {
		err = fmt.Errorf("%w: %w", ErrPanic, e)
	}
	w.cfg.Logger.Error("worker failed", "queue", w.queue, "err", err, "stack", string(debug.Stack()))
	w.Fail(err)
	w.calls.abandon()
	w.drainFailed()
}

// drainFailed drains a worker whose loop panicked, as a stopped one
// drains: the layers' queues close and what they hold goes back, so that
// applications waiting on the worker (a dial's handshake, a send waiting
// for room, a connection's reader) give up instead of waiting for a loop
// that is gone. Draining is idempotent; a panic in it is logged and ends
// it.
func (w *Worker) drainFailed() {
	defer func() {
		if v := recover(); v != nil {
			w.cfg.Logger.Error("draining the failed worker panicked too", "queue", w.queue, "panic", fmt.Sprint(v))
		}
	}()
	w.drain()
}

// checkSocket fails the worker when its socket reports an error (tick).
func (w *Worker) checkSocket() {
	if w.sock == nil {
		return
	}
	if err := w.sock.Err(); err != nil {
		w.Fail(fmt.Errorf("AF_XDP socket: %w", err))
	}
}
