package engine_test

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestTCPConnectionTableBound: with Config.TCPMaxConnections 4 on one
// worker, four connections from the peer are served; a fifth SYN is
// dropped (the peer's connect times out) and an engine Dial fails with
// ENOBUFS, both counted as TableFull; once a connection is gone, a new one
// is served again.
func TestTCPConnectionTableBound(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{Queues: 1, TCPMaxConnections: 4})
	enginetest.EchoTCP(t, eng, ":7330", engine.TCPListenConfig{})
	to := enginetest.EngineAddr(bed, 7330)
	var conns []net.Conn
	for i := range 4 {
		c, err := enginetest.PeerDialTCP(t, bed, to)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		enginetest.RoundTrips(t, c)
		conns = append(conns, c)
	}
	err := bed.Do(func() error {
		c, err := net.DialTimeout("tcp4", to.String(), 1500*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err == nil {
		t.Fatal("a fifth connection was accepted past TCPMaxConnections 4")
	}
	enginetest.PeerEchoTCP(t, bed, 7331)
	_, err = eng.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, 7331)))
	if !errors.Is(err, syscall.ENOBUFS) {
		t.Errorf("dial with a full table: %v, want ENOBUFS", err)
	}
	if st := eng.Stats().Total.TCP; st.TableFull < 2 {
		t.Errorf("TableFull %d, want the refused SYN(s) and the dial", st.TableFull)
	}
	// The peer closes first: the engine's side needs no TIME-WAIT.
	conns[0].Close()
	enginetest.WaitFor(t, "a slot in the table", func() bool {
		c, err := enginetest.PeerDialTCP(t, bed, to)
		if err != nil {
			return false
		}
		defer c.Close()
		enginetest.RoundTrips(t, c)
		return true
	})
}
