package engine

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Errors of the socket entry points.
var (
	// ErrIPv6Unsupported: the network ("tcp6", "udp6") or the address (an
	// IPv6 literal, or a name with only IPv6 addresses) needs an IPv6
	// socket, which the engine does not have yet. It is wrapped with
	// EAFNOSUPPORT, so errors.Is(err, syscall.EAFNOSUPPORT) holds too.
	ErrIPv6Unsupported = errors.New("engine: IPv6 sockets are not supported yet")
	// ErrNoResolver: a Dialer was given a host name and has no Resolver
	// (set Dialer.Resolver, e.g. to net.DefaultResolver; listening takes
	// addresses only).
	ErrNoResolver = errors.New("engine: a host name needs a Dialer.Resolver (the engine resolves no names itself)")
)

// errIPv6 is the error of an IPv6 socket or address.
var errIPv6 = fmt.Errorf("%w: %w", ErrIPv6Unsupported, syscall.EAFNOSUPPORT)

// transport returns the transport ("tcp" or "udp") network names, as
// net.Dial takes them: "tcp" and "udp" (either family: IPv4 for now),
// "tcp4" and "udp4". "tcp6" and "udp6" are ErrIPv6Unsupported, anything
// else a net.UnknownNetworkError.
func transport(network string) (string, error) {
	switch network {
	case "tcp", "tcp4":
		return "tcp", nil
	case "udp", "udp4":
		return "udp", nil
	case "tcp6", "udp6":
		return "", errIPv6
	}
	return "", net.UnknownNetworkError(network)
}

// checkNetwork checks that network names proto ("tcp" or "udp").
func checkNetwork(proto, network string) error {
	p, err := transport(network)
	if err != nil {
		return err
	}
	if p != proto {
		return net.UnknownNetworkError(network)
	}
	return nil
}

// checkAddr checks that ap's address can be a socket's on network (an
// invalid address is the wildcard, which the caller fills in): IPv4, or
// IPv4-mapped IPv6 (which it unmaps, as net does for "tcp4").
func checkAddr(network string, ap netip.AddrPort) (netip.AddrPort, error) {
	a := ap.Addr()
	if !a.IsValid() {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port()), nil
	}
	a = a.Unmap()
	if !a.Is4() {
		if network[len(network)-1] == '4' {
			return ap, &net.AddrError{Err: "no suitable address found", Addr: ap.Addr().String()}
		}
		return ap, errIPv6
	}
	return netip.AddrPortFrom(a, ap.Port()), nil
}

// splitAddr splits "host:port" for proto: the port is a number or a
// service name; the host is returned as it is ("" for the wildcard).
func splitAddr(proto, address string) (host string, port uint16, err error) {
	host, ps, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, err
	}
	p, err := net.LookupPort(proto, ps)
	if err != nil {
		return "", 0, err
	}
	return host, uint16(p), nil
}

// parseAddr parses "host:port" whose host is an IP address or empty (the
// wildcard) for network, which must name proto.
func parseAddr(proto, network, address string) (netip.AddrPort, error) {
	if err := checkNetwork(proto, network); err != nil {
		return netip.AddrPort{}, err
	}
	host, port, err := splitAddr(proto, address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	var a netip.Addr
	if host != "" {
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, fmt.Errorf("%q is not an IP address (the engine resolves no names here): %w", host, err)
		}
	}
	return checkAddr(network, netip.AddrPortFrom(a, port))
}

// opError wraps err as net's socket calls do, unless it already is one.
func opError(op, network string, addr net.Addr, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return err
	}
	return &net.OpError{Op: op, Net: network, Addr: addr, Err: err}
}
