package engine_test

import (
	"bytes"
	"encoding/binary"
	"errors"
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

// peerListenUDP is a kernel socket in the peer namespace on network ("udp4",
// "udp6", "udp") at laddr (nil: any), closed when tb ends.
func peerListenUDP(tb testing.TB, bed *testbed.Bed, network string, laddr *net.UDPAddr) *net.UDPConn {
	tb.Helper()
	var c *net.UDPConn
	if err := bed.Do(func() (err error) {
		c, err = net.ListenUDP(network, laddr)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// datagramClient is a kernel or an engine UDP socket.
type datagramClient interface {
	enginetest.DatagramConn
	SetReadDeadline(t time.Time) error
}

// roundTrip6 sends p from c to to and reads the answer within 2 s,
// retrying a lost first datagram (neighbor discovery) up to 3 times.
func roundTrip6(tb testing.TB, c datagramClient, to netip.AddrPort, p, buf []byte) (int, netip.AddrPort) {
	tb.Helper()
	var err error
	for range 3 {
		if _, err = c.WriteToUDPAddrPort(p, to); err != nil {
			tb.Fatalf("write %d bytes: %v", len(p), err)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		var n int
		var from netip.AddrPort
		if n, from, err = c.ReadFromUDPAddrPort(buf); err == nil {
			return n, from
		}
	}
	tb.Fatalf("%d bytes: no answer: %v", len(p), err)
	return 0, netip.AddrPort{}
}

// echoSizes returns the sizes TestUDP6EchoSizes sends: every size from 0
// to 65,527 (about 8 s on the 2-core VM); with -short or the race
// detector (ten times slower), every size up to 3,000 (one and two
// fragments, the boundary at 1,452), then every 61st, and the last 16.
func echoSizes() []int {
	var sizes []int
	all := !testing.Short() && !raceEnabled
	for n := 0; n <= 65527; n++ {
		if all || n <= 3000 || n%61 == 0 || n > 65527-16 {
			sizes = append(sizes, n)
		}
	}
	return sizes
}

// TestUDP6EchoSizes: a kernel UDP socket on the peer sends datagrams of
// every size to 65,527 (the largest an IPv6 packet carries) to an engine
// "udp6" echo; those over 1,452 bytes leave the kernel in fragments,
// which the engine reassembles, and its echo goes back fragmented by the
// engine at the path MTU, which the kernel reassembles. The payloads come
// back intact, from the engine's address. 65,528 is EMSGSIZE on both.
func TestUDP6EchoSizes(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	srv, err := eng.ListenUDP("udp6", ":7100", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if got := srv.LocalAddr().String(); got != "[::]:7100" || !srv.V6Only() {
		t.Errorf("udp6 socket on %s, V6Only %v: want [::]:7100, V6Only (as Go's net)", got, srv.V6Only())
	}
	go enginetest.ServeUDPEcho(srv)
	c := peerListenUDP(t, bed, "udp6", nil)
	to := netip.AddrPortFrom(bed.EngineAddr6, 7100)
	p, buf := make([]byte, 65528), make([]byte, 65536)
	enginetest.Pattern(p, 6)
	sizes := echoSizes()
	begin := time.Now()
	for _, size := range sizes {
		n, from := roundTrip6(t, c, to, p[:size], buf)
		if n != size || !bytes.Equal(buf[:n], p[:size]) {
			t.Fatalf("%d bytes sent, %d back, first difference at %d", size, n, enginetest.FirstDiff(buf[:n], p[:size]))
		}
		if from != to {
			t.Fatalf("answer from %v, want %v", from, to)
		}
	}
	t.Logf("%d sizes 0-65527 echoed in %v", len(sizes), time.Since(begin))
	s := eng.Stats().Total.IPv6
	if s.Reasm.ReasmOKs == 0 || s.Frag.FragOKs == 0 {
		t.Errorf("reassembled %d, fragmented %d: want both", s.Reasm.ReasmOKs, s.Frag.FragOKs)
	}
	t.Logf("engine: %d packets reassembled, %d fragmented into %d fragments", s.Reasm.ReasmOKs, s.Frag.FragOKs, s.Frag.FragCreates)
	// One byte more: EMSGSIZE from both stacks.
	if _, err := c.WriteToUDPAddrPort(p[:65528], to); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("kernel write of 65528 bytes: %v, want EMSGSIZE", err)
	}
	ec, err := eng.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr6, 9)))
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	if _, err := ec.Write(p[:65528]); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("engine write of 65528 bytes: %v, want EMSGSIZE", err)
	}
}

// TestUDP6EngineSends: an engine socket dialled to a kernel echo on the
// peer sends datagrams of several sizes (fragmented by the engine above
// 1,452) and reads the kernel's answers (fragmented by the kernel).
func TestUDP6EngineSends(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	peer := peerListenUDP(t, bed, "udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr6, 7101)))
	go enginetest.ServeUDPEcho(peer)
	c, err := eng.Dial("udp", netip.AddrPortFrom(bed.PeerAddr6, 7101).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	uc := c.(*engine.UDPConn)
	if la := uc.LocalAddr().(*net.UDPAddr).AddrPort(); la.Addr() != bed.EngineAddr6 || la.Port() == 0 {
		t.Errorf("local address %v, want [%v]:port", la, bed.EngineAddr6)
	}
	p, buf := make([]byte, 65527), make([]byte, 65536)
	enginetest.Pattern(p, 7)
	for _, size := range []int{0, 1, 1452, 1453, 2904, 2905, 9000, 32768, 65527} {
		var n int
		for range 3 {
			if _, err := c.Write(p[:size]); err != nil {
				t.Fatalf("write %d: %v", size, err)
			}
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if n, err = c.Read(buf); err == nil {
				break
			}
		}
		if err != nil || n != size || !bytes.Equal(buf[:n], p[:size]) {
			t.Fatalf("%d bytes: %d back, %v", size, n, err)
		}
	}
	// IPV6_DONTFRAG / IPV6_MTU_DISCOVER do: larger than the path MTU is
	// EMSGSIZE, as Linux's UDPv6.
	uc.SetDontFragment(true)
	if _, err := c.Write(p[:1453]); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("1453 bytes with DONTFRAG: %v, want EMSGSIZE", err)
	}
	if _, err := c.Write(p[:1452]); err != nil {
		t.Errorf("1452 bytes with DONTFRAG: %v", err)
	}
}

// TestUDP6ConnRefused: a connected engine UDP6 socket gets ECONNREFUSED
// after the peer kernel answers its datagram with a port unreachable, as
// a connected kernel socket does; an unconnected one does not, unless it
// asked for the error queue (IPV6_RECVERR), which then holds the ICMPv6
// error.
func TestUDP6ConnRefused(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	closed := netip.AddrPortFrom(bed.PeerAddr6, 9)
	c, err := eng.DialUDPAddrPort("udp6", netip.AddrPort{}, closed)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		c.Write([]byte("anyone?"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err = c.Read(make([]byte, 64)); errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("read: %v, want ECONNREFUSED", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Errorf("error %T, want *net.OpError", err)
	}
	// Unconnected with IPV6_RECVERR: the error is queued.
	u, err := eng.ListenUDP("udp6", ":0", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.SetRecvErr(true)
	var se engine.SockError
	for range 3 {
		u.WriteToUDPAddrPort([]byte("again?"), closed)
		time.Sleep(200 * time.Millisecond)
		if se, err = u.ReadError(); err == nil {
			break
		}
	}
	if err != nil || se.Errno != syscall.ECONNREFUSED || !se.ICMPv6 || se.Type != 1 || se.Code != 4 ||
		se.Dst != closed || se.Offender != bed.PeerAddr6 || string(se.Payload) != "again?" {
		t.Errorf("error queue: %+v, %v: want ECONNREFUSED, ICMPv6 1/4 from %v about %v", se, err, bed.PeerAddr6, closed)
	}
}

// TestUDP6ZeroChecksum: a datagram without a checksum (the peer kernel's
// UDP_NO_CHECK6_TX) is dropped and counted, as Linux drops it without
// UDP_NO_CHECK6_RX (RFC 8200 8.1); the same datagram with its checksum
// (and, on the veth, a partial one, trusted as the kernel trusts it)
// arrives.
func TestUDP6ZeroChecksum(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	srv, err := eng.ListenUDP("udp6", ":7110", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	to := netip.AddrPortFrom(bed.EngineAddr6, 7110)
	send := func(nocheck bool, msg string) {
		t.Helper()
		if err := bed.Do(func() error {
			fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if nocheck {
				if err := unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_NO_CHECK6_TX, 1); err != nil {
					return err
				}
			}
			return unix.Sendto(fd, []byte(msg), 0, &unix.SockaddrInet6{Addr: to.Addr().As16(), Port: int(to.Port())})
		}); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 64)
	read := func() string {
		srv.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, _, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil {
			return ""
		}
		return string(buf[:n])
	}
	for range 3 { // neighbor discovery may hold the first one back
		send(false, "warm")
		if read() == "warm" {
			break
		}
	}
	before := eng.Stats().Total.DropChecksum
	send(true, "no checksum")
	if got := read(); got != "" {
		t.Errorf("a datagram without a checksum was delivered: %q", got)
	}
	if d := eng.Stats().Total.DropChecksum - before; d != 1 {
		t.Errorf("DropChecksum went up by %d, want 1", d)
	}
	send(false, "checksummed")
	if got := read(); got != "checksummed" {
		t.Errorf("read %q, want the checksummed datagram", got)
	}
}

// TestUDP6Options: IPV6_UNICAST_HOPS and IPV6_TCLASS on an engine socket
// reach the peer kernel (read with IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS);
// the engine's ReadMsg reports the kernel's answer's hop limit (64),
// traffic class and destination (IPV6_RECVPKTINFO's form: FlagTTL,
// FlagTOS, FlagDst); WriteMsg's per-datagram hop limit wins.
func TestUDP6Options(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	peerAP := netip.AddrPortFrom(bed.PeerAddr6, 7130)
	var fd int
	if err := bed.Do(func() (err error) {
		if fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		for _, o := range []int{unix.IPV6_RECVHOPLIMIT, unix.IPV6_RECVTCLASS} {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, o, 1); err != nil {
				return err
			}
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, 0x48); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrInet6{Addr: peerAP.Addr().As16(), Port: int(peerAP.Port())})
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(2 * time.Second))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	recv := func() (msg string, hops, tclass int, from unix.Sockaddr) {
		buf, oob := make([]byte, 256), make([]byte, 256)
		var oobn int
		var sa unix.Sockaddr
		n, err := enginetest.RetryEINTR(func() (n int, err error) {
			n, oobn, _, sa, err = unix.Recvmsg(fd, buf, oob, 0)
			return n, err
		})
		if err != nil {
			t.Fatalf("kernel recvmsg: %v", err)
		}
		cms, _ := unix.ParseSocketControlMessage(oob[:oobn])
		hops, tclass = -1, -1
		for _, m := range cms {
			if m.Header.Level == unix.IPPROTO_IPV6 && len(m.Data) >= 4 {
				v := int(int32(m.Data[0]) | int32(m.Data[1])<<8 | int32(m.Data[2])<<16 | int32(m.Data[3])<<24)
				switch m.Header.Type {
				case unix.IPV6_HOPLIMIT:
					hops = v
				case unix.IPV6_TCLASS:
					tclass = v
				}
			}
		}
		return string(buf[:n]), hops, tclass, sa
	}
	c, err := eng.DialUDPAddrPort("udp6", netip.AddrPort{}, peerAP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetHopLimit(7); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTrafficClass(0x28); err != nil {
		t.Fatal(err)
	}
	if c.SetHopLimit(256) == nil || c.SetTrafficClass(-2) == nil {
		t.Error("out-of-range hop limit or traffic class accepted")
	}
	c.Write([]byte("hops")) // may wait for neighbor discovery; recv waits 2 s
	msg, hops, tclass, sa := recv()
	if msg != "hops" || hops != 7 || tclass != 0x28 {
		t.Errorf("kernel got %q with hop limit %d, traffic class %#x; want hops, 7, 0x28", msg, hops, tclass)
	}
	if _, err := c.WriteMsg([]byte("per-datagram"), &engine.ControlMessage{TTL: 3}, netip.AddrPort{}); err != nil {
		t.Fatal(err)
	}
	if msg, hops, _, _ = recv(); msg != "per-datagram" || hops != 3 {
		t.Errorf("kernel got %q with hop limit %d, want per-datagram, 3", msg, hops)
	}
	c.SetControlMessage(engine.FlagTTL|engine.FlagTOS|engine.FlagDst, true)
	if err := unix.Sendto(fd, []byte("answer"), 0, sa); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	n, cm, from, err := c.ReadMsg(buf)
	if err != nil || string(buf[:n]) != "answer" || from != peerAP {
		t.Fatalf("ReadMsg: %q from %v, %v", buf[:n], from, err)
	}
	if cm.TTL != 64 || cm.TOS != 0x48 || cm.Dst != bed.EngineAddr6 || cm.Local != bed.EngineAddr6 || cm.IfIndex == 0 {
		t.Errorf("ReadMsg control %+v: want hop limit 64, traffic class 0x48, Dst and Local %v", cm, bed.EngineAddr6)
	}
	if mtu, err := c.PathMTU(); err != nil || mtu != 1500 {
		t.Errorf("PathMTU (IPV6_MTU) %d, %v: want 1500", mtu, err)
	}
}

// TestUDP6Multicast: an engine "udp6" socket that joined a group
// (IPV6_JOIN_GROUP: MLDv2, the XDP program steers the group) receives
// what the peer kernel sends to it; joining twice is EADDRINUSE, leaving
// twice EADDRNOTAVAIL; after leaving, nothing arrives.
func TestUDP6Multicast(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	group := netip.MustParseAddr("ff12::7:140")
	srv, err := eng.ListenUDP("udp6", ":7140", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.JoinGroup(group); err != nil {
		t.Fatal(err)
	}
	if err := srv.JoinGroup(group); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second join: %v, want EADDRINUSE", err)
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
	to := &unix.SockaddrInet6{Addr: group.As16(), Port: 7140}
	buf := make([]byte, 64)
	got := ""
	for range 5 {
		unix.Sendto(fd, []byte("to the group"), 0, to)
		srv.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if n, _, err := srv.ReadFromUDPAddrPort(buf); err == nil {
			got = string(buf[:n])
			break
		}
	}
	if got != "to the group" {
		t.Fatalf("the member got %q (stats %+v)", got, eng.Stats().Total.IPv6)
	}
	if err := srv.LeaveGroup(group); err != nil {
		t.Fatal(err)
	}
	if err := srv.LeaveGroup(group); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("second leave: %v, want EADDRNOTAVAIL", err)
	}
	unix.Sendto(fd, []byte("after leave"), 0, to)
	srv.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := srv.ReadFromUDPAddrPort(buf); err == nil {
		t.Errorf("after leaving, got %q", buf[:n])
	}
}

// TestUDP6PacketTooBig: a Packet Too Big (MTU 1280) about an engine
// datagram, sent by the peer from a raw ICMPv6 socket as a router on the
// path would, lowers the path MTU (IPV6_MTU reads 1280), reaches the
// connected socket as EMSGSIZE on its next call (Linux's udpv6_err: a
// hard error unless IPV6_PMTUDISC_DONT), and the next 1,400-byte
// datagram leaves fragmented at 1,280; with IPV6_DONTFRAG it is EMSGSIZE.
func TestUDP6PacketTooBig(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	peerAP := netip.AddrPortFrom(bed.PeerAddr6, 7150)
	peer := peerListenUDP(t, bed, "udp6", net.UDPAddrFromAddrPort(peerAP))
	c, err := eng.DialUDPAddrPort("udp6", netip.AddrPort{}, peerAP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().(*net.UDPAddr).AddrPort()
	buf := make([]byte, 2048)
	recv := func() int {
		peer.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := peer.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("peer read: %v", err)
		}
		return n
	}
	c.Write(make([]byte, 1400))
	if n := recv(); n != 1400 {
		t.Fatalf("peer got %d bytes", n)
	}
	// The Packet Too Big quotes a 1400-byte datagram of the flow.
	quote := make([]byte, 40+8+64)
	header6 := quote[:40]
	header6[0] = 0x60
	binary.BigEndian.PutUint16(header6[4:], 8+1400)
	header6[6], header6[7] = 17, 64
	src, dst := local.Addr().As16(), peerAP.Addr().As16()
	copy(header6[8:24], src[:])
	copy(header6[24:40], dst[:])
	u := quote[40:48]
	u[0], u[1] = byte(local.Port()>>8), byte(local.Port())
	u[2], u[3] = byte(peerAP.Port()>>8), byte(peerAP.Port())
	binary.BigEndian.PutUint16(u[4:], 8+1400)
	msg := append([]byte{2, 0, 0, 0, 0, 0, 1280 >> 8, 1280 & 0xff}, quote...)
	ptbs := eng.Stats().Total.IPv6.ICMP.InPktTooBigs
	if err := bed.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, msg, 0, &unix.SockaddrInet6{Addr: bed.EngineAddr6.As16()})
	}); err != nil {
		t.Fatal(err)
	}
	// The worker lowers the path MTU and then gives the socket its error,
	// in one round: the counters, published between rounds, say the round
	// is over (the path MTU alone was seen a moment before the error).
	enginetest.WaitFor(t, "the path MTU to drop to 1280", func() bool {
		mtu, _ := c.PathMTU()
		return mtu == 1280 && eng.Stats().Total.IPv6.ICMP.InPktTooBigs > ptbs
	})
	if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("next write after Packet Too Big: %v, want EMSGSIZE once", err)
	}
	before := eng.Stats().Total.IPv6.Frag.FragOKs
	if _, err := c.Write(make([]byte, 1400)); err != nil {
		t.Fatal(err)
	}
	if n := recv(); n != 1400 {
		t.Fatalf("peer got %d bytes", n)
	}
	if d := eng.Stats().Total.IPv6.Frag.FragOKs - before; d != 1 {
		t.Errorf("%d datagrams fragmented for a 1400-byte write at path MTU 1280, want 1", d)
	}
	c.SetDontFragment(true)
	if _, err := c.Write(make([]byte, 1400)); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("1400 bytes with IPV6_DONTFRAG at path MTU 1280: %v, want EMSGSIZE", err)
	}
	if _, err := c.Write(make([]byte, 1280-48)); err != nil {
		t.Errorf("1232 bytes with IPV6_DONTFRAG: %v", err)
	}
}

