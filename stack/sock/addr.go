package sock

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"
)

// ResolveAddr parses "host:port" for proto ("udp" or "tcp"): network must
// be proto or proto+"4", the host a literal IPv4 address or empty (the
// wildcard), the port a number or a service name.
func ResolveAddr(proto, network, address string) (netip.AddrPort, error) {
	if network != proto && network != proto+"4" {
		return netip.AddrPort{}, net.UnknownNetworkError(network)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	addr := netip.IPv4Unspecified()
	if host != "" {
		if addr, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, fmt.Errorf("%q is not an IP address (the engine resolves no names): %w", host, err)
		}
	}
	p, err := net.LookupPort(proto, port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	addr = addr.Unmap()
	if !addr.Is4() {
		return netip.AddrPort{}, syscall.EAFNOSUPPORT
	}
	return netip.AddrPortFrom(addr, uint16(p)), nil
}

// Relabel sets the Op and Net of a socket-table error.
func Relabel(err error, op, network string) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		oe.Op, oe.Net = op, network
		return oe
	}
	return &net.OpError{Op: op, Net: network, Err: err}
}

// Shard picks the port shard (worker) a connect takes its port from when
// the application does not choose: at random, so that connections spread
// over the workers.
func Shard(workers int) int { return rand.IntN(workers) }
