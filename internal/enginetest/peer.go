package enginetest

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/internal/testbed"
)

// PeerUDP is a kernel UDP socket in bed's peer namespace connected to the
// engine's address on port; it closes when tb ends.
func PeerUDP(tb testing.TB, bed *testbed.Bed, port uint16) *net.UDPConn {
	tb.Helper()
	return PeerDialUDP(tb, bed, EngineAddr(bed, port))
}

// PeerDialUDP is a kernel UDP socket in bed's peer namespace connected to
// to (the engine, or a kernel address on the engine's side of the link);
// it closes when tb ends.
func PeerDialUDP(tb testing.TB, bed *testbed.Bed, to netip.AddrPort) *net.UDPConn {
	tb.Helper()
	var c *net.UDPConn
	err := bed.Do(func() (err error) {
		c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// PeerResolve has the peer learn the engine's MAC address (a ping the
// engine answers) before a test sends a burst: until ARP resolves, the
// kernel queues at most unres_qlen_bytes per neighbor and drops the
// oldest datagrams beyond that.
func PeerResolve(tb testing.TB, bed *testbed.Bed) {
	tb.Helper()
	out, err := bed.Command(context.Background(), "ping", "-c", "1", "-w", "10", bed.EngineAddr.String()).CombinedOutput()
	if err != nil {
		tb.Fatalf("ping the engine from the peer: %v\n%s", err, out)
	}
}

// PeerDialTCP connects from the peer kernel to to, waiting at most 5 s.
// The connection closes when tb ends. A failed connect is returned, not
// fatal: tests check refusals with it.
func PeerDialTCP(tb testing.TB, bed *testbed.Bed, to netip.AddrPort) (net.Conn, error) {
	tb.Helper()
	var c net.Conn
	err := bed.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", to.String(), 5*time.Second)
		return err
	})
	if err == nil {
		tb.Cleanup(func() { c.Close() })
	}
	return c, err
}

// PeerListenTCP listens on the peer's address with port in the peer
// kernel, until tb ends.
func PeerListenTCP(tb testing.TB, bed *testbed.Bed, port uint16) net.Listener {
	tb.Helper()
	var ln net.Listener
	if err := bed.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(bed.PeerAddr, port).String())
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln
}

// PeerEchoTCP runs an echo server on the peer kernel's port: each
// connection echoes until the other side's FIN, then closes.
func PeerEchoTCP(tb testing.TB, bed *testbed.Bed, port uint16) {
	tb.Helper()
	go ServeTCPEcho(PeerListenTCP(tb, bed, port))
}

// PeerRawSocket opens a raw IPv4 socket (IPPROTO_RAW: the caller writes
// whole IPv4 packets, header included) in the peer namespace, for forged
// packets the kernel's sockets would not send. It closes when tb ends.
func PeerRawSocket(tb testing.TB, bed *testbed.Bed) int {
	tb.Helper()
	var fd int
	if err := bed.Do(func() (err error) {
		fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { syscall.Close(fd) })
	return fd
}

// PeerHTTPClient returns an HTTP client whose connections are the peer
// kernel's (a 10 s timeout per request). http.Transport dials on goroutines
// of its own, which a bed.Do around the request would not cover: every dial
// enters the peer namespace itself.
func PeerHTTPClient(bed *testbed.Bed) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = bed.Do(func() (err error) {
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
}

// KernelUDP is a kernel UDP socket in the peer namespace used through its
// file descriptor, for the socket options and ancillary data the net
// package does not expose. Its receives time out after 5 s.
type KernelUDP struct {
	FD int // the socket; it closes when the test ends
}

// PeerKernelUDP opens a KernelUDP bound to bind (port 0: any port) in
// bed's peer namespace.
func PeerKernelUDP(tb testing.TB, bed *testbed.Bed, bind netip.AddrPort) *KernelUDP {
	tb.Helper()
	var k KernelUDP
	if err := bed.Do(func() (err error) {
		k.FD, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		return unix.Bind(k.FD, &unix.SockaddrInet4{Addr: bind.Addr().As4(), Port: int(bind.Port())})
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(k.FD) })
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	if err := unix.SetsockoptTimeval(k.FD, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		tb.Fatal(err)
	}
	return &k
}

// SetInt sets an integer socket option, or fails tb.
func (k *KernelUDP) SetInt(tb testing.TB, level, opt, v int) {
	tb.Helper()
	if err := unix.SetsockoptInt(k.FD, level, opt, v); err != nil {
		tb.Fatalf("setsockopt %d/%d=%d: %v", level, opt, v, err)
	}
}

// SendTo sends one datagram to to.
func (k *KernelUDP) SendTo(p []byte, to netip.AddrPort) error {
	return unix.Sendto(k.FD, p, 0, &unix.SockaddrInet4{Addr: to.Addr().As4(), Port: int(to.Port())})
}

// Recv reads one datagram with its ancillary data: TTL and TOS (when the
// socket asked for them with IP_RECVTTL and IP_RECVTOS, -1 otherwise) and
// the sender. Nothing within 5 s fails tb.
func (k *KernelUDP) Recv(tb testing.TB) (payload string, ttl, tos int, from netip.AddrPort) {
	tb.Helper()
	buf, oob := make([]byte, 2048), make([]byte, 256)
	var oobn int
	var sa unix.Sockaddr
	n, err := RetryEINTR(func() (n int, err error) {
		n, oobn, _, sa, err = unix.Recvmsg(k.FD, buf, oob, 0)
		return n, err
	})
	if err != nil {
		tb.Fatalf("kernel recvmsg: %v", err)
	}
	ttl, tos = -1, -1
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range msgs {
		if m.Header.Level != unix.IPPROTO_IP {
			continue
		}
		switch m.Header.Type {
		case unix.IP_TTL:
			ttl = int(m.Data[0]) // an int in host order
		case unix.IP_TOS:
			tos = int(m.Data[0]) // one byte
		}
	}
	if s4, ok := sa.(*unix.SockaddrInet4); ok {
		from = netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), uint16(s4.Port))
	}
	return string(buf[:n]), ttl, tos, from
}
