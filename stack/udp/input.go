package udp

import (
	"net/netip"
	"syscall"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/icmp"
	"github.com/xdpengine/engine/stack/inet4"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/stack/stats"
)

// worker is UDP on one worker: the inet4.Transport of protocol 17.
type worker struct {
	s   *Stack
	l   *inet4.Layer
	st  *stats.Worker
	fan []*socktab.Socket // LookupAll's result for a multicast or broadcast datagram
}

// Input implements inet4.Transport: it delivers a datagram to its socket
// (every matching socket for a multicast or broadcast), hands it to the
// worker that owns its flow, or answers port unreachable.
func (w *worker) Input(r inet4.Received) {
	ip := r.IP
	u, err := header.ParseUDP(ip.Payload())
	if err != nil {
		w.st.DropMalformed++
		return
	}
	src, dst := ip.Src4(), ip.Dst4()
	if !r.Checked {
		// On a trusted link the partial checksum is the common case and
		// costs no pass over the data: look for it first.
		switch {
		case w.s.host.TrustPartial() && u.ChecksumPartial(src, dst):
			w.st.RxCsumPartial++
		case !u.ChecksumValid(src, dst):
			w.st.DropChecksum++
			return
		}
	}
	r.Checked = true
	key := flowtable.KeyFrom4(src, dst, u.SrcPort(), u.DstPort(), header.ProtocolUDP)
	if socks, fan := w.s.tab.LookupAll(&key, w.fan[:0]); fan {
		w.fanout(socks, ip, u)
		return
	}
	st, match := w.s.tab.LookupOn(&key, w.l.Queue())
	if match == socktab.MatchNone {
		w.st.DropNoSocket++
		w.l.SendICMPError(ip, r.LinkBcast, header.ICMPv4DstUnreachable, header.ICMPv4PortUnreachable, 0)
		return
	}
	c, ok := st.Endpoint().(*Conn)
	if !ok {
		w.st.DropProto++
		return
	}
	if o := c.owner.Load(); match == socktab.MatchExact && !r.Steered && r.Frame != nil && o != nil && o != w.l {
		w.l.Steer(o, &r)
		return
	}
	from := netip.AddrPortFrom(c.mapped(ip.Src()), u.SrcPort())
	if !c.deliver(w.l.Waker(), u.Payload(), from, rxMeta{dst: c.mapped(ip.Dst()), ttl: ip.TTL(), tos: ip.TOS()}) {
		w.st.DropRecvBuffer++
	}
}

// ICMPError implements inet4.Transport, as Linux's udp_err: a connected
// socket gets the errno of a "hard" error (port unreachable:
// ECONNREFUSED) on its next call, and "fragmentation needed" (the IPv4
// layer lowered the path MTU) gives EMSGSIZE. A socket with IP_RECVERR,
// connected or not, queues every error (SetRecvErr); without it an
// unconnected socket does not see ICMP errors.
func (w *worker) ICMPError(r *inet4.Received, re *icmp.ReceivedError, m header.ICMPv4) {
	key := flowtable.KeyFrom4(re.Remote, re.Local, re.RemotePort, re.LocalPort, header.ProtocolUDP)
	st, match := w.s.tab.Lookup(&key)
	if match == socktab.MatchNone {
		return
	}
	c, ok := st.Endpoint().(*Conn)
	if !ok {
		return
	}
	switch {
	case c.errq.on.Load():
		c.queueError(w.l.Waker(), r.IP, re, quotedPayload(m))
	case match == socktab.MatchExact && (re.Fatal || re.Errno == syscall.EMSGSIZE):
		c.setSoftError(w.l.Waker(), re.Errno)
	}
}

// fanout delivers a multicast or broadcast datagram to every socket the
// socket table matched whose own filter wants it (IP_ADD_MEMBERSHIP and
// source filters, IP_MULTICAST_ALL), as Linux's __udp4_lib_mcast_deliver:
// each gets a copy; none is a silent drop (no ICMP about a multicast or a
// broadcast).
func (w *worker) fanout(socks []*socktab.Socket, ip header.IPv4, u header.UDP) {
	src, dst := ip.Src4(), ip.Dst4()
	from := netip.AddrPortFrom(ip.Src(), u.SrcPort())
	m := rxMeta{dst: ip.Dst(), ttl: ip.TTL(), tos: ip.TOS()}
	from6 := netip.AddrPortFrom(netip.AddrFrom16(from.Addr().As16()), from.Port()) // for IPv6 sockets
	m6 := m
	m6.dst = netip.AddrFrom16(m.dst.As16())
	delivered := false
	for i, s := range socks {
		socks[i] = nil // the slice is the worker's, kept for the next datagram
		c, ok := s.Endpoint().(*Conn)
		if !ok || isMulticast(dst) && !c.mc.Accept(dst, src) {
			continue
		}
		delivered = true
		f, cm := from, m
		if c.fam == socktab.IPv6 {
			f, cm = from6, m6
		}
		if !c.deliver(w.l.Waker(), u.Payload(), f, cm) {
			w.st.DropRecvBuffer++
		}
	}
	w.fan = socks[:0]
	if !delivered {
		w.st.DropNoSocket++
	}
}

// isMulticast reports whether a is in 224.0.0.0/4.
func isMulticast(a [4]byte) bool { return a[0]&0xf0 == 0xe0 }
