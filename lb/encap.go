package lb

import (
	"encoding/binary"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/inet4"
)

// Tunnel DSR: the client's packet, unchanged, goes to its backend inside
// an outer IPv4 header from the engine's address to the backend's:
//
//	dsr-ipip   outer IPv4 (protocol 4) | client packet            (20 bytes)
//	dsr-gue    outer IPv4 | UDP to the GUE port | client packet   (28 bytes)
//	           (GUE variant 1, Katran's: the UDP payload is the IP
//	           packet, recognised by its version nibble)
//	dsr-vxlan  outer IPv4 | UDP to the VXLAN port | VXLAN (VNI) |
//	           Ethernet to the backend's VXLAN MAC | client packet (50 bytes)
//
// The backend decapsulates, owns the VIP, and answers the client directly.
// The outer UDP source port carries the flow's entropy (RFC 7348's
// 49152–65535), so that the backend's NIC spreads flows over its queues;
// its checksum is zero (RFC 7348, RFC 6935 for IPv4). The outer header
// copies the inner TOS and DF; a packet whose encapsulation would exceed
// the link MTU is answered, when its DF bit is set, with ICMP
// "fragmentation needed" giving the MTU minus the overhead (RFC 1191: the
// client's TCP lowers its segment size), and otherwise goes out in outer
// fragments, which the backend reassembles before decapsulating.

// protoIPIP is IP-in-IP's protocol number (RFC 2003).
const protoIPIP = 4

// Outer header sizes.
const (
	ipipOverhead  = header.IPv4MinHeaderLen
	gueOverhead   = header.IPv4MinHeaderLen + 8
	vxlanOverhead = header.IPv4MinHeaderLen + 8 + 8 + header.EthernetHeaderLen
	outerTTL      = 64
)

// overhead is what mode m puts in front of the client's packet (0 for NAT
// and dsr-l2).
func overhead(m Mode) int {
	switch m {
	case DSRIPIP:
		return ipipOverhead
	case DSRGUE:
		return gueOverhead
	case DSRVXLAN:
		return vxlanOverhead
	}
	return 0
}

// tunnel sends p's packet to be in an outer header: in place in its UMEM
// frame when the frame has room and the result fits the MTU, else built in
// the forwarder's scratch buffer and routed (fragmented when larger than
// the MTU and the client allowed it). entropy is the flow's outer UDP
// source port.
func (f *forwarder) tunnel(p *inet4.Packet, v *vip, be *backend, entropy uint16) inet4.Verdict {
	inner := p.IP
	o := overhead(v.cfg.Mode)
	n := o + len(inner)
	mtu := f.b.p.Host.MTU()
	if n > mtu && inner.DontFragment() {
		// RFC 1191: the client lowers its packets to what fits once
		// encapsulated. The error goes from the VIP (the address the
		// client sent to) like any router's on the path.
		f.l.SendICMPError(inner, false, header.ICMPv4DstUnreachable, header.ICMPv4FragmentationNeeded, uint32(mtu-o))
		return f.drop(v, DropTooBig)
	}
	eth := header.EthernetHeaderLen
	if p.Frame != nil && n <= mtu && cap(p.Frame) >= eth+n {
		frame := p.Frame[:eth+n]
		copy(frame[eth+o:], inner) // memmove: the regions overlap
		out := header.IPv4(frame[eth:])
		f.encapsulate(out, header.IPv4(frame[eth+o:]), v, be, entropy, 0)
		p.IP, p.Frame = out, frame
		return f.send(p, be.addr, false)
	}
	if n > len(f.scratch) {
		return f.drop(v, DropOther)
	}
	out := header.IPv4(f.scratch[:n])
	copy(out[o:], inner)
	id := uint16(0)
	if !inner.DontFragment() {
		id = f.b.p.Host.NextID(f.b.p.SNAT, addr4(be.addr), outerProto(v.cfg.Mode), p.Now)
	}
	f.encapsulate(out, header.IPv4(out[o:]), v, be, entropy, id)
	p.IP, p.Frame = out, nil
	return inet4.Route
}

// encapsulate writes the outer headers of v's mode in front of inner
// (out[overhead:] holds it), from the engine's address and MAC. id is the
// outer IP ID: 0 for a DF packet (an atomic datagram, RFC 6864), a fresh
// one for a packet that may be fragmented.
func (f *forwarder) encapsulate(out, inner header.IPv4, v *vip, be *backend, entropy, id uint16) {
	putOuter(out, inner, &v.cfg, be.addr, be.mac, f.b.p.SNAT.As4(), f.b.p.Host.MAC(), entropy, id)
}

// putOuter writes the outer headers of v's mode, from src to dst (and,
// for VXLAN, the inner frame from srcMAC to dstMAC), in front of inner.
func putOuter(out, inner header.IPv4, v *VIP, dst [4]byte, dstMAC header.MAC, src [4]byte, srcMAC header.MAC, entropy, id uint16) {
	total := len(out)
	o := total - len(inner)
	b := out[:o]
	b[0] = 0x45
	b[1] = inner.TOS()
	binary.BigEndian.PutUint16(b[2:], uint16(total))
	binary.BigEndian.PutUint16(b[4:], id)
	var frag uint16
	if inner.DontFragment() {
		frag = 0x4000
	}
	binary.BigEndian.PutUint16(b[6:], frag)
	b[8] = outerTTL
	b[9] = outerProto(v.Mode)
	b[10], b[11] = 0, 0
	copy(b[12:16], src[:])
	copy(b[16:20], dst[:])
	header.IPv4(b).UpdateChecksum()
	if v.Mode == DSRIPIP {
		return
	}
	u := b[header.IPv4MinHeaderLen:]
	binary.BigEndian.PutUint16(u[0:], entropy)
	binary.BigEndian.PutUint16(u[4:], uint16(total-header.IPv4MinHeaderLen))
	u[6], u[7] = 0, 0 // no checksum (RFC 6935, RFC 7348)
	if v.Mode == DSRGUE {
		binary.BigEndian.PutUint16(u[2:], v.GUEPort)
		return
	}
	binary.BigEndian.PutUint16(u[2:], v.VXLANPort)
	x := u[8:]
	binary.BigEndian.PutUint32(x[0:], 0x08000000) // flags: the VNI is valid
	binary.BigEndian.PutUint32(x[4:], v.VNI<<8)
	e := x[8:]
	copy(e[0:6], dstMAC[:])
	copy(e[6:12], srcMAC[:])
	binary.BigEndian.PutUint16(e[12:], header.EtherTypeIPv4)
}

func outerProto(m Mode) uint8 {
	if m == DSRIPIP {
		return protoIPIP
	}
	return header.ProtocolUDP
}

// entropyPort maps a flow hash to an outer UDP source port in
// 49152–65535 (RFC 7348 §5).
func entropyPort(h uint64) uint16 { return 49152 | uint16(h>>32)&0x3fff }
