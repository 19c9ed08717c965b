package header

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 section 3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2.
	b := mustHex("0001f203f4f5f6f7")
	if got := Checksum(b, 0); got != 0xddf2 {
		t.Fatalf("Checksum = %#04x, want 0xddf2", got)
	}
	if got := checksumReference(b, 0); got != 0xddf2 {
		t.Fatalf("reference = %#04x, want 0xddf2", got)
	}
}

func TestChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for n := 0; n <= 300; n++ {
		for _, off := range []int{0, 1, 3} {
			b := buf[off : off+n]
			for _, init := range []uint16{0, 1, 0xffff, 0x8000} {
				if got, want := Checksum(b, init), checksumReference(b, init); got != want {
					t.Fatalf("len %d off %d init %#x: %#04x, reference %#04x", n, off, init, got, want)
				}
			}
		}
	}
	// All-ones data exercises every carry.
	ones := bytes.Repeat([]byte{0xff}, 1500)
	if got, want := Checksum(ones, 0xffff), checksumReference(ones, 0xffff); got != want {
		t.Fatalf("all ones: %#04x, reference %#04x", got, want)
	}
}

func TestChecksumCombine(t *testing.T) {
	b := mustHex("4500003c1c4640004006b1e6ac100a63ac100a0c")
	whole := Checksum(b, 0)
	if got := ChecksumCombine(Checksum(b[:8], 0), Checksum(b[8:], 0)); got != whole {
		t.Fatalf("combine %#04x, whole %#04x", got, whole)
	}
}

func TestChecksumUpdate(t *testing.T) {
	// Update an IPv4 header's TTL and addresses incrementally; the result
	// must verify and match a full recomputation.
	ip := IPv4(mustHex("4500003c1c4640004006b1e6ac100a63ac100a0c"))
	if !ip.ChecksumValid() {
		t.Fatal("golden header does not verify")
	}
	ip.DecTTL()
	if !ip.ChecksumValid() || ip.TTL() != 0x3f || ip.Checksum() != ip.CalculateChecksum() {
		t.Fatalf("after DecTTL: ttl %d check %#04x want %#04x", ip.TTL(), ip.Checksum(), ip.CalculateChecksum())
	}
	ip.RewriteSrc([4]byte{198, 18, 0, 1})
	ip.RewriteDst([4]byte{198, 18, 255, 254})
	if !ip.ChecksumValid() || ip.Checksum() != ip.CalculateChecksum() {
		t.Fatalf("after rewrite: %#04x want %#04x", ip.Checksum(), ip.CalculateChecksum())
	}
}

func TestRewriteTransport(t *testing.T) {
	frames := linuxFrames(t)
	newAddr := [4]byte{198, 18, 7, 9}
	for _, name := range []string{"tcp-syn", "tcp-psh-data", "udp-dns-5-bytes", "tcp-rst-ack"} {
		t.Run(name, func(t *testing.T) {
			b := append([]byte(nil), frames[name]...)
			_, ip := parseIPv4Frame(t, b)
			ip.RewriteSrc(newAddr)
			ip.RewriteDst(ipA)
			if !ip.RewriteSrcPort(40000) || !ip.RewriteDstPort(443) {
				t.Fatal("port rewrite refused")
			}
			if !ip.ChecksumValid() {
				t.Fatal("IP checksum broken")
			}
			p := ip.Payload()
			switch ip.Protocol() {
			case ProtocolTCP:
				tc, _ := ParseTCP(p)
				if tc.SrcPort() != 40000 || tc.DstPort() != 443 || !tc.ChecksumValid(newAddr, ipA) {
					t.Fatalf("tcp %d>%d checksum %#04x want %#04x", tc.SrcPort(), tc.DstPort(), tc.Checksum(), tc.CalculateChecksum(newAddr, ipA))
				}
			case ProtocolUDP:
				u, _ := ParseUDP(p)
				if u.SrcPort() != 40000 || u.DstPort() != 443 || !u.ChecksumValid(newAddr, ipA) || u.Checksum() == 0 {
					t.Fatalf("udp %d>%d checksum %#04x", u.SrcPort(), u.DstPort(), u.Checksum())
				}
			}
		})
	}
	// A UDP datagram without checksum keeps none.
	b := append([]byte(nil), frames["udp-dns-5-bytes"]...)
	_, ip := parseIPv4Frame(t, b)
	UDP(ip.Payload()).SetChecksum(0)
	ip.RewriteDst(newAddr)
	ip.RewriteDstPort(1)
	if UDP(ip.Payload()).Checksum() != 0 {
		t.Fatal("zero UDP checksum was filled in")
	}
	// A later fragment has no transport header: ports are not touched.
	b = append([]byte(nil), frames["ipv4-fragment-last"]...)
	_, ip = parseIPv4Frame(t, b)
	ip.SetProtocol(ProtocolUDP)
	ip.UpdateChecksum()
	before := append([]byte(nil), ip.Payload()...)
	if ip.RewriteSrcPort(9) {
		t.Fatal("port rewrite on a later fragment")
	}
	ip.RewriteSrc(newAddr)
	if !bytes.Equal(before, ip.Payload()) || !ip.ChecksumValid() {
		t.Fatal("later fragment payload changed or header broken")
	}
}

