package tcpsock

import (
	"net"
	"net/netip"
	"os"
	"syscall"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/stack/socktab"
)

// errTransparent6: IPV6_TRANSPARENT is not supported (an IPv4 address,
// v4-mapped or not, may be transparent).
var errTransparent6 = os.NewSyscallError("setsockopt IPV6_TRANSPARENT", syscall.EOPNOTSUPP)

// sockFamily chooses a socket's family for network and address a (the
// local address of a listener, the peer's of a Dial), as Go's net does
// (favoriteAddrFamily), and returns a in the form the socket table takes
// for that family:
//
//   - "tcp4": IPv4 (a v4-mapped address is unmapped; the zero address and
//     :: are 0.0.0.0); an IPv6 address is refused.
//   - "tcp6": IPv6 with IPV6_V6ONLY set (v6only), as Go's net sets it for
//     "tcp6": the zero address and 0.0.0.0 are ::; an IPv4 or v4-mapped
//     address is refused (net resolves none for "tcp6").
//   - "tcp": a listener on the wildcard (the zero address, 0.0.0.0 or ::)
//     is a dual-stack IPv6 socket on [::] when the engine has IPv6
//     addresses (it takes IPv4 connections too, their addresses
//     v4-mapped, unless Options.V6Only), else IPv4 on 0.0.0.0; an IPv4
//     or v4-mapped address makes an IPv4 socket, an IPv6 one an IPv6
//     socket.
//
// Errors: net.UnknownNetworkError, or a *net.AddrError for an address of
// the wrong family (the caller wraps them in a *net.OpError).
func (s *Stack) sockFamily(network string, a netip.Addr, listen bool) (fam socktab.Family, out netip.Addr, v6only bool, err error) {
	return SockFamily(network, a, listen, s.host6 != nil)
}

// SockFamily is the family rule of a socket on network with address a (a
// listener's local address when listen is set, else a Dial's peer), for
// an engine that has IPv6 addresses (has6) or not: sockFamily, for the
// engine's entry points to check addresses before a socket exists.
func SockFamily(network string, a netip.Addr, listen, has6 bool) (fam socktab.Family, out netip.Addr, v6only bool, err error) {
	wild := !a.IsValid() || a.IsUnspecified()
	noSuitable := func() error { return &net.AddrError{Err: "no suitable address found", Addr: a.String()} }
	switch network {
	case "tcp4":
		if wild {
			return socktab.IPv4, netip.IPv4Unspecified(), false, nil
		}
		if a = a.Unmap(); !a.Is4() {
			return 0, a, false, noSuitable()
		}
		return socktab.IPv4, a, false, nil
	case "tcp6":
		if wild {
			return socktab.IPv6, netip.IPv6Unspecified(), true, nil
		}
		if a.Is4() || a.Is4In6() {
			return 0, a, false, noSuitable()
		}
		return socktab.IPv6, a, true, nil
	case "tcp":
		switch {
		case wild && listen && has6:
			return socktab.IPv6, netip.IPv6Unspecified(), false, nil
		case wild:
			return socktab.IPv4, netip.IPv4Unspecified(), false, nil
		case a.Is4() || a.Is4In6():
			return socktab.IPv4, a.Unmap(), false, nil
		}
		return socktab.IPv6, a, false, nil
	}
	return 0, a, false, net.UnknownNetworkError(network)
}

// adopt gives c, a connection ln made, the addresses the application
// sees: those of an IPv4 connection on a dual-stack (IPv6) listener are
// v4-mapped (::ffff:a.b.c.d), as accept(2) gives them on an AF_INET6
// socket and Go's net reports them. Before the connection is published.
func (ln *Listener) adopt(c *Conn) {
	c.mapped = ln.v6 && c.key.Family == flowtable.FamilyIPv4
}
