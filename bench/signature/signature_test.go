package signature

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/header"
)

func TestGolden(t *testing.T) {
	s := Signature{Stream: 0x0102, Seq: 0x03040506, TxNs: 0x0708090a0b0c0d0e}
	b := make([]byte, Len)
	if !s.Put(b) {
		t.Fatal("Put refused 16 bytes")
	}
	want, _ := hex.DecodeString("e5b10102030405060708090a0b0c0d0e")
	if !bytes.Equal(b, want) {
		t.Fatalf("encoded %x, want %x", b, want)
	}
	var got Signature
	if !Decode(b, &got) || got != s {
		t.Fatalf("decoded %+v", got)
	}
	w := s.Words()
	for i, v := range w {
		if v != uint16(b[2*i])<<8|uint16(b[2*i+1]) {
			t.Fatalf("word %d: %#04x", i, v)
		}
	}
	if s.Put(b[:Len-1]) || Decode(b[:Len-1], &got) {
		t.Fatal("15 bytes accepted")
	}
	b[0] ^= 1
	if Decode(b, &got) {
		t.Fatal("wrong magic accepted")
	}
}

func TestExtend(t *testing.T) {
	for _, c := range []struct {
		seq  uint32
		ref  uint64
		want uint64
	}{
		{5, 0, 5},
		{0, 5, 0},
		{10, 1 << 32, 1<<32 + 10},
		{0xfffffff0, 1<<32 + 5, 1<<32 - 16}, // late, before the wrap
		{3, 1<<32 - 2, 1<<32 + 3},           // ahead, after the wrap
		{0xfffffff5, 10, 0xfffffff5},        // before the start: no negative numbers
		{0x80000000, 0, 0x80000000},         // exactly half-way: taken as ahead
		{7, 5<<32 + 0x7fffffff, 5<<32 + 7},  // 2^31-8 behind
		{0x7fffffff, 5 << 32, 5<<32 + 0x7fffffff},
	} {
		if got := Extend(c.seq, c.ref); got != c.want {
			t.Errorf("Extend(%#x, %#x) = %#x, want %#x", c.seq, c.ref, got, c.want)
		}
	}
}

// frame builds an Ethernet/IPv4 frame around l4 (IPv4 checksum set).
func frame(vlan bool, proto uint8, l4 []byte, frag uint16) []byte {
	eth := header.EthernetFields{Type: header.EtherTypeIPv4}
	if vlan {
		eth.NumTags, eth.Tags[0] = 1, header.VLANTag{TCI: 5}
	}
	ipf := header.IPv4Fields{TTL: 1, Protocol: proto, FragmentOffset: frag, Options: []byte{1, 1, 1, 1}}
	ipf.TotalLength = uint16(ipf.Len() + len(l4))
	b := make([]byte, eth.Len()+ipf.Len()+len(l4)+6) // with Ethernet padding
	n, _ := eth.Put(b)
	ipf.Src, ipf.Dst = mustAddr("198.18.0.1"), mustAddr("198.18.0.2")
	m, _ := ipf.Put(b[n:])
	copy(b[n+m:], l4)
	return b
}

func TestFromFrame(t *testing.T) {
	s := Signature{Stream: 9, Seq: 77, TxNs: 123456789}
	sig := make([]byte, Len)
	s.Put(sig)
	udp := append(make([]byte, 8), sig...)
	tcp := append(make([]byte, 24), sig...)
	tcp[12] = 6 << 4 // data offset 24
	echo := append([]byte{header.ICMPv4Echo, 0, 0, 0, 0, 0, 0, 0}, sig...)
	reply := append([]byte{header.ICMPv4EchoReply, 0, 0, 0, 0, 0, 0, 0}, sig...)
	unreach := append([]byte{header.ICMPv4DstUnreachable, 0, 0, 0, 0, 0, 0, 0}, sig...)
	cases := []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"udp", frame(false, header.ProtocolUDP, udp, 0), true},
		{"udp tagged", frame(true, header.ProtocolUDP, udp, 0), true},
		{"tcp with options", frame(false, header.ProtocolTCP, tcp, 0), true},
		{"echo", frame(false, header.ProtocolICMP, echo, 0), true},
		{"echo reply", frame(true, header.ProtocolICMP, reply, 0), true},
		{"unreachable", frame(false, header.ProtocolICMP, unreach, 0), false},
		{"later fragment", frame(false, header.ProtocolUDP, udp, 8), false},
		{"short udp", frame(false, header.ProtocolUDP, udp[:len(udp)-1], 0), false},
		{"other protocol", frame(false, 47, udp, 0), false},
		{"runt", make([]byte, 10), false},
	}
	for _, c := range cases {
		var got Signature
		ok := FromFrame(c.b, &got)
		if ok != c.ok || ok && got != s {
			t.Errorf("%s: %v %+v", c.name, ok, got)
		}
	}
	// A bad IPv4 header checksum hides the signature.
	b := frame(false, header.ProtocolUDP, udp, 0)
	b[14+10] ^= 1
	if FromFrame(b, new(Signature)) {
		t.Error("found behind a bad IPv4 checksum")
	}
}

func FuzzFromFrame(f *testing.F) {
	sig := make([]byte, Len)
	Signature{Stream: 1, Seq: 2, TxNs: 3}.Put(sig)
	f.Add(frame(false, header.ProtocolUDP, append(make([]byte, 8), sig...), 0))
	f.Add(frame(true, header.ProtocolICMP, append([]byte{8, 0, 0, 0, 0, 0, 0, 0}, sig...), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Signature
		if off, ok := Offset(b); ok {
			if off+Len > len(b) {
				t.Fatalf("offset %d in %d bytes", off, len(b))
			}
			if FromFrame(b, &s) != Decode(b[off:], &s) {
				t.Fatal("FromFrame and Decode disagree")
			}
		} else if FromFrame(b, &s) {
			t.Fatal("FromFrame without Offset")
		}
	})
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
