package engine_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestUDPTTLAndTOS: IP_TTL and IP_TOS set on one side are what IP_RECVTTL
// and IP_RECVTOS report on the other, the kernel on one end and the engine
// on the other, both ways; a per-datagram TTL/TOS (WriteMsg) overrides the
// socket's for that datagram only.
func TestUDPTTLAndTOS(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	enginetest.PeerResolve(t, bed)
	k := enginetest.PeerKernelUDP(t, bed, netip.AddrPortFrom(bed.PeerAddr, 6100))
	k.SetInt(t, unix.IPPROTO_IP, unix.IP_RECVTTL, 1)
	k.SetInt(t, unix.IPPROTO_IP, unix.IP_RECVTOS, 1)
	ec, err := eng.ListenUDP("udp4", ":6101", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	peer := netip.AddrPortFrom(bed.PeerAddr, 6100)

	// Engine -> kernel.
	if err := ec.SetTTL(17); err != nil {
		t.Fatal(err)
	}
	if err := ec.SetTOS(0x28); err != nil {
		t.Fatal(err)
	}
	if ec.TTL() != 17 || ec.TOS() != 0x28 {
		t.Fatalf("TTL %d TOS %#x after setting 17, 0x28", ec.TTL(), ec.TOS())
	}
	if _, err := ec.WriteToUDPAddrPort([]byte("socket"), peer); err != nil {
		t.Fatal(err)
	}
	if p, ttl, tos, _ := k.Recv(t); p != "socket" || ttl != 17 || tos != 0x28 {
		t.Fatalf("kernel got %q ttl %d tos %#x, want socket 17 0x28", p, ttl, tos)
	}
	if _, err := ec.WriteMsg([]byte("per-datagram"), &engine.ControlMessage{TTL: 3, TOS: 0xb8}, peer); err != nil {
		t.Fatal(err)
	}
	if p, ttl, tos, _ := k.Recv(t); p != "per-datagram" || ttl != 3 || tos != 0xb8 {
		t.Fatalf("kernel got %q ttl %d tos %#x, want per-datagram 3 0xb8", p, ttl, tos)
	}
	ec.SetTTL(-1)
	ec.WriteToUDPAddrPort([]byte("default"), peer)
	if p, ttl, _, _ := k.Recv(t); p != "default" || ttl != 64 {
		t.Fatalf("kernel got %q ttl %d after SetTTL(-1), want 64", p, ttl)
	}
	for _, bad := range []int{0, 256, -2} {
		if err := ec.SetTTL(bad); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("SetTTL(%d): %v, want EINVAL", bad, err)
		}
		if err := unix.SetsockoptInt(k.FD, unix.IPPROTO_IP, unix.IP_TTL, bad); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("kernel IP_TTL=%d: %v (the engine's rule is the kernel's)", bad, err)
		}
	}

	// Kernel -> engine.
	k.SetInt(t, unix.IPPROTO_IP, unix.IP_TTL, 33)
	k.SetInt(t, unix.IPPROTO_IP, unix.IP_TOS, 0x48)
	ec.SetControlMessage(engine.FlagTTL|engine.FlagTOS|engine.FlagDst, true)
	if err := k.SendTo([]byte("kernel"), netip.AddrPortFrom(bed.EngineAddr, 6101)); err != nil {
		t.Fatal(err)
	}
	ec.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, cm, from, err := ec.ReadMsg(buf)
	if err != nil || string(buf[:n]) != "kernel" || from != peer {
		t.Fatalf("ReadMsg: %q from %v, %v", buf[:n], from, err)
	}
	if cm.TTL != 33 || cm.TOS != 0x48 || cm.Dst != bed.EngineAddr || cm.Local != bed.EngineAddr || cm.IfIndex != eng.IfIndex() {
		t.Fatalf("control message %+v: want TTL 33, TOS 0x48, Dst and Local %v, interface %d", cm, bed.EngineAddr, eng.IfIndex())
	}
	ec.SetControlMessage(engine.FlagTTL|engine.FlagTOS|engine.FlagDst, false)
	k.SendTo([]byte("off"), netip.AddrPortFrom(bed.EngineAddr, 6101))
	if _, cm, _, err = ec.ReadMsg(buf); err != nil || cm != (engine.ControlMessage{}) {
		t.Fatalf("control messages off: %+v, %v", cm, err)
	}
}

