package udp

import (
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/inet6"
	"github.com/xdpengine/engine/stack/sock"
)

// send6 runs on the application's goroutine: it builds the whole IPv6/UDP
// packet (the checksum, mandatory over IPv6, included unless the worker's
// transmit offload finishes it) and queues it to
// the worker that sends for the socket, whose IPv6 layer resolves the
// next hop and fragments it at the path MTU (the source fragments in
// IPv6) unless the socket's mode refuses: then EMSGSIZE here, as Linux.
func (c *Conn) send6(dst netip.AddrPort, p []byte, so sendOpts) error {
	s, h := c.s, c.s.host6
	if h == nil || len(s.workers6) == 0 {
		return os.NewSyscallError("sendto", syscall.ENETUNREACH) // no IPv6 address
	}
	d := dst.Addr()
	mcast := d.IsMulticast()
	_, src, ok := h.Route(d)
	if !ok {
		return os.NewSyscallError("sendto", syscall.ENETUNREACH)
	}
	if a := c.laddr.Addr(); a.Is6() && !a.IsUnspecified() && !a.IsMulticast() {
		src = a
	}
	if so.src.IsValid() {
		src = so.src
	}
	total := header.IPv6HeaderLen + header.UDPHeaderLen + len(p)
	mode := sock.PMTUDisc(c.opts.pmtudisc.Load())
	mtu := h.MTU()
	if mode != sock.PMTUDiscProbe {
		mtu = h.PathMTU(d)
	}
	df := mode == sock.PMTUDiscDo || mode == sock.PMTUDiscProbe
	if df && total > mtu {
		return os.NewSyscallError("sendto", syscall.EMSGSIZE)
	}
	hop := so.ttl
	if hop == 0 && mcast {
		hop = uint8(c.MulticastHopLimit())
	} else if hop == 0 {
		hop = uint8(c.HopLimit())
	}
	tc := so.tos
	if tc == 0 {
		tc = uint8(c.opts.tclass.Load())
	}
	b := s.bufs.Get(total)
	if b == nil {
		return os.NewSyscallError("sendto", syscall.EMSGSIZE)
	}
	pkt := b.B[:total]
	s16, d16 := src.As16(), d.As16()
	n := header.UDPHeaderLen + len(p)
	header.PutIPv6(pkt, tc, 0, uint16(n), header.ProtocolUDP, hop, s16, d16)
	u := header.UDP(pkt[header.IPv6HeaderLen:])
	u.SetSrcPort(c.laddr.Port())
	u.SetDstPort(dst.Port())
	u.SetLength(uint16(n))
	u.SetChecksum(0)
	copy(u[header.UDPHeaderLen:], p)

	q := c.owner.Load().Queue()
	if !c.raddr.IsValid() && len(s.workers) > 1 {
		// As over IPv4: through the worker the peer's answers steer to.
		q = s.host.Owner(flowtable.KeyFrom(dst, netip.AddrPortFrom(src, c.laddr.Port()), header.ProtocolUDP)).Queue()
	}
	l := s.workers6[q].l
	// The checksum: left to the worker's transmit offload for a unicast
	// datagram, else computed here.
	ph := header.PseudoHeaderChecksum6(header.ProtocolUDP, s16, d16, uint32(n))
	partial := !mcast && l.TxChecksumOffload()
	if partial {
		u.SetChecksum(ph)
	} else {
		sum := ^header.Checksum(u, ph)
		if sum == 0 {
			sum = 0xffff // zero means "none", which IPv6 forbids
		}
		u.SetChecksum(sum)
	}
	dg := inet6.Datagram{Buf: b, N: total, Dst: d, MTU: mtu, DontFrag: df, Mcast: mcast, PartialUDP: partial}
	if v := c.opts.nextHop; v.Is6() {
		dg.Via = v
	}
	if h.TrySend(l, dg) {
		return nil
	}
	err := h.SendUntil(l, dg, func() error {
		if c.closed.Load() || s.cfg.State.Closed() {
			return os.NewSyscallError("sendto", syscall.EPIPE)
		}
		if dl := c.writeDeadline.Load(); dl != 0 && time.Now().UnixNano() >= dl {
			return os.ErrDeadlineExceeded
		}
		return nil
	}, &c.writeDeadline, c.done)
	if err != nil {
		s.bufs.Put(dg.Buf)
	}
	return err
}
