package inet6

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ipv6"
	"github.com/xdpengine/engine/ndp"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/inet4"
)

func TestSteerKindsAreIPv6s(t *testing.T) {
	if steerBase != inet4.SteerIPv6 {
		t.Fatalf("steerBase %d, inet4.SteerIPv6 %d: inet4 would not hand these items over", steerBase, inet4.SteerIPv6)
	}
	for _, k := range []uint8{steerNDP, steerFrame, steerDatagram, steerForward} {
		if k < inet4.SteerIPv6 {
			t.Errorf("kind %d below inet4.SteerIPv6", k)
		}
	}
}

func TestEchoInPlace(t *testing.T) {
	l := newTestLayer(t, testConfig(), true)
	data := []byte("ping payload 0123456789")
	f := frameOf(ourMAC, peerMAC, echoRequest(peerIP, ourIP, 7, 1, data))
	n := l.Frame(f)
	if n == 0 {
		t.Fatalf("no reply in place; counters %+v", l.st.IPv6)
	}
	eth, ip, m := sentICMP(t, f[:n])
	if eth.Dst() != peerMAC || eth.Src() != ourMAC {
		t.Errorf("reply from %v to %v, want %v to %v", eth.Src(), eth.Dst(), ourMAC, peerMAC)
	}
	if ip.Src() != ourIP || ip.Dst() != peerIP || ip.HopLimit() != echoHopLimit {
		t.Errorf("reply %v → %v hop limit %d", ip.Src(), ip.Dst(), ip.HopLimit())
	}
	if m.Type() != header.ICMPv6EchoReply || m.Ident() != 7 || m.Seq() != 1 || !bytes.Equal(m.Payload(), data) {
		t.Errorf("reply type %d id %d seq %d payload %q", m.Type(), m.Ident(), m.Seq(), m.Payload())
	}
	c := l.st.IPv6
	if c.InReceives != 1 || c.InDelivers != 1 || c.ICMP.InEchos != 1 || c.ICMP.OutEchoReplies != 1 {
		t.Errorf("counters %+v", c)
	}
}

func TestNeighborSolicitationAnswered(t *testing.T) {
	l := newTestLayer(t, testConfig(), true)
	var b [32]byte
	n, _ := header.PutNeighborSolicitation(b[:], ourIP.As16(), peerMAC)
	dst := netip.AddrFrom16(header.SolicitedNodeMulticast(ourIP.As16()))
	pkt := packet6(peerIP, dst, header.ProtocolICMPv6, 255, ndpMsg(peerIP, dst, b[:n]))
	if l.Frame(frameOf(header.MulticastMAC6(dst.As16()), peerMAC, pkt)) != 0 {
		t.Fatal("answered in place")
	}
	eth, ip, m := sentICMP(t, l.link.only(t))
	if m.Type() != header.ICMPv6NeighborAdvertisement || eth.Dst() != peerMAC || ip.Dst() != peerIP || ip.Src() != ourIP || ip.HopLimit() != 255 {
		t.Fatalf("sent type %d to %v (%v) from %v hop %d", m.Type(), ip.Dst(), eth.Dst(), ip.Src(), ip.HopLimit())
	}
	na := header.NeighborAdvertisement(m)
	if na.Target() != ourIP.As16() || !na.Solicited() || !na.Override() || na.Router() {
		t.Errorf("advertisement target %v flags %#x", netip.AddrFrom16(na.Target()), na.Flags())
	}
	if mac, ok := na.Options().LinkLayer(header.NDPOptionTargetLinkLayer); !ok || mac != ourMAC {
		t.Errorf("target link-layer option %v %v", mac, ok)
	}
	if st, mac, _ := l.cache.State(peerIP.As16()); st != ndp.Stale || mac != peerMAC {
		t.Errorf("peer learned %v at %v, want STALE at %v", st, mac, peerMAC)
	}
	// The hop limit must be 255 (RFC 4861 7.1.1): a routed solicitation
	// is refused and counted.
	pkt[7] = 64
	l.Frame(frameOf(header.MulticastMAC6(dst.As16()), peerMAC, pkt))
	if l.link.count() != 0 {
		t.Error("answered a solicitation with hop limit 64")
	}
	var s = *l.st
	l.Publish(&s)
	if s.IPv6.NDP.InErrors != 1 {
		t.Errorf("NDP InErrors %d, want 1", s.IPv6.NDP.InErrors)
	}
}

