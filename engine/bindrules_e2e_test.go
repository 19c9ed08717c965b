package engine_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/portalloc"
	"github.com/xdpengine/engine/stack/socktab"
)

// kernelSocket opens a kernel socket in the peer namespace; SO_REUSEADDR
// when reuse.
func kernelSocket(t *testing.T, bed *testbed.Bed, typ int, reuse bool) int {
	t.Helper()
	var fd int
	if err := bed.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
		if err == nil && reuse {
			err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	kernelFDs.Store(fd, true)
	t.Cleanup(func() { closeKernel(fd) })
	return fd
}

// kernelFDs holds the descriptors kernelSocket opened that are still open.
var kernelFDs sync.Map

// closeKernel closes a descriptor kernelSocket opened, once: the test that
// closes one itself and the cleanup both call it. A second close(2) would
// close whatever took the number meanwhile: it broke a pipe of the Go
// runtime's splice pool, and a later test's kernel echo (io.Copy) failed
// with EBADF and closed its connection (TestCloseClosesHeldTCP,
// TestTCP6TwoWorkers in CI; found with strace -k).
func closeKernel(fd int) {
	if _, ok := kernelFDs.LoadAndDelete(fd); ok {
		unix.Close(fd)
	}
}

// kernelListen binds fd to port on every address and listens.
func kernelListen(fd int, port int) error {
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port}); err != nil {
		return err
	}
	return unix.Listen(fd, 16)
}

// TestAcceptedConnectionsHoldThePort compares with the kernel what an
// accepted connection does to its port once its listener is gone: a new
// listener without SO_REUSEADDR gets EADDRINUSE while the connection, or
// its TIME-WAIT, lives; with SO_REUSEADDR on the old listener and the new
// one, the new listener succeeds (the connection copied the flag).
func TestAcceptedConnectionsHoldThePort(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	enginetest.PeerResolve(t, bed)

	// scenario runs one case on both stacks: listen (reuse), accept one
	// connection, close the listener, optionally end the connection with
	// the server closing first (TIME-WAIT on the server), listen again
	// (reuse2).
	scenario := func(port int, reuse, reuse2, timeWait bool) (kernelErr, engineErr error) {
		// Kernel: server and client both in the peer namespace.
		ln := kernelSocket(t, bed, unix.SOCK_STREAM, reuse)
		if err := kernelListen(ln, port); err != nil {
			t.Fatal(err)
		}
		cl := kernelSocket(t, bed, unix.SOCK_STREAM, false)
		if err := enginetest.ConnectKernel(cl, &unix.SockaddrInet4{Addr: bed.PeerAddr.As4(), Port: port}); err != nil {
			t.Fatal(err)
		}
		conn, err := enginetest.RetryEINTR(func() (int, error) {
			nfd, _, err := unix.Accept(ln)
			return nfd, err
		})
		if err != nil {
			t.Fatal(err)
		}
		closeKernel(ln)
		if timeWait {
			unix.Close(conn) // the server closes first: its side goes to TIME-WAIT
			closeKernel(cl)
			time.Sleep(50 * time.Millisecond)
		} else {
			defer unix.Close(conn)
		}
		ln2 := kernelSocket(t, bed, unix.SOCK_STREAM, reuse2)
		kernelErr = kernelListen(ln2, port)

		// Engine: the same, the peer kernel as the client.
		eln, err := eng.ListenTCP("tcp4", fmt.Sprintf(":%d", port), engine.TCPListenConfig{SocketOptions: engine.SocketOptions{ReuseAddr: reuse}})
		if err != nil {
			t.Fatal(err)
		}
		pc, err := enginetest.PeerDialTCP(t, bed, netip.AddrPortFrom(bed.EngineAddr, uint16(port)))
		if err != nil {
			t.Fatal(err)
		}
		ec, err := eln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		eln.Close()
		if timeWait {
			// The engine closes first and the peer only once the
			// engine's FIN is acknowledged, so the engine's side ends
			// in TIME-WAIT.
			lport := netip.AddrPortFrom(bed.EngineAddr, uint16(port))
			ec.Close()
			enginetest.WaitFor(t, "the engine's side in FIN-WAIT-2", func() bool { return tcpState(eng, lport) == socktab.StateFinWait2 })
			pc.Close()
			enginetest.WaitFor(t, "the engine's side in TIME-WAIT", func() bool { return tcpState(eng, lport) == socktab.StateTimeWait })
		} else {
			defer ec.Close()
		}
		eln2, engineErr := eng.ListenTCP("tcp4", fmt.Sprintf(":%d", port), engine.TCPListenConfig{SocketOptions: engine.SocketOptions{ReuseAddr: reuse2}})
		if engineErr == nil {
			eln2.Close()
		}
		return kernelErr, engineErr
	}
	cases := []struct {
		name                    string
		reuse, reuse2, timeWait bool
		want                    syscall.Errno
	}{
		{"accepted, no SO_REUSEADDR", false, false, false, syscall.EADDRINUSE},
		{"accepted, SO_REUSEADDR on the new listener only", false, true, false, syscall.EADDRINUSE},
		{"accepted, SO_REUSEADDR on both", true, true, false, 0},
		{"TIME-WAIT, no SO_REUSEADDR", false, false, true, syscall.EADDRINUSE},
		{"TIME-WAIT, SO_REUSEADDR on both", true, true, true, 0},
	}
	for i, tc := range cases {
		kerr, eerr := scenario(7900+i, tc.reuse, tc.reuse2, tc.timeWait)
		for who, err := range map[string]error{"kernel": kerr, "engine": eerr} {
			if (tc.want == 0) != (err == nil) || tc.want != 0 && !errors.Is(err, tc.want) {
				t.Errorf("%s: %s gives %v, want %v", tc.name, who, err, tc.want)
			}
		}
	}
}