// TestUDP6TwoQueues: with two workers, IPv6 and dual-stack traffic of
// many flows reaches its sockets whichever queue it arrives on: a
// dual-stack echo answers 16 IPv6 and 16 IPv4 clients, and 16 connected
// engine IPv6 sockets (each owned by the worker its flow steers to, the
// other handing its datagrams over) get their answers from a kernel echo.
func TestUDP6TwoQueues(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true, Queues: 2})
	eng := start6(t, bed, true)
	srv, err := eng.ListenUDP("udp", ":7160", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go enginetest.ServeUDPEcho(srv)
	buf := make([]byte, 2048)
	msg := []byte("two queues")
	for _, to := range []netip.AddrPort{netip.AddrPortFrom(bed.EngineAddr6, 7160), netip.AddrPortFrom(bed.EngineAddr, 7160)} {
		for range 16 {
			c := peerListenUDP(t, bed, "udp", nil)
			if n, from := roundTrip6(t, c, to, msg, buf); n != len(msg) || from.Addr().Unmap() != to.Addr() {
				t.Fatalf("answer of %d bytes from %v", n, from)
			}
		}
	}
	peer := peerListenUDP(t, bed, "udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr6, 7161)))
	go enginetest.ServeUDPEcho(peer)
	queues := map[int]bool{}
	for range 16 {
		c, err := eng.DialUDPAddrPort("udp6", netip.AddrPort{}, netip.AddrPortFrom(bed.PeerAddr6, 7161))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		queues[c.IncomingQueue()] = true
		if n, _ := roundTrip6(t, c, netip.AddrPortFrom(bed.PeerAddr6, 7161), msg, buf); n != len(msg) {
			t.Fatalf("answer of %d bytes", n)
		}
	}
	if !queues[0] || !queues[1] {
		t.Errorf("connected sockets on queues %v, want both", queues)
	}
}