// TestUDPPktinfoAnswersFromDst: a wildcard server with two addresses on the
// link answers from the address a request came to when it passes the
// request's Local as the reply's Src (IP_PKTINFO); without it, it answers
// from the first address, as a kernel wildcard socket without IP_PKTINFO
// does. A kernel client's connected socket accepts only the first.
func TestUDPPktinfoAnswersFromDst(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	second := bed.Prefix.Addr().Next().Next().Next().Next() // .4
	eng := enginetest.Start(t, bed, engine.Config{Addrs: []netip.Prefix{netip.PrefixFrom(bed.EngineAddr, 24), netip.PrefixFrom(second, 24)}})
	ec, err := eng.ListenUDP("udp4", ":6200", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ec.SetControlMessage(engine.FlagDst, true)
	go func() {
		buf := make([]byte, 256)
		for {
			n, cm, from, err := ec.ReadMsg(buf)
			if err != nil {
				return
			}
			if string(buf[:n]) == "pktinfo" {
				ec.WriteMsg(buf[:n], &engine.ControlMessage{Src: cm.Local}, from)
			} else {
				ec.WriteToUDPAddrPort(buf[:n], from)
			}
		}
	}()
	for _, to := range []netip.Addr{bed.EngineAddr, second} {
		k := enginetest.PeerKernelUDP(t, bed, netip.AddrPortFrom(bed.PeerAddr, 0))
		if err := k.SendTo([]byte("pktinfo"), netip.AddrPortFrom(to, 6200)); err != nil {
			t.Fatal(err)
		}
		if p, _, _, from := k.Recv(t); p != "pktinfo" || from.Addr() != to {
			t.Fatalf("request to %v: reply %q from %v, want from %v", to, p, from, to)
		}
		k.SendTo([]byte("plain"), netip.AddrPortFrom(to, 6200))
		if p, _, _, from := k.Recv(t); p != "plain" || from.Addr() != bed.EngineAddr {
			t.Fatalf("request to %v without pktinfo: reply %q from %v, want from the first address %v", to, p, from, bed.EngineAddr)
		}
	}
	// A source that is not the engine's is refused, as the kernel refuses
	// an ipi_spec_dst it does not own (without IP_TRANSPARENT/FREEBIND).
	_, err = ec.WriteMsg([]byte("x"), &engine.ControlMessage{Src: netip.MustParseAddr("198.19.99.99")}, netip.AddrPortFrom(bed.PeerAddr, 9))
	if !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("WriteMsg from an address not owned: %v, want EADDRNOTAVAIL", err)
	}
}

