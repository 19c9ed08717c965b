package tcpload

import (
	"testing"
	"time"
)

// TestWorkerNap: naps only for closed-loop requests with at least
// NapConnsPerWorker connections per worker.
func TestWorkerNap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       Config
		workers int
		nap     bool
	}{
		{"http, 16 on 1", Config{Mode: HTTP, Conns: 16}, 1, true},
		{"raw, 64 on 2", Config{Mode: Raw, Conns: 64}, 2, true},
		{"http, 15 on 1", Config{Mode: HTTP, Conns: 15}, 1, false},
		{"http, 16 on 2", Config{Mode: HTTP, Conns: 16}, 2, false},
		{"open loop", Config{Mode: HTTP, Conns: 64, Rate: 1000}, 1, false},
		{"connect", Config{Mode: Connect, Conns: 64}, 1, false},
		{"bulk", Config{Mode: Bulk, Conns: 64}, 1, false},
		{"no workers", Config{Mode: HTTP, Conns: 64}, 0, false},
	} {
		want := time.Duration(0)
		if tc.nap {
			want = Nap
		}
		if got := tc.c.WorkerNap(tc.workers); got != want {
			t.Errorf("%s: %v, want %v", tc.name, got, want)
		}
	}
}
