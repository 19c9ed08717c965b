package header

import (
	"bytes"
	"testing"
)

var (
	ndpMAC      = MAC{0x02, 0, 0, 0, 0, 0x01}
	ndpLL       = [16]byte{0xfe, 0x80, 15: 1}
	ndpTarget   = [16]byte{0x20, 0x01, 0, 2, 15: 2}
	ndpTarget1  = [16]byte{0x20, 0x01, 0, 2, 15: 1}
	ndpAllNodes = [16]byte{0xff, 0x02, 15: 1}
)

// Golden bytes from scapy 2.5 (ICMPv6ND_NS, ICMPv6ND_NA, ICMPv6ND_RS,
// ICMPv6ND_RA with ICMPv6NDOptPrefixInfo, ICMPv6NDOptMTU and
// ICMPv6NDOptSrcLLAddr; cksum=0, RA prf=0: scapy defaults to RFC 4191 "high").
const (
	goldenNS = "8700000000000000200100020000000000000000000000020101020000000001"
	goldenNA = "8800000060000000200100020000000000000000000000010201020000000001"
	goldenRS = "85000000000000000101020000000001"
	goldenRA = "860000004080070800007530000003e8030440c00001518000003840000000002001000200000000000000000000000005010000000005dc0101020000000099"
)

func TestNDPGolden(t *testing.T) {
	b := make([]byte, 128)
	n, err := PutNeighborSolicitation(b, ndpTarget, ndpMAC)
	if err != nil || !bytes.Equal(b[:n], mustHex(goldenNS)) {
		t.Fatalf("NS: %x, %v; want %s", b[:n], err, goldenNS)
	}
	n, err = PutNeighborAdvertisement(b, ndpTarget1, NDPFlagSolicited|NDPFlagOverride, ndpMAC)
	if err != nil || !bytes.Equal(b[:n], mustHex(goldenNA)) {
		t.Fatalf("NA: %x, %v; want %s", b[:n], err, goldenNA)
	}
	n, err = PutRouterSolicitation(b, ndpMAC)
	if err != nil || !bytes.Equal(b[:n], mustHex(goldenRS)) {
		t.Fatalf("RS: %x, %v; want %s", b[:n], err, goldenRS)
	}
	n, _ = PutRouterAdvertisement(b, 64, NDPFlagManaged, 1800, 30000, 1000)
	k, _ := PutNDPPrefixInfoOption(b[n:], [16]byte{0x20, 0x01, 0, 2}, 64, NDPPrefixFlagOnLink|NDPPrefixFlagAuto, 86400, 14400)
	n += k
	k, _ = PutNDPMTUOption(b[n:], 1500)
	n += k
	k, _ = PutNDPLinkLayerOption(b[n:], NDPOptionSourceLinkLayer, MAC{2, 0, 0, 0, 0, 0x99})
	n += k
	if !bytes.Equal(b[:n], mustHex(goldenRA)) {
		t.Fatalf("RA: %x; want %s", b[:n], goldenRA)
	}
	// Without link-layer options.
	if n, _ := PutNeighborSolicitation(b, ndpTarget, MAC{}); n != 24 {
		t.Errorf("NS without SLL: %d bytes", n)
	}
	if n, _ := PutRouterSolicitation(b, MAC{}); n != 8 {
		t.Errorf("RS without SLL: %d bytes", n)
	}
}

// The checksum the caller fills: scapy's for the NS from fe80::1 to the
// solicited-node group of 2001:2::2 is 0x5915.
func TestNDPChecksum(t *testing.T) {
	msg := mustHex(goldenNS)
	if c := ICMPv6Checksum(ndpLL, SolicitedNodeMulticast(ndpTarget), msg); c != 0x5915 {
		t.Fatalf("checksum %#04x, want 0x5915", c)
	}
}

