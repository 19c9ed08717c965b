package datapath

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestWakerDeliversEveryWakeup(t *testing.T) {
	k, err := NewWaker(false)
	if err != nil {
		t.Fatal(err)
	}
	k.Start()
	defer k.Close()
	const n = 3 * wakerRing // more than the ring holds in one round: the rest go direct
	chans := make([]chan struct{}, n)
	var waiting atomic.Int32
	waiting.Store(1)
	for i := range chans {
		chans[i] = make(chan struct{}, 1)
		k.Wake(chans[i], &waiting)
	}
	k.Flush()
	for i, ch := range chans {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("wakeup %d of %d never arrived", i, n)
		}
	}
	// Nobody waits: nothing is queued.
	idle := make(chan struct{}, 1)
	var none atomic.Int32
	k.Wake(idle, &none)
	if len(k.pending) != 0 {
		t.Fatalf("a wakeup for a channel nobody waits on was queued")
	}
	// Many rounds, each waking one channel: every one arrives.
	for i := range 1000 {
		ch := make(chan struct{}, 1)
		k.Wake(ch, &waiting)
		k.Flush()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: wakeup lost", i)
		}
	}
}

func TestWakerCloseDeliversQueued(t *testing.T) {
	k, err := NewWaker(false)
	if err != nil {
		t.Fatal(err)
	}
	// Never started: close still delivers what flush queued, and a flush
	// after close delivers directly.
	var waiting atomic.Int32
	waiting.Store(1)
	a, b := make(chan struct{}, 1), make(chan struct{}, 1)
	k.Wake(a, &waiting)
	k.Flush()
	k.Close()
	k.Wake(b, &waiting)
	k.Flush()
	for name, ch := range map[string]chan struct{}{"queued before close": a, "after close": b} {
		select {
		case <-ch:
		default:
			t.Errorf("wakeup %s not delivered", name)
		}
	}
}

func TestWakerDirect(t *testing.T) {
	k, err := NewWaker(true)
	if err != nil {
		t.Fatal(err)
	}
	k.Start() // nothing to start
	var waiting atomic.Int32
	waiting.Store(1)
	chans := make([]chan struct{}, 100)
	for i := range chans {
		chans[i] = make(chan struct{}, 1)
		k.Wake(chans[i], &waiting)
	}
	k.Flush()
	for i, ch := range chans {
		select {
		case <-ch:
		default:
			t.Fatalf("direct wakeup %d not delivered by flush", i)
		}
	}
	k.Close()
}

// BenchmarkWakeFromSpinner measures how long a goroutine parked on a
// channel takes to run after a spinning worker wakes it: a channel send
// from a worker locked to its thread (what the waker avoids), the waker's
// netpoller goroutine (a pinned worker), and the direct waker of an
// ordinary worker goroutine (send, then yield the P). Reported as
// µs-to-run (the mean over b.N wakeups, one at a time, 200 µs apart).
//
//	go test ./stack/datapath -run '^$' -bench WakeFromSpinner -benchtime=2000x
func BenchmarkWakeFromSpinner(b *testing.B) {
	for _, mode := range []string{"channel", "netpoller", "direct"} {
		b.Run(mode, func(b *testing.B) {
			k, err := NewWaker(mode == "direct")
			if err != nil {
				b.Fatal(err)
			}
			k.Start()
			defer k.Close()
			ch := make(chan struct{}, 1)
			var waiting atomic.Int32
			var sent, req atomic.Int64
			var stop atomic.Bool
			done := make(chan struct{})
			go func() { // the spinning worker
				if mode != "direct" {
					runtime.LockOSThread()
				}
				defer close(done)
				for !stop.Load() {
					if req.Load() == 0 {
						continue
					}
					req.Store(0)
					sent.Store(time.Now().UnixNano())
					if mode == "channel" {
						notify(ch)
					} else {
						k.Wake(ch, &waiting)
						k.Flush()
					}
				}
			}()
			var total time.Duration
			b.ReportAllocs()
			for b.Loop() {
				time.Sleep(200 * time.Microsecond)
				waiting.Add(1)
				req.Store(1)
				<-ch
				total += time.Duration(time.Now().UnixNano() - sent.Load())
				waiting.Add(-1)
			}
			stop.Store(true)
			<-done
			b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs-to-run")
		})
	}
}
