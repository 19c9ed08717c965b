package ndp

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/testbed"
	"golang.org/x/sys/unix"
)

// These tests put the package's messages in front of the Linux kernel on
// a bed's veth (the peer kernel has PeerAddr6 without DAD) and read the
// kernel's with the package's views: the kernel resolves the engine's
// address, answers our solicitation and our DAD probe for its address,
// and takes our advertisement into its neighbor table.

type link6 struct {
	t   *testing.T
	bed *testbed.Bed
	pc  *testbed.PacketConn
	mac header.MAC
	buf []byte
}

func newLink6(t *testing.T) *link6 {
	testbed.RequirePrivileged(t)
	bed := testbed.New(t, testbed.Config{IPv6: true})
	pc, err := testbed.ListenPacket(bed.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return &link6{t: t, bed: bed, pc: pc, mac: header.MAC(bed.HostMAC), buf: make([]byte, 2048)}
}

// send injects an ICMPv6 message (checksum filled here) from src to dst
// at dstMAC, hop limit 255.
func (l *link6) send(dstMAC header.MAC, src, dst [16]byte, msg []byte) {
	l.t.Helper()
	b := make([]byte, header.EthernetHeaderLen+header.IPv6HeaderLen+len(msg))
	eth := header.EthernetFields{Dst: dstMAC, Src: l.mac, Type: header.EtherTypeIPv6}
	eth.Put(b)
	header.PutIPv6(b[14:], 0, 0, uint16(len(msg)), header.ProtocolICMPv6, 255, src, dst)
	m := b[14+header.IPv6HeaderLen:]
	copy(m, msg)
	header.ICMPv6(m).UpdateChecksum(src, dst)
	if err := l.pc.Send(b); err != nil {
		l.t.Fatal(err)
	}
}

// next returns the next NDP message of type typ the kernel sent, with
// its IPv6 header, checked as a host checks it.
func (l *link6) next(typ uint8) (header.IPv6, []byte) {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, out, err := l.pc.Recv(l.buf, time.Until(deadline))
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			l.t.Fatal(err)
		}
		e, err := header.ParseEthernet(l.buf[:n])
		if out || err != nil || e.Type() != header.EtherTypeIPv6 {
			continue
		}
		ip, err := header.ParseIPv6(e.Payload())
		if err != nil || ip.NextHeader() != header.ProtocolICMPv6 {
			continue
		}
		msg := ip.Payload()
		if len(msg) < 1 || msg[0] != typ {
			continue
		}
		if !header.ICMPv6(msg).ChecksumValid(ip.Src16(), ip.Dst16()) {
			l.t.Fatalf("kernel's message %d: bad checksum", typ)
		}
		if err := header.ParseNDP(msg, ip.HopLimit(), ip.Src16(), ip.Dst16()); err != nil {
			l.t.Fatalf("kernel's message %d: %v", typ, err)
		}
		return ip, msg
	}
	l.t.Fatalf("no message of type %d from the kernel", typ)
	return nil, nil
}

