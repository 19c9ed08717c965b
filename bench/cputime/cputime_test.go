package cputime

import (
	"testing"
	"time"
)

// TestReadings: while this process spins for 50 ms of its own CPU time,
// the machine's busy time moves forward by at least most of that (other
// work only adds to it).
func TestReadings(t *testing.T) {
	p0, m0 := Process(), Machine()
	for start := time.Now(); Process()-p0 < 50*time.Millisecond; {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("10 s of wall time gave %v of process CPU", Process()-p0)
		}
	}
	dp, dm := Process()-p0, Machine()-m0
	if dm < dp*8/10 {
		t.Errorf("%v of process CPU, but the machine's busy time moved %v", dp, dm)
	}
}