// tcpState returns the state of the engine's connection on local (the
// first one listed), or StateClosed.
func tcpState(eng *engine.Engine, local netip.AddrPort) socktab.State {
	for _, e := range eng.Sockets(socktab.TCP) {
		if e.Local == local && e.Peer.IsValid() {
			return e.State
		}
	}
	return socktab.StateClosed
}

// TestEphemeralPortsAgainstKernel: with the same small range (an odd first
// port), the engine on two workers and the kernel choose TCP connect ports
// the same way (even offsets from the first port before odd ones), use the
// whole range toward one peer (the engine tries every worker's share), and
// fail the same way when it is used up: TCP EADDRNOTAVAIL, UDP EAGAIN. A
// range changed at run time applies to the next connect.
func TestEphemeralPortsAgainstKernel(t *testing.T) {
	bed := testbed.New(t, testbed.Config{Queues: 2})
	const first, last = 40001, 40008
	eng := enginetest.Start(t, bed, engine.Config{Queues: 2, Ports: portalloc.Range{First: first, Last: last}})
	enginetest.EchoTCP(t, eng, ":7950", engine.TCPListenConfig{})
	enginetest.PeerEchoTCP(t, bed, 7951)
	enginetest.PeerResolve(t, bed)
	if out, err := bed.Command(t.Context(), "sysctl", "-qw", fmt.Sprintf("net.ipv4.ip_local_port_range=%d %d", first, last)).CombinedOutput(); err != nil {
		t.Fatalf("peer port range: %v\n%s", err, out)
	}

	// TCP: the kernel dials the engine, the engine dials the kernel.
	var kports, eports []int
	var kerr, eerr error
	for range last - first + 2 {
		fd := kernelSocket(t, bed, unix.SOCK_STREAM, false)
		if err := enginetest.ConnectKernel(fd, &unix.SockaddrInet4{Addr: bed.EngineAddr.As4(), Port: 7950}); err != nil {
			kerr = err
			break
		}
		sa, _ := unix.Getsockname(fd)
		kports = append(kports, sa.(*unix.SockaddrInet4).Port)
	}
	var conns []*engine.TCPConn
	for range last - first + 2 {
		c, err := eng.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, 7951)))
		if err != nil {
			eerr = err
			break
		}
		conns = append(conns, c)
		eports = append(eports, int(c.LocalAddr().(*net.TCPAddr).Port))
	}
	for _, ports := range [][]int{kports, eports} {
		if len(ports) != last-first+1 {
			t.Fatalf("TCP connects before exhaustion: kernel %v, engine %v: want %d each", kports, eports, last-first+1)
		}
		for i, p := range ports[:len(ports)/2] {
			if (p-first)%2 != 0 {
				t.Errorf("connect %d took port %d (odd offset from %d) before the even ones: kernel %v, engine %v", i, p, first, kports, eports)
			}
		}
	}
	if !errors.Is(kerr, syscall.EADDRNOTAVAIL) || !errors.Is(eerr, syscall.EADDRNOTAVAIL) {
		t.Fatalf("TCP connect with the range used up: kernel %v, engine %v; want EADDRNOTAVAIL", kerr, eerr)
	}

	// UDP: connect needs a port; with the range used up, EAGAIN.
	kerr, eerr = nil, nil
	var uconns []*engine.UDPConn
	for range last - first + 2 {
		fd := kernelSocket(t, bed, unix.SOCK_DGRAM, false)
		if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: bed.EngineAddr.As4(), Port: 9}); err != nil {
			kerr = err
			break
		}
	}
	for range last - first + 2 {
		c, err := eng.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, 9)))
		if err != nil {
			eerr = err
			break
		}
		uconns = append(uconns, c)
	}
	if len(uconns) != last-first+1 || !errors.Is(kerr, syscall.EAGAIN) || !errors.Is(eerr, syscall.EAGAIN) {
		t.Fatalf("UDP connects: engine %d then %v, kernel %v; want %d then EAGAIN from both", len(uconns), eerr, kerr, last-first+1)
	}

	// A new range at run time: the next connect takes a port from it,
	// and connections on the old ports keep working.
	if err := eng.SetPortRange(portalloc.Range{First: 500, Last: 600}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("SetPortRange(500-600): %v, want EINVAL", err)
	}
	if err := eng.SetPortRange(portalloc.Range{First: 50000, Last: 50003}); err != nil {
		t.Fatal(err)
	}
	c, err := eng.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, 7951)))
	if err != nil {
		t.Fatalf("connect after the range changed: %v", err)
	}
	if p := c.LocalAddr().(*net.TCPAddr).Port; p < 50000 || p > 50003 {
		t.Fatalf("connect after the range changed took port %d", p)
	}
	enginetest.RoundTrips(t, c)
	enginetest.RoundTrips(t, conns[0])
	sort.Ints(eports)
	t.Logf("kernel ports %v, engine ports %v", kports, eports)
	for _, c := range uconns {
		c.Close()
	}

}

