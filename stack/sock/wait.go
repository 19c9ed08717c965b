package sock

import (
	"context"
	"net"
	"os"
	"sync/atomic"
	"time"
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
func WaitOn(ctx context.Context, ch chan struct{}, deadline *atomic.Int64, done <-chan struct{}) error {
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
