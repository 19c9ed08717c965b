package xdpgen_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/xdpengine/engine/bench/pacer"
	"github.com/xdpengine/engine/bench/stream"
	"github.com/xdpengine/engine/bench/xdpgen"
)

// Send 64-byte UDP frames at 100,000 a second for 10 seconds to a UDP echo
// and measure the round trips. (Needs root and a link; not run as a test.)
func Example() {
	p, err := xdpgen.Open(xdpgen.Config{Interface: "eth1", Addr: netip.MustParsePrefix("198.18.0.1/24")})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	target := netip.MustParseAddr("198.18.0.2")
	mac, err := p.Resolve(context.Background(), target)
	if err != nil {
		panic(err)
	}
	spec := stream.Spec{
		Kind: stream.UDP, SrcMAC: p.MAC(), DstMAC: mac,
		Src: stream.AddrRange{First: p.Addr().Addr()}, Dst: stream.AddrRange{First: target},
		SrcPort: stream.PortRange{First: 10000, Last: 10063}, DstPort: stream.PortRange{First: 7},
		Size: stream.Fixed(64), Sign: stream.SignOn,
	}
	r, err := p.Run(context.Background(), xdpgen.Traffic{
		Streams:  []xdpgen.Stream{{Spec: spec, Rate: pacer.Rate{Value: 100000}}},
		Duration: 10 * time.Second,
		Progress: func(iv xdpgen.Interval) { fmt.Println(iv) },
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("sent %d, received %d, lost %d; latency %v\n", r.Sent, r.Received, r.Lost, r.Latency)
}
