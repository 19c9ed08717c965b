package reflector_test

import (
	"fmt"
	"net/netip"

	"github.com/xdpengine/engine/bench/reflector"
	"github.com/xdpengine/engine/header"
)

func Example() {
	// A UDP datagram from 198.18.0.1:5000 to 198.18.0.2:7.
	b := make([]byte, 14+20+8)
	(&header.EthernetFields{Dst: header.MAC{2, 0, 0, 0, 0, 2}, Src: header.MAC{2, 0, 0, 0, 0, 1}, Type: header.EtherTypeIPv4}).Put(b)
	(&header.IPv4Fields{TotalLength: 28, TTL: 64, Protocol: header.ProtocolUDP,
		Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2")}).Put(b[14:])
	(&header.UDPFields{SrcPort: 5000, DstPort: 7, Length: 8}).Put(b[34:])
	ip := header.IPv4(b[14:])
	u := header.UDP(ip.Payload())
	u.UpdateChecksum(ip.Src4(), ip.Dst4())

	if err := reflector.Reflect(b); err != nil {
		panic(err)
	}
	fmt.Printf("%v:%d > %v:%d, checksums ok: %v %v\n", ip.Src(), u.SrcPort(), ip.Dst(), u.DstPort(),
		ip.ChecksumValid(), u.ChecksumValid(ip.Src4(), ip.Dst4()))
	// Output: 198.18.0.2:7 > 198.18.0.1:5000, checksums ok: true true
}