// TestResolveAndPark: a UDP datagram to a closed port is answered with a
// port unreachable; the peer is unknown, so the error waits for our
// solicitation's answer and leaves when the advertisement comes.
func TestResolveAndPark(t *testing.T) {
	l := newTestLayer(t, testConfig(), true)
	pkt := packet6(peerIP, ourIP, header.ProtocolUDP, 64, udp6(peerIP, ourIP, 40000, 9, []byte("hello")))
	l.Frame(frameOf(ourMAC, peerMAC, pkt))
	eth, ip, m := sentICMP(t, l.link.only(t))
	sn := header.SolicitedNodeMulticast(peerIP.As16())
	if m.Type() != header.ICMPv6NeighborSolicitation || ip.Dst16() != sn || eth.Dst() != header.MulticastMAC6(sn) || ip.Src() != ourIP {
		t.Fatalf("first frame: type %d to %v, want a solicitation to %v", m.Type(), ip.Dst(), netip.AddrFrom16(sn))
	}
	if header.NeighborSolicitation(m).Target() != peerIP.As16() {
		t.Fatal("solicitation for the wrong target")
	}
	if len(l.freeSlot) != parkedMax-1 {
		t.Fatalf("%d slots free, want one parked", len(l.freeSlot))
	}
	var b [32]byte
	n, _ := header.PutNeighborAdvertisement(b[:], peerIP.As16(), header.NDPFlagSolicited|header.NDPFlagOverride, peerMAC)
	l.Frame(frameOf(ourMAC, peerMAC, packet6(peerIP, ourIP, header.ProtocolICMPv6, 255, ndpMsg(peerIP, ourIP, b[:n]))))
	eth, ip, m = sentICMP(t, l.link.only(t))
	if m.Type() != header.ICMPv6DstUnreachable || m.Code() != header.ICMPv6PortUnreachable || eth.Dst() != peerMAC || ip.Dst() != peerIP {
		t.Fatalf("sent type %d code %d to %v", m.Type(), m.Code(), ip.Dst())
	}
	if !bytes.Equal(m.Payload(), pkt) {
		t.Error("the error does not quote the datagram")
	}
	if st, _, _ := l.cache.State(peerIP.As16()); st != ndp.Reachable {
		t.Errorf("peer %v after a solicited advertisement, want REACHABLE", st)
	}
	if len(l.freeSlot) != parkedMax {
		t.Error("parking slot not given back")
	}
	if l.st.IPv6.InNoPorts != 1 || l.st.IPv6.ICMP.OutDestUnreachs != 1 {
		t.Errorf("counters %+v", l.st.IPv6)
	}
}

// TestParkingBounded: datagrams waiting for resolution are bounded per
// worker; the rest are dropped and counted, their buffers returned.
func TestParkingBounded(t *testing.T) {
	l := newTestLayer(t, testConfig(), false)
	const perNeighbor, neighbors = 100, 3
	for i := range neighbors * perNeighbor {
		dst := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(10 + i%neighbors)})
		b := l.h.cfg.Bufs.Get(100)
		n := copy(b.B, packet6(ourIP, dst, header.ProtocolNoNext, 64, nil))
		l.SendDatagram(Datagram{Buf: b, N: n, Dst: dst})
	}
	if len(l.freeSlot) != 0 {
		t.Errorf("%d parking slots free, want all %d used", len(l.freeSlot), parkedMax)
	}
	if got, want := l.st.IPv6.OutDiscards, uint64(neighbors*perNeighbor-parkedMax); got != want {
		t.Errorf("OutDiscards %d, want %d", got, want)
	}
	// Resolution fails: three solicitations, then every parked datagram
	// is dropped.
	for range 4 {
		l.now += 1_100_000_000
		l.Tick()
	}
	if len(l.freeSlot) != parkedMax || l.st.IPv6.OutDiscards != neighbors*perNeighbor {
		t.Errorf("after failure: %d slots free, OutDiscards %d", len(l.freeSlot), l.st.IPv6.OutDiscards)
	}
}

