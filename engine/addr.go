package engine

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Errors of the socket entry points.
var (
	// ErrNoResolver: a Dialer was given a host name and has no Resolver
	// (set Dialer.Resolver, e.g. to net.DefaultResolver; listening takes
	// addresses only).
	ErrNoResolver = errors.New("engine: a host name needs a Dialer.Resolver (the engine resolves no names itself)")
)

// transport returns the transport ("tcp" or "udp") of a network name, as
// net.Dial takes them: "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6";
// anything else is a net.UnknownNetworkError.
func transport(network string) (string, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return "tcp", nil
	case "udp", "udp4", "udp6":
		return "udp", nil
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

// checkSockAddr checks that ap's address can be a socket's on network,
// with Go's net rules: "tcp4"/"udp4" take IPv4 addresses (v4-mapped ones
// unmapped), "tcp6"/"udp6" native IPv6 ones only, "tcp"/"udp" either (a
// v4-mapped address is IPv4). The wildcard (an invalid address) is
// 0.0.0.0 for the "4" networks, [::] for the "6" ones, and for "tcp" and
// "udp" [::] (dual-stack, as Go's net listens on ":P") when the engine has
// IPv6 addresses (dual), else 0.0.0.0.
func checkSockAddr(network string, ap netip.AddrPort, dual bool) (netip.AddrPort, error) {
	a := ap.Addr()
	last := network[len(network)-1]
	if !a.IsValid() {
		if last == '6' || last == 'p' && dual {
			return netip.AddrPortFrom(netip.IPv6Unspecified(), ap.Port()), nil
		}
		return netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port()), nil
	}
	a = a.WithZone("") // one interface: a link-local address's zone can only name it
	native6 := a.Is6() && !a.Is4In6()
	if last == '4' && native6 || last == '6' && !native6 {
		return ap, &net.AddrError{Err: "no suitable address found", Addr: a.String()}
	}
	return netip.AddrPortFrom(a.Unmap(), ap.Port()), nil
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

// parseAddrUDP parses "host:port" whose host is an IP address or empty (the
// wildcard) for a UDP network, with checkSockAddr's rules.
func parseAddrUDP(network, address string, dual bool) (netip.AddrPort, error) {
	if err := checkNetwork("udp", network); err != nil {
		return netip.AddrPort{}, err
	}
	host, port, err := splitAddr("udp", address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	var a netip.Addr
	if host != "" {
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, fmt.Errorf("%q is not an IP address (the engine resolves no names here): %w", host, err)
		}
	}
	return checkSockAddr(network, netip.AddrPortFrom(a, port), dual)
}

// opError wraps err as net's socket calls do, unless it already is one.
func opError(op, network string, addr net.Addr, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return err
	}
	return &net.OpError{Op: op, Net: network, Addr: addr, Err: err}
}
