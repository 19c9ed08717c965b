package reflector

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/header"
)

var (
	macA = header.MAC{0x02, 0, 0, 0, 0, 0xa}
	macB = header.MAC{0x02, 0, 0, 0, 0, 0xb}
	ipA  = netip.MustParseAddr("198.18.0.1")
	ipB  = netip.MustParseAddr("198.19.7.9")
)

// frame builds a frame from A to B with l4 (checksums computed).
func frame(proto uint8, tagged bool, frag uint16, l4 []byte) []byte {
	eth := header.EthernetFields{Dst: macB, Src: macA, Type: header.EtherTypeIPv4}
	if tagged {
		eth.NumTags, eth.Tags[0] = 1, header.VLANTag{TCI: 42}
	}
	ipf := header.IPv4Fields{TTL: 64, Protocol: proto, ID: 99, Src: ipA, Dst: ipB, FragmentOffset: frag}
	ipf.TotalLength = uint16(ipf.Len() + len(l4))
	b := make([]byte, eth.Len()+ipf.Len()+len(l4))
	n, _ := eth.Put(b)
	m, _ := ipf.Put(b[n:])
	copy(b[n+m:], l4)
	seg := b[n+m:]
	if frag == 0 {
		switch proto {
		case header.ProtocolUDP:
			header.UDP(seg).UpdateChecksum(ipA.As4(), ipB.As4())
		case header.ProtocolTCP:
			header.TCP(seg).UpdateChecksum(ipA.As4(), ipB.As4())
		case header.ProtocolICMP:
			header.ICMPv4(seg).UpdateChecksum()
		}
	}
	return b
}

func udp(sport, dport uint16, payload string) []byte {
	u := make([]byte, 8+len(payload))
	(&header.UDPFields{SrcPort: sport, DstPort: dport, Length: uint16(len(u))}).Put(u)
	copy(u[8:], payload)
	return u
}

func tcp() []byte {
	t := make([]byte, 20+5)
	(&header.TCPFields{SrcPort: 40000, DstPort: 80, Seq: 7, Flags: header.TCPFlagSYN, Window: 1000}).Put(t)
	copy(t[20:], "hello")
	return t
}

// valid reports whether every checksum of b verifies.
func valid(b []byte) bool {
	e, err := header.ParseEthernet(b)
	if err != nil {
		return false
	}
	ip, err := header.ParseIPv4(e.Payload())
	if err != nil {
		return false
	}
	if ip.IsFragment() {
		return true
	}
	seg := ip.Payload()
	switch ip.Protocol() {
	case header.ProtocolUDP:
		return header.UDP(seg).ChecksumValid(ip.Src4(), ip.Dst4())
	case header.ProtocolTCP:
		return header.TCP(seg).ChecksumValid(ip.Src4(), ip.Dst4())
	case header.ProtocolICMP:
		_, err := header.ParseICMPv4(seg)
		return err == nil
	}
	return true
}

func TestGolden(t *testing.T) {
	b := frame(header.ProtocolUDP, false, 0, udp(1234, 7, "sig"))
	orig := append([]byte(nil), b...)
	if err := Reflect(b); err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString("02000000000a" + "02000000000b" + "0800" +
		"4500001f006300004011" + hex.EncodeToString(orig[24:26]) + "c6130709" + "c6120001" +
		"000704d2000b" + hex.EncodeToString(orig[40:42]) + "736967")
	if !bytes.Equal(b, want) { // the checksums are the original's
		t.Fatalf("reflected\n %x\nwant\n %x", b, want)
	}
	if !valid(b) {
		t.Fatal("checksums broken")
	}
}

