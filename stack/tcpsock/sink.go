package tcpsock

import (
	"net/netip"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/inet4"
	"github.com/xdpengine/engine/tcp"
)

// sink builds segments straight into UMEM frames: Ethernet, IPv4 (DF
// set: TCP never fragments, its MSS comes from the MTU) or IPv6
// (sink6.go), and TCP.
type sink struct {
	w        *worker
	c        *Conn // nil for a RST or cookie with no connection
	src, dst netip.Addr
	via      netip.Addr // the connection's NextHop, if any
	one      [1]uint64  // the frame being built
	failed   bool
	v6       bool // src and dst are IPv6 addresses: emit6
}

// ethHeaderLen is the Ethernet header before the IPv4 packet.
const ethHeaderLen = 14

func (s *sink) to(src, dst netip.Addr, c *Conn) {
	s.src, s.dst, s.c, s.failed, s.via = src, dst, c, false, netip.Addr{}
	s.v6 = dst.Is6()
	if c != nil {
		s.via = c.via
	}
}

// Emit implements tcp.Sink.
func (s *sink) Emit(h *header.TCPFields, p1, p2 []byte) bool {
	if s.v6 {
		return s.emit6(h, p1, p2)
	}
	w := s.w
	hl := h.Len()
	total := 20 + hl + len(p1) + len(p2)
	hop := s.dst
	if s.via.IsValid() {
		hop = s.via
	}
	mac, resolved, ok := w.l.NextHop(hop)
	if !ok {
		return true // as lost on the wire: the endpoint retransmits
	}
	var id uint16
	if s.c != nil {
		s.c.ipID++
		id = s.c.ipID
	}
	if !resolved {
		// Not resolved: build the packet in a buffer and park it until ARP
		// answers (or drops it), as for a datagram.
		bufs := w.dp.Bufs()
		b := bufs.Get(total)
		if b == nil {
			return true
		}
		if !s.build(b.B[:total], h, hl, id, p1, p2, false) {
			bufs.Put(b)
			return true
		}
		w.l.SendDatagram(inet4.Datagram{Buf: b, N: total, Dst: s.dst, Via: s.via})
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
	if ethHeaderLen+total > len(frame) || !s.build(frame[ethHeaderLen:ethHeaderLen+total], h, hl, id, p1, p2, true) {
		w.dp.Release(addrs[0])
		return true
	}
	w.l.PutEthernet(frame, mac)
	w.dp.QueueTxChecksum(afxdp.Desc{Addr: addrs[0], Len: uint32(ethHeaderLen + total)}, ethHeaderLen+20, header.TCPChecksumOffset)
	w.countOut(h)
	return true
}

func (w *worker) countOut(h *header.TCPFields) {
	w.st.TCP.OutSegs++
	if h.Flags&tcp.FlagRST != 0 {
		w.st.TCP.OutRsts++
	}
}

// build writes the IPv4 packet of a segment into b (len(b) is its size);
// with partial, its checksum field holds only the pseudo-header's sum,
// for the worker to finish (datapath.Worker.QueueTxChecksum).
func (s *sink) build(b []byte, h *header.TCPFields, hl int, id uint16, p1, p2 []byte, partial bool) bool {
	ttl, tos, df := s.c.segmentIP()
	inet4.PutIPv4(b, s.src, s.dst, id, df, header.ProtocolTCP, len(b), ttl, tos)
	h.Checksum = 0
	if _, err := h.Put(b[20 : 20+hl]); err != nil {
		return false
	}
	n := copy(b[20+hl:], p1)
	copy(b[20+hl+n:], p2)
	seg := header.TCP(b[20:])
	if partial {
		seg.SetChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, s.src.As4(), s.dst.As4(), uint16(len(seg))))
	} else {
		seg.UpdateChecksum(s.src.As4(), s.dst.As4())
	}
	return true
}
