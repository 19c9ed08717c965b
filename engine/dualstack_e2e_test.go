package engine_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// The seed's dual-stack scenarios with real traffic, each run on the
// engine and on the peer kernel with the same sequence of sockets, and
// the answers compared: which socket takes an IPv4 and an IPv6 datagram,
// how an IPv4 peer of a dual-stack socket is named, which binds conflict.

// sockSpec is one socket of a scenario: its family (4, or 6 for an IPv6
// socket, dual-stack unless v6only), whether it binds the wildcard or the
// side's own address, SO_REUSEADDR.
type sockSpec struct {
	fam    int
	v6only bool
	own    bool
	reuse  bool
	tag    string // what its echo prefixes (traffic scenarios)
}

func (s sockSpec) String() string {
	a := "any"
	if s.own {
		a = "own"
	}
	f := fmt.Sprintf("v%d", s.fam)
	if s.fam == 6 && !s.v6only {
		f = "dual"
	}
	if s.reuse {
		a += "+reuse"
	}
	return f + "/" + a
}

// side is one stack of a comparison: the engine's, or the peer kernel's.
type side struct {
	name     string
	v4, v6   netip.Addr // its addresses
	listen   func(s sockSpec, port uint16) (net.PacketConn, error)
	dialFrom func(network string, to netip.AddrPort) (net.Conn, error) // the other side's client
}

func engineSide(t *testing.T, bed *testbed.Bed, eng *engine.Engine) side {
	return side{name: "engine", v4: bed.EngineAddr, v6: bed.EngineAddr6,
		listen: func(s sockSpec, port uint16) (net.PacketConn, error) {
			ap, network := netip.AddrPortFrom(netip.Addr{}, port), "udp4"
			if s.fam == 6 {
				network, ap = "udp", netip.AddrPortFrom(netip.IPv6Unspecified(), port)
			}
			if s.own && s.fam == 4 {
				ap = netip.AddrPortFrom(bed.EngineAddr, port)
			} else if s.own {
				ap = netip.AddrPortFrom(bed.EngineAddr6, port)
			}
			c, err := eng.ListenUDPAddrPort(network, ap, engine.SocketOptions{V6Only: s.v6only, ReuseAddr: s.reuse})
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		dialFrom: func(network string, to netip.AddrPort) (net.Conn, error) {
			var c net.Conn
			err := bed.Do(func() (err error) {
				c, err = net.Dial(network, to.String())
				return err
			})
			return c, err
		},
	}
}

func kernelSide(t *testing.T, bed *testbed.Bed, eng *engine.Engine) side {
	return side{name: "kernel", v4: bed.PeerAddr, v6: bed.PeerAddr6,
		listen: func(s sockSpec, port uint16) (net.PacketConn, error) {
			network, addr := "udp4", fmt.Sprintf(":%d", port)
			if s.fam == 6 {
				network, addr = "udp", fmt.Sprintf("[::]:%d", port)
			}
			if s.own && s.fam == 4 {
				addr = netip.AddrPortFrom(bed.PeerAddr, port).String()
			} else if s.own {
				addr = netip.AddrPortFrom(bed.PeerAddr6, port).String()
			}
			lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				rc.Control(func(fd uintptr) {
					if s.reuse {
						serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
					}
					if s.fam == 6 && serr == nil {
						v := 0
						if s.v6only {
							v = 1
						}
						serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v)
					}
				})
				return serr
			}}
			var c net.PacketConn
			err := bed.Do(func() (err error) {
				c, err = lc.ListenPacket(context.Background(), network, addr)
				return err
			})
			return c, err
		},
		dialFrom: func(network string, to netip.AddrPort) (net.Conn, error) {
			return eng.Dial(network, to.String())
		},
	}
}

// errnoOf returns err's errno (0 for nil, -1 for an error without one).
func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		return en
	}
	return ^syscall.Errno(0)
}