func TestUDPZeroChecksumRule(t *testing.T) {
	// Search for a payload whose checksum computes to zero: it must be
	// sent as 0xffff, and 0xffff must verify.
	u := UDP(make([]byte, 10))
	(&UDPFields{SrcPort: 1, DstPort: 2, Length: 10}).Put(u)
	for i := 0; i < 1<<16; i++ {
		u[8], u[9] = byte(i>>8), byte(i)
		s := Checksum(u, PseudoHeaderChecksum(ProtocolUDP, ipA, ipB, 10))
		if s == 0xffff { // complement would be 0
			u.UpdateChecksum(ipA, ipB)
			if u.Checksum() != 0xffff || !u.ChecksumValid(ipA, ipB) {
				t.Fatalf("checksum %#04x for a zero sum", u.Checksum())
			}
			return
		}
	}
	t.Fatal("no payload with a zero checksum found")
}

func TestParseErrors(t *testing.T) {
	good := frame(t, "tcp-syn")[14:]
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		IPv4(b).UpdateChecksum()
		return b
	}
	ipCases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"19 bytes", good[:19], ErrTruncated},
		{"version 6", mod(func(b []byte) { b[0] = 0x65 }), ErrBadVersion},
		{"IHL 4", mod(func(b []byte) { b[0] = 0x44 }), ErrBadIHL},
		{"IHL 15 short", mod(func(b []byte) { b[0] = 0x4f })[:40], ErrTruncated},
		{"bad checksum", func() []byte { b := append([]byte(nil), good...); b[10] ^= 1; return b }(), ErrBadChecksum},
		{"total length 19", mod(func(b []byte) { b[2], b[3] = 0, 19 }), ErrBadTotalLength},
		{"total length past end", mod(func(b []byte) { b[2], b[3] = 0, 61 }), ErrTruncated},
	}
	for _, tc := range ipCases {
		if _, err := ParseIPv4(tc.b); err != tc.want {
			t.Errorf("ParseIPv4 %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Padding after the total length is trimmed.
	ip, err := ParseIPv4(append(append([]byte(nil), good...), 0, 0, 0, 0))
	if err != nil || len(ip) != len(good) {
		t.Fatalf("padded: %v len %d", err, len(ip))
	}
	// Quoted headers may be cut short and carry any checksum.
	q, err := ParseIPv4Quoted(func() []byte { b := append([]byte(nil), good[:28]...); b[10] ^= 1; return b }())
	if err != nil || len(q.Payload()) != 8 {
		t.Fatalf("quoted: %v", err)
	}

	tcpHdr := good[20:]
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"19 bytes", tcpHdr[:19], ErrTruncated},
		{"offset 4", func() []byte { b := append([]byte(nil), tcpHdr...); b[12] = 0x40; return b }(), ErrBadDataOffset},
		{"offset past end", tcpHdr[:39], ErrTruncated},
	} {
		if _, err := ParseTCP(tc.b); err != tc.want {
			t.Errorf("ParseTCP %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"7 bytes", make([]byte, 7), ErrTruncated},
		{"length 7", mustHex("0001000200070000"), ErrBadLength},
		{"length past end", mustHex("0001000200100000"), ErrTruncated},
	} {
		if _, err := ParseUDP(tc.b); err != tc.want {
			t.Errorf("ParseUDP %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := ParseICMPv4(make([]byte, 7)); err != ErrTruncated {
		t.Errorf("ParseICMPv4 short: %v", err)
	}
	if _, err := ParseICMPv4(mustHex("0800000000000000")); err != ErrBadChecksum {
		t.Errorf("ParseICMPv4 bad checksum: %v", err)
	}
	arp := frame(t, "arp-request")[14:]
	if _, err := ParseARP(arp[:27]); err != ErrTruncated {
		t.Errorf("ParseARP short: %v", err)
	}
	for i, v := range map[int]byte{1: 6, 3: 0xdd, 4: 8, 5: 16} {
		b := append([]byte(nil), arp...)
		b[i] = v
		if _, err := ParseARP(b); err != ErrUnsupportedARP {
			t.Errorf("ParseARP byte %d = %d: %v", i, v, err)
		}
	}
	if _, err := ParseEthernet(make([]byte, 13)); err != ErrTruncated {
		t.Errorf("ParseEthernet short: %v", err)
	}
}

func TestTCPOptionsParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts string
		want TCPOptions
		err  error
	}{
		{"empty", "", TCPOptions{}, nil},
		{"eol stops", "00020405b4", TCPOptions{}, nil},
		{"nops then mss", "01010204ffff", TCPOptions{MSS: 0xffff, HasMSS: true}, nil},
		{"unknown skipped", "1e0600000000020405b4", TCPOptions{MSS: 1460, HasMSS: true}, nil},
		{"mss wrong length ignored", "020500000001", TCPOptions{}, nil},
		{"sack 2 blocks", "0101051200000001000000020000000300000004",
			TCPOptions{NumSACK: 2, SACK: [4]SACKBlock{{1, 2}, {3, 4}}}, nil},
		{"sack 3 bytes ignored", "05030001", TCPOptions{}, nil},
		{"sack 5 blocks ignored", "052a" + "0000000000000000000000000000000000000000000000000000000000000000000000000000000000", TCPOptions{}, nil},
		{"length 1", "0201", TCPOptions{}, ErrBadOption},
		{"length past end", "0204ff", TCPOptions{}, ErrBadOption},
		{"kind without length", "01010103", TCPOptions{}, ErrBadOption},
		{"good then bad", "020405b40308", TCPOptions{MSS: 1460, HasMSS: true}, ErrBadOption},
		{"duplicate mss", "020405b4020405dc", TCPOptions{MSS: 1500, HasMSS: true}, nil},
		{"ts and ws", "080a000000010000000201030303", TCPOptions{TSVal: 1, TSEcr: 2, HasTimestamp: true, WindowScale: 3, HasWScale: true}, nil},
	} {
		var o TCPOptions
		o.MSS = 99 // Parse must reset
		err := o.Parse(mustHex(tc.opts))
		if err != tc.err || o != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tc.name, o, err, tc.want, tc.err)
		}
	}
}

