package engine_test

import (
	"testing"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// sendRingCap is the connection's send ring capacity.
func sendRingCap(c *engine.TCPConn) int { return c.WriteBufferSize() }

// TestTCPSendBufferAutoTuning: a connection that has not written holds
// no send ring; an engine sender that keeps its send ring full gets a
// larger one (toward two congestion windows, at most TCPSendBufferMax)
// while 64 MiB go to the kernel intact; SetWriteBuffer fixes the size
// instead: a larger value grows the ring to hold it, and with a smaller
// one the ring stays at what the 64 KiB writes attached.
func TestTCPSendBufferAutoTuning(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	size := enginetest.BulkSize(64 << 20)

	c, kc := enginetest.ConnectToPeer(t, bed, eng, 7410)
	if got := sendRingCap(c); got != 0 {
		t.Fatalf("send ring of %d bytes before any write, want none", got)
	}
	enginetest.Bulk(t, c, kc, size)
	grown := sendRingCap(c)
	st := eng.Stats().Total.TCP
	t.Logf("auto-tuned send ring after %d MiB: %d KiB, %d growths", size>>20, grown>>10, st.SendBufGrowths)
	if grown <= 256<<10 || grown > engine.DefaultTCPSendBufferMax || st.SendBufGrowths == 0 {
		t.Errorf("send ring %d bytes after %d growths: want it grown past 256 KiB, at most 4 MiB", grown, st.SendBufGrowths)
	}

	for _, tc := range []struct{ set, want int }{{1 << 20, 1 << 20}, {64 << 10, 64 << 10}} {
		c, kc := enginetest.ConnectToPeer(t, bed, eng, uint16(7411+tc.set>>16))
		if err := c.SetWriteBuffer(tc.set); err != nil {
			t.Fatal(err)
		}
		enginetest.Bulk(t, c, kc, enginetest.BulkSize(16<<20))
		if got := sendRingCap(c); got != tc.want {
			t.Errorf("SetWriteBuffer(%d): send ring %d bytes, want %d", tc.set, got, tc.want)
		}
	}
}