// TestDualStackBindConflicts runs sequences of binds on one port on the
// engine and on the peer kernel and requires the same errno at each step
// (0.0.0.0:P then [::]:P dual-stack is EADDRINUSE, as Linux says; with
// IPV6_V6ONLY both bind; ...).
func TestDualStackBindConflicts(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	v4any, v4own := sockSpec{fam: 4}, sockSpec{fam: 4, own: true}
	dual, v6only, v6own := sockSpec{fam: 6}, sockSpec{fam: 6, v6only: true}, sockSpec{fam: 6, own: true}
	dualOwnV6only := sockSpec{fam: 6, own: true, v6only: true}
	seqs := [][]sockSpec{
		{v4any, dual},
		{dual, v4any},
		{v6only, v4any},
		{v4any, v6only},
		{dual, v6only},
		{v6only, dual},
		{v6own, v6only},
		{v6own, v4any},
		{v4own, dual},
		{v4own, v6only},
		{dual, v4own},
		{v6only, v4own, v4any},
		{dualOwnV6only, dual},
		{sockSpec{fam: 4, reuse: true}, sockSpec{fam: 6, reuse: true}},
		{sockSpec{fam: 6, reuse: true}, sockSpec{fam: 4, reuse: true}},
		{sockSpec{fam: 4, reuse: true}, dual},
	}
	sides := []side{engineSide(t, bed, eng), kernelSide(t, bed, eng)}
	for i, seq := range seqs {
		port := uint16(7500 + i)
		var got [2][]syscall.Errno
		for j, sd := range sides {
			var open []net.PacketConn
			for _, s := range seq {
				c, err := sd.listen(s, port)
				got[j] = append(got[j], errnoOf(err))
				if err == nil {
					open = append(open, c)
				}
			}
			for _, c := range open {
				c.Close()
			}
		}
		if fmt.Sprint(got[0]) != fmt.Sprint(got[1]) {
			t.Errorf("%v: engine %v, kernel %v", seq, got[0], got[1])
		} else {
			t.Logf("%v: %v on both", seq, got[0])
		}
	}
}

// serveTagged answers every datagram on c with tag followed by the
// datagram, until c closes.
func serveTagged(c net.PacketConn, tag string) {
	buf := make([]byte, 2048)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		c.WriteTo(append([]byte(tag+":"), buf[:n]...), from)
	}
}

// ask sends msg on c and returns the answer (retrying a lost first
// datagram: neighbor resolution), or "" after 3 tries.
func ask(c net.Conn, msg string) string {
	buf := make([]byte, 2048)
	for range 3 {
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := c.Read(buf); err == nil {
			return string(buf[:n])
		}
	}
	return ""
}

// TestDualStackTraffic: the same sockets on the engine and on the peer
// kernel, each answering with its tag; a client of the other side sends
// over IPv4 and over IPv6 and records which socket answered. One [::]:P
// dual-stack socket serves both; with V6ONLY a separate 0.0.0.0:P takes
// the IPv4 clients; with SO_REUSEADDR on both, the IPv4 socket wins over
// the dual-stack one for IPv4 whichever bound first.
func TestDualStackTraffic(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	scenarios := []struct {
		name  string
		socks []sockSpec
		want4 string
		want6 string
	}{
		{"dual serves both", []sockSpec{{fam: 6, tag: "dual"}}, "dual", "dual"},
		{"v6only beside v4", []sockSpec{{fam: 6, v6only: true, tag: "v6"}, {fam: 4, tag: "v4"}}, "v4", "v6"},
		{"v4 wins, dual first", []sockSpec{{fam: 6, reuse: true, tag: "dual"}, {fam: 4, reuse: true, tag: "v4"}}, "v4", "dual"},
		{"v4 wins, v4 first", []sockSpec{{fam: 4, reuse: true, tag: "v4"}, {fam: 6, reuse: true, tag: "dual"}}, "v4", "dual"},
		{"v4 own beside dual", []sockSpec{{fam: 4, own: true, reuse: true, tag: "v4own"}, {fam: 6, reuse: true, tag: "dual"}}, "v4own", "dual"},
	}
	sides := []side{engineSide(t, bed, eng), kernelSide(t, bed, eng)}
	for i, sc := range scenarios {
		port := uint16(7600 + i)
		var got [2][2]string
		for j, sd := range sides {
			var open []net.PacketConn
			for _, s := range sc.socks {
				c, err := sd.listen(s, port)
				if err != nil {
					t.Fatalf("%s on %s: %v: %v", sc.name, sd.name, s, err)
				}
				open = append(open, c)
				go serveTagged(c, s.tag)
			}
			for k, to := range []netip.AddrPort{netip.AddrPortFrom(sd.v4, port), netip.AddrPortFrom(sd.v6, port)} {
				network := "udp4"
				if k == 1 {
					network = "udp6"
				}
				c, err := sd.dialFrom(network, to)
				if err != nil {
					t.Fatalf("%s: dial %s %v: %v", sc.name, network, to, err)
				}
				ans := ask(c, "hello")
				c.Close()
				tag, _, _ := cut(ans, ":")
				got[j][k] = tag
			}
			for _, c := range open {
				c.Close()
			}
		}
		if got[0] != [2]string{sc.want4, sc.want6} || got[1] != got[0] {
			t.Errorf("%s: IPv4 and IPv6 clients answered by engine %q, kernel %q; want %q, %q",
				sc.name, got[0], got[1], sc.want4, sc.want6)
		}
	}
}

