package inet4

import (
	"encoding/binary"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ipv4"
)

// Tunnel decapsulation: the engine as the far end of a load balancer's
// direct server return tunnels (Katran's, the lb package's dsr-ipip and
// dsr-gue). The balancer wraps the client's packet, whose destination is
// the VIP, in an outer IPv4 header to the backend:
//
//	IPIP  outer IPv4 (protocol 4) | inner IPv4 packet              (RFC 2003)
//	GUE   outer IPv4 | UDP to Decap.GUEPort | inner IPv4 packet
//	      (variant 1, draft-ietf-intarea-gue: no GUE header; the inner
//	      packet's version nibble, 4, is what marks it)
//
// A packet to one of the engine's own addresses (Host.Owns: not a
// transparent, broadcast or group address) that is such a tunnel packet,
// when Config.Decap turns its kind on, is unwrapped here before the Hook:
// the inner packet is validated as any received packet (header.ParseIPv4),
// must not itself be a tunnel packet (no nested decapsulation: the work per
// frame stays bounded), and must be to the engine (Host.IsLocal: typically
// the VIP, a transparent address). It then runs through the layer as if it
// had arrived alone in the same frame: moved to just after the Ethernet
// header (copy is a memmove), it goes through handleIPv4 again (one more
// header parse, nothing allocated), so that reassembly of inner fragments,
// the Hook, the Forwarder, steering to the worker that owns its flow (which
// hands the frame on and parses the packet after the Ethernet header) and
// in-place replies (an echo reply goes back to the frame's Ethernet source,
// as for any frame) all work unchanged. A fragmented tunnel packet is
// reassembled first; its inner packet, a slice of the reassembled
// datagram, goes through handleDatagram (or reassembly, when it is itself
// a fragment).
//
// Checksums: the outer IPv4 header was checked by handleIPv4. A GUE
// packet's UDP checksum is checked as the UDP layer checks any datagram's:
// zero (none, what Katran and the lb package send) is accepted, a full
// checksum must verify, a partial one (the pseudo-header sum a Linux
// sender on a virtual link leaves) is accepted only where the host trusts
// them (Config.TrustPartial, counted as RxCsumPartial); a bad one is
// counted as DropChecksum. The inner transport checksum is the
// transport's business, as for any packet.
//
// ECN (RFC 6040): a CE mark on the outer header is copied into an inner
// packet that is ECN-capable (its header checksum updated); an inner
// packet that is not ECN-capable is delivered unmarked, where RFC 6040
// would drop it (a balancer that copies the inner TOS into the outer
// header, as Katran and the lb package do, never sends that combination).
// DSCP and TTL of the inner packet are left as they are, as Linux's ipip
// does.
//
// Counters (stats.Decap): every tunnel packet is counted once, as
// unwrapped (IPIP, GUE) or by its drop reason (DropMalformed,
// DropUnsupported, DropNested, DropNotLocal; a bad GUE checksum as
// stats.Worker.DropChecksum). With Config.HookFragments the Hook sees the
// fragments of a fragmented tunnel packet, and not its inner packet.

// Decap says which tunnels the engine terminates (Config.Decap). The zero
// value terminates none.
type Decap struct {
	// IPIP unwraps IPv4-in-IPv4 (IP protocol 4, RFC 2003).
	IPIP bool
	// GUEPort unwraps GUE variant 1 arriving on this UDP destination port
	// (any source port); 0 turns GUE off. A socket bound to it on one of
	// the engine's own addresses receives nothing.
	GUEPort uint16
}

// protoIPIP is IPv4-in-IPv4's protocol number (RFC 2003).
const protoIPIP = 4

// ecnCE is the ECN field's "congestion experienced" codepoint (RFC 3168).
const ecnCE = 3

// decapFrame unwraps a tunnel packet received alone in frame (ip, its
// outer packet, validated and not a fragment): the inner packet moves to
// just after the Ethernet header and the frame runs through handleIPv4
// again. done reports that ip was a tunnel packet the engine terminates
// (unwrapped, or dropped and counted); n is handleIPv4's result for the
// inner packet.
func (l *Layer) decapFrame(frame []byte, eth header.Ethernet, ip header.IPv4) (n int, done bool) {
	inner, ok := l.unwrap(ip)
	if !ok {
		return 0, false
	}
	if inner == nil {
		return 0, true
	}
	hl := eth.HeaderLen()
	frame = frame[:hl+copy(frame[hl:], inner)] // memmove: inner lies further on in frame
	return l.handleIPv4(frame, header.Ethernet(frame)), true
}

