package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/internal/testbed"
)

// startEngine runs an engine on the bed's engine side with a UDP echo
// service on port 7.
func startEngine(t *testing.T, bed *testbed.Bed, cfg Config) *Engine {
	t.Helper()
	cfg.Interface = bed.HostIf
	cfg.Addrs = []netip.Prefix{netip.PrefixFrom(bed.EngineAddr, 24)}
	cfg.Logger = discardLogger()
	eng, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := eng.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	return eng
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func echoUDP(t *testing.T, eng *Engine, addr string) {
	t.Helper()
	c, err := eng.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
}

func peerDial(t *testing.T, bed *testbed.Bed, port uint16) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := bed.Do(func() (err error) {
		c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.EngineAddr, port)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// peerResolve has the peer learn the engine's MAC address (a ping the
// engine answers) before a test sends a burst: until ARP resolves, the
// kernel queues at most unres_qlen_bytes per neighbor and drops the
// oldest datagrams beyond that.
func peerResolve(t *testing.T, bed *testbed.Bed) {
	t.Helper()
	out, err := bed.Command(context.Background(), "ping", "-c", "1", "-w", "10", bed.EngineAddr.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ping the engine from the peer: %v\n%s", err, out)
	}
}

// forceReadBuffer sets a kernel socket's receive buffer to n bytes past
// net.core.rmem_max (SO_RCVBUFFORCE; the tests run as root), so that a
// test's burst does not depend on the machine's sysctls.
func forceReadBuffer(t *testing.T, c *net.UDPConn, n int) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatalf("SO_RCVBUFFORCE %d: %v", n, serr)
	}
}

func exchange(t *testing.T, c *net.UDPConn, msg []byte) []byte {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("send %d bytes: %v", len(msg), err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no answer to %d bytes: %v", len(msg), err)
	}
	return buf[:n]
}

func TestDemoExchanges(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := startEngine(t, bed, Config{BindService: true})
	echoUDP(t, eng, ":7")

	out, err := bed.Command(context.Background(), "ping", "-c", "2", "-W", "2", bed.EngineAddr.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ping the engine: %v\n%s", err, out)
	}
	c := peerDial(t, bed, 7)
	t.Cleanup(func() { t.Logf("stats: %+v", eng.Stats().Total) })
	if got := exchange(t, c, []byte("hello engine")); string(got) != "hello engine" {
		t.Errorf("echo: got %q", got)
	}
	big := bytes.Repeat([]byte("0123456789"), 6000)
	if got := exchange(t, c, big); !bytes.Equal(got, big) {
		t.Errorf("60000-byte echo: got %d bytes, equal=%v", len(got), bytes.Equal(got, big))
	}
	closed := peerDial(t, bed, 9)
	closed.Write([]byte("anyone?"))
	closed.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := closed.Read(make([]byte, 16)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("closed port: got %v, want ECONNREFUSED", err)
	}
	st := eng.Stats()
	t.Logf("rx %d tx %d reasm ok %d frag creates %d noSocket %d", st.Total.RxPackets, st.Total.TxPackets,
		st.Total.Reasm.ReasmOKs, st.Total.Frag.FragCreates, st.Total.DropNoSocket)
}