func cut(s, sep string) (string, string, bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

// TestDualStackPeerNames: a dual-stack socket names its IPv4 peer as Go's
// net does over the kernel: ReadFromUDPAddrPort gives ::ffff:a.b.c.d,
// ReadFrom a *net.UDPAddr whose IP is the 16-byte v4-mapped form;
// LocalAddr is [::]:P; an answer to that address leaves over IPv4, from
// the engine's IPv4 address. Checked against a kernel dual-stack socket
// on the peer receiving from the engine.
func TestDualStackPeerNames(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	srv, err := eng.ListenPacket("udp", ":7700")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if got := srv.LocalAddr().String(); got != "[::]:7700" {
		t.Errorf("LocalAddr %s, want [::]:7700 (Go's net listens dual-stack on \"udp\" \":P\")", got)
	}
	uc := srv.(*engine.UDPConn)
	if !uc.IPv6() || uc.V6Only() {
		t.Errorf("IPv6 %v, V6Only %v: want a dual-stack IPv6 socket", uc.IPv6(), uc.V6Only())
	}
	client := enginetest.PeerDialUDP(t, bed, netip.AddrPortFrom(bed.EngineAddr, 7700))
	buf := make([]byte, 64)
	var from net.Addr
	for range 3 {
		client.Write([]byte("v4 hello"))
		srv.SetReadDeadline(time.Now().Add(time.Second))
		if _, from, err = srv.ReadFrom(buf); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	// The kernel's view of the same: a dual-stack socket on the peer
	// receiving from the engine's IPv4 socket.
	kc := peerListenUDP(t, bed, "udp", &net.UDPAddr{Port: 7701})
	ec, err := eng.Dial("udp4", netip.AddrPortFrom(bed.PeerAddr, 7701).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	var kfrom net.Addr
	for range 3 {
		ec.Write([]byte("v4 hello"))
		kc.SetReadDeadline(time.Now().Add(time.Second))
		if _, kfrom, err = kc.ReadFrom(buf); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	eu, ku := from.(*net.UDPAddr), kfrom.(*net.UDPAddr)
	t.Logf("engine reports %#v (%v), kernel %#v (%v)", eu.IP, eu, ku.IP, ku)
	if len(eu.IP) != len(ku.IP) || eu.AddrPort().Addr().Is4In6() != ku.AddrPort().Addr().Is4In6() ||
		eu.AddrPort().Addr().Unmap() != bed.PeerAddr || ku.AddrPort().Addr().Unmap() != bed.EngineAddr {
		t.Errorf("engine names the IPv4 peer %#v, kernel %#v: want the same form", eu.IP, ku.IP)
	}
	// A socket dialled from [::] to an IPv4 peer is dual-stack, as Go's
	// net makes it: it names its ends v4-mapped and talks IPv4.
	dc, err := eng.DialUDPAddrPort("udp", netip.AddrPortFrom(netip.IPv6Unspecified(), 0), netip.AddrPortFrom(bed.PeerAddr, 7701))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	if ra, la := dc.RemoteAddr().(*net.UDPAddr).AddrPort(), dc.LocalAddr().(*net.UDPAddr).AddrPort(); !dc.IPv6() ||
		ra.Addr() != netip.AddrFrom16(bed.PeerAddr.As16()) || la.Addr() != netip.AddrFrom16(bed.EngineAddr.As16()) {
		t.Errorf("dialled from [::]: IPv6 %v, %v -> %v; want v4-mapped ends", dc.IPv6(), la, ra)
	}
	if _, err := dc.Write([]byte("mapped")); err != nil {
		t.Fatal(err)
	}
	kc.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, kfrom, err := kc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "mapped" {
		t.Fatalf("kernel got %q, %v", buf[:n], err)
	}
	kc.WriteTo([]byte("back"), kfrom)
	dc.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err = dc.Read(buf); err != nil || string(buf[:n]) != "back" {
		t.Errorf("dual-stack connected socket read %q, %v", buf[:n], err)
	}
	if _, err := srv.WriteTo([]byte("v4 answer"), from); err != nil {
		t.Fatal(err)
	}
	client.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err = client.Read(buf)
	if err != nil || string(buf[:n]) != "v4 answer" {
		t.Errorf("IPv4 client got %q, %v", buf[:n], err)
	}
	// V6ONLY: an IPv4 destination is ENETUNREACH, as Linux's.
	v6, err := eng.ListenUDP("udp6", ":7702", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer v6.Close()
	if _, err := v6.WriteTo([]byte("x"), from); !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("V6ONLY socket to an IPv4 peer: %v, want ENETUNREACH", err)
	}
}
