package engine_test

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/stack/socktab"
)

// TestTCPTimeWaitRecordHoldsPort: a connection the engine closes first
// while its listener is open enters TIME-WAIT as a small record (no ring
// lent, listed as TIME-WAIT); when the listener closes afterwards, the
// record holds the port as Linux's timewait sock does: a new listener
// without SO_REUSEADDR gets EADDRINUSE.
func TestTCPTimeWaitRecordHoldsPort(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	ln, err := eng.ListenTCP("tcp4", ":7700", engine.TCPListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7700))
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	ec.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := ec.Read(make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	lport := netip.AddrPortFrom(bed.EngineAddr, 7700)
	ec.Close()
	enginetest.WaitFor(t, "the engine's side in FIN-WAIT-2", func() bool { return tcpState(eng, lport) == socktab.StateFinWait2 })
	pc.Close()
	enginetest.WaitFor(t, "the engine's side in TIME-WAIT", func() bool { return tcpState(eng, lport) == socktab.StateTimeWait })
	waitLent(t, eng, "a connection in TIME-WAIT")
	if st := eng.Stats().Total.TCP; st.CurrTimeWait != 1 {
		t.Fatalf("%d connections in TIME-WAIT, want 1", st.CurrTimeWait)
	}
	ln.Close()
	if _, err := eng.ListenTCP("tcp4", ":7700", engine.TCPListenConfig{}); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("listen on a port a TIME-WAIT record holds: %v, want EADDRINUSE", err)
	}
	time.Sleep(10 * time.Millisecond)
	if tcpState(eng, lport) != socktab.StateTimeWait {
		t.Fatal("the record left TIME-WAIT")
	}
}
