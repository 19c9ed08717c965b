package datapath

import (
	"sync"
	"testing"
)

// TestWakeDuringClose: applications wake a sleeping worker while the
// engine closes it. Under the race detector (make test) an unguarded
// eventfd shows up as a race between Wake's write and Close; without it,
// a Wake after Close must find no descriptor to write to.
func TestWakeDuringClose(t *testing.T) {
	for range 20 {
		w, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		w.sleeping.Store(true)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for range 200 {
					w.Wake()
				}
			}()
		}
		close(start)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if w.efd != -1 {
			t.Fatalf("eventfd %d still set after Close", w.efd)
		}
	}
}
