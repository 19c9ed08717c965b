package lb_test

import (
	"testing"

	"github.com/xdpengine/engine/lb"
)

// TestNATTwoWorkersPrefetched is TestNATTwoWorkers (NAT and dsr-l2 on two
// workers, flows handed between them) with the burst pre-pass prefetching
// every table, however small: the balancer forwards as without it.
func TestNATTwoWorkersPrefetched(t *testing.T) {
	// Restored by a cleanup registered first, so it runs last: after the
	// engines' workers, which read the setting, have stopped.
	t.Cleanup(lb.SetPrefetchMinKeys(1))
	TestNATTwoWorkers(t)
}