// TestNDPFlood: solicitations from many made-up sources do not fill the
// neighbor cache (half of it at most is learned, the rest counted).
func TestNDPFlood(t *testing.T) {
	l := newTestLayer(t, testConfig(), false)
	dst := netip.AddrFrom16(header.SolicitedNodeMulticast(ourIP.As16()))
	var b [32]byte
	for i := range 5000 {
		src := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 12: byte(i >> 16), 13: byte(i >> 8), 14: byte(i), 15: 7})
		mac := header.MAC{2, 9, 0, byte(i >> 16), byte(i >> 8), byte(i)}
		n, _ := header.PutNeighborSolicitation(b[:], ourIP.As16(), mac)
		l.Frame(frameOf(header.MulticastMAC6(dst.As16()), mac, packet6(src, dst, header.ProtocolICMPv6, 255, ndpMsg(src, dst, b[:n]))))
	}
	s := *l.st
	l.Publish(&s)
	if s.IPv6.NDP.Entries > maxCacheLen/2 || s.IPv6.NDP.LearnRefused == 0 {
		t.Errorf("cache %d entries (bound %d), %d refused", s.IPv6.NDP.Entries, maxCacheLen/2, s.IPv6.NDP.LearnRefused)
	}
	if s.IPv6.ICMP.InNeighborSolicits != 5000 {
		t.Errorf("InNeighborSolicits %d", s.IPv6.ICMP.InNeighborSolicits)
	}
}

func TestUnknownNextHeader(t *testing.T) {
	l := newTestLayer(t, testConfig(), true)
	l.cache.SetPermanent(0, peerIP.As16(), peerMAC, nil)
	pkt := packet6(peerIP, ourIP, 253, 64, []byte("experimental"))
	l.Frame(frameOf(ourMAC, peerMAC, pkt))
	_, _, m := sentICMP(t, l.link.only(t))
	if m.Type() != header.ICMPv6ParamProblem || m.Code() != header.ICMPv6UnrecognizedNextHeader || m.Pointer() != 6 {
		t.Errorf("sent type %d code %d pointer %d, want parameter problem 1 at 6", m.Type(), m.Code(), m.Pointer())
	}
	if l.st.IPv6.InUnknownProtos != 1 {
		t.Errorf("InUnknownProtos %d", l.st.IPv6.InUnknownProtos)
	}
	// TCP: not served yet, counted, nothing sent.
	l.Frame(frameOf(ourMAC, peerMAC, packet6(peerIP, ourIP, header.ProtocolTCP, 64, make([]byte, 20))))
	if l.link.count() != 0 || l.st.IPv6.InNoPorts != 1 {
		t.Errorf("TCP: %d frames sent, InNoPorts %d", l.link.count(), l.st.IPv6.InNoPorts)
	}
	// A bad UDP checksum: dropped without an error.
	u := udp6(peerIP, ourIP, 1, 2, []byte("x"))
	u[8] ^= 0xff
	l.Frame(frameOf(ourMAC, peerMAC, packet6(peerIP, ourIP, header.ProtocolUDP, 64, u)))
	if l.link.count() != 0 || l.st.DropChecksum != 1 {
		t.Errorf("bad UDP checksum: %d frames sent, DropChecksum %d", l.link.count(), l.st.DropChecksum)
	}
}

func TestErrorRateLimited(t *testing.T) {
	l := newTestLayer(t, testConfig(), true)
	l.cache.SetPermanent(0, peerIP.As16(), peerMAC, nil)
	for i := range 20 {
		l.Frame(frameOf(ourMAC, peerMAC, packet6(peerIP, ourIP, header.ProtocolUDP, 64, udp6(peerIP, ourIP, uint16(1000+i), 9, nil))))
	}
	// Linux's icmpv6 ratelimit: a burst of 6 per destination, then one a
	// second.
	if got := len(l.link.take()); got != 6 {
		t.Errorf("%d errors sent in a burst, want 6", got)
	}
	s := *l.st
	l.Publish(&s)
	if s.IPv6.ICMP.OutRateLimit != 14 {
		t.Errorf("OutRateLimit %d, want 14", s.IPv6.ICMP.OutRateLimit)
	}
}

type recordingTransport struct {
	in   int
	errs []ICMPError
}