func TestNDPViews(t *testing.T) {
	ns := mustHex(goldenNS)
	if err := ParseNDP(ns, 255, ndpLL, SolicitedNodeMulticast(ndpTarget)); err != nil {
		t.Fatal(err)
	}
	if v := NeighborSolicitation(ns); v.Target() != ndpTarget {
		t.Errorf("NS target %x", v.Target())
	}
	if mac, ok := NeighborSolicitation(ns).Options().LinkLayer(NDPOptionSourceLinkLayer); !ok || mac != ndpMAC {
		t.Errorf("NS SLL %v %v", mac, ok)
	}
	na := mustHex(goldenNA)
	if err := ParseNDP(na, 255, ndpTarget1, ndpLL); err != nil {
		t.Fatal(err)
	}
	v := NeighborAdvertisement(na)
	if v.Router() || !v.Solicited() || !v.Override() || v.Flags() != NDPFlagSolicited|NDPFlagOverride || v.Target() != ndpTarget1 {
		t.Errorf("NA flags %#x target %x", v.Flags(), v.Target())
	}
	if mac, ok := v.Options().LinkLayer(NDPOptionTargetLinkLayer); !ok || mac != ndpMAC {
		t.Errorf("NA TLL %v %v", mac, ok)
	}
	ra := mustHex(goldenRA)
	if err := ParseNDP(ra, 255, ndpLL, ndpAllNodes); err != nil {
		t.Fatal(err)
	}
	r := RouterAdvertisement(ra)
	if r.CurHopLimit() != 64 || !r.Managed() || r.OtherConfig() || r.RouterLifetime() != 1800 ||
		r.ReachableTime() != 30000 || r.RetransTimer() != 1000 {
		t.Errorf("RA fields %d %v %v %d %d %d", r.CurHopLimit(), r.Managed(), r.OtherConfig(), r.RouterLifetime(), r.ReachableTime(), r.RetransTimer())
	}
	it := r.Options()
	var types []uint8
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		types = append(types, o.Type())
		if p, ok := o.PrefixInfo(); ok {
			if p.PrefixLen() != 64 || !p.OnLink() || !p.Autonomous() || p.ValidLifetime() != 86400 ||
				p.PreferredLifetime() != 14400 || p.Prefix() != [16]byte{0x20, 0x01, 0, 2} {
				t.Errorf("prefix %x", []byte(p))
			}
		}
		if m, ok := o.MTU(); ok && m != 1500 {
			t.Errorf("MTU %d", m)
		}
		if mac, ok := o.LinkLayer(); ok && mac != (MAC{2, 0, 0, 0, 0, 0x99}) {
			t.Errorf("SLL %v", mac)
		}
	}
	if it.Err() != nil || !bytes.Equal(types, []byte{3, 5, 1}) {
		t.Errorf("options %v, err %v", types, it.Err())
	}
	if err := ParseNDP(mustHex(goldenRS), 255, ndpLL, [16]byte{0xff, 2, 15: 2}); err != nil {
		t.Fatal(err)
	}
	// A DAD probe: NS from :: with a nonce.
	b := make([]byte, 32)
	n, _ := PutNeighborSolicitation(b, ndpTarget, MAC{})
	k, _ := PutNDPNonceOption(b[n:], [6]byte{1, 2, 3, 4, 5, 6})
	if err := ParseNDP(b[:n+k], 255, [16]byte{}, SolicitedNodeMulticast(ndpTarget)); err != nil {
		t.Fatal(err)
	}
	if nonce := NeighborSolicitation(b).Options().Nonce(); !bytes.Equal(nonce, []byte{1, 2, 3, 4, 5, 6}) {
		t.Errorf("nonce %x", nonce)
	}
	rd := make([]byte, 40)
	rd[0] = ICMPv6Redirect
	copy(rd[8:], ndpLL[:])
	copy(rd[24:], ndpTarget[:])
	if err := ParseNDP(rd, 255, ndpLL, ndpTarget1); err != nil {
		t.Fatal(err)
	}
	if v := NDPRedirect(rd); v.Target() != ndpLL || v.Destination() != ndpTarget || v.Options().Nonce() != nil {
		t.Errorf("redirect %x %x", v.Target(), v.Destination())
	}
}

