package header

import "testing"

// parseUDP6Frame is the per-packet parse of an IPv6 worker: Ethernet, IPv6,
// the extension header walk, then the UDP ports.
func parseUDP6Frame(b []byte, ext *IPv6Ext) (uint32, error) {
	e, err := ParseEthernet(b)
	if err != nil {
		return 0, err
	}
	ip, err := ParseIPv6(e.Payload())
	if err != nil {
		return 0, err
	}
	if err := ParseIPv6Ext(ip, ext); err != nil {
		return 0, err
	}
	u, err := ParseUDP(ip[ext.Offset:])
	if err != nil {
		return 0, err
	}
	return uint32(u.SrcPort())<<16 | uint32(u.DstPort()), nil
}

// BenchmarkParseEthIPv6UDP measures one IPv6 UDP packet's header parse
// (Ethernet + IPv6 + extension walk + UDP view), without extension headers
// and with the three-header golden chain (hop-by-hop, destination
// options, fragment).
func BenchmarkParseEthIPv6UDP(b *testing.B) {
	eth := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd}
	for _, c := range []struct{ name, pkt string }{
		{"plain", goldenIPv6UDP},
		{"hbh+dst+frag", goldenIPv6Chain},
	} {
		frame := append(append([]byte(nil), eth...), unhex(b, c.pkt)...)
		b.Run(c.name, func(b *testing.B) {
			var ext IPv6Ext
			b.ReportAllocs()
			for b.Loop() {
				v, err := parseUDP6Frame(frame, &ext)
				if err != nil {
					b.Fatal(err)
				}
				sinkU32 = v
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/pkt")
		})
	}
}
