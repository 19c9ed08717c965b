package udpframe

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
)

// golden is a frame 02:00:00:00:00:02 <- 02:00:00:00:00:01,
// 198.18.0.1:1000 -> 198.18.0.2:2000, payload "hi"; the IPv4 checksum
// 0xaea7 was summed by hand (RFC 1071: 0x25156 folds to 0x5158, inverted).
var golden = []byte{
	0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00,
	0x45, 0x00, 0x00, 0x1e, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xae, 0xa7,
	198, 18, 0, 1, 198, 18, 0, 2,
	0x03, 0xe8, 0x07, 0xd0, 0x00, 0x0a, 0x00, 0x00, 'h', 'i',
}

func TestPutGolden(t *testing.T) {
	s := Spec{
		SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"),
		SrcPort: 1000, DstPort: 2000,
	}
	b := make([]byte, 64)
	n := s.Put(b, []byte("hi"))
	if !bytes.Equal(b[:n], golden) {
		t.Fatalf("frame\n got %x\nwant %x", b[:n], golden)
	}
	if Checksum(b[14:34]) != 0 {
		t.Fatal("IPv4 header does not check")
	}
	if p := Payload(b[:n]); string(p) != "hi" {
		t.Fatalf("Payload = %q", p)
	}
	s.VLAN = 7
	n = s.Put(b, []byte("hi"))
	if n != len(golden)+4 || string(Payload(b[:n])) != "hi" {
		t.Fatalf("tagged frame %x", b[:n])
	}
}

func FuzzPayload(f *testing.F) {
	f.Add(golden)
	f.Fuzz(func(t *testing.T, b []byte) {
		if p := Payload(b); p != nil && len(p) > len(b) {
			t.Fatal("payload longer than frame")
		}
	})
}