func (r *recordingTransport) Input(Received) { r.in++ }
func (r *recordingTransport) ICMPError(_ *Received, e *ICMPError) {
	c := *e
	c.Quoted, c.Transport = nil, nil
	r.errs = append(r.errs, c)
}

// TestPacketTooBig: a Packet Too Big lowers the path MTU (not below 1280)
// and reaches the transport of the quoted packet.
func TestPacketTooBig(t *testing.T) {
	l := newTestLayer(t, testConfig(), false)
	var tr recordingTransport
	l.Register(header.ProtocolUDP, &tr)
	router := netip.MustParseAddr("2001:db8:1::ff")
	far := netip.MustParseAddr("2001:db8:99::5")
	sent := packet6(ourIP, far, header.ProtocolUDP, 64, udp6(ourIP, far, 5000, 53, make([]byte, 1400)))
	for _, tc := range []struct{ mtu, want int }{{1400, 1400}, {1000, 1280}} {
		m := icmp6(router, ourIP, header.ICMPv6PacketTooBig, 0, uint32(tc.mtu), sent[:ipv6.QuoteLen])
		l.Frame(frameOf(ourMAC, peerMAC, packet6(router, ourIP, header.ProtocolICMPv6, 64, m)))
		if got := l.h.PathMTU(far); got != tc.want {
			t.Errorf("Packet Too Big %d: path MTU %d, want %d", tc.mtu, got, tc.want)
		}
	}
	if l.h.PathMTU(peerIP) != 1500 {
		t.Error("another destination's path MTU changed")
	}
	if len(tr.errs) != 2 || tr.errs[0].Errno != syscall.EMSGSIZE || tr.errs[0].Proto != header.ProtocolUDP || tr.errs[0].Rest != 1400 {
		t.Errorf("transport got %+v", tr.errs)
	}
	// A port unreachable: ECONNREFUSED.
	m := icmp6(far, ourIP, header.ICMPv6DstUnreachable, header.ICMPv6PortUnreachable, 0, sent[:100])
	l.Frame(frameOf(ourMAC, peerMAC, packet6(far, ourIP, header.ProtocolICMPv6, 64, m)))
	if len(tr.errs) != 3 || tr.errs[2].Errno != syscall.ECONNREFUSED {
		t.Errorf("transport got %+v", tr.errs)
	}
	// An error quoting a packet that is not ours is ignored.
	other := packet6(peerIP, far, header.ProtocolUDP, 64, udp6(peerIP, far, 1, 2, nil))
	m = icmp6(far, ourIP, header.ICMPv6DstUnreachable, header.ICMPv6PortUnreachable, 0, other)
	l.Frame(frameOf(ourMAC, peerMAC, packet6(far, ourIP, header.ProtocolICMPv6, 64, m)))
	if len(tr.errs) != 3 {
		t.Error("an error about another host's packet reached the transport")
	}
}

// TestFragmentedEcho: a 4000-byte echo request in fragments is
// reassembled and answered in fragments at the link MTU.
func TestFragmentedEcho(t *testing.T) {
	cfg := testConfig()
	cfg.Neighbors = []StaticNeighbor{{Addr: peerIP, MAC: peerMAC}}
	l := newTestLayer(t, cfg, true)
	data := bytes.Repeat([]byte("0123456789abcdef"), 250)
	req := echoRequest(peerIP, ourIP, 9, 3, data)
	frags := fragments(t, req, 1500)
	for _, f := range frags {
		if l.Frame(frameOf(ourMAC, peerMAC, f)) != 0 {
			t.Fatal("a fragment answered in place")
		}
	}
	out := l.link.take()
	if len(out) != 3 {
		t.Fatalf("reply in %d frames, want 3", len(out))
	}
	var r ipv6.Reassembler = *ipv6.NewReassembler(ipv6.Config{})
	var got []byte
	for _, f := range out {
		if len(f) > ethHeaderLen+1500 {
			t.Fatalf("fragment of %d bytes", len(f))
		}
		fr, err := ipv6.ParseFragment(f[ethHeaderLen:], new(header.IPv6Ext))
		if err != nil {
			t.Fatal(err)
		}
		if d, ok, _ := r.Add(&fr, 1); ok {
			got = bytes.Clone(d.Bytes())
		}
	}
	ip, _ := header.ParseIPv6(got)
	m := header.ICMPv6(ip.Payload())
	if m.Type() != header.ICMPv6EchoReply || !m.ChecksumValid(ip.Src16(), ip.Dst16()) || !bytes.Equal(m.Payload(), data) {
		t.Fatalf("reassembled reply: type %d, %d bytes", m.Type(), len(m.Payload()))
	}
	s := *l.st
	l.Publish(&s)
	if s.IPv6.Reasm.ReasmOKs != 1 || s.IPv6.Frag.FragCreates != 3 || s.IPv6.Frag.FragOKs != 1 {
		t.Errorf("reassembly %+v fragmentation %+v", s.IPv6.Reasm, s.IPv6.Frag)
	}
}

