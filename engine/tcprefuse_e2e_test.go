package engine_test

import (
	"net"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestTCPRefusedAboveHigh: with the buffers' memory held above the high
// threshold (connections whose data the application never reads hold
// their receive rings), a new connection is refused: its SYNs are dropped
// and counted (MemRefused), and the peer's connect times out. Once the
// application closes those connections, the memory falls and a new
// connection succeeds.
func TestTCPRefusedAboveHigh(t *testing.T) {
	const (
		holders             = 24
		low, pressure, high = 32 << 10, 48 << 10, 64 << 10
	)
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{
		TCPMem: engine.TCPMemLimits{Low: low, Pressure: pressure, High: high},
	})
	ln, err := eng.ListenTCP("tcp4", ":7620", engine.TCPListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	held := make(chan *engine.TCPConn, holders+8)
	go func() { // accept and hold: never read
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			held <- c
		}
	}()
	var conns []net.Conn
	for range holders {
		c, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7620))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Every connection first (above high they would be refused), then
	// 8 KiB each: every receive ring holds at least 4 KiB (TCPBufferMin).
	for _, c := range conns {
		if _, err := c.Write(make([]byte, 8<<10)); err != nil {
			t.Fatal(err)
		}
	}
	st := waitStats(t, eng, "the memory above high", 10*time.Second, func(s engine.TCPStats) bool { return s.MemBytes > high })
	t.Logf("%d connections hold %d KiB of buffers (high %d KiB)", holders, st.MemBytes>>10, high>>10)

	if c, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7620)); err == nil {
		c.Close()
		t.Fatalf("a connection was accepted with %d KiB of buffers held, above high", eng.Stats().Total.TCP.MemBytes>>10)
	}
	if st := eng.Stats().Total.TCP; st.MemRefused == 0 {
		t.Errorf("the connection was not counted as refused (MemRefused 0; %d KiB held)", st.MemBytes>>10)
	}

	// The application closes its connections (their unread data goes, as
	// a close(2) with data unread resets the connection), the peer too.
	for range holders {
		(<-held).Close()
	}
	for _, c := range conns {
		c.Close()
	}
	waitStats(t, eng, "the memory below high", 10*time.Second, func(s engine.TCPStats) bool { return s.MemBytes <= high })
	c, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7620))
	if err != nil {
		t.Fatalf("after the memory fell: %v", err)
	}
	c.Close()
}
