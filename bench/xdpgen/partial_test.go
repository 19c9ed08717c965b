package xdpgen

import (
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/bench/reflector"
	"github.com/xdpengine/engine/bench/stream"
	"github.com/xdpengine/engine/header"
)

// TestFinishPartial builds UDP and TCP frames with full checksums, turns
// them into what a Linux sender with transmit offload hands a veth (the
// pseudo-header sum alone), reflects them and finishes them: the checksum
// verifies again; a full checksum is left as it was.
func TestFinishPartial(t *testing.T) {
	for _, kind := range []stream.Kind{stream.UDP, stream.TCPSYN} {
		s, err := stream.New(stream.Spec{
			Kind: kind, Src: stream.AddrRange{First: netip.MustParseAddr("198.18.0.1")},
			Dst: stream.AddrRange{First: netip.MustParseAddr("198.18.0.2")}, SrcPort: stream.PortRange{First: 1000},
			DstPort: stream.PortRange{First: 7}, Size: stream.Fixed(200),
		})
		if err != nil {
			t.Fatal(err)
		}
		f := make([]byte, s.MaxLen())
		f = f[:s.Next(f, 12345)]
		full := append([]byte(nil), f...)
		e, _ := header.ParseEthernet(f)
		ip, _ := header.ParseIPv4(e.Payload())
		src, dst := ip.Src4(), ip.Dst4()
		check := func(b []byte) bool {
			e, _ := header.ParseEthernet(b)
			ip, _ := header.ParseIPv4(e.Payload())
			if kind == stream.UDP {
				u, _ := header.ParseUDP(ip.Payload())
				return u.ChecksumValid(ip.Src4(), ip.Dst4())
			}
			tc, _ := header.ParseTCP(ip.Payload())
			return tc.ChecksumValid(ip.Src4(), ip.Dst4())
		}
		pseudo := header.PseudoHeaderChecksum(ip.Protocol(), src, dst, uint16(len(ip.Payload())))
		if kind == stream.UDP {
			u, _ := header.ParseUDP(ip.Payload())
			u.SetChecksum(pseudo)
		} else {
			tc, _ := header.ParseTCP(ip.Payload())
			tc.SetChecksum(pseudo)
		}
		if check(f) {
			t.Fatalf("%v: a partial checksum verifies", kind)
		}
		if err := reflector.Reflect(f); err != nil {
			t.Fatal(err)
		}
		finishPartial(f)
		if !check(f) {
			t.Errorf("%v: the finished checksum does not verify", kind)
		}
		if err := reflector.Reflect(full); err != nil {
			t.Fatal(err)
		}
		before := append([]byte(nil), full...)
		finishPartial(full)
		if string(before) != string(full) {
			t.Errorf("%v: a full checksum changed", kind)
		}
	}
}
