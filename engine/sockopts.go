package engine

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/xdpengine/engine/stack/socktab"
)

// SocketOptions are the options a socket takes before it binds or
// connects, as a program sets them with setsockopt(2) between socket(2) and
// bind(2) or connect(2). Options that can change later (TTL, TOS, path MTU
// discovery, control messages) are methods of the connections.
type SocketOptions struct {
	// ReuseAddr is SO_REUSEADDR: bind a port whose earlier sockets are
	// not listening any more (TIME-WAIT, accepted connections); for UDP,
	// share a port with sockets that set it too.
	ReuseAddr bool
	// ReusePort is SO_REUSEPORT: sockets of one program that all set it
	// share an address and port; packets are spread over them by flow
	// hash.
	ReusePort bool
	// Freebind is IP_FREEBIND: bind an address the engine does not own
	// (yet). Nothing reaches such a socket until the address is the
	// engine's.
	Freebind bool
	// Transparent is IP_TRANSPARENT: bind an address the engine does not
	// own and receive the traffic for it, as a transparent proxy or a load
	// balancer does; a packet to the address reaches the engine when the
	// network routes it there (the engine does not answer ARP for it). It
	// also allows any source address in WriteMsg. From the first
	// transparent bind to an address until the engine closes, the engine
	// takes the traffic to it, as a TPROXY rule does.
	Transparent bool
	// BindAddressNoPort is IP_BIND_ADDRESS_NO_PORT: a Dialer with a
	// LocalAddr of port 0 takes no port at bind time; connect chooses one
	// that only has to make the 4-tuple unique, so many connections to
	// different peers share local ports.
	BindAddressNoPort bool
	// Broadcast is SO_BROADCAST (UDP): allow sending to, and connecting
	// to, a broadcast address. Without it both fail with EACCES.
	Broadcast bool
}

func (o SocketOptions) table() socktab.Options {
	return socktab.Options{ReuseAddr: o.ReuseAddr, ReusePort: o.ReusePort,
		Freebind: o.Freebind || o.Transparent, BindAddressNoPort: o.BindAddressNoPort}
}

// ListenUDP opens a UDP socket bound to address with opts; ListenPacket is
// ListenUDP with no options.
func (e *Engine) ListenUDP(network, address string, opts SocketOptions) (*UDPConn, error) {
	ap, err := resolveUDP(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	c, err := e.openUDP(network, opts)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.UDPAddrFromAddrPort(ap), Err: err}
	}
	if err := c.bind(ap); err != nil {
		c.release()
		return nil, relabel(err, "listen", network)
	}
	c.owner = e.workers[0]
	return c, nil
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
	// Timeout bounds a TCP handshake (zero: only ctx bounds it).
	Timeout time.Duration
	SocketOptions
}

// Dial connects to address on network ("tcp", "tcp4", "udp", "udp4").
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address on network; ctx bounds a TCP handshake.
// It returns a *TCPConn or a *UDPConn.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if d.Engine == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("engine: Dialer without an Engine")}
	}
	switch network {
	case "tcp", "tcp4":
		ap, err := resolveTCP(network, address)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		if d.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d.Timeout)
			defer cancel()
		}
		return d.Engine.dialTCP(ctx, network, d.LocalAddr, ap, d.SocketOptions)
	case "udp", "udp4":
		ap, err := resolveUDP(network, address)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		return d.Engine.dialUDP(network, d.LocalAddr, ap, d.SocketOptions)
	}
	return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
}

// checkConnectDst applies Linux's rules on a connect's destination: TCP to
// a broadcast or multicast address is ENETUNREACH; UDP to a broadcast
// address without SO_BROADCAST is EACCES.
func (e *Engine) checkConnectDst(proto uint8, dst netip.Addr, opts SocketOptions) error {
	d4 := dst.As4()
	bcast := e.isBroadcast(d4)
	switch {
	case proto == protoTCP && (bcast || dst.IsMulticast()):
		return os.NewSyscallError("connect", syscall.ENETUNREACH)
	case proto == protoUDP && bcast && !opts.Broadcast:
		return os.NewSyscallError("connect", syscall.EACCES)
	}
	return nil
}

// transparentSet is the addresses IP_TRANSPARENT sockets were bound to
// that the engine does not own. Workers read it through Engine.transparent
// without locks; binds copy it under Engine.mu. An address stays in it, and
// in the XDP program's map, until the engine closes: connections accepted
// on it outlive their listener, as they do under a TPROXY rule, and a packet
// for it that finds no socket gets a RST or a port unreachable.
type transparentSet map[[4]byte]struct{}

// addTransparent makes traffic to a reach the engine (the XDP program's
// address map).
func (e *Engine) addTransparent(a netip.Addr) error {
	if a.IsUnspecified() || e.ownedAddr(a.As4()) {
		return nil
	}
	if t := e.transparent.Load(); t != nil {
		if _, ok := (*t)[a.As4()]; ok {
			return nil
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	next := transparentSet{}
	if old := e.transparent.Load(); old != nil {
		for k := range *old {
			next[k] = struct{}{}
		}
	}
	if e.prog != nil {
		if err := e.prog.AddAddr(a); err != nil {
			return err
		}
	}
	next[a.As4()] = struct{}{}
	e.transparent.Store(&next)
	return nil
}

// localAddr reports whether a packet to a is for the engine: one of its
// addresses, or one a transparent socket was bound to.
func (e *Engine) localAddr(a [4]byte) bool {
	if e.ownedAddr(a) {
		return true
	}
	if t := e.transparent.Load(); t != nil {
		_, ok := (*t)[a]
		return ok
	}
	return false
}

// SetIncomingQueue makes the socket, a member of a SO_REUSEPORT group, the
// group's choice for the flows the NIC delivers on queue q (its worker),
// as SO_INCOMING_CPU does for a CPU: flows arriving on q are spread over
// the members homed on q, and flows on a queue with no homed member over
// every member. q < 0 removes the preference. EINVAL past the last queue.
func (c *UDPConn) SetIncomingQueue(q int) error {
	if err := c.e.tab.SetHome(c.sock, q); err != nil {
		return c.opErr("set", err)
	}
	return nil
}

// SetIncomingQueue is UDPConn.SetIncomingQueue for a listener of a
// SO_REUSEPORT group: it takes the connections whose SYN arrives on queue q.
func (ln *TCPListener) SetIncomingQueue(q int) error {
	if err := ln.e.tab.SetHome(ln.sock, q); err != nil {
		return ln.opErr("set", err)
	}
	return nil
}
