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

// Lend installs a channel (from the pool when it has one), Reclaim takes
// it back only while it is still the LazyChan's, empties it, and leaves the
// LazyChan without one; a pooled channel is lent again without an
// allocation.
func TestLazyChanLend(t *testing.T) {
	var pool ChanPool
	var l LazyChan
	ch := l.Lend(&pool)
	if ch == nil || cap(ch) != 1 || l.Load() != ch {
		t.Fatalf("Lend: %p (cap %d), Load %p: want the installed channel of capacity 1", ch, cap(ch), l.Load())
	}
	if got := l.Lend(&pool); got != ch {
		t.Fatalf("a second Lend: %p, want the installed %p", got, ch)
	}
	Notify(ch)
	l.Reclaim(&pool, ch)
	if l.Load() != nil {
		t.Fatal("after Reclaim the LazyChan still has a channel")
	}
	if len(ch) != 0 {
		t.Fatal("Reclaim left a token in the channel it pooled")
	}
	l.Reclaim(&pool, ch) // no longer l's: nothing happens
	var other LazyChan
	mine := other.Get()
	other.Reclaim(&pool, ch) // not other's channel: other keeps its own
	if other.Load() != mine {
		t.Fatal("Reclaim of another channel took the LazyChan's own")
	}
	if raceEnabled {
		return // the race detector's sync.Pool drops items: see race_on_test.go
	}
	if testing.AllocsPerRun(100, func() {
		l.Reclaim(&pool, l.Lend(&pool))
	}) != 0 {
		t.Error("Lend from the pool allocated")
	}
}
