package inet4

import (
	"net/netip"

	"github.com/xdpengine/engine/header"
)

// Forwarder is a protocol that forwards packets instead of terminating
// them (the load balancer): each worker's IPv4 layer asks its Forwarder
// about every packet to the engine, after the Hook and before transport
// dispatch (a fragmented datagram once, reassembled), and a frame another
// worker handed to it with SteerForward. It runs on the worker goroutine
// and must not block or allocate per packet.
type Forwarder interface {
	// Forward decides a packet's fate: Pass (the engine's own stack
	// takes it), Drop (counted as DropForward), Transmit (a frame
	// rewritten in place, its Ethernet header included, leaves from its
	// own UMEM frame; for a reassembled datagram, as Route), or Route
	// (the rewritten IPv4 packet in p.IP goes out through the send path:
	// next hop, ARP, fragmentation at the path MTU). A Forwarder that
	// handed the frame to another worker (SteerForward) returns Drop
	// without counting: set p.Consumed.
	Forward(p *Packet) Verdict
	// Fragment is asked first about each fragment from the link (after
	// the Hook when Config.HookFragments): Pass reassembles it as usual,
	// and Forward sees the datagram; other verdicts as for Forward (a
	// forwarder that sends fragments on unreassembled, by a hash of
	// what every fragment carries).
	Fragment(p *Packet) Verdict
}

// SetForwarder makes f this worker's Forwarder (before the worker runs);
// a BurstForwarder also gets each received burst first (burst.go).
func (l *Layer) SetForwarder(f Forwarder) {
	l.fwd = f
	l.setBurstInput(f)
}

// SteerForward hands frame to worker owner's Forwarder (the flow is
// owner's); the owner does not parse, hook or check it again.
func (l *Layer) SteerForward(owner *Layer, frame []byte) {
	if l.dp.SteerTo(owner.dp, frame, steerForward, 0) {
		l.st.Steered++
	}
}

// forward runs the Forwarder on a packet (on a fragment: its Fragment);
// done reports a verdict other than Pass, with the length of the frame to
// transmit in place (0: nothing to transmit).
func (l *Layer) forward(frame []byte, eth header.Ethernet, ip header.IPv4, fragment bool) (n int, done bool) {
	p := &l.pkt
	*p = Packet{Frame: frame, Eth: eth, IP: ip, Queue: l.queue, Now: l.Now()}
	var v Verdict
	if fragment {
		v = l.fwd.Fragment(p)
	} else {
		v = l.fwd.Forward(p)
	}
	n, ip, consumed, via := len(p.Frame), p.IP, p.Consumed, p.Via
	*p = Packet{}
	switch v {
	case Pass:
		return 0, false
	case Transmit:
		if frame != nil {
			return n, true
		}
		l.route(ip, via)
	case Route:
		l.route(ip, via)
	default:
		if !consumed {
			l.st.DropForward++
		}
	}
	return 0, true
}

// route sends a forwarded IPv4 packet toward its destination (through
// via when valid) by the send path (a copy: the frame it came in goes back
// to the ring).
func (l *Layer) route(ip header.IPv4, via netip.Addr) {
	b := l.h.cfg.Bufs.Get(len(ip))
	if b == nil {
		l.st.DropForward++
		return
	}
	n := copy(b.B, ip)
	l.SendDatagram(Datagram{Buf: b, N: n, Dst: ip.Dst(), Via: via})
}

// forwardSteered handles a frame another worker's Forwarder handed over.
func (l *Layer) forwardSteered(frame []byte) int {
	if l.fwd == nil {
		return 0
	}
	eth := header.Ethernet(frame)
	ip := header.IPv4(eth.Payload()) // validated by the sender
	ip = ip[:min(len(ip), int(ip.TotalLength()))]
	n, _ := l.forward(frame, eth, ip, false)
	return n
}
