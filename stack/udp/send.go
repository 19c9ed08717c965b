package udp

import (
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/inet4"
	"github.com/xdpengine/engine/stack/sock"
)

// sendOpts are one datagram's overrides of the socket's options.
type sendOpts struct {
	src      netip.Addr // zero: the bound address, else the route's
	ttl, tos uint8      // zero: the socket's
}

// send runs on the application's goroutine: it builds the whole IPv4/UDP
// datagram (checksums included, so that work is spread over the senders,
// unless the worker's transmit offload finishes the UDP one) and queues
// it to the worker that sends for the socket.
func (c *Conn) send(dst netip.AddrPort, p []byte, so sendOpts) error {
	s, h := c.s, c.s.host
	d := dst.Addr()
	bcast, mcast := h.IsBroadcast(d), d.IsMulticast()
	if bcast && !c.opts.broadcast.Load() {
		return os.NewSyscallError("sendto", syscall.EACCES) // as Linux without SO_BROADCAST
	}
	_, src, ok := h.Route(d)
	if !ok && !bcast && !mcast {
		return os.NewSyscallError("sendto", syscall.ENETUNREACH)
	}
	if !ok {
		if len(h.Addrs()) == 0 {
			return os.NewSyscallError("sendto", syscall.ENETUNREACH) // no IPv4 address
		}
		src = h.Addrs()[0].Addr() // the one link: its first address
	}
	if a := c.laddr.Addr().Unmap(); a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && !h.IsBroadcast(a) {
		src = a
	}
	if mcast {
		if a := c.opts.mcIf.Load(); a != nil && a.IsValid() {
			src = *a // IP_MULTICAST_IF
		}
	}
	if so.src.IsValid() {
		src = so.src
	}
	total := 20 + 8 + len(p)
	mtu, df, err := c.fragmentPolicy(sock.PMTUDisc(c.opts.pmtudisc.Load()), d, total)
	if err != nil {
		return err
	}
	ttl, tos := so.ttl, so.tos
	if ttl == 0 && mcast {
		ttl = uint8(c.MulticastTTL())
	} else if ttl == 0 {
		ttl = uint8(c.TTL())
	}
	if tos == 0 {
		tos = uint8(c.opts.tos.Load())
	}
	b := s.bufs.Get(total)
	if b == nil {
		return os.NewSyscallError("sendto", syscall.EMSGSIZE)
	}
	pkt := b.B[:total]
	id := h.NextID(src, d, header.ProtocolUDP, h.Nanotime())
	inet4.PutIPv4(pkt, src, d, id, df, header.ProtocolUDP, total, ttl, tos)
	u := header.UDP(pkt[20:])
	u.SetSrcPort(c.laddr.Port())
	u.SetDstPort(dst.Port())
	u.SetLength(uint16(8 + len(p)))
	copy(pkt[28:], p)

	w := c.owner.Load()
	if !c.raddr.IsValid() && len(s.workers) > 1 {
		// An unconnected socket sends each datagram through the worker
		// its peer's answers are steered to: a busy listener's
		// transmissions spread over the workers as its receptions do,
		// and one peer's datagrams keep their order.
		w = h.Owner(flowtable.KeyFrom(dst, netip.AddrPortFrom(src, c.laddr.Port()), header.ProtocolUDP))
	}
	// The checksum: left to the worker's transmit offload for a unicast
	// datagram, else computed here (the work spread over the senders).
	partial := !bcast && !mcast && w.TxChecksumOffload()
	if partial {
		u.SetChecksum(header.PseudoHeaderChecksum(header.ProtocolUDP, src.As4(), d.As4(), uint16(8+len(p))))
	} else {
		u.SetChecksum(0)
		u.UpdateChecksum(src.As4(), d.As4())
	}
	dg := inet4.Datagram{Buf: b, N: total, Dst: d, Via: c.opts.nextHop, MTU: mtu, Bcast: bcast, Mcast: mcast,
		Loop: mcast && c.MulticastLoopback() && h.Wanted(d, src), PartialUDP: partial}
	if h.TrySend(w, dg) {
		return nil
	}
	return c.sendSlow(w, dg)
}

// sendSlow waits for room in worker w's queue (it was full).
func (c *Conn) sendSlow(w *inet4.Layer, dg inet4.Datagram) error {
	s := c.s
	err := s.host.Send(w, dg, func() error {
		// The worker is behind: wait for room, like a blocking send on a
		// full socket buffer, within the write deadline.
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

// fragmentPolicy applies a socket's IP_MTU_DISCOVER mode to a datagram of
// total bytes toward dst: the MTU to fragment it at, whether it carries DF,
// or EMSGSIZE.
func (c *Conn) fragmentPolicy(d sock.PMTUDisc, dst netip.Addr, total int) (mtu int, df bool, err error) {
	h := c.s.host
	mtu = h.MTU()
	if d != sock.PMTUDiscProbe {
		mtu = h.PathMTU(dst)
	}
	switch d {
	case sock.PMTUDiscDont:
		return mtu, false, nil
	case sock.PMTUDiscDo, sock.PMTUDiscProbe:
		if total > mtu {
			return 0, false, os.NewSyscallError("sendto", syscall.EMSGSIZE)
		}
		return mtu, true, nil
	}
	return mtu, total <= mtu, nil // want: DF on what fits, fragment the rest
}
