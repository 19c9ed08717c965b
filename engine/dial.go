package engine

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/xdpengine/engine/lb/health"
)

// Dial connects to address on network, as net.Dial does: "tcp", "tcp4"
// and "tcp6" make a TCP connection (a *TCPConn), "udp", "udp4" and "udp6"
// a connected UDP socket (a *UDPConn), of the peer's family. The address
// is "host:port" with an IP address for host ("[2001:2::2]:7" for IPv6):
// Engine.Dial resolves no names (a Dialer with a Resolver does).
func (e *Engine) Dial(network, address string) (net.Conn, error) {
	d := Dialer{Engine: e}
	return d.DialContext(context.Background(), network, address)
}

// DialContext is Dial bounded by ctx (the TCP handshake; a UDP socket
// connects at once).
func (e *Engine) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d := Dialer{Engine: e}
	return d.DialContext(ctx, network, address)
}

// DialTCP connects to raddr from laddr (nil: an address and port the
// engine chooses, steered so that the replies reach the worker that owns
// the connection), as net.DialTCP. It waits for the handshake like
// connect(2): ECONNREFUSED when the peer answers RST, ETIMEDOUT after the
// SYN retries. A Dialer takes a context and socket options too.
func (e *Engine) DialTCP(network string, laddr, raddr *net.TCPAddr) (*TCPConn, error) {
	if raddr == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("missing address")}
	}
	var lap netip.AddrPort
	if laddr != nil {
		lap = laddr.AddrPort()
	}
	return e.DialTCPAddrPort(network, lap, raddr.AddrPort())
}

// DialTCPAddrPort is DialTCP with netip.AddrPort addresses (a zero laddr:
// the engine chooses; port 0: it chooses the port), named after
// net.UDPConn's ReadFromUDPAddrPort: nothing is parsed or allocated to
// name the peer.
func (e *Engine) DialTCPAddrPort(network string, laddr, raddr netip.AddrPort) (*TCPConn, error) {
	return e.dialTCP(context.Background(), network, laddr, raddr, SocketOptions{})
}

// DialUDP opens a UDP socket connected to raddr, bound to laddr if it is not
// nil (else to a source address and port the engine chooses, steered so the
// replies reach the worker that sends), as net.DialUDP: an IPv6 socket for
// an IPv6 raddr ("udp" or "udp6"), an IPv4 one for an IPv4 raddr ("udp" or
// "udp4"). Like a connected kernel socket, it receives only from raddr,
// and an ICMP (or ICMPv6) port unreachable from raddr makes the next call
// return ECONNREFUSED. A Dialer takes socket options too.
func (e *Engine) DialUDP(network string, laddr, raddr *net.UDPAddr) (*UDPConn, error) {
	if raddr == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("missing address")}
	}
	var lap netip.AddrPort
	if laddr != nil {
		lap = laddr.AddrPort()
	}
	return e.DialUDPAddrPort(network, lap, raddr.AddrPort())
}

// DialUDPAddrPort is DialUDP with netip.AddrPort addresses (a zero laddr:
// the engine chooses).
func (e *Engine) DialUDPAddrPort(network string, laddr, raddr netip.AddrPort) (*UDPConn, error) {
	return e.dialUDP(network, laddr, raddr, SocketOptions{})
}

// dialTCP checks network and the addresses and connects.
func (e *Engine) dialTCP(ctx context.Context, network string, laddr, raddr netip.AddrPort, opts SocketOptions) (*TCPConn, error) {
	if err := checkNetwork("tcp", network); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	raddr, err := checkSockAddr(network, raddr, false)
	if err == nil && laddr.IsValid() {
		laddr, err = checkSockAddr(network, laddr, false)
	}
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(raddr), Err: err}
	}
	return e.tcp.Dial(ctx, network, laddr, raddr, opts)
}

// dialUDP checks network and the addresses and connects: the socket is of
// raddr's family (a wildcard raddr: IPv4), or, as Go's net makes it, a
// dual-stack IPv6 one for laddr [::] and an IPv4 raddr ("udp").
func (e *Engine) dialUDP(network string, laddr, raddr netip.AddrPort, opts SocketOptions) (*UDPConn, error) {
	if err := checkNetwork("udp", network); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	raddr, err := checkSockAddr(network, raddr, false)
	if err == nil && laddr.IsValid() {
		laddr, err = checkSockAddr(network, laddr, false)
		switch {
		case err != nil:
		case network == "udp" && laddr.Addr() == netip.IPv6Unspecified() && raddr.Addr().Is4():
			// Go's net: [::] toward an IPv4 peer is a dual-stack socket
			// connected to its v4-mapped address.
			raddr = netip.AddrPortFrom(netip.AddrFrom16(raddr.Addr().As16()), raddr.Port())
		case laddr.Addr().Is4() != raddr.Addr().Is4():
			err = &net.AddrError{Err: "mismatched local address type", Addr: laddr.Addr().String()}
		}
	}
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: net.UDPAddrFromAddrPort(raddr), Err: err}
	}
	return e.udp.Dial(network, laddr, raddr, udpOptions(network, opts))
}

