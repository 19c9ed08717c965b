package header

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
)

// Golden IPv6 packets built with Python's struct module and an independent
// checksum (see the test's comments): 2001:2::1 -> 2001:2::2.
const (
	// tc 0x2e, flow 0x12345, hop 64, UDP 1234 -> 5678 "hello".
	goldenIPv6UDP = "62e12345000d1140200100020000000000000000000000012001000200000000000000000000000204d2162e000d60f968656c6c6f"
	// ICMPv6 echo request, id 0x1234, seq 1, "ping", hop 255.
	goldenIPv6Echo = "60000000000c3aff200100020000000000000000000000012001000200000000000000000000000280004eaa1234000170696e67"
	// Hop-by-hop (Router Alert, PadN) + destination options (PadN) +
	// fragment (offset 0, M, ID 0xdeadbeef) + the UDP datagram above.
	goldenIPv6Chain = "600000000025000120010002000000000000000000000001200100020000000000000000000000023c000502000001002c0001040000000011000001deadbeef04d2162e000d60f968656c6c6f"
)

var (
	ip6A = netip.MustParseAddr("2001:2::1").As16()
	ip6B = netip.MustParseAddr("2001:2::2").As16()
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIPv6Golden(t *testing.T) {
	b := unhex(t, goldenIPv6UDP)
	ip, err := ParseIPv6(append(b, 0, 0, 0)) // link padding is trimmed
	if err != nil {
		t.Fatal(err)
	}
	if len(ip) != len(b) || ip.TrafficClass() != 0x2e || ip.FlowLabel() != 0x12345 || ip.PayloadLength() != 13 ||
		ip.NextHeader() != ProtocolUDP || ip.HopLimit() != 64 || ip.Src16() != ip6A || ip.Dst16() != ip6B ||
		ip.Src() != netip.AddrFrom16(ip6A) || ip.Dst().String() != "2001:2::2" || len(ip.Payload()) != 13 {
		t.Fatalf("fields of %x wrong", ip)
	}
	out := make([]byte, IPv6HeaderLen)
	PutIPv6(out, 0x2e, 0x12345|0xfff00000, 13, ProtocolUDP, 64, ip6A, ip6B)
	if string(out) != string(b[:IPv6HeaderLen]) {
		t.Fatalf("PutIPv6 %x, want %x", out, b[:IPv6HeaderLen])
	}
	u, err := ParseUDP(ip.Payload())
	if err != nil {
		t.Fatal(err)
	}
	ph := PseudoHeaderChecksum6(ProtocolUDP, ip.Src16(), ip.Dst16(), uint32(len(u)))
	if Checksum(u, ph) != 0xffff {
		t.Error("UDP checksum over the IPv6 pseudo-header does not verify")
	}
	// Setters against a zeroed header.
	v := IPv6(make([]byte, IPv6HeaderLen))
	v[0] = 0x60
	v.SetTrafficClass(0x2e)
	v.SetFlowLabel(0x12345)
	v.SetPayloadLength(13)
	v.SetNextHeader(ProtocolUDP)
	v.SetHopLimit(64)
	v.SetSrc16(ip6A)
	v.SetDst16(ip6B)
	if string(v) != string(b[:IPv6HeaderLen]) {
		t.Fatalf("setters %x, want %x", []byte(v), b[:IPv6HeaderLen])
	}
	v.SetTrafficClass(0xff)
	v.SetFlowLabel(0)
	if v.TrafficClass() != 0xff || v.FlowLabel() != 0 || v[0]>>4 != 6 {
		t.Fatalf("traffic class / flow label setters spill: %x", []byte(v[:4]))
	}
}

func TestParseIPv6Errors(t *testing.T) {
	good := unhex(t, goldenIPv6UDP)
	mod := func(f func([]byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"short", good[:39], ErrTruncated},
		{"version 4", mod(func(b []byte) { b[0] = 0x45 }), ErrBadVersion},
		{"payload past end", good[:len(good)-1], ErrTruncated},
		{"jumbogram", mod(func(b []byte) { b[4], b[5], b[6] = 0, 0, ProtocolHopByHop }), ErrJumbogram},
	} {
		if _, err := ParseIPv6(c.b); err != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if q, err := ParseIPv6Quoted(good[:48]); err != nil || len(q.Payload()) != 8 {
		t.Errorf("quoted: %v, payload %d", err, len(q.Payload()))
	}
	if _, err := ParseIPv6Quoted(mod(func(b []byte) { b[0] = 0x45 })); err != ErrBadVersion {
		t.Errorf("quoted version 4: %v", err)
	}
}

func TestICMPv6Golden(t *testing.T) {
	ip, err := ParseIPv6(unhex(t, goldenIPv6Echo))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseICMPv6(ip.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if m.Type() != ICMPv6EchoRequest || m.Code() != 0 || m.Ident() != 0x1234 || m.Seq() != 1 ||
		string(m.Payload()) != "ping" || m.IsError() || m.Checksum() != 0x4eaa {
		t.Fatalf("fields of %x wrong", []byte(m))
	}
	if !m.ChecksumValid(ip6A, ip6B) || m.ChecksumValid(ip6B, ip6B) {
		t.Error("ChecksumValid")
	}
	if got := ICMPv6Checksum(ip6A, ip6B, m); got != 0x4eaa {
		t.Errorf("ICMPv6Checksum with the field set %#x, want 0x4eaa", got)
	}
	m.SetChecksum(0)
	if got := ICMPv6Checksum(ip6A, ip6B, m); got != 0x4eaa {
		t.Errorf("ICMPv6Checksum with the field zero %#x, want 0x4eaa", got)
	}
	m.SetType(ICMPv6EchoReply)
	m.UpdateChecksum(ip6B, ip6A)
	if !m.ChecksumValid(ip6B, ip6A) {
		t.Error("UpdateChecksum")
	}
	m.SetType(ICMPv6PacketTooBig)
	m.SetRest(1280)
	if m.MTU() != 1280 || m.Pointer() != 1280 || !m.IsError() {
		t.Error("packet too big")
	}
	for _, c := range []struct {
		b  []byte
		ok bool
	}{
		{[]byte{128, 0, 0}, false},
		{[]byte{128, 0, 0, 0}, false},
		{[]byte{1, 0, 0, 0, 0, 0, 0}, false},
		{[]byte{200, 0, 0, 0}, true},
		{[]byte{1, 0, 0, 0, 0, 0, 0, 0}, true},
	} {
		m, err := ParseICMPv6(c.b)
		if (err == nil) != c.ok {
			t.Errorf("ParseICMPv6(%x): %v", c.b, err)
		}
		if err == nil {
			_, _, _ = m.Rest(), m.Payload(), m.Seq()
			m.SetRest(1)
		}
	}
}

// pkt6 builds an IPv6 packet to dst with next header nh and the given
// payload (extension headers and upper-layer bytes).
func pkt6(dst [16]byte, nh uint8, payload ...[]byte) IPv6 {
	var p []byte
	for _, x := range payload {
		p = append(p, x...)
	}
	b := make([]byte, IPv6HeaderLen, IPv6HeaderLen+len(p))
	PutIPv6(b, 0, 0, uint16(len(p)), nh, 64, ip6A, dst)
	return IPv6(append(b, p...))
}

// opts returns an options header (hop-by-hop or destination) with the given
// options, padded with PadN/Pad1 to a multiple of 8.
func opts(next uint8, o ...byte) []byte {
	b := append([]byte{next, 0}, o...)
	switch pad := (8 - len(b)%8) % 8; {
	case pad == 1:
		b = append(b, 0)
	case pad > 1:
		b = append(b, 1, byte(pad-2))
		b = append(b, make([]byte, pad-2)...)
	}
	b[1] = byte(len(b)/8 - 1)
	return b
}

func fragHdr(next uint8, off uint16, more bool, id uint32) []byte {
	w := off &^ 7
	if more {
		w |= 1
	}
	return []byte{next, 0, byte(w >> 8), byte(w), byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
}

func routing(next, typ, left uint8) []byte {
	return []byte{next, 0, typ, left, 0, 0, 0, 0}
}

func TestParseIPv6Ext(t *testing.T) {
	udp := []byte{4, 210, 22, 46, 0, 8, 0, 0}
	mcast := netip.MustParseAddr("ff02::1").As16()
	chain := func(n int) IPv6 {
		var hs [][]byte
		for range n {
			hs = append(hs, opts(ProtocolDestOpts))
		}
		hs[n-1][0] = ProtocolUDP
		return pkt6(ip6B, ProtocolDestOpts, append(hs, udp)...)
	}
	golden, err := ParseIPv6(unhex(t, goldenIPv6Chain))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ip   IPv6
		err  error
		want IPv6Ext
	}{
		{"none", pkt6(ip6B, ProtocolUDP, udp), nil, IPv6Ext{Proto: 17, Offset: 40, NextHeaderOffset: 6}},
		{"golden chain", golden, nil, IPv6Ext{Proto: 17, Offset: 64, NextHeaderOffset: 56, HopByHop: true,
			RouterAlert: true, Frag: true, FragMore: true, FragID: 0xdeadbeef, FragHdrOffset: 56, FragPrevNextHeader: 48}},
		{"non-first fragment", pkt6(ip6B, ProtocolFragment, fragHdr(ProtocolDestOpts, 1480, true, 7), []byte{1, 2}), nil,
			IPv6Ext{Proto: ProtocolDestOpts, Offset: 48, NextHeaderOffset: 40, Frag: true, FragMore: true, FragOffset: 1480,
				FragID: 7, FragHdrOffset: 40, FragPrevNextHeader: 6}},
		{"atomic fragment", pkt6(ip6B, ProtocolFragment, fragHdr(ProtocolUDP, 0, false, 9), udp), nil,
			IPv6Ext{Proto: 17, Offset: 48, NextHeaderOffset: 40, Frag: true, FragID: 9, FragHdrOffset: 40, FragPrevNextHeader: 6}},
		{"hop-by-hop second", pkt6(ip6B, ProtocolDestOpts, opts(ProtocolHopByHop), opts(ProtocolUDP), udp), ErrHopByHopNotFirst,
			IPv6Ext{Report: true, ProblemCode: ICMPv6UnrecognizedNextHeader, ProblemPointer: 40}},
		{"routing type 0 left 2", pkt6(ip6B, ProtocolRouting, routing(ProtocolUDP, 0, 2), udp), ErrRoutingHeader,
			IPv6Ext{Report: true, ProblemCode: ICMPv6ErroneousHeader, ProblemPointer: 42}},
		{"routing type 4 left 0", pkt6(ip6B, ProtocolRouting, routing(ProtocolUDP, 4, 0), udp), nil,
			IPv6Ext{Proto: 17, Offset: 48, NextHeaderOffset: 40}},
		{"option 00 skipped", pkt6(ip6B, ProtocolDestOpts, opts(ProtocolUDP, 0x1e, 1, 0), udp), nil,
			IPv6Ext{Proto: 17, Offset: 48, NextHeaderOffset: 40}},
		{"option 01", pkt6(ip6B, ProtocolDestOpts, opts(ProtocolUDP, 0, 0x5e, 0), udp), ErrUnknownOption, IPv6Ext{}},
		{"option 10", pkt6(ip6B, ProtocolDestOpts, opts(ProtocolUDP, 0, 0x9e, 0), udp), ErrUnknownOption,
			IPv6Ext{Report: true, ProblemCode: ICMPv6UnrecognizedOption, ProblemPointer: 43}},
		{"option 10 multicast", pkt6(mcast, ProtocolDestOpts, opts(ProtocolUDP, 0x9e, 0), udp), ErrUnknownOption,
			IPv6Ext{Report: true, ProblemCode: ICMPv6UnrecognizedOption, ProblemPointer: 42}},
		{"option 11", pkt6(ip6B, ProtocolHopByHop, opts(ProtocolUDP, 0xde, 0), udp), ErrUnknownOption,
			IPv6Ext{HopByHop: true, Report: true, ProblemCode: ICMPv6UnrecognizedOption, ProblemPointer: 42}},
		{"option 11 multicast", pkt6(mcast, ProtocolHopByHop, opts(ProtocolUDP, 0xde, 0), udp), ErrUnknownOption,
			IPv6Ext{HopByHop: true}},
		{"router alert in destopts", pkt6(ip6B, ProtocolDestOpts, opts(ProtocolUDP, 5, 2, 0, 0), udp), nil,
			IPv6Ext{Proto: 17, Offset: 48, NextHeaderOffset: 40}},
		{"router alert bad length", pkt6(ip6B, ProtocolHopByHop, opts(ProtocolUDP, 5, 1, 0), udp), ErrBadOption,
			IPv6Ext{HopByHop: true}},
		{"jumbo", pkt6(ip6B, ProtocolHopByHop, opts(ProtocolUDP, 0, 0, 0xc2, 4, 0, 1, 0, 0), udp), ErrJumbogram,
			IPv6Ext{HopByHop: true, Report: true, ProblemCode: ICMPv6ErroneousHeader, ProblemPointer: 44}},
		{"option past end", pkt6(ip6B, ProtocolDestOpts, []byte{17, 0, 1, 2, 0, 0, 0x1e, 9}, udp), ErrBadOption, IPv6Ext{}},
		{"PadN of 6", pkt6(ip6B, ProtocolDestOpts, []byte{17, 0, 1, 6, 0, 0, 0, 0, 0, 0}[:8], udp), ErrBadOption, IPv6Ext{}},
		{"PadN too long", pkt6(ip6B, ProtocolDestOpts, append([]byte{17, 1, 1, 12}, make([]byte, 12)...), udp),
			ErrBadExtHeader, IPv6Ext{}},
		{"header past end", pkt6(ip6B, ProtocolDestOpts, []byte{17, 1, 1, 4, 0, 0, 0, 0}), ErrTruncated, IPv6Ext{}},
		{"header cut", pkt6(ip6B, ProtocolDestOpts, []byte{17, 0, 1, 4}), ErrTruncated, IPv6Ext{}},
		{"first fragment cut", pkt6(ip6B, ProtocolFragment, fragHdr(ProtocolDestOpts, 0, true, 1), []byte{17, 0}),
			ErrIncompleteChain, IPv6Ext{Frag: true, FragMore: true, FragID: 1, FragHdrOffset: 40, FragPrevNextHeader: 6,
				Report: true, ProblemCode: ICMPv6IncompleteChain}},
		{"first fragment no upper layer", pkt6(ip6B, ProtocolFragment, fragHdr(ProtocolTCP, 0, true, 1)), ErrIncompleteChain,
			IPv6Ext{Proto: 6, Offset: 48, NextHeaderOffset: 40, Frag: true, FragMore: true, FragID: 1, FragHdrOffset: 40,
				FragPrevNextHeader: 6, Report: true, ProblemCode: ICMPv6IncompleteChain}},
		// As Linux: the whole TCP, UDP or ICMPv6 header must be there.
		{"first fragment half a TCP header", pkt6(ip6B, ProtocolFragment, fragHdr(ProtocolTCP, 0, true, 1), make([]byte, 16)),
			ErrIncompleteChain, IPv6Ext{Proto: 6, Offset: 48, NextHeaderOffset: 40, Frag: true, FragMore: true, FragID: 1,
				FragHdrOffset: 40, FragPrevNextHeader: 6, Report: true, ProblemCode: ICMPv6IncompleteChain}},
		{"first fragment whole TCP header", pkt6(ip6B, ProtocolFragment, fragHdr(ProtocolTCP, 0, true, 1), make([]byte, 24)),
			nil, IPv6Ext{Proto: 6, Offset: 48, NextHeaderOffset: 40, Frag: true, FragMore: true, FragID: 1,
				FragHdrOffset: 40, FragPrevNextHeader: 6}},
		{"first fragment UDP header", pkt6(ip6B, ProtocolFragment, fragHdr(ProtocolUDP, 0, true, 1), make([]byte, 8)),
			nil, IPv6Ext{Proto: 17, Offset: 48, NextHeaderOffset: 40, Frag: true, FragMore: true, FragID: 1,
				FragHdrOffset: 40, FragPrevNextHeader: 6}},
		{"first fragment other protocol", pkt6(ip6B, ProtocolFragment, fragHdr(132, 0, true, 1), make([]byte, 1)),
			nil, IPv6Ext{Proto: 132, Offset: 48, NextHeaderOffset: 40, Frag: true, FragMore: true, FragID: 1,
				FragHdrOffset: 40, FragPrevNextHeader: 6}},
		{"no next header", pkt6(ip6B, ProtocolDestOpts, opts(ProtocolNoNext)), nil,
			IPv6Ext{Proto: ProtocolNoNext, Offset: 48, NextHeaderOffset: 40}},
		{"ESP", pkt6(ip6B, ProtocolDestOpts, opts(ProtocolESP), udp), nil, IPv6Ext{Proto: ProtocolESP, Offset: 48, NextHeaderOffset: 40}},
		{"two fragment headers", pkt6(ip6B, ProtocolFragment, fragHdr(ProtocolFragment, 0, true, 1), fragHdr(17, 0, true, 1), udp),
			ErrBadExtHeader, IPv6Ext{Frag: true, FragMore: true, FragID: 1, FragHdrOffset: 40, FragPrevNextHeader: 6}},
		{"8 headers", chain(8), nil, IPv6Ext{Proto: 17, Offset: 40 + 64, NextHeaderOffset: 40 + 56}},
		{"9 headers", chain(9), ErrExtChainTooLong, IPv6Ext{}},
	} {
		var ext IPv6Ext
		ext.Proto = 99 // ParseIPv6Ext resets the struct
		err := ParseIPv6Ext(c.ip, &ext)
		if !errors.Is(err, c.err) || ext != c.want {
			t.Errorf("%s: %v %+v, want %v %+v", c.name, err, ext, c.err, c.want)
		}
	}
}

func TestPseudoHeaderChecksum6(t *testing.T) {
	// Unfolded reference: 16-bit words of the pseudo-header summed.
	var b []byte
	b = append(b, ip6A[:]...)
	b = append(b, ip6B[:]...)
	b = append(b, 0, 1, 0x23, 0x45, 0, 0, 0, ProtocolTCP)
	if got, want := PseudoHeaderChecksum6(ProtocolTCP, ip6A, ip6B, 0x12345), checksumReference(b, 0); got != want {
		t.Errorf("PseudoHeaderChecksum6 %#x, want %#x", got, want)
	}
}