// TestReassemblyTimeout: a first fragment alone is answered, after 60 s,
// with a time exceeded code 1 quoting it.
func TestReassemblyTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.Neighbors = []StaticNeighbor{{Addr: peerIP, MAC: peerMAC}}
	l := newTestLayer(t, cfg, true)
	frags := fragments(t, echoRequest(peerIP, ourIP, 1, 1, make([]byte, 3000)), 1500)
	l.Frame(frameOf(ourMAC, peerMAC, frags[0]))
	l.now += ipv6.DefaultTimeout + 1
	l.Tick()
	_, _, m := sentICMP(t, l.link.only(t))
	if m.Type() != header.ICMPv6TimeExceeded || m.Code() != header.ICMPv6ReassemblyExceeded {
		t.Fatalf("sent type %d code %d", m.Type(), m.Code())
	}
	if !bytes.HasPrefix(frags[0], m.Payload()[:100]) {
		t.Error("the error does not quote the first fragment")
	}
}

// TestIncompleteChain: a first fragment without the whole upper-layer
// header (here 16 bytes of a TCP header) is dropped with a parameter
// problem, code 3, pointer 0, as Linux answers it (RFC 7112); its other
// fragment alone is kept silently.
func TestIncompleteChain(t *testing.T) {
	cfg := testConfig()
	cfg.Neighbors = []StaticNeighbor{{Addr: peerIP, MAC: peerMAC}}
	l := newTestLayer(t, cfg, true)
	frag := func(off int, more bool, data []byte) []byte {
		fh := make([]byte, 8, 8+len(data))
		fh[0] = header.ProtocolTCP
		w := uint16(off)
		if more {
			w |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], w)
		binary.BigEndian.PutUint32(fh[4:], 77)
		return packet6(peerIP, ourIP, header.ProtocolFragment, 64, append(fh, data...))
	}
	first := frag(0, true, make([]byte, 16))
	l.Frame(frameOf(ourMAC, peerMAC, first))
	_, _, m := sentICMP(t, l.link.only(t))
	if m.Type() != header.ICMPv6ParamProblem || m.Code() != header.ICMPv6IncompleteChain || m.Pointer() != 0 {
		t.Errorf("sent type %d code %d pointer %d, want parameter problem 3 at 0", m.Type(), m.Code(), m.Pointer())
	}
	if !bytes.Equal(m.Payload(), first) {
		t.Error("the error does not quote the first fragment")
	}
	l.Frame(frameOf(ourMAC, peerMAC, frag(16, false, make([]byte, 8))))
	if n := l.link.count(); n != 0 {
		t.Errorf("%d frames sent for the second fragment", n)
	}
	if l.st.IPv6.InHdrErrors != 1 {
		t.Errorf("InHdrErrors %d, want 1", l.st.IPv6.InHdrErrors)
	}
}

func TestNotForUs(t *testing.T) {
	l := newTestLayer(t, testConfig(), true)
	other := netip.MustParseAddr("2001:db8:1::77")
	l.Frame(frameOf(ourMAC, peerMAC, echoRequest(peerIP, other, 1, 1, nil)))
	group := netip.MustParseAddr("ff05::1234")
	l.Frame(frameOf(header.MulticastMAC6(group.As16()), peerMAC, echoRequest(peerIP, group, 1, 1, nil)))
	if l.link.count() != 0 || l.st.IPv6.InAddrErrors != 2 {
		t.Errorf("%d frames sent, InAddrErrors %d", l.link.count(), l.st.IPv6.InAddrErrors)
	}
	// A joined group is taken.
	if err := l.h.JoinGroup(group); err != nil {
		t.Fatal(err)
	}
	f := frameOf(header.MulticastMAC6(group.As16()), peerMAC, echoRequest(peerIP, group, 1, 1, nil))
	if n := l.Frame(f); n == 0 {
		t.Error("echo to a joined group not answered")
	} else if _, ip, _ := sentICMP(t, f[:n]); ip.Src() != ourIP {
		t.Errorf("answered from %v", ip.Src())
	}
}

