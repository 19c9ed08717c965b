package stream_test

import (
	"fmt"
	"net/netip"

	"github.com/xdpengine/engine/bench/pacer"
	"github.com/xdpengine/engine/bench/signature"
	"github.com/xdpengine/engine/bench/stream"
	"github.com/xdpengine/engine/header"
)

// A Stream is what a pacer.Mux paces.
var _ pacer.Flow = (*stream.Stream)(nil)

// A UDP stream over 256 source ports, 64-byte frames, signed.
func Example() {
	s, err := stream.New(stream.Spec{
		ID:      1,
		Kind:    stream.UDP,
		SrcMAC:  header.MAC{0x02, 0, 0, 0, 0, 1},
		DstMAC:  header.MAC{0x02, 0, 0, 0, 0, 2},
		Src:     stream.AddrRange{First: netip.MustParseAddr("198.18.0.1")},
		Dst:     stream.AddrRange{First: netip.MustParseAddr("198.18.1.1")},
		SrcPort: stream.PortRange{First: 10000, Last: 10255},
		DstPort: stream.PortRange{First: 7},
		Size:    stream.Fixed(64),
	})
	if err != nil {
		panic(err)
	}
	buf := make([]byte, s.MaxLen()) // a UMEM frame in the datapath
	for i := range 3 {
		n := s.Next(buf, int64(1000+i)) // the transmit time, from the sender's clock
		var sig signature.Signature
		signature.FromFrame(buf[:n], &sig)
		ip := header.IPv4(buf[header.EthernetHeaderLen:n])
		u := header.UDP(ip.Payload())
		fmt.Printf("%d bytes, port %d, checksum ok %v, stream %d seq %d sent at %d\n",
			n+stream.FCSLen, u.SrcPort(), u.ChecksumValid(ip.Src4(), ip.Dst4()), sig.Stream, sig.Seq, sig.TxNs)
	}
	// Output:
	// 64 bytes, port 10000, checksum ok true, stream 1 seq 0 sent at 1000
	// 64 bytes, port 10001, checksum ok true, stream 1 seq 1 sent at 1001
	// 64 bytes, port 10002, checksum ok true, stream 1 seq 2 sent at 1002
}

// Sizes as a command line gives them.
func ExampleParseSizes() {
	for _, v := range []string{"64", "64-1518", "128-256:inc", "imix"} {
		s, _ := stream.ParseSizes(v)
		fmt.Printf("%s: %d to %d, mean %.1f\n", s, s.Min(), s.Max(), s.Mean())
	}
	// Output:
	// 64: 64 to 64, mean 64.0
	// 64-1518: 64 to 1518, mean 791.0
	// 128-256:inc: 128 to 256, mean 192.0
	// imix: 64 to 1518, mean 361.8
}