func TestParseNDPErrors(t *testing.T) {
	ns, na, ra, rs := mustHex(goldenNS), mustHex(goldenNA), mustHex(goldenRA), mustHex(goldenRS)
	snm := SolicitedNodeMulticast(ndpTarget)
	with := func(b []byte, f func([]byte)) []byte { c := bytes.Clone(b); f(c); return c }
	global := ndpTarget1
	for _, c := range []struct {
		name     string
		msg      []byte
		hop      uint8
		src, dst [16]byte
		want     error
	}{
		{"empty", nil, 255, ndpLL, snm, ErrNDPCode},
		{"code", with(ns, func(b []byte) { b[1] = 1 }), 255, ndpLL, snm, ErrNDPCode},
		{"not NDP", with(ns, func(b []byte) { b[0] = 128 }), 255, ndpLL, snm, ErrNDPCode},
		{"hop limit", ns, 254, ndpLL, snm, ErrNDPHopLimit},
		{"truncated NS", ns[:23], 255, ndpLL, snm, ErrTruncated},
		{"truncated RA", ra[:15], 255, ndpLL, ndpAllNodes, ErrTruncated},
		{"option length 0", with(ns, func(b []byte) { b[25] = 0 }), 255, ndpLL, snm, ErrBadOption},
		{"option past end", with(ns, func(b []byte) { b[25] = 2 }), 255, ndpLL, snm, ErrBadOption},
		{"option 1 byte", append(bytes.Clone(ns), 1), 255, ndpLL, snm, ErrBadOption},
		{"NS multicast target", with(ns, func(b []byte) { b[8] = 0xff }), 255, ndpLL, snm, ErrNDPAddress},
		{"NS from :: to unicast", ns[:24], 255, [16]byte{}, ndpTarget, ErrNDPAddress},
		{"NS from :: with SLL", ns, 255, [16]byte{}, snm, ErrNDPAddress},
		{"NA multicast target", with(na, func(b []byte) { b[8] = 0xff }), 255, global, ndpLL, ErrNDPAddress},
		{"NA solicited to multicast", na, 255, global, ndpAllNodes, ErrNDPAddress},
		{"RA from global", ra, 255, global, ndpAllNodes, ErrNDPAddress},
		{"RS from :: with SLL", rs, 255, [16]byte{}, ndpAllNodes, ErrNDPAddress},
		{"redirect to multicast", func() []byte {
			b := make([]byte, 40)
			b[0], b[24] = ICMPv6Redirect, 0xff
			return b
		}(), 255, ndpLL, global, ErrNDPAddress},
		{"redirect global target", func() []byte {
			b := make([]byte, 40)
			b[0] = ICMPv6Redirect
			copy(b[8:], global[:])
			copy(b[24:], ndpTarget[:])
			return b
		}(), 255, ndpLL, global, ErrNDPAddress},
	} {
		if err := ParseNDP(c.msg, c.hop, c.src, c.dst); err != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Unsolicited NA to all-nodes and RS from :: without SLL are fine.
	if err := ParseNDP(with(na, func(b []byte) { b[4] = NDPFlagOverride }), 255, global, ndpAllNodes); err != nil {
		t.Error(err)
	}
	if err := ParseNDP(rs[:8], 255, [16]byte{}, ndpAllNodes); err != nil {
		t.Error(err)
	}
	it := ParseNDPOptions([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	if _, ok := it.Next(); ok || it.Err() != ErrBadOption {
		t.Errorf("zero-length option: %v", it.Err())
	}
}

func TestNDPAddresses(t *testing.T) {
	a := [16]byte{0x20, 0x01, 0x0d, 0xb8, 12: 0x12, 13: 0x34, 14: 0x56, 15: 0x78}
	if g := SolicitedNodeMulticast(a); g != [16]byte{0xff, 0x02, 11: 0x01, 12: 0xff, 13: 0x34, 14: 0x56, 15: 0x78} {
		t.Errorf("solicited-node %x", g)
	}
	if m := MulticastMAC6([16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: 0x34, 14: 0x56, 15: 0x78}); m != (MAC{0x33, 0x33, 0xff, 0x34, 0x56, 0x78}) {
		t.Errorf("multicast MAC %v", m)
	}
	// RFC 4291 appendix A: 00:11:22:33:44:55 -> fe80::211:22ff:fe33:4455.
	want := [16]byte{0xfe, 0x80, 8: 0x02, 9: 0x11, 10: 0x22, 11: 0xff, 12: 0xfe, 13: 0x33, 14: 0x44, 15: 0x55}
	if ll := LinkLocalFromMAC(MAC{0, 0x11, 0x22, 0x33, 0x44, 0x55}); ll != want {
		t.Errorf("link-local %x", ll)
	}
}

func TestNDPPutShort(t *testing.T) {
	b := make([]byte, 7)
	for name, f := range map[string]func() (int, error){
		"NS":     func() (int, error) { return PutNeighborSolicitation(b, ndpTarget, ndpMAC) },
		"NA":     func() (int, error) { return PutNeighborAdvertisement(b, ndpTarget, 0, MAC{}) },
		"RS":     func() (int, error) { return PutRouterSolicitation(b, MAC{}) },
		"RA":     func() (int, error) { return PutRouterAdvertisement(b, 0, 0, 0, 0, 0) },
		"LLA":    func() (int, error) { return PutNDPLinkLayerOption(b, 1, ndpMAC) },
		"nonce":  func() (int, error) { return PutNDPNonceOption(b, [6]byte{}) },
		"MTU":    func() (int, error) { return PutNDPMTUOption(b, 1500) },
		"prefix": func() (int, error) { return PutNDPPrefixInfoOption(b, [16]byte{}, 0, 0, 0, 0) },
	} {
		if n, err := f(); n != 0 || err != ErrBufferTooSmall {
			t.Errorf("%s: %d, %v", name, n, err)
		}
	}
}

func TestNDPNoAllocs(t *testing.T) {
	ra := mustHex(goldenRA)
	ns := mustHex(goldenNS)
	snm := SolicitedNodeMulticast(ndpTarget)
	b := make([]byte, 64)
	if n := testing.AllocsPerRun(100, func() {
		_ = ParseNDP(ra, 255, ndpLL, ndpAllNodes)
		it := RouterAdvertisement(ra).Options()
		for o, ok := it.Next(); ok; o, ok = it.Next() {
			_, _ = o.PrefixInfo()
		}
		_ = ParseNDP(ns, 255, ndpLL, snm)
		_, _ = NeighborSolicitation(ns).Options().LinkLayer(NDPOptionSourceLinkLayer)
		_, _ = PutNeighborAdvertisement(b, ndpTarget, NDPFlagOverride, ndpMAC)
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func BenchmarkParseNDP(b *testing.B) {
	ns := mustHex(goldenNS)
	snm := SolicitedNodeMulticast(ndpTarget)
	b.ReportAllocs()
	for b.Loop() {
		if ParseNDP(ns, 255, ndpLL, snm) != nil {
			b.Fatal("invalid")
		}
		_, _ = NeighborSolicitation(ns).Options().LinkLayer(NDPOptionSourceLinkLayer)
	}
}
