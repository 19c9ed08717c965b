package sock

import (
	"sync"
	"testing"
)

// A LazyChan has no channel until Get, then always the same one, also
// when many goroutines make it at once; Notify on the nil one of an
// unused LazyChan does nothing.
func TestLazyChan(t *testing.T) {
	var l LazyChan
	if l.Load() != nil {
		t.Fatal("Load of a new LazyChan: a channel, want nil")
	}
	Notify(l.Load()) // must not block or panic
	for range 100 {
		var l LazyChan
		got := make([]chan struct{}, 8)
		var wg sync.WaitGroup
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i] = l.Get()
			}()
		}
		wg.Wait()
		for i, ch := range got {
			if ch == nil || ch != got[0] || ch != l.Load() {
				t.Fatalf("Get %d returned %p, Get 0 %p, Load %p: want one channel", i, ch, got[0], l.Load())
			}
		}
		if cap(got[0]) != 1 {
			t.Fatalf("capacity %d, want 1", cap(got[0]))
		}
		Notify(l.Load())
		Notify(l.Load()) // a token pending: dropped
		if len(got[0]) != 1 {
			t.Fatalf("%d tokens after two Notify, want 1", len(got[0]))
		}
	}
}
