package datapath

import (
	"sync/atomic"
	"testing"
	"time"
)

// serveCalls runs w's calls as its loop would, until stop closes.
func serveCalls(w *Worker, stop chan struct{}) {
	for {
		select {
		case <-stop:
			w.calls.close(w)
			return
		default:
		}
		if w.calls.n.Load() > 0 {
			w.calls.run(w)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

func newTestWorkers(t *testing.T, n int) []*Worker {
	t.Helper()
	ws := make([]*Worker, n)
	for i := range ws {
		w, err := New(Config{Queue: i, CPU: -1, Bufs: NewBufs(0)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		ws[i] = w
	}
	return ws
}

func TestGather(t *testing.T) {
	ws := newTestWorkers(t, 3)
	stop := make(chan struct{})
	for _, w := range ws[:2] {
		go serveCalls(w, stop)
	}
	var ran atomic.Int32
	out := Gather(ws, func(w *Worker) any { ran.Add(1); return w.Queue() * 10 }, 200*time.Millisecond)
	// Workers 0 and 1 answer; worker 2 never runs its calls: nil, after
	// the timeout.
	if out[0] != 0 || out[1] != 10 || out[2] != nil {
		t.Fatalf("results %v", out)
	}
	close(stop)
	time.Sleep(10 * time.Millisecond)
	// A stopped worker answers nil at once.
	start := time.Now()
	if out := Gather(ws[:1], func(*Worker) any { return 1 }, time.Second); out[0] != nil {
		t.Fatalf("a stopped worker answered %v", out[0])
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Gather on a stopped worker waited %v", d)
	}
	if ran.Load() != 2 {
		t.Errorf("the function ran %d times", ran.Load())
	}
}
