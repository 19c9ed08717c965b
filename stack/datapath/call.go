package datapath

import (
	"sync"
	"sync/atomic"
	"time"
)

// Calls run a function on a worker's goroutine, for what only the worker
// may read (its connections for a listing, its neighbor table, a fresh
// copy of its counters): the caller queues it, wakes the worker, and waits
// for it to finish, within a timeout. The result travels in the call and
// is read only after done closes, so a call that timed out and runs later
// races with nobody.
type call struct {
	fn   func(w *Worker) any
	out  any
	done chan struct{}
}

type callQueue struct {
	n      atomic.Int32 // queued calls: the worker's cheap check
	mu     sync.Mutex
	q      []*call
	closed bool // the worker stopped: calls are answered with nil
}

// run runs the queued calls (worker goroutine).
func (c *callQueue) run(w *Worker) {
	c.mu.Lock()
	q := c.q
	c.q = nil
	c.n.Store(0)
	c.mu.Unlock()
	for _, k := range q {
		k.out = k.fn(w)
		close(k.done)
	}
}

// close runs what is queued and answers every later call with nil.
func (c *callQueue) close(w *Worker) {
	c.run(w)
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

// abandon answers what is queued and every later call with nil, without
// running them (a worker whose loop panicked).
func (c *callQueue) abandon() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.q {
		close(k.done)
	}
	c.q = nil
	c.n.Store(0)
	c.closed = true
}

// Gather runs fn on each worker's goroutine in its next round and returns
// the results by worker, waiting at most timeout in all; a worker that did
// not answer in time (or no longer runs) contributes nil.
func Gather(ws []*Worker, fn func(w *Worker) any, timeout time.Duration) []any {
	calls := make([]*call, len(ws))
	for i, w := range ws {
		k := &call{fn: fn, done: make(chan struct{})}
		w.calls.mu.Lock()
		if w.calls.closed {
			close(k.done)
		} else {
			w.calls.q = append(w.calls.q, k)
			w.calls.n.Add(1)
		}
		w.calls.mu.Unlock()
		calls[i] = k
		w.Wake()
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	out := make([]any, len(ws))
	expired := false
	for i, k := range calls {
		if !expired {
			select {
			case <-k.done:
				out[i] = k.out
				continue
			case <-t.C:
				expired = true
			}
		}
		select { // past the deadline: only the calls already answered
		case <-k.done:
			out[i] = k.out
		default:
		}
	}
	return out
}

// Publish makes every worker publish fresh counters (waiting at most
// timeout); Published then returns them.
func Publish(ws []*Worker, timeout time.Duration) {
	Gather(ws, func(w *Worker) any { w.publish(); return nil }, timeout)
}
