package tcpsock

import (
	"encoding/binary"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/inet6"
	"github.com/xdpengine/engine/tcp/syncookie"
)

// emit6 is Emit over IPv6: Ethernet, a 40-byte IPv6 header (no extension
// headers; hop limit and traffic class from the connection's IP_TTL and
// IP_TOS, which stand for IPV6_UNICAST_HOPS and IPV6_TCLASS; the flow
// label of the 4-tuple, flowLabel) and TCP, built in place into a UMEM
// frame toward the next hop Neighbor Discovery resolved. While the next
// hop is unresolved the segment is built into a buffer and parked by the
// IPv6 layer (inet6.Layer.SendDatagram, which solicits), as the IPv4 path
// parks behind ARP. Nothing is fragmented: a segment larger than the path
// MTU (one built before a Packet Too Big arrived) is dropped as lost.
func (s *sink) emit6(h *header.TCPFields, p1, p2 []byte) bool {
	w := s.w
	if w.l6 == nil {
		return true // no IPv6 layer: as lost on the wire
	}
	hl := h.Len()
	total := header.IPv6HeaderLen + hl + len(p1) + len(p2)
	hop := s.dst
	if s.via.IsValid() {
		hop = s.via
	}
	mac, resolved, ok := w.l6.NextHop(hop)
	if !ok {
		return true // no route (counted): the endpoint retransmits
	}
	if !resolved {
		bufs := w.dp.Bufs()
		b := bufs.Get(total)
		if b == nil {
			return true
		}
		if !s.build6(b.B[:total], h, hl, p1, p2, false) {
			bufs.Put(b)
			return true
		}
		w.l6.SendDatagram(inet6.Datagram{Buf: b, N: total, Dst: s.dst, Via: s.via, DontFrag: true})
		w.countOut(h)
		return true
	}
	addrs := s.one[:]
	if w.dp.AllocFrames(addrs) < 1 {
		s.failed = true
		w.st.DropTxRing++
		return false
	}
	frame := w.dp.FrameBuffer(addrs[0])
	if ethHeaderLen+total > len(frame) || !s.build6(frame[ethHeaderLen:ethHeaderLen+total], h, hl, p1, p2, true) {
		w.dp.Release(addrs[0])
		return true
	}
	copy(frame[0:6], mac[:])
	src := w.l6.Host().MAC()
	copy(frame[6:12], src[:])
	binary.BigEndian.PutUint16(frame[12:], header.EtherTypeIPv6)
	w.dp.QueueTxChecksum(afxdp.Desc{Addr: addrs[0], Len: uint32(ethHeaderLen + total)}, ethHeaderLen+header.IPv6HeaderLen, header.TCPChecksumOffset)
	w.countOut(h)
	return true
}

// build6 writes the IPv6 packet of a segment into b (len(b) is its size),
// its checksum over the IPv6 pseudo-header (with partial, the
// pseudo-header's sum only, as build).
func (s *sink) build6(b []byte, h *header.TCPFields, hl int, p1, p2 []byte, partial bool) bool {
	hop, tclass, _ := s.c.segmentIP()
	src, dst := s.src.As16(), s.dst.As16()
	var flow uint32
	if c := s.c; c != nil {
		if c.flow == 0 {
			c.flow = s.w.s.flowLabel(src, dst, h.SrcPort, h.DstPort)
		}
		flow = c.flow
	} else {
		flow = s.w.s.flowLabel(src, dst, h.SrcPort, h.DstPort)
	}
	const ip = header.IPv6HeaderLen
	header.PutIPv6(b, tclass, flow, uint16(len(b)-ip), header.ProtocolTCP, hop, src, dst)
	h.Checksum = 0
	if _, err := h.Put(b[ip : ip+hl]); err != nil {
		return false
	}
	n := copy(b[ip+hl:], p1)
	copy(b[ip+hl+n:], p2)
	seg := header.TCP(b[ip:])
	ph := header.PseudoHeaderChecksum6(header.ProtocolTCP, src, dst, uint32(len(seg)))
	if partial {
		seg.SetChecksum(ph)
	} else {
		seg.SetChecksum(^header.Checksum(seg, ph))
	}
	return true
}

// flowLabel is the IPv6 flow label of a connection's packets (local and
// remote address and port): 20 bits of a keyed hash of the 4-tuple, never
// zero, the same for every segment of the connection, its SYN-ACK cookie,
// RSTs and TIME-WAIT answers. This is Linux's default
// (net.ipv6.auto_flowlabels=1: a label from the flow's hash, RFC 6437),
// except that Linux draws a new hash when a connection's retransmission
// timer fires (to move it to another path under ECMP), which the engine
// does not.
func (s *Stack) flowLabel(local, remote [16]byte, lport, rport uint16) uint32 {
	t := syncookie.Tuple{Src: remote, Dst: local, SrcPort: rport ^ 0x3c3c, DstPort: lport ^ 0xc3c3, IPv6: true}
	if l := s.jar.ISN(t, 0) & 0xfffff; l != 0 {
		return l
	}
	return 1
}