// TestBindAddressNoPortAndFreebind compares with the kernel, on the
// engine's public API: with a two-port range, binding (address, 0) before
// connect reserves a port per socket, so a third socket finds none
// (EADDRINUSE), while with IP_BIND_ADDRESS_NO_PORT the port is chosen at
// connect and shared by connections to different peers (four succeed);
// IP_FREEBIND lets a socket bind an address its host does not own.
func TestBindAddressNoPortAndFreebind(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{Ports: portalloc.Range{First: 40000, Last: 40001}})
	enginetest.PeerEchoTCP(t, bed, 7961)
	enginetest.PeerEchoTCP(t, bed, 7962)
	enginetest.EchoTCP(t, eng, ":7961", engine.TCPListenConfig{})
	enginetest.EchoTCP(t, eng, ":7962", engine.TCPListenConfig{})
	enginetest.PeerResolve(t, bed)
	if out, err := bed.Command(t.Context(), "sysctl", "-qw", "net.ipv4.ip_local_port_range=40000 40001").CombinedOutput(); err != nil {
		t.Fatalf("peer port range: %v\n%s", err, out)
	}
	var abort []func() // reset a round's connections: no TIME-WAIT keeps their ports
	count := func(noPort bool) (kernelConns, engineConns int, kerr, eerr error) {
		for _, f := range abort {
			f()
		}
		abort = nil
		enginetest.WaitFor(t, "the reset connections gone", func() bool {
			for _, e := range eng.Sockets(socktab.TCP) {
				if e.Peer.IsValid() && e.Local.Port() >= 40000 && e.Local.Port() <= 40001 {
					return false
				}
			}
			return true
		})
		for i := range 4 {
			port := 7961 + i%2
			fd := kernelSocket(t, bed, unix.SOCK_STREAM, false)
			if noPort {
				unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
			}
			if kerr == nil {
				kerr = unix.Bind(fd, &unix.SockaddrInet4{Addr: bed.PeerAddr.As4()})
				if kerr == nil {
					kerr = enginetest.ConnectKernel(fd, &unix.SockaddrInet4{Addr: bed.EngineAddr.As4(), Port: port})
				}
				if kerr == nil {
					kernelConns++
					abort = append(abort, func() {
						unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
						closeKernel(fd)
					})
				}
			}
			if eerr == nil {
				d := &engine.Dialer{Engine: eng, LocalAddr: netip.AddrPortFrom(bed.EngineAddr, 0),
					SocketOptions: engine.SocketOptions{BindAddressNoPort: noPort}}
				var c net.Conn
				c, eerr = d.Dial("tcp4", netip.AddrPortFrom(bed.PeerAddr, uint16(port)).String())
				if eerr == nil {
					engineConns++
					abort = append(abort, func() {
						c.(*engine.TCPConn).SetLinger(0)
						c.Close()
					})
				}
			}
		}
		return
	}
	k, e, kerr, eerr := count(false)
	if k != 2 || e != 2 || !errors.Is(kerr, syscall.EADDRINUSE) || !errors.Is(eerr, syscall.EADDRINUSE) {
		t.Fatalf("bind(addr, 0) then connect, two ports: kernel %d then %v, engine %d then %v; want 2 then EADDRINUSE", k, kerr, e, eerr)
	}
	k, e, kerr, eerr = count(true)
	if k != 4 || e != 4 {
		t.Fatalf("IP_BIND_ADDRESS_NO_PORT, two ports, two peers: kernel %d (%v), engine %d (%v); want 4 each", k, kerr, e, eerr)
	}
	for _, f := range abort {
		f()
	}

	foreign := netip.MustParseAddr("198.19.88.8")
	if _, err := eng.ListenUDP("udp4", netip.AddrPortFrom(foreign, 7970).String(), engine.SocketOptions{}); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("bind to a foreign address: %v, want EADDRNOTAVAIL", err)
	}
	c, err := eng.ListenUDP("udp4", netip.AddrPortFrom(foreign, 7970).String(), engine.SocketOptions{Freebind: true})
	if err != nil {
		t.Fatalf("IP_FREEBIND bind to a foreign address: %v", err)
	}
	c.Close()
	fd := kernelSocket(t, bed, unix.SOCK_DGRAM, false)
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_FREEBIND, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: foreign.As4(), Port: 7970}); err != nil {
		t.Fatalf("kernel IP_FREEBIND bind: %v", err)
	}
}
