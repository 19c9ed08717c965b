package enginetest

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/stack/socktab"
)

// ConfigFor returns cfg set up for bed's engine side: the bed's host
// interface, the bed's engine address with its /24 when cfg.Addrs is empty,
// and a logger that discards everything. Other fields are cfg's.
func ConfigFor(bed *testbed.Bed, cfg engine.Config) engine.Config {
	cfg.Interface = bed.HostIf
	if len(cfg.Addrs) == 0 {
		cfg.Addrs = []netip.Prefix{netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits())}
	}
	cfg.Logger = DiscardLogger()
	return cfg
}

// Start runs an engine on bed's engine side with ConfigFor(bed, cfg) and
// closes it when tb ends; a Close error fails tb. The test may close the
// engine earlier itself (Close is idempotent).
func Start(tb testing.TB, bed *testbed.Bed, cfg engine.Config) *engine.Engine {
	tb.Helper()
	eng, err := engine.New(ConfigFor(bed, cfg))
	if err != nil {
		tb.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := eng.Close(); err != nil {
			tb.Errorf("close engine: %v", err)
		}
	})
	return eng
}

// StartBesideKernel builds a bed whose engine side also gives the caller's
// kernel an address (bed.HostAddr, .3, which the engine does not own, so
// its XDP program passes that traffic to the kernel) and starts an engine
// on it with Start: the same link, the same peer and the same process
// serve both stacks, for side-by-side comparisons. Both are removed when
// tb ends.
func StartBesideKernel(tb testing.TB, cfg engine.Config) (*testbed.Bed, *engine.Engine) {
	tb.Helper()
	bed := testbed.New(tb, testbed.Config{HostKernelAddr: true})
	return bed, Start(tb, bed, cfg)
}

// DiscardLogger returns a logger that drops every record: the engine's
// start and stop lines would bury the test's own output.
func DiscardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// EngineAddr is the engine's address on bed with port.
func EngineAddr(bed *testbed.Bed, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(bed.EngineAddr, port)
}

// DatagramConn is what *net.UDPConn and *engine.UDPConn have in common
// beyond net.PacketConn: reads and writes without a net.Addr allocation.
type DatagramConn interface {
	ReadFromUDPAddrPort(p []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(p []byte, addr netip.AddrPort) (int, error)
}

// ServeUDPEcho answers every datagram on c with the same bytes, to its
// sender, until a read fails (c closed). The engine's and the kernels'
// echo servers all run this loop, so that a comparison differs only in
// the stack under it.
func ServeUDPEcho(c DatagramConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		c.WriteToUDPAddrPort(buf[:n], from)
	}
}

// EchoUDP opens an engine UDP socket on addr (":7", "198.18.0.1:9000")
// that echoes every datagram, until tb ends.
func EchoUDP(tb testing.TB, eng *engine.Engine, addr string) *engine.UDPConn {
	tb.Helper()
	c, err := eng.ListenUDP("udp4", addr, engine.SocketOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	go ServeUDPEcho(c)
	return c
}

// EchoTCP serves an echo on an engine listener on addr until tb ends:
// each accepted connection gets back what it sends, until its FIN.
func EchoTCP(tb testing.TB, eng *engine.Engine, addr string, cfg engine.TCPListenConfig) *engine.TCPListener {
	tb.Helper()
	ln, err := eng.ListenTCP("tcp4", addr, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go ServeTCPEcho(ln)
	return ln
}

// ServeTCPEcho echoes on every connection ln accepts until ln closes (the
// engine's listener or a kernel one).
func ServeTCPEcho(ln net.Listener) { ServeTCPEchoReport(ln, nil) }

// ServeTCPEchoReport is ServeTCPEcho that calls ended (when not nil) with
// each connection and what its copy returned (nil at the peer's FIN).
func ServeTCPEchoReport(ln net.Listener, ended func(c net.Conn, err error)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, err := io.Copy(c, c)
			if ended != nil {
				ended(c, err)
			}
		}()
	}
}

// TCPSocket finds the engine's TCP socket whose local address is local in
// the engine's listing (a connection, with its TCP details), or fails tb.
func TCPSocket(tb testing.TB, eng *engine.Engine, local net.Addr) socktab.Entry {
	tb.Helper()
	for _, s := range eng.Sockets(socktab.TCP) {
		if s.Local.String() == local.String() && s.State != socktab.State(0) && s.TCP != nil {
			return s
		}
	}
	tb.Fatalf("no TCP socket %v in the listing", local)
	return socktab.Entry{}
}

// WaitFor polls cond every 10 ms for up to 5 s and fails tb, naming what
// it waited for, if cond never held.
func WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// NeedTool fails tb when a program the test runs (in the peer namespace or
// here) is missing: scripts/deps.sh (run by .ci/run and make test) installs
// every one, so a missing tool is a broken machine, not a reason to skip.
func NeedTool(tb testing.TB, name string) {
	tb.Helper()
	if _, err := exec.LookPath(name); err != nil {
		tb.Fatalf("%s is not installed (scripts/deps.sh installs it): %v", name, err)
	}
}