func TestTCPOptionsPut(t *testing.T) {
	o := TCPOptions{MSS: 1460, HasMSS: true, SACKPermitted: true, TSVal: 1, TSEcr: 2, HasTimestamp: true,
		WindowScale: 7, HasWScale: true}
	b := make([]byte, o.Len())
	n, err := o.Put(b)
	// Linux's SYN layout.
	if want := mustHex("020405b40402080a0000000100000002" + "01030307"); err != nil || !bytes.Equal(b[:n], want) {
		t.Fatalf("Put = %x, %v; want %x", b[:n], err, want)
	}
	o = TCPOptions{HasTimestamp: true, NumSACK: 4}
	if o.Len() <= TCPMaxOptions {
		t.Fatalf("timestamps and 4 SACK blocks reported as fitting (%d)", o.Len())
	}
	if _, err := o.Put(make([]byte, 64)); err != ErrOptionsTooLong {
		t.Fatalf("oversized options: %v", err)
	}
	o = TCPOptions{HasTimestamp: true, NumSACK: 3, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}}}
	b = make([]byte, o.Len())
	if _, err := o.Put(b[:len(b)-1]); err != ErrBufferTooSmall {
		t.Fatalf("short buffer: %v", err)
	}
	if _, err := o.Put(b); err != nil {
		t.Fatal(err)
	}
	var p TCPOptions
	if err := p.Parse(b); err != nil || p != o {
		t.Fatalf("round trip %+v %v", p, err)
	}
}

func TestPutShortBuffers(t *testing.T) {
	ipf := IPv4Fields{Src: addrA, Dst: addrB, Options: make([]byte, 5)}
	if ipf.Len() != 28 {
		t.Fatalf("Len %d", ipf.Len())
	}
	if _, err := ipf.Put(make([]byte, 27)); err != ErrBufferTooSmall {
		t.Fatalf("IPv4: %v", err)
	}
	if _, err := (&IPv4Fields{Src: addrA, Dst: addrB, Options: make([]byte, 41)}).Put(make([]byte, 64)); err != ErrOptionsTooLong {
		t.Fatalf("IPv4 options: %v", err)
	}
	if _, err := (&IPv4Fields{Src: addrA}).Put(make([]byte, 64)); err != ErrBadAddress {
		t.Fatalf("IPv4 zero Dst: %v", err)
	}
	if _, err := (&UDPFields{}).Put(make([]byte, 7)); err != ErrBufferTooSmall {
		t.Fatalf("UDP: %v", err)
	}
	if _, err := (&ARPFields{}).Put(make([]byte, 27)); err != ErrBufferTooSmall {
		t.Fatalf("ARP: %v", err)
	}
	if _, err := (&ICMPv4Fields{Payload: []byte{1}}).Put(make([]byte, 8)); err != ErrBufferTooSmall {
		t.Fatalf("ICMP: %v", err)
	}
	if _, err := (&EthernetFields{NumTags: 1}).Put(make([]byte, 17)); err != ErrBufferTooSmall {
		t.Fatalf("Ethernet: %v", err)
	}
	if _, err := (&EthernetFields{NumTags: 3}).Put(make([]byte, 64)); err != ErrTooManyVLANTags {
		t.Fatalf("Ethernet 3 tags: %v", err)
	}
	if _, err := (&TCPFields{}).Put(make([]byte, 19)); err != ErrBufferTooSmall {
		t.Fatalf("TCP: %v", err)
	}
}