// TestBroadcastAndConnectRules compares with the kernel what a socket may do
// with a broadcast or multicast destination: UDP sends and connects to a
// broadcast address need SO_BROADCAST (EACCES), TCP connects to broadcast or
// multicast fail with ENETUNREACH. With SO_BROADCAST the datagram reaches
// the peer, sent to the link's broadcast MAC.
func TestBroadcastAndConnectRules(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	// The peer gets a default route, as hosts have: without one the
	// kernel has no route to 255.255.255.255 or a multicast group at all
	// (ENETUNREACH before any SO_BROADCAST check); the engine always
	// sends those on its one link.
	if out, err := bed.Command(context.Background(), "ip", "route", "add", "default", "via", bed.EngineAddr.String()).CombinedOutput(); err != nil {
		t.Fatalf("peer default route: %v\n%s", err, out)
	}
	subnetBcast := netip.AddrFrom4([4]byte{bed.Prefix.Addr().As4()[0], bed.Prefix.Addr().As4()[1], bed.Prefix.Addr().As4()[2], 255})
	limited := netip.AddrFrom4([4]byte{255, 255, 255, 255})
	group := netip.MustParseAddr("239.1.2.3")

	// What the kernel in the peer namespace answers.
	kernel := func(proto int, dst netip.Addr, broadcast, connect bool) error {
		var err error
		bed.Do(func() error {
			typ := unix.SOCK_DGRAM
			if proto == unix.IPPROTO_TCP {
				typ = unix.SOCK_STREAM
			}
			fd, e := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
			if e != nil {
				err = e
				return nil
			}
			defer unix.Close(fd)
			if broadcast {
				unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
			}
			sa := &unix.SockaddrInet4{Addr: dst.As4(), Port: 9}
			if connect {
				err = unix.Connect(fd, sa)
			} else {
				err = unix.Sendto(fd, []byte("x"), 0, sa)
			}
			return nil
		})
		return err
	}
	d := &engine.Dialer{Engine: eng, Timeout: 2 * time.Second}
	engineDial := func(network string, dst netip.Addr, broadcast bool) error {
		d.Broadcast = broadcast
		c, err := d.Dial(network, netip.AddrPortFrom(dst, 9).String())
		if err == nil {
			c.Close()
		}
		return err
	}
	ec, err := eng.ListenUDP("udp4", ":6300", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	engineSend := func(dst netip.Addr, broadcast bool) error {
		ec.SetBroadcast(broadcast)
		_, err := ec.WriteToUDPAddrPort([]byte("x"), netip.AddrPortFrom(dst, 9))
		return err
	}
	cases := []struct {
		name   string
		engine func() error
		kernel func() error
		want   syscall.Errno // 0: success
	}{
		{"udp send to subnet broadcast", func() error { return engineSend(subnetBcast, false) }, func() error { return kernel(unix.IPPROTO_UDP, subnetBcast, false, false) }, syscall.EACCES},
		{"udp send to 255.255.255.255", func() error { return engineSend(limited, false) }, func() error { return kernel(unix.IPPROTO_UDP, limited, false, false) }, syscall.EACCES},
		{"udp send to broadcast with SO_BROADCAST", func() error { return engineSend(subnetBcast, true) }, func() error { return kernel(unix.IPPROTO_UDP, subnetBcast, true, false) }, 0},
		{"udp connect to broadcast", func() error { return engineDial("udp4", subnetBcast, false) }, func() error { return kernel(unix.IPPROTO_UDP, subnetBcast, false, true) }, syscall.EACCES},
		{"udp connect to broadcast with SO_BROADCAST", func() error { return engineDial("udp4", subnetBcast, true) }, func() error { return kernel(unix.IPPROTO_UDP, subnetBcast, true, true) }, 0},
		{"udp connect to multicast", func() error { return engineDial("udp4", group, false) }, func() error { return kernel(unix.IPPROTO_UDP, group, false, true) }, 0},
		{"tcp connect to subnet broadcast", func() error { return engineDial("tcp4", subnetBcast, false) }, func() error { return kernel(unix.IPPROTO_TCP, subnetBcast, false, true) }, syscall.ENETUNREACH},
		{"tcp connect to 255.255.255.255", func() error { return engineDial("tcp4", limited, true) }, func() error { return kernel(unix.IPPROTO_TCP, limited, true, true) }, syscall.ENETUNREACH},
		{"tcp connect to multicast", func() error { return engineDial("tcp4", group, false) }, func() error { return kernel(unix.IPPROTO_TCP, group, false, true) }, syscall.ENETUNREACH},
	}
	for _, tc := range cases {
		kerr, eerr := tc.kernel(), tc.engine()
		for who, err := range map[string]error{"kernel": kerr, "engine": eerr} {
			if tc.want == 0 && err != nil || tc.want != 0 && !errors.Is(err, tc.want) {
				t.Errorf("%s: %s gives %v, want %v", tc.name, who, err, tc.want)
			}
		}
	}

	// The broadcast reaches a peer socket bound to the wildcard.
	var pc *net.UDPConn
	if err := bed.Do(func() (err error) {
		pc, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 6301})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ec.SetBroadcast(true)
	for _, dst := range []netip.Addr{subnetBcast, limited} {
		if _, err := ec.WriteToUDPAddrPort([]byte("to all"), netip.AddrPortFrom(dst, 6301)); err != nil {
			t.Fatal(err)
		}
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil || string(buf[:n]) != "to all" || from.Addr() != bed.EngineAddr {
			t.Fatalf("broadcast to %v: %q from %v, %v", dst, buf[:n], from, err)
		}
	}
}

// TestPMTUDiscoverModes: IP_MTU_DISCOVER's four modes on a datagram over the
// link MTU give the kernel's errnos (WANT and DONT fragment, DO and PROBE
// refuse with EMSGSIZE), a fragmented datagram arrives whole, and IP_MTU
// reads the path MTU of a connected socket and ENOTCONN on an unconnected
// one, as the kernel's getsockopt does.
func TestPMTUDiscoverModes(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	enginetest.PeerResolve(t, bed)
	k := enginetest.PeerKernelUDP(t, bed, netip.AddrPortFrom(bed.PeerAddr, 6400))
	big := make([]byte, 2000)
	for _, mode := range []engine.PMTUDisc{engine.PMTUDiscDont, engine.PMTUDiscWant, engine.PMTUDiscDo, engine.PMTUDiscProbe} {
		c, err := (&engine.Dialer{Engine: eng}).Dial("udp4", netip.AddrPortFrom(bed.PeerAddr, 6400).String())
		if err != nil {
			t.Fatal(err)
		}
		uc := c.(*engine.UDPConn)
		if err := uc.SetMTUDiscover(mode); err != nil || uc.MTUDiscover() != mode {
			t.Fatalf("SetMTUDiscover(%v): %v, reads %v", mode, err, uc.MTUDiscover())
		}
		_, eerr := uc.Write(big)
		var kerr error
		bed.Do(func() error {
			fd, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			defer unix.Close(fd)
			unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, int(mode))
			kerr = unix.Sendto(fd, big, 0, &unix.SockaddrInet4{Addr: bed.EngineAddr.As4(), Port: 9})
			return nil
		})
		refused := mode == engine.PMTUDiscDo || mode == engine.PMTUDiscProbe
		if refused != errors.Is(eerr, syscall.EMSGSIZE) || refused != errors.Is(kerr, syscall.EMSGSIZE) {
			t.Errorf("mode %v, 2000 bytes: engine %v, kernel %v (want EMSGSIZE: %v)", mode, eerr, kerr, refused)
		}
		if !refused {
			if p, _, _, _ := k.Recv(t); len(p) != len(big) {
				t.Errorf("mode %v: the peer reassembled %d bytes, want %d", mode, len(p), len(big))
			}
		}
		if mtu, err := uc.PathMTU(); err != nil || mtu != 1500 {
			t.Errorf("IP_MTU of a connected socket: %d, %v", mtu, err)
		}
		uc.Close()
	}
	if err := (&engine.UDPConn{}).SetMTUDiscover(7); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SetMTUDiscover(7): %v, want EINVAL", err)
	}
	ec, err := eng.ListenUDP("udp4", ":6401", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	_, eerr := ec.PathMTU()
	var kerr error
	bed.Do(func() error {
		fd, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		defer unix.Close(fd)
		_, kerr = unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU)
		return nil
	})
	if !errors.Is(eerr, syscall.ENOTCONN) || !errors.Is(kerr, syscall.ENOTCONN) {
		t.Errorf("IP_MTU unconnected: engine %v, kernel %v, want ENOTCONN", eerr, kerr)
	}
}