// decapDatagram unwraps a tunnel packet reassembled from fragments (ip);
// it reports whether ip was one the engine terminates. The inner packet, a
// slice of the same buffer, goes through handleDatagram, or through
// reassembly when it is itself a fragment.
func (l *Layer) decapDatagram(ip header.IPv4, linkBcast bool) bool {
	inner, ok := l.unwrap(ip)
	if !ok {
		return false
	}
	if inner == nil {
		return true
	}
	if !inner.IsFragment() {
		l.handleDatagram(inner, linkBcast)
		return true
	}
	f := ipv4.FragmentOf(inner)
	if d, ok, _ := l.reasm.Add(&f, l.Now()); ok {
		l.handleDatagram(d.Bytes(), linkBcast)
		d.Release()
	}
	return true
}

// unwrap returns the validated inner packet of ip. ok is false when ip is
// not a tunnel packet the engine terminates (it goes on as any packet); a
// nil inner with ok true is a tunnel packet dropped here, and counted.
func (l *Layer) unwrap(ip header.IPv4) (inner header.IPv4, ok bool) {
	cfg := &l.h.cfg.Decap
	st := &l.st.Decap
	var p []byte
	switch ip.Protocol() {
	case protoIPIP:
		if !cfg.IPIP || !l.h.Owns(ip.Dst()) {
			return nil, false
		}
		p = ip.Payload()
	case header.ProtocolUDP:
		if cfg.GUEPort == 0 {
			return nil, false
		}
		u, err := header.ParseUDP(ip.Payload())
		if err != nil || u.DstPort() != cfg.GUEPort || !l.h.Owns(ip.Dst()) {
			return nil, false // a malformed datagram is the UDP layer's to count
		}
		if !l.checksumOK(ip, u) {
			return nil, true
		}
		p = u.Payload()
		if len(p) == 0 || p[0]>>4 != 4 {
			// Variant 0 (a GUE header), or variant 1 carrying IPv6.
			st.DropUnsupported++
			return nil, true
		}
	default:
		return nil, false
	}
	inner, err := header.ParseIPv4(p)
	switch {
	case err != nil:
		st.DropMalformed++
		return nil, true
	case l.tunnelled(inner):
		st.DropNested++
		return nil, true
	case !l.h.IsLocal(inner.Dst()) && !l.takesGroup(inner):
		st.DropNotLocal++
		return nil, true
	}
	if ip.TOS()&ecnCE == ecnCE {
		markCE(inner)
	}
	if ip.Protocol() == protoIPIP {
		st.IPIP++
	} else {
		st.GUE++
	}
	return inner, true
}

// tunnelled reports whether an inner packet is itself one the engine
// would unwrap, whatever its destination: IPIP, or UDP to the GUE port
// (seen in the first fragment; later fragments carry no port, and the
// datagram they complete is not unwrapped without its first).
func (l *Layer) tunnelled(ip header.IPv4) bool {
	switch ip.Protocol() {
	case protoIPIP:
		return true
	case header.ProtocolUDP:
		port := l.h.cfg.Decap.GUEPort
		p := ip.Payload()
		return port != 0 && ip.FragmentOffset() == 0 && len(p) >= 4 && binary.BigEndian.Uint16(p[2:]) == port
	}
	return false
}

// checksumOK checks a GUE datagram's UDP checksum as the UDP layer checks
// any datagram's (stack/udp): none, full, or partial on a trusted link.
func (l *Layer) checksumOK(ip header.IPv4, u header.UDP) bool {
	src, dst := ip.Src4(), ip.Dst4()
	if l.h.cfg.TrustPartial && u.Checksum() != 0 && u.ChecksumPartial(src, dst) {
		l.st.RxCsumPartial++
		return true
	}
	if u.ChecksumValid(src, dst) {
		return true
	}
	l.st.DropChecksum++
	return false
}

// markCE copies an outer CE mark into an ECN-capable inner packet (RFC
// 6040's normal mode), updating its header checksum.
func markCE(ip header.IPv4) {
	if e := ip.TOS() & ecnCE; e == 0 || e == ecnCE {
		return
	}
	old := binary.BigEndian.Uint16(ip[0:])
	ip.SetTOS(ip.TOS() | ecnCE)
	ip.SetChecksum(header.ChecksumUpdate16(ip.Checksum(), old, binary.BigEndian.Uint16(ip[0:])))
}
