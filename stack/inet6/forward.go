package inet6

import (
	"encoding/binary"
	"net/netip"

	"github.com/xdpengine/engine/header"
)

// Verdict is what a Forwarder decides for a packet.
type Verdict int

const (
	// Pass lets the packet continue to the engine's own stack.
	Pass Verdict = iota
	// Drop discards the packet (counted as DropForward).
	Drop
	// Transmit sends the frame back out, rewritten in place (its Ethernet
	// header included), from its own UMEM frame; for a reassembled packet,
	// as Route.
	Transmit
	// Route sends the rewritten IPv6 packet (Packet.IP) toward its
	// destination through the send path: next hop (Packet.Via when set),
	// Neighbor Discovery (the packet waits for it), fragmentation at the
	// path MTU.
	Route
)

// Packet is what a Forwarder sees: a received IPv6 packet to the engine
// (one of its addresses or a transparent one, AddTransparent), parsed and
// validated (Ethernet and IPv6 headers, extension headers walked), not yet
// given to its transport. Frame and IP alias the packet's memory and are
// valid only during the call; a forwarder may rewrite them in place and,
// for Transmit, shorten Frame. A fragmented packet is seen once, whole,
// after reassembly: Frame is nil and IP is the packet.
type Packet struct {
	Frame  []byte
	IP     header.IPv6 // trimmed to its payload length
	Offset int         // where the upper-layer header starts in IP
	Proto  uint8       // the upper-layer protocol
	Queue  int         // the worker's queue
	Now    int64       // monotonic nanoseconds of the burst
	// Consumed is set by a Forwarder that handed the frame to another
	// worker (SteerForward): a Drop verdict is then not counted.
	Consumed bool
	// Via, set by a Forwarder with Route, is the next hop when it is not
	// the route's toward IP's destination (direct server return).
	Via netip.Addr
}

// Payload returns the upper-layer header and data.
func (p *Packet) Payload() []byte { return p.IP[p.Offset:] }

// Forwarder is a protocol that forwards packets instead of terminating
// them (the load balancer): each worker's IPv6 layer asks its Forwarder
// about every unicast packet to the engine that passed its checks, before
// transport and ICMPv6 dispatch (a fragmented packet once, reassembled),
// and about a frame another worker handed to it with SteerForward. It runs
// on the worker goroutine and must not block or allocate per packet.
type Forwarder interface {
	// Forward decides a packet's fate: Pass (the engine's own stack
	// takes it), Drop (counted as DropForward), Transmit or Route. A
	// Forwarder that handed the frame to another worker (SteerForward)
	// returns Drop without counting: set p.Consumed.
	Forward(p *Packet) Verdict
}

// SetForwarder makes f this worker's Forwarder (before the worker runs).
func (l *Layer) SetForwarder(f Forwarder) { l.fwd = f }

// SteerForward hands frame to worker owner's Forwarder (the flow is
// owner's); the owner does not check it again.
func (l *Layer) SteerForward(owner *Layer, frame []byte) {
	if l.dp == nil || owner.dp == nil {
		return
	}
	if l.dp.SteerTo(owner.dp, frame, steerForward, 0) {
		l.st.Steered++
	}
}

// PutEthernet writes an Ethernet header from the engine's MAC to dst at
// the start of b, for a forwarder that transmits a frame in place.
func (l *Layer) PutEthernet(b []byte, dst header.MAC) { l.putEthernet(b, dst) }

// forward runs the Forwarder on a packet; done reports a verdict other
// than Pass, with the length of the frame to transmit in place (0:
// nothing to transmit).
func (l *Layer) forward(frame []byte, ip header.IPv6, offset int, proto uint8) (n int, done bool) {
	p := &l.pkt // not a local: a pointer through the interface would escape
	*p = Packet{Frame: frame, IP: ip, Offset: offset, Proto: proto, Queue: l.queue, Now: l.Now()}
	v := l.fwd.Forward(p)
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

// route sends a forwarded IPv6 packet toward its destination (through
// via when valid) by the send path (a copy: the frame it came in goes back
// to the ring).
func (l *Layer) route(ip header.IPv6, via netip.Addr) {
	b := l.h.cfg.Bufs.Get(len(ip))
	if b == nil {
		l.st.DropForward++
		return
	}
	n := copy(b.B, ip)
	l.SendDatagram(Datagram{Buf: b, N: n, Dst: ip.Dst(), Via: via})
}

// forwardSteered handles a frame another worker's Forwarder handed over;
// it returns the length of the frame to transmit in place, or 0.
func (l *Layer) forwardSteered(frame []byte) int {
	if l.fwd == nil || len(frame) < ethHeaderLen+header.IPv6HeaderLen {
		return 0
	}
	ip := header.IPv6(frame[ethHeaderLen:]) // validated by the sender
	ip = ip[:min(len(ip), header.IPv6HeaderLen+int(binary.BigEndian.Uint16(ip[4:])))]
	if header.ParseIPv6Ext(ip, &l.ext) != nil {
		return 0
	}
	n, _ := l.forward(frame, ip, l.ext.Offset, l.ext.Proto)
	return n
}
