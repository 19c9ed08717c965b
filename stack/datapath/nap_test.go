package datapath

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkNap measures how long a nap of each length takes (timer slack,
// the timer's interrupt, the thread's wakeup): ns/op is one nap, x-nap its
// ratio to the length asked.
//
//	go test ./stack/datapath -run '^$' -bench Nap
func BenchmarkNap(b *testing.B) {
	for _, d := range []time.Duration{5 * time.Microsecond, 10 * time.Microsecond, 20 * time.Microsecond} {
		b.Run(fmt.Sprint(d), func(b *testing.B) {
			w, err := New(Config{Poll: PollAdaptive, SpinTime: time.Millisecond, Nap: d})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				w.nap()
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(d), "x-nap")
		})
	}
}

// TestNapLength: a nap lasts at least what was asked, and New refuses a nap
// that is not shorter than the spin it replaces.
func TestNapLength(t *testing.T) {
	if got := NapLength(20*time.Microsecond, 5); got < 20*time.Microsecond {
		t.Errorf("a 20µs nap took %v", got)
	}
	if got := NapLength(0, 5); got != 0 {
		t.Errorf("no nap took %v", got)
	}
	for _, nap := range []time.Duration{-time.Microsecond, 200 * time.Microsecond} {
		if _, err := New(Config{Poll: PollAdaptive, SpinTime: 200 * time.Microsecond, Nap: nap}); err == nil {
			t.Errorf("nap %v with a 200µs spin: no error", nap)
		}
	}
}
