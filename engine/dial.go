package engine

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/xdpengine/engine/lb/health"
)

// Dial connects to address on network, as net.Dial does: "tcp" and "tcp4"
// make a TCP connection (a *TCPConn), "udp" and "udp4" a connected UDP
// socket (a *UDPConn). The address is "host:port" with an IP address for
// host: Engine.Dial resolves no names (a Dialer with a Resolver does).
// IPv6 ("tcp6", "udp6", an IPv6 address) is ErrIPv6Unsupported for now.
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
// replies reach the worker that sends), as net.DialUDP. Like a connected
// kernel socket, it receives only from raddr, and an ICMP port unreachable
// from raddr makes the next call return ECONNREFUSED. A Dialer takes
// socket options too.
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
	raddr, err := checkAddr(network, raddr)
	if err == nil && laddr.IsValid() {
		laddr, err = checkAddr(network, laddr)
	}
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(raddr), Err: err}
	}
	return e.tcp.Dial(ctx, network, laddr, raddr, opts)
}

// dialUDP checks network and the addresses and connects.
func (e *Engine) dialUDP(network string, laddr, raddr netip.AddrPort, opts SocketOptions) (*UDPConn, error) {
	if err := checkNetwork("udp", network); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	raddr, err := checkAddr(network, raddr)
	if err == nil && laddr.IsValid() {
		laddr, err = checkAddr(network, laddr)
	}
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: net.UDPAddrFromAddrPort(raddr), Err: err}
	}
	return e.udp.Dial(network, laddr, raddr, opts)
}

// Resolver looks host names up for a Dialer. *net.Resolver satisfies it
// (net.DefaultResolver asks the system's resolver, over the kernel's
// stack, not the engine's); tests and programs with their own DNS give
// their own.
type Resolver interface {
	// LookupNetIP returns host's addresses; network is "ip4" (the engine
	// dials IPv4 only for now).
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
	// order it returns them (IPv4 ones only, for now) until one connects;
	// when ctx has a deadline, each try gets an equal share of the time
	// left (at least 2 s), as net.Dialer does.
	Resolver Resolver
	SocketOptions
}

// Dial connects to address on network ("tcp", "tcp4", "udp", "udp4").
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address on network, as net.Dialer.DialContext
// does: "tcp" and "tcp4" make a *TCPConn, "udp" and "udp4" a connected
// *UDPConn (each returned as a net.Conn); ctx bounds the name resolution
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
	addrs, err := d.resolve(ctx, proto, network, address)
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
// the Resolver returns for its name, IPv4 only.
func (d *Dialer) resolve(ctx context.Context, proto, network, address string) ([]netip.AddrPort, error) {
	host, port, err := splitAddr(proto, address)
	if err != nil {
		return nil, err
	}
	if host == "" {
		return []netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), port)}, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		ap, err := checkAddr(network, netip.AddrPortFrom(a, port))
		if err != nil {
			return nil, err
		}
		return []netip.AddrPort{ap}, nil
	}
	if d.Resolver == nil {
		return nil, &net.DNSError{Err: ErrNoResolver.Error(), Name: host, UnwrapErr: ErrNoResolver}
	}
	ips, err := d.Resolver.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, 0, len(ips))
	v6 := false
	for _, a := range ips {
		if a = a.Unmap(); a.Is4() {
			out = append(out, netip.AddrPortFrom(a, port))
		} else {
			v6 = true
		}
	}
	if len(out) == 0 {
		if v6 && network[len(network)-1] != '4' {
			return nil, errIPv6
		}
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
