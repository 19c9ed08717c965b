package udp

import (
	"net/netip"
	"syscall"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/inet4"
	"github.com/xdpengine/engine/stack/inet6"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/stack/stats"
)

// worker6 is UDP on one worker's IPv6 layer: the inet6.Transport of next
// header 17. It shares the worker's counters with worker.
type worker6 struct {
	s   *Stack
	l   *inet6.Layer
	l4  *inet4.Layer // the same worker's IPv4 layer (sockets name their worker by it)
	st  *stats.Worker
	key flowtable.Key     // scratch: built in place
	fan []*socktab.Socket // LookupAll's result for a datagram to a group
}

// Input implements inet6.Transport: it checks the checksum (mandatory over
// IPv6: a zero one is dropped, as Linux drops it; a partial one passes on
// a virtual link), looks the datagram up among the IPv6 sockets (every
// matching socket for a group), hands a connected socket's datagram to
// the worker that owns its flow, or answers port unreachable.
func (w *worker6) Input(r inet6.Received) {
	u, err := header.ParseUDP(r.Payload())
	if err != nil || int(u.Length()) != len(u) {
		w.st.DropMalformed++
		return
	}
	src, dst := r.IP.Src16(), r.IP.Dst16()
	if !r.Checked {
		c := u.Checksum()
		ph := header.PseudoHeaderChecksum6(header.ProtocolUDP, src, dst, uint32(len(u)))
		switch {
		case c == 0: // no checksum: not allowed over IPv6 (RFC 8200 8.1)
			w.st.DropChecksum++
			return
		case c == ph && w.s.host6.TrustPartial(): // first: no pass over the data
			w.st.RxCsumPartial++
		case header.Checksum(u, ph) == 0xffff:
		default:
			w.st.DropChecksum++
			return
		}
		r.Checked = true
	}
	k := &w.key
	*k = flowtable.Key{Src: src, Dst: dst, SrcPort: u.SrcPort(), DstPort: u.DstPort(),
		Proto: header.ProtocolUDP, Family: flowtable.FamilyIPv6}
	if socks, fan := w.s.tab.LookupAll(k, w.fan[:0]); fan {
		w.fanout(socks, r.IP, u)
		return
	}
	st, match := w.s.tab.LookupOn(k, w.l.Queue())
	if match == socktab.MatchNone {
		w.l.NoSocket(&r)
		return
	}
	c, ok := st.Endpoint().(*Conn)
	if !ok {
		w.st.DropProto++
		return
	}
	if o := c.owner.Load(); match == socktab.MatchExact && !r.Steered && o != nil && o != w.l4 {
		w.l.Steer(w.s.workers6[o.Queue()].l, &r)
		return
	}
	from := netip.AddrPortFrom(netip.AddrFrom16(src), u.SrcPort())
	m := rxMeta{dst: netip.AddrFrom16(dst), ttl: r.IP.HopLimit(), tos: r.IP.TrafficClass()}
	if !c.deliver(w.l4.Waker(), u.Payload(), from, m) {
		w.st.DropRecvBuffer++
	}
}

// fanout delivers a datagram to an IPv6 group to every socket the socket
// table matched whose own filter wants it (IPV6_JOIN_GROUP,
// IPV6_MULTICAST_ALL), as Linux's __udp6_lib_mcast_deliver: each gets a
// copy; none is a silent drop (no ICMPv6 about a multicast, RFC 4443
// 2.4(e)).
func (w *worker6) fanout(socks []*socktab.Socket, ip header.IPv6, u header.UDP) {
	dst := ip.Dst16()
	from := netip.AddrPortFrom(ip.Src(), u.SrcPort())
	m := rxMeta{dst: netip.AddrFrom16(dst), ttl: ip.HopLimit(), tos: ip.TrafficClass()}
	delivered := false
	for i, s := range socks {
		socks[i] = nil // the slice is the worker's, kept for the next datagram
		c, ok := s.Endpoint().(*Conn)
		if !ok || !c.mc6.accept(dst) {
			continue
		}
		delivered = true
		if !c.deliver(w.l4.Waker(), u.Payload(), from, m) {
			w.st.DropRecvBuffer++
		}
	}
	w.fan = socks[:0]
	if !delivered {
		w.st.DropNoSocket++
	}
}

// ICMPError implements inet6.Transport, as Linux's udpv6_err: a connected
// socket gets the errno of a "hard" error on its next call (port
// unreachable: ECONNREFUSED; administratively prohibited: EACCES;
// parameter problem: EPROTO; Packet Too Big: EMSGSIZE unless the socket
// does not discover path MTUs; the IPv6 layer already lowered the path
// MTU); a socket with the error queue on (SetRecvErr: IPV6_RECVERR)
// queues every error, connected or not.
func (w *worker6) ICMPError(r *inet6.Received, e *inet6.ICMPError) {
	q := e.Transport
	if len(q) < 4 {
		return
	}
	lport, rport := uint16(q[0])<<8|uint16(q[1]), uint16(q[2])<<8|uint16(q[3])
	k := flowtable.Key{Src: e.Remote().As16(), Dst: e.Local().As16(), SrcPort: rport, DstPort: lport,
		Proto: header.ProtocolUDP, Family: flowtable.FamilyIPv6}
	st, match := w.s.tab.Lookup(&k)
	if match == socktab.MatchNone {
		return
	}
	c, ok := st.Endpoint().(*Conn)
	if !ok {
		return
	}
	hard := e.Errno == syscall.ECONNREFUSED || e.Errno == syscall.EACCES || e.Errno == syscall.EPROTO ||
		e.Errno == syscall.EMSGSIZE && c.MTUDiscover() != 0
	switch {
	case c.errq.on.Load():
		var payload []byte
		if len(q) > header.UDPHeaderLen {
			payload = q[header.UDPHeaderLen:]
		}
		info := uint32(0)
		if e.Type == header.ICMPv6PacketTooBig {
			info = e.Rest
		}
		c.queueSockError(w.l4.Waker(), SockError{Errno: e.Errno, Type: e.Type, Code: e.Code, Info: info, ICMPv6: true,
			Offender: r.Src(), Dst: netip.AddrPortFrom(e.Remote(), rport), Payload: append([]byte(nil), payload...)})
	case match == socktab.MatchExact && hard:
		c.setSoftError(w.l4.Waker(), e.Errno)
	}
}