// Resolver looks host names up for a Dialer. *net.Resolver satisfies it
// (net.DefaultResolver asks the system's resolver, over the kernel's
// stack, not the engine's); tests and programs with their own DNS give
// their own.
type Resolver interface {
	// LookupNetIP returns host's addresses; network is "ip" (A and AAAA),
	// "ip4" or "ip6", from the dialled network's last letter ("tcp" asks
	// "ip4": the engine's TCP is IPv4 only for now).
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Dialer opens connections from an engine with socket options, as
// net.Dialer does from the kernel; its DialContext fits
// http.Transport.DialContext.
type Dialer struct {
	// Engine is the engine the connections belong to (required).
	Engine *Engine
	// LocalAddr binds the socket before it connects (the zero value: the
	// engine chooses the address and port; port 0: it chooses the port).
	LocalAddr netip.AddrPort
	// Timeout bounds the whole dial, name resolution included, as
	// net.Dialer.Timeout (zero: only ctx bounds it).
	Timeout time.Duration
	// Resolver resolves an address's host when it is a name (nil: names
	// are refused with ErrNoResolver). The addresses are tried in the
	// order it returns them (for TCP, IPv4 ones only, for now) until one
	// connects (UDP: the first of a family the engine has an address of);
	// when ctx has a deadline, each try gets an equal share of the time
	// left (at least 2 s), as net.Dialer does.
	Resolver Resolver
	SocketOptions
}

// Dial connects to address on network ("tcp", "tcp4", "udp", "udp4",
// "udp6").
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address on network, as net.Dialer.DialContext
// does: "tcp" and "tcp4" make a *TCPConn, "udp", "udp4" and "udp6" a
// connected *UDPConn (each returned as a net.Conn); ctx bounds the name resolution
// and the TCP handshake. Errors are *net.OpError, wrapping the resolver's
// error (a *net.DNSError from a *net.Resolver) when resolution fails, and
// the first try's error when every address failed.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if d.Engine == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("engine: Dialer without an Engine")}
	}
	proto, err := transport(network)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	var one [1]netip.AddrPort // a literal address: no allocation a dial
	addrs, err := d.resolve(ctx, proto, network, address, one[:0])
	if err != nil {
		return nil, opError("dial", network, nil, err)
	}
	var first error
	for i, ap := range addrs {
		c, err := d.dialOne(ctx, proto, network, ap, len(addrs)-i)
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// dialOne dials one address; remaining counts it and the addresses after
// it, among which ctx's time left is shared.
func (d *Dialer) dialOne(ctx context.Context, proto, network string, ap netip.AddrPort, remaining int) (net.Conn, error) {
	if proto == "udp" {
		c, err := d.Engine.dialUDP(network, d.LocalAddr, ap, d.SocketOptions)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	if deadline, ok := ctx.Deadline(); ok && remaining > 1 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, partialDeadline(time.Now(), deadline, remaining))
		defer cancel()
	}
	c, err := d.Engine.dialTCP(ctx, network, d.LocalAddr, ap, d.SocketOptions)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// partialDeadline returns the deadline of one of remaining tries that
// share the time until deadline (net's rule: an equal share, at least
// 2 s, never past deadline).
func partialDeadline(now, deadline time.Time, remaining int) time.Time {
	const minShare = 2 * time.Second
	left := deadline.Sub(now)
	share := left / time.Duration(remaining)
	if share < minShare {
		share = min(minShare, left)
	}
	return now.Add(share)
}

// resolve returns the addresses to try for address: its literal, or what
// the Resolver returns for its name, of the families network allows. For
// "tcp" and "udp", the families the engine has addresses of come first, in
// the resolver's order within each. A literal is appended to buf (the
// caller's array, so that dialing one costs no allocation).
func (d *Dialer) resolve(ctx context.Context, proto, network, address string, buf []netip.AddrPort) ([]netip.AddrPort, error) {
	host, port, err := splitAddr(proto, address)
	if err != nil {
		return nil, err
	}
	if host == "" {
		return append(buf, netip.AddrPortFrom(netip.IPv4Unspecified(), port)), nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		ap := netip.AddrPortFrom(a, port)
		if ap, err = checkSockAddr(network, ap, false); err != nil {
			return nil, err
		}
		return append(buf, ap), nil
	}
	if d.Resolver == nil {
		return nil, &net.DNSError{Err: ErrNoResolver.Error(), Name: host, UnwrapErr: ErrNoResolver}
	}
	last := network[len(network)-1]
	lookup := "ip"
	switch {
	case last == '4':
		lookup = "ip4"
	case last == '6':
		lookup = "ip6"
	}
	ips, err := d.Resolver.LookupNetIP(ctx, lookup, host)
	if err != nil {
		return nil, err
	}
	var first, second []netip.AddrPort
	has6 := d.Engine.host6 != nil
	for _, a := range ips {
		a = a.Unmap()
		switch {
		case a.Is4() && last != '6':
			if has6 && len(d.Engine.host.Addrs()) == 0 {
				second = append(second, netip.AddrPortFrom(a, port))
			} else {
				first = append(first, netip.AddrPortFrom(a, port))
			}
		case a.Is6() && last != '4':
			if has6 {
				first = append(first, netip.AddrPortFrom(a.WithZone(""), port))
			} else {
				second = append(second, netip.AddrPortFrom(a.WithZone(""), port))
			}
		}
	}
	out := append(first, second...)
	if len(out) == 0 {
		return nil, &net.AddrError{Err: "no suitable address found", Addr: host}
	}
	return out, nil
}

// healthDial dials for the load balancer's health checks: over the
// engine's own TCP and UDP, through the check's next hop when it has one
// (a direct-server-return backend checked at the VIP).
func (e *Engine) healthDial(ctx context.Context, network, address string) (net.Conn, error) {
	d := Dialer{Engine: e}
	if via, ok := health.NextHop(ctx); ok {
		d.NextHop = via
	}
	return d.DialContext(ctx, network, address)
}
