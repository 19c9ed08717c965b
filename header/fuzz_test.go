package header

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// Fuzz invariants: no parser or accessor panics on any input; for input a
// parser accepts, emitting the parsed fields and parsing again gives the
// same fields.

func addGolden(f *testing.F, layer func([]byte) []byte) {
	for _, b := range linuxFrames(f) {
		if p := layer(b); p != nil {
			f.Add(p)
		}
	}
}

func ipPayload(b []byte) []byte {
	if len(b) < 34 || b[12] != 8 || b[13] != 0 {
		return nil
	}
	ip := IPv4(b[14:])
	return ip[ip.HeaderLen():ip.TotalLength()]
}

func FuzzEthernet(f *testing.F) {
	addGolden(f, func(b []byte) []byte { return b })
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEthernet(b)
		if err != nil {
			return
		}
		_, _, _, _, _ = e.Dst(), e.Src(), e.Type(), e.VLANID(), e.Payload()
		for i := -1; i < 3; i++ {
			e.Tag(i)
		}
		var ef, back EthernetFields
		if err := ef.Parse(b); err != nil {
			t.Fatal(err)
		}
		out := make([]byte, ef.Len())
		if _, err := ef.Put(out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, b[:e.HeaderLen()]) {
			t.Fatalf("Put %x, parsed from %x", out, b[:e.HeaderLen()])
		}
		if err := back.Parse(out); err != nil || back != ef {
			t.Fatalf("round trip %+v %v, want %+v", back, err, ef)
		}
	})
}

func FuzzIPv4(f *testing.F) {
	addGolden(f, func(b []byte) []byte { return b[14:] })
	f.Fuzz(func(t *testing.T, b []byte) {
		if q, err := ParseIPv4Quoted(b); err == nil {
			_, _, _ = q.Payload(), q.Options(), q.IsFragment()
		}
		ip, err := ParseIPv4(b)
		if err != nil {
			return
		}
		_, _, _, _ = ip.Src(), ip.Dst(), ip.FragmentOffset(), ip.PseudoHeaderChecksum()
		var fl, back IPv4Fields
		if err := fl.Parse(b); err != nil {
			t.Fatal(err)
		}
		out := make([]byte, fl.TotalLength)
		n, err := fl.Put(out)
		if err != nil {
			t.Fatal(err)
		}
		copy(out[n:], ip.Payload())
		if err := back.Parse(out); err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if !bytes.Equal(back.Options, fl.Options) {
			t.Fatalf("options %x, want %x", back.Options, fl.Options)
		}
		back.Options, fl.Options = nil, nil
		back.Checksum, fl.Checksum = 0, 0 // 0 and 0xffff both verify
		if !equalIPv4Fields(back, fl) {
			t.Fatalf("round trip %+v, want %+v", back, fl)
		}
		// Setters and rewrites on a copy keep the header valid.
		c := IPv4(append([]byte(nil), ip...))
		c.DecTTL()
		c.RewriteSrc([4]byte{198, 18, 1, 2})
		c.RewriteDstPort(7)
		if !c.ChecksumValid() {
			t.Fatal("header checksum broken by DecTTL/Rewrite")
		}
	})
}

func FuzzARP(f *testing.F) {
	addGolden(f, func(b []byte) []byte { return b[14:] })
	f.Fuzz(func(t *testing.T, b []byte) {
		var a, back ARPFields
		if err := a.Parse(b); err != nil {
			return
		}
		out := make([]byte, a.Len())
		if _, err := a.Put(out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, b[:ARPLen]) {
			t.Fatalf("Put %x from %x", out, b[:ARPLen])
		}
		if err := back.Parse(out); err != nil || back != a {
			t.Fatalf("round trip %+v %v", back, err)
		}
	})
}

func FuzzICMP(f *testing.F) {
	addGolden(f, ipPayload)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseICMPv4(b)
		if err != nil {
			return
		}
		_, _, _, _, _ = m.Ident(), m.MTU(), m.Pointer(), m.Gateway4(), m.IsError()
		var fl, back ICMPv4Fields
		if err := fl.Parse(b); err != nil {
			t.Fatal(err)
		}
		out := make([]byte, fl.Len())
		if _, err := fl.Put(out); err != nil {
			t.Fatal(err)
		}
		if err := back.Parse(out); err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if !bytes.Equal(back.Payload, fl.Payload) || back.Type != fl.Type || back.Code != fl.Code || back.Rest != fl.Rest {
			t.Fatalf("round trip %+v, want %+v", back, fl)
		}
	})
}

func FuzzUDP(f *testing.F) {
	addGolden(f, ipPayload)
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseUDP(b)
		if err != nil {
			return
		}
		src, dst := [4]byte{1, 2, 3, 4}, [4]byte{5, 6, 7, 8}
		_ = u.ChecksumValid(src, dst)
		var fl, back UDPFields
		if err := fl.Parse(b); err != nil {
			t.Fatal(err)
		}
		out := make([]byte, fl.Length)
		if _, err := fl.Put(out); err != nil {
			t.Fatal(err)
		}
		copy(out[UDPHeaderLen:], u.Payload())
		if err := back.Parse(out); err != nil || back != fl {
			t.Fatalf("round trip %+v %v, want %+v", back, err, fl)
		}
		UDP(out).UpdateChecksum(src, dst)
		if !UDP(out).ChecksumValid(src, dst) || UDP(out).Checksum() == 0 {
			t.Fatalf("computed checksum %#04x does not verify", UDP(out).Checksum())
		}
	})
}

