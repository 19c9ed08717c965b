package engine_test

import (
	"testing"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestBulkReceiveACKs: a worker services an established connection once
// per received burst, not once per segment, so a kernel sender's bulk
// transfer gets one ACK per burst (as a kernel receiver with GRO sends
// one per merged segment) instead of one per two segments. 32 MiB from
// the peer: the data arrives intact, and the engine sends fewer than one
// segment per three it receives (acknowledging every second segment
// would be one per two).
func TestBulkReceiveACKs(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	ec, pc := enginetest.ConnectFromPeer(t, bed, eng, 7100)
	before := eng.Stats().Total.TCP
	enginetest.Bulk(t, pc, ec, enginetest.BulkSize(32<<20))
	after := eng.Stats().Total.TCP
	in, out := after.InSegs-before.InSegs, after.OutSegs-before.OutSegs
	t.Logf("engine received %d segments, sent %d (%.3f per segment received)", in, out, float64(out)/float64(in))
	if in == 0 || 3*out >= in {
		t.Errorf("engine sent %d segments for %d received: want fewer than one per three", out, in)
	}
}