func TestKernelResolution(t *testing.T) {
	l := newLink6(t)
	engine, peer := l.bed.EngineAddr6.As16(), l.bed.PeerAddr6.As16()
	peerMAC := header.MAC(l.bed.PeerMAC)

	// The kernel resolves the engine's address: a UDP datagram to it
	// makes it solicit.
	err := l.bed.Do(func() error {
		c, err := net.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.bed.EngineAddr6, 9)))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("x"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Our responder answers each of the kernel's solicitations until its
	// entry is REACHABLE at our MAC. Right after the bed comes up the
	// kernel may drop the first answer (its address's local route is
	// installed from a workqueue: Ip6InAddrErrors), and then solicits
	// again a RetransTimer later.
	c := NewCache(Config{})
	r := &Responder{MAC: l.mac, Addrs: [][16]byte{engine}, Cache: c}
	out := make([]byte, 64)
	var state int
	var lladdr net.HardwareAddr
	for attempt := 0; attempt < 3 && state != netlink.NUD_REACHABLE; attempt++ {
		ip, msg := l.next(header.ICMPv6NeighborSolicitation)
		ns := header.NeighborSolicitation(msg)
		sll, ok := ns.Options().LinkLayer(header.NDPOptionSourceLinkLayer)
		if ns.Target() != engine || ip.Dst16() != header.SolicitedNodeMulticast(engine) || !ok || sll != peerMAC {
			t.Fatalf("kernel's NS: target %x dst %x sll %v", ns.Target(), ip.Dst16(), sll)
		}
		rep, err := r.Input(0, ip.HopLimit(), ip.Src16(), ip.Dst16(), msg, out, nil)
		if err != nil || rep.Len == 0 || rep.DstMAC != peerMAC {
			t.Fatalf("reply %+v %v", rep, err)
		}
		l.send(rep.DstMAC, rep.Src, rep.Dst, out[:rep.Len])
		for range 25 {
			err = l.bed.Do(func() error {
				ns, err := netlink.NeighList(l.bed.PeerIndex, netlink.FAMILY_V6)
				for _, n := range ns {
					if n.IP.Equal(net.IP(engine[:])) {
						state, lladdr = n.State, n.HardwareAddr
					}
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if state == netlink.NUD_REACHABLE {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if state != netlink.NUD_REACHABLE {
			l.bed.Do(func() error {
				b, _ := os.ReadFile("/proc/thread-self/net/snmp6")
				t.Logf("attempt %d: NA %x not taken:\n%s", attempt, out[:rep.Len], b)
				return nil
			})
		}
	}
	if state != netlink.NUD_REACHABLE || header.MAC(lladdr) != l.mac {
		t.Fatalf("kernel's entry: state %#x lladdr %v", state, lladdr)
	}

	// Our solicitation for the kernel's address: a solicited NA.
	if st, _, _ := c.State(peer); st != Stale {
		t.Fatalf("cache learned the kernel: %v", st)
	}
	dst, dstMAC := SolicitationDst(peer, header.MAC{})
	n, _ := PutSolicitation(out, l.mac, peer)
	l.send(dstMAC, engine, dst, out[:n])
	ip, msg := l.next(header.ICMPv6NeighborAdvertisement)
	na := header.NeighborAdvertisement(msg)
	tll, ok := na.Options().LinkLayer(header.NDPOptionTargetLinkLayer)
	if na.Target() != peer || ip.Dst16() != engine || !na.Solicited() || !na.Override() || !ok || tll != peerMAC {
		t.Fatalf("kernel's NA: target %x dst %x flags %#x tll %v", na.Target(), ip.Dst16(), na.Flags(), tll)
	}
	c.Advertised(1, peer, tll, ok, na.Flags(), nil)
	if st, mac, _ := c.State(peer); st != Reachable || mac != peerMAC {
		t.Fatalf("cache: %v %v", st, mac)
	}

	// Our DAD probe for the kernel's address: it defends it, to all-nodes.
	n, _ = PutProbe(out, peer, [6]byte{1, 2, 3, 4, 5, 6})
	g := header.SolicitedNodeMulticast(peer)
	l.send(header.MulticastMAC6(g), [16]byte{}, g, out[:n])
	ip, msg = l.next(header.ICMPv6NeighborAdvertisement)
	na = header.NeighborAdvertisement(msg)
	if na.Target() != peer || ip.Dst16() != AllNodes || na.Solicited() {
		t.Fatalf("kernel's DAD answer: target %x dst %x flags %#x", na.Target(), ip.Dst16(), na.Flags())
	}
	var dup bool
	d := NewDAD(DADConfig{Result: func(_ [16]byte, unique bool) { dup = !unique }})
	d.Start(0, peer)
	r = &Responder{MAC: l.mac, DAD: d}
	r.Input(0, ip.HopLimit(), ip.Src16(), ip.Dst16(), msg, out, nil)
	if !dup {
		t.Fatal("the kernel's defence was not a duplicate")
	}
}
