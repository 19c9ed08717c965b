package socktab

import "net/netip"

// This file transcribes Linux's bind conflict rules (net/ipv4/inet_connection_sock.c
// inet_bind_conflict and inet_rcv_saddr_equal, net/ipv4/udp.c udp_lib_lport_inuse).
// Sockets are compared within one protocol and port; IPv4 and IPv6 sockets
// share the port space.

// loopback4IPv6 is the IPv4 receive address Linux gives an AF_INET6 socket
// bound to a non-mapped IPv6 address (LOOPBACK4_IPV6, 127.0.0.6): it never
// equals a real IPv4 address but is not the wildcard either.
var loopback4IPv6 = netip.AddrFrom4([4]byte{127, 0, 0, 6})

// v6type classifies an AF_INET6 socket's address like ipv6_addr_type.
type v6type uint8

const (
	v6Any v6type = iota
	v6Mapped
	v6Other
)

// bindView is what the conflict rules read of a socket.
type bindView struct {
	family   Family
	addr     netip.Addr // as bound (IPv6 sockets: 16-byte form)
	v6only   bool
	reuse    bool
	reuseprt bool
	owner    uint32
	listen   bool
	timeWait bool
}

func (s *Socket) view() bindView {
	v := bindView{s.family, s.local.Addr(), s.opts.V6Only, s.opts.ReuseAddr, s.opts.ReusePort, s.opts.Owner,
		s.state == StateListen, s.state == StateTimeWait}
	if v.family == IPv6 && v.addr.IsValid() && v.type6() == v6Other {
		// __inet6_bind sets sk_ipv6only on a bind to a specific address
		// that is not v4-mapped: such a socket never overlaps IPv4.
		v.v6only = true
	}
	return v
}

// rcvSaddr4 is the socket's IPv4 receive address (inet_rcv_saddr); the zero
// Addr of 4 bytes is INADDR_ANY.
func (v bindView) rcvSaddr4() netip.Addr {
	if v.family == IPv4 {
		return v.addr
	}
	switch v.type6() {
	case v6Any:
		return netip.IPv4Unspecified()
	case v6Mapped:
		return v.addr.Unmap()
	}
	return loopback4IPv6
}

func (v bindView) type6() v6type {
	switch {
	case v.addr.IsUnspecified() && !v.addr.Is4In6():
		return v6Any
	case v.addr.Is4In6():
		return v6Mapped
	}
	return v6Other
}

// addrOverlap is inet_rcv_saddr_equal(sk, sk2, match_wildcard=true).
func addrOverlap(sk, sk2 bindView) bool {
	if sk.family == IPv6 {
		t1 := sk.type6()
		t2 := v6Mapped // an AF_INET socket counts as mapped
		if sk2.family == IPv6 {
			t2 = sk2.type6()
		}
		if t1 == v6Mapped && t2 == v6Mapped {
			return !sk2.v6only && v4Overlap(sk.rcvSaddr4(), sk2.rcvSaddr4())
		}
		if t1 == v6Any && t2 == v6Any {
			return true
		}
		if t2 == v6Any && !(sk2.v6only && t1 == v6Mapped) {
			return true
		}
		if t1 == v6Any && !(sk.v6only && t2 == v6Mapped) {
			return true
		}
		return sk2.family == IPv6 && sk.addr == sk2.addr
	}
	return !sk2.v6only && v4Overlap(sk.rcvSaddr4(), sk2.rcvSaddr4())
}

func v4Overlap(a, b netip.Addr) bool {
	return a == b || a.IsUnspecified() || b.IsUnspecified()
}

// tcpConflict is inet_bind_conflict with relax=true, reuseport_ok=true (an
// explicit bind or listen) followed by the address check. sk2 may be an
// accepted connection or a TIME-WAIT socket: both carry the options of the
// socket they came from (a child copies its listener's sk_reuse and
// sk_reuseport, a TIME-WAIT socket copies them into tw_reuse and
// tw_reuseport), and a TIME-WAIT socket shares a SO_REUSEPORT port with any
// owner.
func tcpConflict(sk, sk2 bindView) bool {
	if sk.reuse && sk2.reuse && !sk2.listen {
		return false
	}
	if sk.reuseprt && sk2.reuseprt && (sk2.timeWait || sk.owner == sk2.owner) {
		return false
	}
	return addrOverlap(sk, sk2)
}

// udpConflict is udp_lib_lport_inuse for one other socket.
func udpConflict(sk, sk2 bindView) bool {
	if sk.reuse && sk2.reuse {
		return false
	}
	if !addrOverlap(sk, sk2) {
		return false
	}
	return !(sk.reuseprt && sk2.reuseprt && sk.owner == sk2.owner)
}
