package inet6

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/header"
)

// recordingForwarder records what it is offered and answers verdict; for
// Transmit it rewrites the Ethernet destination to peerMAC.
type recordingForwarder struct {
	l       *Layer
	verdict Verdict
	seen    []Packet // copies of the offered packets' fields (IP cloned)
}

func (r *recordingForwarder) Forward(p *Packet) Verdict {
	q := *p
	q.IP = bytes.Clone(p.IP)
	r.seen = append(r.seen, q)
	switch {
	case r.verdict == Transmit && p.Frame != nil:
		r.l.PutEthernet(p.Frame, peerMAC)
	case r.verdict == Route:
		p.IP.SetDst16(peerIP.As16()) // on the link, a static neighbor
	}
	return r.verdict
}

// TestForwarder: a packet to a transparent address reaches the layer and
// is offered to the Forwarder (with its upper-layer offset and protocol)
// before the engine's stack: Transmit sends the frame in place, Drop
// counts it, Pass lets the stack take it (an echo to the transparent
// address is answered). A packet to an address neither owned nor
// transparent is not offered; nor is one to a multicast group. A
// fragmented packet is offered once, reassembled, without a frame.
func TestForwarder(t *testing.T) {
	cfg := testConfig()
	cfg.Neighbors = []StaticNeighbor{{Addr: peerIP, MAC: peerMAC}}
	l := newTestLayer(t, cfg, true)
	fwd := &recordingForwarder{l: l.Layer, verdict: Transmit}
	l.SetForwarder(fwd)
	vip := netip.MustParseAddr("2001:db8:2::100")
	other := netip.MustParseAddr("2001:db8:2::101")
	if err := l.h.AddTransparent(vip); err != nil {
		t.Fatal(err)
	}
	if err := l.h.AddTransparent(netip.MustParseAddr("ff02::1")); err == nil {
		t.Error("AddTransparent took a multicast address")
	}
	pkt := packet6(peerIP, vip, header.ProtocolUDP, 64, udp6(peerIP, vip, 40000, 53, []byte("query")))
	f := frameOf(ourMAC, peerMAC, pkt)
	n := l.Frame(f)
	if n != ethHeaderLen+len(pkt) || len(fwd.seen) != 1 {
		t.Fatalf("Transmit: %d bytes in place, %d offered", n, len(fwd.seen))
	}
	if p := fwd.seen[0]; p.Proto != header.ProtocolUDP || p.Offset != header.IPv6HeaderLen || p.IP.Dst() != vip || p.Frame == nil {
		t.Errorf("offered proto %d offset %d dst %v frame %v", p.Proto, p.Offset, p.IP.Dst(), p.Frame != nil)
	}
	if got := header.Ethernet(f).Dst(); got != peerMAC {
		t.Errorf("frame sent to %v", got)
	}

	fwd.verdict = Drop
	l.Frame(frameOf(ourMAC, peerMAC, pkt))
	if l.st.DropForward != 1 {
		t.Errorf("DropForward %d after a Drop", l.st.DropForward)
	}

	fwd.verdict, fwd.seen = Pass, nil
	if n := l.Frame(frameOf(ourMAC, peerMAC, echoRequest(peerIP, vip, 1, 1, nil))); n == 0 || len(fwd.seen) != 1 {
		t.Errorf("Pass: echo to the transparent address answered with %d bytes, %d offered", n, len(fwd.seen))
	}
	l.Frame(frameOf(ourMAC, peerMAC, echoRequest(peerIP, other, 1, 1, nil)))
	group := netip.MustParseAddr("ff02::1")
	l.Frame(frameOf(header.MulticastMAC6(group.As16()), peerMAC, echoRequest(peerIP, group, 1, 1, nil)))
	if len(fwd.seen) != 1 {
		t.Errorf("%d packets offered, want only the one to the transparent address", len(fwd.seen))
	}

	fwd.verdict, fwd.seen = Route, nil
	big := packet6(peerIP, vip, header.ProtocolUDP, 64, udp6(peerIP, vip, 40000, 53, bytes.Repeat([]byte("x"), 3000)))
	for _, fr := range fragments(t, big, 1280) {
		l.Frame(frameOf(ourMAC, peerMAC, fr))
	}
	if len(fwd.seen) != 1 || fwd.seen[0].Frame != nil || !bytes.Equal(fwd.seen[0].IP, big) {
		t.Fatalf("fragments: %d offered, want the reassembled packet once", len(fwd.seen))
	}
	// Route: the rewritten packet goes out by the send path, fragmented
	// at the MTU, to the neighbor's MAC.
	out := l.link.take()
	if len(out) != 3 {
		t.Fatalf("Route: %d frames sent, want 3 fragments", len(out))
	}
	for _, fr := range out {
		if eth, ip, _ := parseSent(t, fr); eth.Dst() != peerMAC || ip.Dst() != peerIP {
			t.Errorf("Route: a frame to %v (%v)", eth.Dst(), ip.Dst())
		}
	}
}
