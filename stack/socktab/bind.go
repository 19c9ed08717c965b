package socktab

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// owns reports whether a (IPv4 unmapped, or IPv6) is an address of the
// engine, or one Linux lets any socket bind (multicast, broadcast). The
// engine has no loopback interface: 127.0.0.0/8 is not owned (a Linux host
// whose lo is down answers the same, EADDRNOTAVAIL).
func (t *Table) owns(a netip.Addr) bool {
	if a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return true
	}
	for _, p := range t.cfg.Addrs {
		if p.Addr() == a {
			return true
		}
		if a.Is4() && p.Addr().Is4() && p.Bits() < 31 && a == broadcast(p) {
			return true
		}
	}
	return false
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// v4MappedAny is ::ffff:0.0.0.0: on an IPv6 socket, the IPv4 wildcard. Linux
// classes it as a v4-mapped address whose IPv4 part is INADDR_ANY, so it
// takes every IPv4 address (and no IPv6 traffic).
var v4MappedAny = netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff})

// isWildcard reports whether a is a wildcard address: 0.0.0.0, :: or
// ::ffff:0.0.0.0.
func isWildcard(a netip.Addr) bool { return a.IsUnspecified() || a == v4MappedAny }

// Bind is bind(2): it reserves addr (address and port; port 0 picks one)
// for s, following Linux's rules. IPv6 sockets take IPv4 addresses in
// v4-mapped form (::ffff:a.b.c.d; ::ffff:0.0.0.0 is the IPv4 wildcard).
func (t *Table) Bind(s *Socket, addr netip.AddrPort) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.bind(s, addr)
}

func (t *Table) bind(s *Socket, addr netip.AddrPort) error {
	if s.closed {
		return s.opErr("bind", addr, syscall.EBADF, "the socket is closed")
	}
	a := addr.Addr()
	if !a.IsValid() {
		return s.opErr("bind", addr, syscall.EINVAL, "no address given")
	}
	port := addr.Port()
	if s.family == IPv4 && !a.Is4() {
		if a.Is4In6() {
			return s.opErr("bind", addr, syscall.EAFNOSUPPORT, "an IPv4 socket takes a plain IPv4 address, not ::ffff:a.b.c.d")
		}
		return s.opErr("bind", addr, syscall.EAFNOSUPPORT, "an IPv4 socket cannot bind an IPv6 address; open an IPv6 socket")
	}
	if s.family == IPv6 && a.Is4() {
		return s.opErr("bind", addr, syscall.EINVAL, "an IPv6 socket takes IPv4 addresses in v4-mapped form (::ffff:a.b.c.d)")
	}
	free := s.opts.Freebind || t.cfg.NonlocalBind
	privErr := func() error {
		if port != 0 && int(port) < t.unpriv && !t.cfg.BindService {
			return s.opErr("bind", addr, syscall.EACCES, fmt.Sprintf("port %d is privileged (below %d): set Config.BindService (like CAP_NET_BIND_SERVICE) or use a higher port", port, t.unpriv))
		}
		return nil
	}
	notLocal := func() error {
		return s.opErr("bind", addr, syscall.EADDRNOTAVAIL, "the engine does not own this address: add it to Config.Addrs, or set Options.Freebind (IP_FREEBIND)")
	}
	if s.family == IPv4 {
		// __inet_bind: the address, then the privilege.
		if !a.IsUnspecified() && !free && !t.owns(a) {
			return notLocal()
		}
		if err := privErr(); err != nil {
			return err
		}
	} else {
		// __inet6_bind: the privilege, then the address.
		if err := privErr(); err != nil {
			return err
		}
		if a.Is4In6() {
			if s.opts.V6Only {
				return s.opErr("bind", addr, syscall.EINVAL, "an IPV6_V6ONLY socket cannot bind a v4-mapped address; clear V6Only or open an IPv4 socket")
			}
			if u := a.Unmap(); !u.IsUnspecified() && !free && !t.owns(u) {
				return notLocal()
			}
		} else if !a.IsUnspecified() && !free && !t.owns(a) {
			return notLocal()
		}
	}
	// __inet_bind: EINVAL once the socket has a port or left CLOSE. A
	// bind(addr, 0) with IP_BIND_ADDRESS_NO_PORT took no port, so the socket
	// may be bound again (to any address), as on Linux.
	if s.local.Port() != 0 || s.remote.IsValid() || s.state != StateClosed {
		return s.opErr("bind", addr, syscall.EINVAL, "the socket is already bound; open a new socket to bind again")
	}
	if isWildcard(a) && t.cfg.DenyWildcard {
		return s.opErrS("bind", addr, syscall.EACCES, "wildcard binds are disabled by Config.DenyWildcard: bind one of the engine's addresses", ErrWildcardDenied)
	}
	s.local = netip.AddrPortFrom(a, 0)
	if port == 0 && s.opts.BindAddressNoPort {
		t.warnWildcard(s, addr)
		return nil // the port is chosen at connect
	}
	if port == 0 {
		free := func(p uint16) bool { return !t.conflicts(s, p) }
		if s.proto == TCP {
			free = func(p uint16) bool { return !t.conflictsAny(s, p) }
		}
		p, err := t.alloc[s.proto].PickBind(free)
		if err != nil {
			s.local = netip.AddrPort{}
			return s.opErr("bind", addr, syscall.EADDRINUSE, "no free port in the ephemeral range: widen it (Config.Ports.Range, SetPortRange) or close sockets")
		}
		port = p
	} else if t.conflicts(s, port) {
		s.local = netip.AddrPort{}
		return s.opErr("bind", addr, syscall.EADDRINUSE, "another socket holds this address and port: close it, or set SO_REUSEADDR/SO_REUSEPORT on both sockets as Linux requires (TIME-WAIT and accepted connections keep the options of the socket they came from)")
	}
	s.local = netip.AddrPortFrom(a, port)
	t.alloc[s.proto].Hold(port)
	s.held = true
	t.bound[s] = struct{}{}
	t.addBucket(s)
	t.warnWildcard(s, s.local)
	if s.proto == UDP {
		t.publish()
	}
	return nil
}