// TestTransparentListener: a TCP listener and a UDP socket bound with
// IP_TRANSPARENT to an address the engine does not own take the traffic the
// peer routes to that address through the engine; without the option the
// bind fails with EADDRNOTAVAIL, as the kernel's does.
func TestTransparentListener(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{BindService: true})
	vip := netip.MustParseAddr("198.19.77.7")
	if out, err := bed.Command(context.Background(), "ip", "route", "add", vip.String()+"/32", "via", bed.EngineAddr.String()).CombinedOutput(); err != nil {
		t.Fatalf("peer route to %v: %v\n%s", vip, err, out)
	}
	enginetest.PeerResolve(t, bed)
	if _, err := eng.Listen("tcp4", vip.String()+":80"); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("listen on %v without IP_TRANSPARENT: %v, want EADDRNOTAVAIL", vip, err)
	}
	var kerr error
	bed.Do(func() error {
		fd, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		defer unix.Close(fd)
		kerr = unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{198, 19, 77, 8}, Port: 80})
		return nil
	})
	if !errors.Is(kerr, syscall.EADDRNOTAVAIL) {
		t.Fatalf("kernel bind to a foreign address: %v, want EADDRNOTAVAIL", kerr)
	}
	ln := enginetest.EchoTCP(t, eng, vip.String()+":80", engine.TCPListenConfig{SocketOptions: engine.SocketOptions{Transparent: true}})
	if ln.Addr().String() != vip.String()+":80" {
		t.Fatalf("listener on %v", ln.Addr())
	}
	c, err := enginetest.PeerDialTCP(t, bed, netip.AddrPortFrom(vip, 80))
	if err != nil {
		t.Fatalf("connect to the transparent listener: %v", err)
	}
	enginetest.RoundTrips(t, c)
	c.Close()

	uc, err := eng.ListenUDP("udp4", vip.String()+":53", engine.SocketOptions{Transparent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	k := enginetest.PeerKernelUDP(t, bed, netip.AddrPortFrom(bed.PeerAddr, 0))
	k.SendTo([]byte("query"), netip.AddrPortFrom(vip, 53))
	uc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, from, err := uc.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "query" {
		t.Fatalf("transparent UDP: %q, %v", buf[:n], err)
	}
	if _, err := uc.WriteToUDPAddrPort([]byte("answer"), from); err != nil {
		t.Fatal(err)
	}
	if p, _, _, src := k.Recv(t); p != "answer" || src.Addr() != vip {
		t.Fatalf("answer %q from %v, want from %v", p, src, vip)
	}
}

// TestUDPRecvErr: IP_RECVERR on an unconnected socket, the engine's against
// the kernel's. Each sends to a closed port of the other; the ICMP port
// unreachable that comes back is in the error queue (ECONNREFUSED, type 3
// code 3, the offender, the quoted payload) and the next read returns
// ECONNREFUSED once. Without the option the unconnected socket sees
// nothing.
func TestUDPRecvErr(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	enginetest.PeerResolve(t, bed)
	closed := netip.AddrPortFrom(bed.PeerAddr, 6509)

	ec, err := eng.ListenUDP("udp4", ":6500", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	buf := make([]byte, 64)
	// Without IP_RECVERR: nothing.
	ec.WriteToUDPAddrPort([]byte("nobody"), closed)
	ec.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, _, err := ec.ReadFromUDPAddrPort(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("unconnected socket without IP_RECVERR: %v, want a timeout", err)
	}
	if _, err := ec.ReadError(); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("empty error queue: %v, want EAGAIN", err)
	}
	// With it.
	ec.SetRecvErr(true)
	time.Sleep(1100 * time.Millisecond) // the peer's ICMP rate limit (1/s per destination)
	ec.WriteToUDPAddrPort([]byte("anyone?"), closed)
	ec.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ec.ReadFromUDPAddrPort(buf); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("read after a port unreachable with IP_RECVERR: %v, want ECONNREFUSED", err)
	}
	se, err := ec.ReadError()
	if err != nil {
		t.Fatal(err)
	}
	if se.Errno != syscall.ECONNREFUSED || se.Type != 3 || se.Code != 3 || se.Offender != bed.PeerAddr ||
		se.Dst != closed || string(se.Payload) != "anyone?" {
		t.Fatalf("engine error queue: %+v", se)
	}

	// The kernel, the same way round.
	k := enginetest.PeerKernelUDP(t, bed, netip.AddrPortFrom(bed.PeerAddr, 6501))
	k.SetInt(t, unix.IPPROTO_IP, unix.IP_RECVERR, 1)
	if err := k.SendTo([]byte("anyone?"), netip.AddrPortFrom(bed.EngineAddr, 6509)); err != nil {
		t.Fatal(err)
	}
	if _, err := enginetest.RetryEINTR(func() (int, error) {
		n, _, _, _, err := unix.Recvmsg(k.FD, buf, nil, 0)
		return n, err
	}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("kernel read after the engine's port unreachable: %v, want ECONNREFUSED", err)
	}
	oob := make([]byte, 256)
	n, oobn, _, _, err := unix.Recvmsg(k.FD, buf, oob, unix.MSG_ERRQUEUE)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	if len(msgs) != 1 || msgs[0].Header.Type != unix.IP_RECVERR || len(msgs[0].Data) < 16+8 {
		t.Fatalf("kernel error queue: %d control messages", len(msgs))
	}
	d := msgs[0].Data
	kerrno := syscall.Errno(binary.NativeEndian.Uint32(d[0:]))
	offender := netip.AddrFrom4([4]byte(d[16+4 : 16+8]))
	if kerrno != se.Errno || d[4] != unix.SO_EE_ORIGIN_ICMP || d[5] != se.Type || d[6] != se.Code ||
		offender != bed.EngineAddr || string(buf[:n]) != "anyone?" {
		t.Fatalf("kernel error queue: errno %v origin %d type %d code %d offender %v payload %q; engine %+v",
			kerrno, d[4], d[5], d[6], offender, buf[:n], se)
	}
}

