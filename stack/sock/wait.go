package sock

import (
	"context"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/xdpengine/engine/ring"
)

// Signal wakes a goroutine waiting on ch. Pairs with the Add(1) of the
// waiter, made before its last look at the state it waits for: the waiter
// announces itself, the producer changes the state and then looks for
// waiters, so one of the two sees the other and no wakeup is lost.
func Signal(ch chan struct{}, waiting *atomic.Int32) {
	if waiting.Load() > 0 {
		Notify(ch)
	}
}

// Notify delivers one token on ch (capacity 1) unless one is pending; the
// receiver re-checks its state.
func Notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// WaitOn blocks until ch is signalled, the deadline passes (nil: the
// caller re-checks it), ctx ends, or done closes (net.ErrClosed).
func WaitOn(ctx context.Context, ch chan struct{}, deadline *atomic.Int64, done chan struct{}) error {
	var timer <-chan time.Time
	if deadline != nil {
		if d := deadline.Load(); d != 0 {
			left := time.Until(time.Unix(0, d))
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			t := time.NewTimer(left)
			defer t.Stop()
			timer = t.C
		}
	}
	cdone := ctx.Done() // nil for context.Background: never ready
	select {
	case <-ch:
		return nil
	case <-timer:
		return nil
	case <-cdone:
		return ctx.Err()
	case <-done:
		return net.ErrClosed
	}
}

// UnixNano is a deadline as stored in an atomic: 0 for none.
func UnixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.UnixNano(), 1)
}

// Push enqueues v for a worker (q's consumer), waking it, and waits for
// room while q is full, as a blocking send waits on a full socket buffer:
// it spins briefly (the worker is usually just behind), then sleeps 20 µs
// between tries. It gives up with stop's error when stop returns one
// (closed socket or engine, deadline).
func Push[T any](q *ring.MPMC[T], v T, wake func(), stop func() error) error {
	for spins := 0; !q.Enqueue(v); spins++ {
		wake()
		if err := stop(); err != nil {
			return err
		}
		if spins < 64 {
			runtime.Gosched()
		} else {
			time.Sleep(20 * time.Microsecond)
		}
	}
	wake()
	return nil
}