// TestDAD: an address is tentative until its probe went unanswered for a
// RetransTimer; a Neighbor Advertisement for it makes it a duplicate,
// never used.
func TestDAD(t *testing.T) {
	second := netip.MustParsePrefix("2001:db8:1::9/64")
	cfg := testConfig()
	cfg.NoDAD = false
	cfg.Addrs = append(cfg.Addrs, second)
	l := newTestLayer(t, cfg, true)
	l.Start()
	probes := l.link.take()
	if len(probes) != 2 {
		t.Fatalf("%d probes, want 2", len(probes))
	}
	for i, f := range probes {
		_, ip, m := sentICMP(t, f)
		ns := header.NeighborSolicitation(m)
		if m.Type() != header.ICMPv6NeighborSolicitation || ip.Src16() != ([16]byte{}) ||
			ip.Dst16() != header.SolicitedNodeMulticast(ns.Target()) || ns.Target() != cfg.Addrs[i].Addr().As16() {
			t.Errorf("probe %d: type %d from %v to %v for %v", i, m.Type(), ip.Src(), ip.Dst(), netip.AddrFrom16(ns.Target()))
		}
	}
	// Tentative: an echo is not answered.
	if l.Frame(frameOf(ourMAC, peerMAC, echoRequest(peerIP, ourIP, 1, 1, nil))) != 0 || l.st.IPv6.InAddrErrors != 1 {
		t.Error("a tentative address answered an echo")
	}
	// The peer defends the second address.
	var b [32]byte
	n, _ := header.PutNeighborAdvertisement(b[:], second.Addr().As16(), header.NDPFlagOverride, peerMAC)
	all := netip.MustParseAddr("ff02::1")
	l.Frame(frameOf(header.MulticastMAC6(all.As16()), peerMAC, packet6(peerIP, all, header.ProtocolICMPv6, 255, ndpMsg(peerIP, all, b[:n]))))
	l.now += 1_000_000_001
	l.Round()
	dups, ok := l.h.WaitDAD(0)
	if !ok || len(dups) != 1 || dups[0] != second.Addr() {
		t.Fatalf("DAD ended %v with duplicates %v", ok, dups)
	}
	if got := l.h.UsableAddrs(); len(got) != 1 || got[0] != ourNet {
		t.Fatalf("usable %v", got)
	}
	if l.Frame(frameOf(ourMAC, peerMAC, echoRequest(peerIP, ourIP, 1, 1, nil))) == 0 {
		t.Error("a unique address does not answer")
	}
	if l.Frame(frameOf(ourMAC, peerMAC, echoRequest(peerIP, second.Addr(), 1, 1, nil))) != 0 {
		t.Error("a duplicate address answers")
	}
	s := *l.st
	l.Publish(&s)
	if s.IPv6.NDP.DADUnique != 1 || s.IPv6.NDP.DADDuplicate != 1 || s.IPv6.NDP.DADProbes != 2 {
		t.Errorf("DAD counters %+v", s.IPv6.NDP)
	}
}