func TestReflect(t *testing.T) {
	echo := make([]byte, 8+16)
	(&header.ICMPv4Fields{Type: header.ICMPv4Echo, Rest: 0x00010001}).Put(echo)
	partial := frame(header.ProtocolUDP, false, 0, udp(5, 6, "partial checksum"))
	pip := header.IPv4(partial[14:])
	header.UDP(pip.Payload()).SetChecksum(pip.PseudoHeaderChecksum())
	for _, c := range []struct {
		name  string
		b     []byte
		ports bool
	}{
		{"udp", frame(header.ProtocolUDP, false, 0, udp(1, 65535, "payload")), true},
		{"udp tagged", frame(header.ProtocolUDP, true, 0, udp(4000, 53, "")), true},
		{"tcp", frame(header.ProtocolTCP, false, 0, tcp()), true},
		{"icmp", frame(header.ProtocolICMP, true, 0, echo), false},
		{"later fragment", frame(header.ProtocolUDP, false, 64, udp(1, 2, "x")), false},
		{"gre", frame(47, false, 0, []byte{0, 0, 8, 0}), false},
	} {
		orig := append([]byte(nil), c.b...)
		if err := Reflect(c.b); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		e := header.Ethernet(c.b)
		ip := header.IPv4(e.Payload())
		if e.Src() != macB || e.Dst() != macA || ip.Src() != ipB || ip.Dst() != ipA || e.VLANID() != header.Ethernet(orig).VLANID() {
			t.Fatalf("%s: %v > %v, %v > %v", c.name, e.Src(), e.Dst(), ip.Src(), ip.Dst())
		}
		oip := header.IPv4(header.Ethernet(orig).Payload())
		if c.ports {
			l4, o4 := ip.Payload(), oip.Payload()
			if !bytes.Equal(l4[0:2], o4[2:4]) || !bytes.Equal(l4[2:4], o4[0:2]) {
				t.Fatalf("%s: ports %x, were %x", c.name, l4[:4], o4[:4])
			}
		} else if !bytes.Equal(ip.Payload(), oip.Payload()) {
			t.Fatalf("%s: payload changed", c.name)
		}
		if !valid(c.b) {
			t.Fatalf("%s: checksums broken", c.name)
		}
		if Reflect(c.b); !bytes.Equal(c.b, orig) {
			t.Fatalf("%s: reflected twice differs", c.name)
		}
	}
	// A partial checksum stays the partial sum of the swapped addresses.
	Reflect(partial)
	pip = header.IPv4(partial[14:])
	if !header.UDP(pip.Payload()).ChecksumPartial(pip.Src4(), pip.Dst4()) {
		t.Fatal("partial checksum no longer partial")
	}
}

func TestRefused(t *testing.T) {
	arp := make([]byte, 42)
	(&header.EthernetFields{Dst: header.BroadcastMAC, Src: macA, Type: header.EtherTypeARP}).Put(arp)
	bad := frame(header.ProtocolUDP, false, 0, udp(1, 2, "x"))
	bad[24] ^= 1
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"arp", arp, ErrNotIPv4},
		{"runt", arp[:10], header.ErrTruncated},
		{"bad IPv4 checksum", bad, header.ErrBadChecksum},
	} {
		orig := append([]byte(nil), c.b...)
		if err := Reflect(c.b); !errors.Is(err, c.want) || !bytes.Equal(c.b, orig) {
			t.Errorf("%s: %v, changed %v", c.name, err, !bytes.Equal(c.b, orig))
		}
	}
}

func FuzzReflect(f *testing.F) {
	f.Add(frame(header.ProtocolUDP, false, 0, udp(1, 2, "payload")))
	f.Add(frame(header.ProtocolTCP, true, 0, tcp()))
	f.Add(frame(header.ProtocolUDP, false, 8, udp(1, 2, "")))
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := append([]byte(nil), b...)
		wasValid := valid(b)
		if err := Reflect(b); err != nil {
			if !bytes.Equal(b, orig) {
				t.Fatal("refused frame changed")
			}
			return
		}
		if wasValid && !valid(b) {
			t.Fatalf("checksums broken:\n%x\n%x", orig, b)
		}
		if Reflect(b); !bytes.Equal(b, orig) {
			t.Fatal("not an involution")
		}
	})
}