// TestTCPTTLAndTOS: a TCP connection's IP_TTL and IP_TOS are on its
// segments as the peer's link sees them (the ECN bits stay the stack's, as
// on a Linux TCP socket), IP_MTU_DISCOVER DONT clears DF, and IP_MTU reads
// the path MTU as the kernel's getsockopt does on the other end.
func TestTCPTTLAndTOS(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	enginetest.PeerEchoTCP(t, bed, 6600)
	var pc *testbed.PacketConn
	if err := bed.Do(func() (err error) { pc, err = testbed.ListenPacket(bed.PeerIf); return err }); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err := eng.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, 6600)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetTTL(21); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTOS(0x2b); err != nil { // ECN bits 0b11 are ignored
		t.Fatal(err)
	}
	if c.TTL() != 21 || c.TOS() != 0x28 {
		t.Fatalf("TTL %d TOS %#x, want 21 0x28", c.TTL(), c.TOS())
	}
	if err := c.SetMTUDiscover(engine.PMTUDiscDont); err != nil {
		t.Fatal(err)
	}
	if mtu, err := c.PathMTU(); err != nil || mtu != 1500 {
		t.Fatalf("IP_MTU %d, %v", mtu, err)
	}
	if _, err := c.Write([]byte("marked")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("no data segment from the engine seen on the peer's link")
		}
		n, out, err := pc.Recv(buf, time.Second)
		if err != nil || out || n < 14+20+20 || buf[12] != 0x08 || buf[14+9] != unix.IPPROTO_TCP {
			continue
		}
		ip := buf[14:n]
		ihl := int(ip[0]&0xf) * 4
		if string(ip[ihl+int(ip[ihl+12]>>4)*4:]) != "marked" {
			continue
		}
		if ip[8] != 21 || ip[1] != 0x28 || ip[6]&0x40 != 0 {
			t.Fatalf("segment TTL %d TOS %#x DF %v, want 21, 0x28, no DF", ip[8], ip[1], ip[6]&0x40 != 0)
		}
		break
	}
	enginetest.EchoTCP(t, eng, ":6601", engine.TCPListenConfig{})
	var kmtu int
	bed.Do(func() (err error) {
		var kc net.Conn
		kc, err = net.Dial("tcp4", netip.AddrPortFrom(bed.EngineAddr, 6601).String())
		if err != nil {
			return err
		}
		defer kc.Close()
		rc, _ := kc.(*net.TCPConn).SyscallConn()
		rc.Control(func(fd uintptr) { kmtu, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU) })
		return nil
	})
	if kmtu != 1500 {
		t.Fatalf("kernel IP_MTU toward the engine: %d, want 1500 as the engine's", kmtu)
	}
}