func FuzzTCP(f *testing.F) {
	addGolden(f, ipPayload)
	f.Fuzz(func(t *testing.T, b []byte) {
		tc, err := ParseTCP(b)
		if err != nil {
			return
		}
		_, _, _ = tc.Options(), tc.Payload(), tc.Urgent()
		var fl, back TCPFields
		if err := fl.Parse(b); err != nil && err != ErrBadOption {
			t.Fatal(err)
		}
		if fl.Options.Len() > TCPMaxOptions {
			if _, err := fl.Put(make([]byte, 80)); err != ErrOptionsTooLong {
				t.Fatalf("oversized options: %v", err)
			}
			return
		}
		out := make([]byte, fl.Len())
		if _, err := fl.Put(out); err != nil {
			t.Fatal(err)
		}
		if err := back.Parse(out); err != nil || back != fl {
			t.Fatalf("round trip %+v %v, want %+v", back, err, fl)
		}
	})
}

func FuzzTCPOptions(f *testing.F) {
	addGolden(f, func(b []byte) []byte {
		if p := ipPayload(b); len(p) >= 20 && b[23] == ProtocolTCP {
			return TCP(p).Options()
		}
		return nil
	})
	f.Add(mustHex("0101051200000001000000020000000300000004"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var o, back TCPOptions
		_ = o.Parse(b)
		if o.Len() > TCPMaxOptions {
			return
		}
		out := make([]byte, o.Len())
		n, err := o.Put(out)
		if err != nil || n != len(out) {
			t.Fatalf("Put = %d, %v", n, err)
		}
		if err := back.Parse(out); err != nil || back != o {
			t.Fatalf("round trip %+v %v, want %+v", back, err, o)
		}
	})
}

func FuzzChecksum(f *testing.F) {
	f.Add([]byte{}, uint16(0))
	f.Add(mustHex("0001f203f4f5f6f7"), uint16(0))
	f.Add(bytes.Repeat([]byte{0xff}, 67), uint16(0xffff))
	f.Fuzz(func(t *testing.T, b []byte, init uint16) {
		got, want := Checksum(b, init), checksumReference(b, init)
		if got != want {
			t.Fatalf("Checksum %#04x, reference %#04x", got, want)
		}
		if k := len(b) / 2 &^ 1; k > 0 {
			if c := ChecksumCombine(Checksum(b[:k], init), Checksum(b[k:], 0)); c != want {
				t.Fatalf("split at %d: %#04x, want %#04x", k, c, want)
			}
		}
	})
}

// FuzzChecksumUpdate compares RFC 1624 incremental updates with a full
// recomputation: after changing a 16- or 32-bit field the updated checksum
// must verify over the new data.
func FuzzChecksumUpdate(f *testing.F) {
	f.Add(mustHex("4500003c1c4640004006b1e6ac100a63ac100a0c"), uint8(3), uint32(0xc6120001))
	f.Add(make([]byte, 20), uint8(0), uint32(0))
	f.Add(bytes.Repeat([]byte{0xff}, 20), uint8(1), uint32(0xffffffff))
	f.Fuzz(func(t *testing.T, b []byte, at uint8, v uint32) {
		if len(b) < 8 {
			return
		}
		b = append([]byte(nil), b...)
		// Store a correct checksum in the first word.
		b[0], b[1] = 0, 0
		binary.BigEndian.PutUint16(b, ^Checksum(b, 0))
		off := 2 + 2*(int(at)%((len(b)-4)/2))
		var check uint16
		if at&0x80 != 0 {
			old := binary.BigEndian.Uint16(b[off:])
			binary.BigEndian.PutUint16(b[off:], uint16(v))
			check = ChecksumUpdate16(binary.BigEndian.Uint16(b), old, uint16(v))
		} else {
			old := [4]byte(b[off : off+4])
			binary.BigEndian.PutUint32(b[off:], v)
			check = ChecksumUpdate32(binary.BigEndian.Uint16(b), old, [4]byte(b[off:off+4]))
		}
		binary.BigEndian.PutUint16(b, check)
		// Data that is all zero sums to 0, which one's complement
		// arithmetic cannot tell from 0xffff (RFC 1624, section 3); no
		// IPv4, TCP or UDP header is all zero.
		if s := Checksum(b, 0); s != 0xffff && !(s == 0 && allZero(b[2:])) {
			t.Fatalf("updated checksum %#04x leaves sum %#04x", check, s)
		}
	})
}

func equalIPv4Fields(a, b IPv4Fields) bool {
	a.Options, b.Options = nil, nil
	type plain struct {
		TOS, Flags, TTL, Protocol       uint8
		TotalLength, ID, FragOff, Check uint16
		Src, Dst                        [4]byte
	}
	p := func(f IPv4Fields) plain {
		return plain{f.TOS, f.Flags, f.TTL, f.Protocol, f.TotalLength, f.ID, f.FragmentOffset, f.Checksum, f.Src.As4(), f.Dst.As4()}
	}
	return p(a) == p(b)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
