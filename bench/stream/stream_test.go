package stream

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/header"
)

var (
	macA = header.MAC{0x02, 0, 0, 0, 0, 1}
	macB = header.MAC{0x02, 0, 0, 0, 0, 2}
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func baseSpec(k Kind) Spec {
	return Spec{
		ID: 7, Kind: k, SrcMAC: macA, DstMAC: macB,
		Src:     AddrRange{First: addr("198.18.0.1")},
		Dst:     AddrRange{First: addr("198.19.0.1")},
		SrcPort: PortRange{First: 1024}, DstPort: PortRange{First: 9},
	}
}

func mustNew(t testing.TB, sp Spec) *Stream {
	t.Helper()
	s, err := New(sp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGeneratedFrames checks every kind's first frame field by field.
func TestGeneratedFrames(t *testing.T) {
	for _, k := range []Kind{UDP, TCPSYN, TCPACK, ICMPEcho} {
		t.Run(k.String(), func(t *testing.T) {
			sp := baseSpec(k)
			sp.Size = Fixed(128)
			s := mustNew(t, sp)
			buf := make([]byte, s.MaxLen())
			n := s.Next(buf, 12345)
			if n != 124 {
				t.Fatalf("length %d, want 124", n)
			}
			b := buf[:n]
			if err := checkChecksums(b); err != nil {
				t.Fatal(err)
			}
			e, err := header.ParseEthernet(b)
			if err != nil || e.Dst() != macB || e.Src() != macA || e.NumTags() != 0 {
				t.Fatalf("Ethernet %x: %v", b[:14], err)
			}
			ip, err := header.ParseIPv4(e.Payload())
			if err != nil {
				t.Fatal(err)
			}
			if ip.Src() != addr("198.18.0.1") || ip.Dst() != addr("198.19.0.1") || ip.TTL() != 64 || ip.TotalLength() != 110 {
				t.Fatalf("IPv4 %v > %v ttl %d len %d", ip.Src(), ip.Dst(), ip.TTL(), ip.TotalLength())
			}
			seg := ip.Payload()
			switch k {
			case UDP:
				u, _ := header.ParseUDP(seg)
				if u.SrcPort() != 1024 || u.DstPort() != 9 || u.Length() != 90 {
					t.Fatalf("UDP %d > %d len %d", u.SrcPort(), u.DstPort(), u.Length())
				}
			case TCPSYN, TCPACK:
				tc, _ := header.ParseTCP(seg)
				want := uint8(header.TCPFlagSYN)
				if k == TCPACK {
					want = header.TCPFlagACK
				}
				if tc.Flags() != want || tc.SrcPort() != 1024 || tc.DstPort() != 9 {
					t.Fatalf("TCP flags %#x ports %d > %d", tc.Flags(), tc.SrcPort(), tc.DstPort())
				}
			case ICMPEcho:
				m, err := header.ParseICMPv4(seg)
				if err != nil || m.Type() != header.ICMPv4Echo || m.Ident() != 7 || m.Seq() != 0 {
					t.Fatalf("ICMP %x: %v", seg[:8], err)
				}
			}
			ff := readFields(b)
			if !ff.signed || ff.sig.Stream != 7 || ff.sig.Seq != 0 || ff.sig.TxNs != 12345 {
				t.Fatalf("signature %+v (found %v)", ff.sig, ff.signed)
			}
		})
	}
}

// randomSpec makes a spec with every kind of variation, from r.
func randomSpec(r *rand.Rand) Spec {
	k := Kind(r.IntN(4))
	sp := baseSpec(k)
	sp.ID = uint16(r.Uint32())
	sp.Seed = r.Uint64()
	sp.TTL = uint8(r.Uint32())
	sp.TOS = uint8(r.Uint32())
	mode := func() Mode { return Mode(r.IntN(2)) }
	a := r.Uint32()
	b := a + uint32(r.IntN(1000))
	if r.IntN(8) == 0 {
		a, b = 0, 0xffffffff // the whole space
	}
	sp.Src = AddrRange{First: u32addr(a), Last: u32addr(max(a, b)), Mode: mode()}
	c := r.Uint32()
	sp.Dst = AddrRange{First: u32addr(c), Last: u32addr(c + uint32(r.IntN(3))), Mode: mode()}
	p := uint16(r.Uint32())
	sp.SrcPort = PortRange{First: p, Last: p + uint16(r.IntN(int(^p)+1)), Mode: mode()}
	sp.DstPort = PortRange{First: uint16(r.Uint32()), Mode: mode()}
	if r.IntN(3) == 0 {
		v := uint16(1 + r.IntN(4000))
		sp.VLAN = VLANRange{First: v, Last: v + uint16(r.IntN(94)), Mode: mode(), PCP: uint8(r.IntN(8))}
	}
	switch r.IntN(4) {
	case 0:
		sp.Size = Fixed(64 + r.IntN(1455))
	case 1:
		lo := 64 + r.IntN(1000)
		sp.Size = SizeRange(lo, lo+r.IntN(2000), mode())
	case 2:
		sp.Size = IMIX()
	}
	return sp
}

func u32addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func a32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// checkStream generates n frames of sp and checks each against a full
// recomputation of its checksums and against the spec's ranges.
func checkStream(t *testing.T, sp Spec, n int) {
	t.Helper()
	s, err := New(sp)
	if errors.Is(err, ErrNoRoom) || errors.Is(err, ErrBadSize) {
		return
	}
	if err != nil {
		t.Fatalf("%+v: %v", sp, err)
	}
	buf := make([]byte, s.MaxLen())
	for i := range n {
		want := s.NextSize()
		now := int64(i)*1000 + 1
		m := s.Next(buf, now)
		if m != want-FCSLen {
			t.Fatalf("frame %d: length %d, NextSize said %d", i, m, want)
		}
		b := buf[:m]
		if err := checkChecksums(b); err != nil {
			t.Fatalf("spec %+v frame %d: %v\n%x", sp, i, err, b)
		}
		f := readFields(b)
		if f.size < sp.Size.Min() || f.size > sp.Size.Max() {
			t.Fatalf("frame %d: size %d outside %s", i, f.size, sp.Size)
		}
		if f.src < a32(sp.Src.First) || f.src > a32(sp.Src.Last) || f.dst < a32(sp.Dst.First) || f.dst > a32(sp.Dst.Last) {
			t.Fatalf("frame %d: addresses %#x %#x outside %v %v", i, f.src, f.dst, sp.Src, sp.Dst)
		}
		if sp.Kind == UDP || sp.Kind == TCPSYN || sp.Kind == TCPACK {
			if f.sport < sp.SrcPort.First || f.sport > max(sp.SrcPort.First, sp.SrcPort.Last) {
				t.Fatalf("frame %d: source port %d outside %v", i, f.sport, sp.SrcPort)
			}
		}
		if sp.VLAN.First != 0 && (f.vlan < sp.VLAN.First || f.vlan > sp.VLAN.Last) {
			t.Fatalf("frame %d: VLAN %d outside %v", i, f.vlan, sp.VLAN)
		}
		if f.signed != s.Signed() {
			t.Fatalf("frame %d: signature found %v, stream signed %v", i, f.signed, s.Signed())
		}
		if f.signed && (f.sig.Stream != sp.ID || f.sig.Seq != uint32(i) || f.sig.TxNs != now) {
			t.Fatalf("frame %d: signature %+v", i, f.sig)
		}
	}
}

// TestIncrementalChecksums is the property test: random specs, every
// variation at once, each frame's checksums equal to a full recomputation.
func TestIncrementalChecksums(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	specs, frames := 400, 500
	if testing.Short() {
		specs = 50
	}
	for range specs {
		checkStream(t, randomSpec(r), frames)
	}
}

// TestChecksumEdges drives the checksums through 0x0000 and 0xffff: the
// whole source address space at random over many packets hits every
// checksum value, the zero-sum cases of RFC 1624 included.
func TestChecksumEdges(t *testing.T) {
	for _, k := range []Kind{UDP, TCPSYN, ICMPEcho} {
		sp := baseSpec(k)
		sp.Src = AddrRange{First: addr("0.0.0.0"), Last: addr("255.255.255.255"), Mode: Random}
		sp.SrcPort = PortRange{First: 0, Last: 65535, Mode: Random}
		s := mustNew(t, sp)
		buf := make([]byte, s.MaxLen())
		seen := map[uint16]bool{}
		n := 300000
		if testing.Short() {
			n = 30000
		}
		for i := range n {
			m := s.Next(buf, int64(i))
			if err := checkChecksums(buf[:m]); err != nil {
				t.Fatalf("%s frame %d: %v", k, i, err)
			}
			l4 := buf[14+20:]
			off := 6
			switch k {
			case TCPSYN:
				off = 16
			case ICMPEcho:
				off = 2
			}
			c := uint16(l4[off])<<8 | uint16(l4[off+1])
			if c == 0 || c == 0xffff {
				seen[c] = true
			}
		}
		// A sum of 0xffff is stored as 0x0000 (TCP, ICMP) and, from
		// UDP's computed zero, as 0xffff: RFC 1624's corner.
		want := uint16(0)
		if k == UDP {
			want = 0xffff
		}
		if !seen[want] && !testing.Short() {
			t.Errorf("%s: checksum %#04x never generated in %d frames", k, want, n)
		}
	}
}

func TestIncrementingRanges(t *testing.T) {
	sp := baseSpec(UDP)
	sp.Src = AddrRange{First: addr("198.18.0.1"), Last: addr("198.18.0.3")}
	sp.SrcPort = PortRange{First: 1000, Last: 1001}
	sp.VLAN = VLANRange{First: 10, Last: 13}
	sp.Size = SizeRange(100, 102, Inc)
	s := mustNew(t, sp)
	buf := make([]byte, s.MaxLen())
	for i := range 24 {
		s.Next(buf, 0)
		f := readFields(buf[:s.sizeOf(buf)])
		if f.src != a32(sp.Src.First)+uint32(i%3) || f.sport != 1000+uint16(i%2) || f.vlan != 10+uint16(i%4) {
			t.Fatalf("frame %d: %+v", i, f)
		}
	}
	s.Reset()
	if s.Count() != 0 || s.NextSize() != 100 {
		t.Fatalf("after Reset: count %d, next size %d", s.Count(), s.NextSize())
	}
}

// sizeOf returns the length of the frame just written into buf.
func (s *Stream) sizeOf(buf []byte) int {
	ip := header.IPv4(buf[header.EthernetHeaderLen+4:])
	return int(ip.TotalLength()) + header.EthernetHeaderLen + 4
}

func TestRandomIsSeeded(t *testing.T) {
	sp := baseSpec(UDP)
	sp.Src = AddrRange{First: addr("10.0.0.0"), Last: addr("10.255.255.255"), Mode: Random}
	sp.Size = SizeRange(64, 1518, Random)
	sp.Seed = 42
	a, b := mustNew(t, sp), mustNew(t, sp)
	ba, bb := make([]byte, a.MaxLen()), make([]byte, b.MaxLen())
	for i := range 100 {
		na, nb := a.Next(ba, 1), b.Next(bb, 1)
		if !bytes.Equal(ba[:na], bb[:nb]) {
			t.Fatalf("frame %d differs with the same seed", i)
		}
	}
	sp.Seed = 43
	c := mustNew(t, sp)
	nc := c.Next(bb, 1)
	a.Reset()
	na := a.Next(ba, 1)
	if bytes.Equal(ba[:na], bb[:nc]) {
		t.Fatal("seeds 42 and 43 gave the same first frame")
	}
}

func TestIMIX(t *testing.T) {
	sp := baseSpec(UDP)
	sp.Size = IMIX()
	s := mustNew(t, sp)
	buf := make([]byte, s.MaxLen())
	count := map[int]int{}
	for range 1200 {
		count[s.Next(buf, 0)+FCSLen]++
	}
	if count[64] != 700 || count[594] != 400 || count[1518] != 100 {
		t.Fatalf("IMIX sizes %v, want 700/400/100 of 64/594/1518", count)
	}
	if m := IMIX().Mean(); m < 361.8 || m > 361.9 {
		t.Fatalf("IMIX mean %v", m)
	}
}

func TestSpecErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Spec)
		want error
	}{
		{"no source", func(s *Spec) { s.Src = AddrRange{} }, ErrBadAddress},
		{"IPv6", func(s *Spec) { s.Dst = AddrRange{First: addr("2001:2::1")} }, ErrBadAddress},
		{"reversed", func(s *Spec) { s.Src.Last = addr("198.17.0.1") }, ErrBadRange},
		{"ports reversed", func(s *Spec) { s.SrcPort = PortRange{First: 10, Last: 5} }, ErrBadRange},
		{"vlan 4095", func(s *Spec) { s.VLAN = VLANRange{First: 4095} }, ErrBadRange},
		{"small", func(s *Spec) { s.Size = Fixed(60) }, ErrBadSize},
		{"big", func(s *Spec) { s.Size = Fixed(9019) }, ErrBadSize},
		{"signed TCP at 64", func(s *Spec) { s.Kind, s.Sign = TCPSYN, SignOn }, ErrNoRoom},
		{"signed VLAN at 64", func(s *Spec) { s.VLAN, s.Sign = VLANRange{First: 5}, SignOn }, ErrNoRoom},
		{"kind", func(s *Spec) { s.Kind = 9 }, ErrBadKind},
		{"replay", func(s *Spec) { s.Kind = Replay }, ErrNoFrames},
	}
	for _, c := range cases {
		sp := baseSpec(UDP)
		c.edit(&sp)
		if _, err := New(sp); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// Auto leaves unsigned what has no room; a tagged 68-byte frame has.
	sp := baseSpec(TCPSYN)
	if s := mustNew(t, sp); s.Signed() {
		t.Error("64-byte TCP SYN signed")
	}
	sp = baseSpec(UDP)
	sp.VLAN, sp.Size = VLANRange{First: 5}, Fixed(68)
	if s := mustNew(t, sp); !s.Signed() {
		t.Error("68-byte tagged UDP not signed")
	}
}

func TestParseSizes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Sizes
	}{
		{"64", Fixed(64)}, {"64-1518", SizeRange(64, 1518, Random)},
		{"64-128:inc", SizeRange(64, 128, Inc)}, {"imix", IMIX()},
	} {
		got, err := ParseSizes(c.in)
		if err != nil || got != c.want || got.String() != c.in {
			t.Errorf("ParseSizes(%q) = %v (%s), %v", c.in, got, got, err)
		}
	}
	for _, bad := range []string{"", "x", "64-", "-5"} {
		if _, err := ParseSizes(bad); !errors.Is(err, ErrBadSize) {
			t.Errorf("ParseSizes(%q): %v", bad, err)
		}
	}
	for _, k := range []Kind{UDP, TCPSYN, TCPACK, ICMPEcho, Replay} {
		if got, err := ParseKind(k.String()); got != k || err != nil {
			t.Errorf("ParseKind(%q) = %v, %v", k, got, err)
		}
	}
}

func TestShortBuffer(t *testing.T) {
	s := mustNew(t, baseSpec(UDP))
	if n := s.Next(make([]byte, 59), 0); n != 0 || s.Count() != 0 {
		t.Fatalf("Next into 59 bytes: %d, count %d", n, s.Count())
	}
}

// FuzzNext builds a stream from fuzzed choices and checks its frames
// against a full recomputation of the checksums.
func FuzzNext(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(0), uint64(0))
	f.Add(uint64(0xdeadbeef), uint64(77))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		r := rand.New(rand.NewPCG(a, b))
		checkStream(t, randomSpec(r), 64)
	})
}
