package engine_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestUDP6MulticastFanout: a datagram the peer kernel sends to an IPv6
// group reaches every engine socket on the port that wants it, one copy
// each, as Linux's __udp6_lib_mcast_deliver: the two that joined the
// group, one bound to :: that joined nothing (IPV6_MULTICAST_ALL, on by
// default), one bound to the group itself, and both members of a
// SO_REUSEPORT group; not one with IPV6_MULTICAST_ALL off that did not
// join, one bound to the engine's unicast address, an IPv4 socket, or a
// socket on another port that joined the group.
func TestUDP6MulticastFanout(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	group := netip.MustParseAddr("ff12::7:141")
	const port = 7141
	r := engine.SocketOptions{ReuseAddr: true}
	rp := engine.SocketOptions{ReuseAddr: true, ReusePort: true}
	listen := func(name, network, addr string, o engine.SocketOptions) *engine.UDPConn {
		t.Helper()
		c, err := eng.ListenUDP(network, addr, o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	p := func(a netip.Addr) string { return netip.AddrPortFrom(a, port).String() }
	socks := []struct {
		name string
		c    *engine.UDPConn
		join bool
		want bool
	}{
		{"joined", listen("joined", "udp6", p(netip.IPv6Unspecified()), r), true, true},
		{"joined too", listen("joined too", "udp6", p(netip.IPv6Unspecified()), r), true, true},
		{"multicast-all", listen("multicast-all", "udp6", p(netip.IPv6Unspecified()), r), false, true},
		{"bound to the group", listen("bound to the group", "udp6", p(group), r), false, true},
		{"multicast-all off", listen("multicast-all off", "udp6", p(netip.IPv6Unspecified()), r), false, false},
		{"unicast", listen("unicast", "udp6", p(bed.EngineAddr6), r), false, false},
		{"ipv4", listen("ipv4", "udp4", ":7141", r), false, false},
		{"other port", listen("other port", "udp6", "[::]:7142", r), true, false},
	}
	rp1 := listen("reuseport 1", "udp6", "[::]:7143", rp)
	rp2 := listen("reuseport 2", "udp6", "[::]:7143", rp)
	for _, s := range socks {
		if s.name == "multicast-all off" {
			s.c.SetMulticastAll(false)
		}
		if s.join {
			if err := s.c.JoinGroup(group); err != nil {
				t.Fatalf("%s: join: %v", s.name, err)
			}
		}
	}

	var fd int
	if err := bed.Do(func() (err error) {
		ifi, err := net.InterfaceByName(bed.PeerIf)
		if err != nil {
			return err
		}
		if fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index)
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	send := func(msg string, port int) {
		t.Helper()
		if err := unix.Sendto(fd, []byte(msg), 0, &unix.SockaddrInet6{Addr: group.As16(), Port: port}); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 64)
	read := func(c *engine.UDPConn, d time.Duration) (string, netip.AddrPort, bool) {
		c.SetReadDeadline(time.Now().Add(d))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return "", from, false
		}
		return string(buf[:n]), from, true
	}
	// The first datagrams may come before the peer's neighbor and MLD
	// state settled: warm up until the first member hears one, then drain.
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatalf("the group's datagrams never reached a member (IPv6 stats %+v)", eng.Stats().Total.IPv6)
		}
		send("warm", port)
		if _, _, ok := read(socks[0].c, 300*time.Millisecond); ok {
			break
		}
	}
	time.Sleep(100 * time.Millisecond)
	for _, s := range socks {
		for {
			if _, _, ok := read(s.c, 10*time.Millisecond); !ok {
				break
			}
		}
	}

	send("copy", port)
	for _, s := range socks {
		got, from, ok := read(s.c, 500*time.Millisecond)
		switch {
		case s.want && (!ok || got != "copy"):
			t.Errorf("%s: got %q (%v), want a copy", s.name, got, ok)
		case s.want && from.Addr() != bed.PeerAddr6:
			t.Errorf("%s: copy from %v, want from %v", s.name, from, bed.PeerAddr6)
		case !s.want && ok:
			t.Errorf("%s: got %q, want nothing", s.name, got)
		}
		if got, _, ok := read(s.c, 50*time.Millisecond); ok {
			t.Errorf("%s: a second datagram %q, want one copy", s.name, got)
		}
	}

	// Every member of a SO_REUSEPORT group gets a copy (not one of them).
	send("reuseport", 7143)
	for i, c := range []*engine.UDPConn{rp1, rp2} {
		if got, _, ok := read(c, 500*time.Millisecond); !ok || got != "reuseport" {
			t.Errorf("SO_REUSEPORT member %d: got %q (%v), want a copy", i+1, got, ok)
		}
	}
}