func (t *Table) warnWildcard(s *Socket, addr netip.AddrPort) {
	switch {
	case addr.Addr() == v4MappedAny:
		t.log.Warn("socktab: wildcard bind: ::ffff:0.0.0.0 is the IPv4 wildcard; the socket accepts IPv4 traffic on every address the engine owns; bind a specific address to limit the exposure, or set Config.DenyWildcard to forbid this",
			"net", s.netName(), "addr", addr.String(), "socket", s.id)
	case addr.Addr().IsUnspecified():
		t.log.Warn("socktab: wildcard bind: the socket accepts traffic on every address the engine owns; bind a specific address to limit the exposure, or set Config.DenyWildcard to forbid this",
			"net", s.netName(), "addr", addr.String(), "socket", s.id)
	}
}

// conflicts reports whether s may not take port under Linux's rules for an
// explicit bind or a listen.
func (t *Table) conflicts(s *Socket, port uint16) bool {
	v := s.view()
	for _, o := range t.buckets[bucketKey{s.proto, port}] {
		if o == s {
			continue
		}
		if s.proto == TCP && tcpConflict(v, o.view()) || s.proto == UDP && udpConflict(v, o.view()) {
			return true
		}
	}
	return false
}

// conflictsAny reports whether any socket on port overlaps s's address,
// whatever their options: TCP's automatic choice (inet_csk_find_open_port
// with relax=false) skips such ports.
func (t *Table) conflictsAny(s *Socket, port uint16) bool {
	v := s.view()
	for _, o := range t.buckets[bucketKey{s.proto, port}] {
		if o != s && addrOverlap(v, o.view()) {
			return true
		}
	}
	return false
}

// Listen is listen(2) for a TCP socket. An unbound socket is bound to the
// wildcard address and an ephemeral port first, as Linux does. Listening
// re-checks the bind rules: two SO_REUSEADDR sockets may share a port while
// neither listens, but only one of them may listen (unless SO_REUSEPORT).
func (t *Table) Listen(s *Socket) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.closed {
		return s.opErr("listen", s.local, syscall.EBADF, "the socket is closed")
	}
	if s.proto != TCP {
		return s.opErr("listen", s.local, syscall.EOPNOTSUPP, "only TCP sockets listen; a bound UDP socket already receives")
	}
	if s.state == StateListen {
		return nil
	}
	if s.state != StateClosed || s.remote.IsValid() {
		return s.opErr("listen", s.local, syscall.EINVAL, "the socket is connected; open a new socket to listen")
	}
	if s.local.Port() == 0 {
		a := s.local.Addr()
		if !a.IsValid() {
			a = netip.IPv4Unspecified()
			if s.family == IPv6 {
				a = netip.IPv6Unspecified()
			}
		}
		s.local = netip.AddrPort{}
		saved := s.opts.BindAddressNoPort
		s.opts.BindAddressNoPort = false
		err := t.bind(s, netip.AddrPortFrom(a, 0))
		s.opts.BindAddressNoPort = saved
		if err != nil {
			if op, ok := err.(*net.OpError); ok {
				op.Op = "listen"
			}
			return err
		}
	}
	s.state = StateListen
	if t.conflicts(s, s.local.Port()) {
		s.state = StateClosed
		return s.opErr("listen", s.local, syscall.EADDRINUSE, "another socket already listens on this address and port (SO_REUSEADDR does not share a listening port): close it, or set SO_REUSEPORT on both")
	}
	t.publish()
	return nil
}