func TestRoute(t *testing.T) {
	cfg := testConfig()
	p2 := netip.MustParsePrefix("2001:db8:2::1/64")
	gw := netip.MustParseAddr("2001:db8:2::ff")
	cfg.Addrs = append(cfg.Addrs, p2)
	cfg.Gateway = gw
	h, err := NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dst, next, src string
		ok             bool
	}{
		{"2001:db8:1::5", "2001:db8:1::5", "2001:db8:1::1", true},
		{"2001:db8:2::5", "2001:db8:2::5", "2001:db8:2::1", true},
		{"2001:db8:77::5", "2001:db8:2::ff", "2001:db8:2::1", true}, // the gateway's prefix
		{"fe80::5", "fe80::5", "2001:db8:1::1", true},               // link-local: on the link
	} {
		next, src, ok := h.Route(netip.MustParseAddr(tc.dst))
		if ok != tc.ok || next.String() != tc.next || src.String() != tc.src {
			t.Errorf("Route(%s) = %v, %v, %v; want %s, %s, %v", tc.dst, next, src, ok, tc.next, tc.src, tc.ok)
		}
	}
	cfg.Gateway = netip.Addr{}
	h, _ = NewHost(cfg)
	if _, _, ok := h.Route(netip.MustParseAddr("2001:db8:77::5")); ok {
		t.Error("a route off the link without a gateway")
	}
	if src := h.SourceFor(netip.MustParseAddr("2001:db8:77::5")); src != ourIP {
		t.Errorf("SourceFor off the link %v, want the first address", src)
	}
	cfg.NoDAD = false
	h, _ = NewHost(cfg)
	if _, _, ok := h.Route(netip.MustParseAddr("2001:db8:1::5")); ok {
		t.Error("a route from a tentative address")
	}
}

// TestMalformed feeds broken frames: each is counted, none panics or is
// answered.
func TestMalformed(t *testing.T) {
	l := newTestLayer(t, testConfig(), true)
	good := echoRequest(peerIP, ourIP, 1, 1, []byte("abcdefgh"))
	hbh := func(opts ...byte) []byte {
		p := packet6(peerIP, ourIP, header.ProtocolHopByHop, 64, append(append([]byte{header.ProtocolNoNext, 0}, opts...), make([]byte, 6-len(opts))...))
		return p
	}
	cases := map[string][]byte{
		"short":           good[:20],
		"version 4":       append([]byte{0x45}, good[1:]...),
		"payload length":  good[:len(good)-3],
		"bad checksum":    append(good[:len(good)-1:len(good)-1], good[len(good)-1]^1),
		"icmp too short":  packet6(peerIP, ourIP, header.ProtocolICMPv6, 64, []byte{128, 0}),
		"ext truncated":   packet6(peerIP, ourIP, header.ProtocolHopByHop, 64, []byte{59, 3, 0, 0}),
		"option past end": hbh(0x01, 0x09),
		"unknown option":  hbh(0x3e, 0x00),
		"multicast src":   echoRequest(netip.MustParseAddr("ff02::1"), ourIP, 1, 1, nil),
	}
	for name, pkt := range cases {
		before := l.st.IPv6
		if n := l.Frame(frameOf(ourMAC, peerMAC, pkt)); n != 0 {
			t.Errorf("%s: answered", name)
		}
		if l.st.IPv6 == before {
			t.Errorf("%s: not counted", name)
		}
	}
	for _, b := range [][]byte{nil, {1, 2, 3}, make([]byte, 14)} {
		l.Frame(b)
	}
	if l.link.count() != 0 {
		t.Errorf("%d frames sent for malformed input", l.link.count())
	}
}

func FuzzFrame(f *testing.F) {
	f.Add(echoRequest(peerIP, ourIP, 1, 1, []byte("x")))
	f.Add(packet6(peerIP, ourIP, header.ProtocolUDP, 64, udp6(peerIP, ourIP, 1, 2, nil)))
	var b [32]byte
	n, _ := header.PutNeighborSolicitation(b[:], ourIP.As16(), peerMAC)
	f.Add(packet6(peerIP, ourIP, header.ProtocolICMPv6, 255, ndpMsg(peerIP, ourIP, b[:n])))
	cfg := testConfig()
	cfg.Neighbors = []StaticNeighbor{{Addr: peerIP, MAC: peerMAC}}
	f.Add(fragments(f, echoRequest(peerIP, ourIP, 1, 1, make([]byte, 2000)), 1280)[0])
	l := newTestLayer(f, cfg, false)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		fr := frameOf(ourMAC, peerMAC, pkt)
		if n := l.Frame(fr); n > len(fr) {
			t.Fatalf("reply of %d bytes in a %d-byte frame", n, len(fr))
		}
		l.now += 1000
	})
}

var _ datapath.Input = (*Layer)(nil)
var _ datapath.Layer = (*Layer)(nil)
