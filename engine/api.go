package engine

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/xdpengine/engine/lb/health"
	"github.com/xdpengine/engine/stack/inet4"
	"github.com/xdpengine/engine/stack/sock"
	"github.com/xdpengine/engine/stack/tcpsock"
	"github.com/xdpengine/engine/stack/udp"
)

// The socket types (their packages implement them).
type (
	// UDPConn is a UDP socket of the engine: a net.PacketConn and, once
	// connected, a net.Conn (stack/udp).
	UDPConn = udp.Conn
	// TCPConn is a TCP connection of the engine: a net.Conn
	// (stack/tcpsock).
	TCPConn = tcpsock.Conn
	// TCPListener is a listening TCP socket: a net.Listener.
	TCPListener = tcpsock.Listener
	// TCPListenConfig sizes a listener and sets its socket options.
	TCPListenConfig = tcpsock.ListenConfig
	// SocketOptions are the options a socket takes before it binds or
	// connects (SO_REUSEADDR, SO_REUSEPORT, IP_FREEBIND, IP_TRANSPARENT,
	// IP_BIND_ADDRESS_NO_PORT, SO_BROADCAST).
	SocketOptions = sock.Options
	// PMTUDisc is a socket's path MTU discovery mode (IP_MTU_DISCOVER).
	PMTUDisc = sock.PMTUDisc
	// ControlFlags choose what UDPConn.ReadMsg reports.
	ControlFlags = udp.ControlFlags
	// ControlMessage is what UDPConn.ReadMsg reports and WriteMsg sets.
	ControlMessage = udp.ControlMessage
	// SockError is an entry of a UDP socket's error queue (IP_RECVERR).
	SockError = udp.SockError
	// NeighborEntry is one worker's ARP entry, as `ip neigh` lists it.
	NeighborEntry = inet4.NeighborEntry
	// Hook is the extension point between parsing and transport
	// dispatch (load balancer, traffic harness).
	Hook = inet4.Hook
	// Packet is what a Hook sees.
	Packet = inet4.Packet
	// Verdict is what a Hook decides.
	Verdict = inet4.Verdict
)

// Path MTU discovery modes, ControlMessage flags and Hook verdicts.
const (
	PMTUDiscDont  = sock.PMTUDiscDont
	PMTUDiscWant  = sock.PMTUDiscWant
	PMTUDiscDo    = sock.PMTUDiscDo
	PMTUDiscProbe = sock.PMTUDiscProbe

	FlagTTL = udp.FlagTTL
	FlagTOS = udp.FlagTOS
	FlagDst = udp.FlagDst

	Pass     = inet4.Pass
	Drop     = inet4.Drop
	Transmit = inet4.Transmit
)

// ListenPacket opens a UDP socket bound to address ("198.18.0.1:7",
// ":9000" for every address the engine owns, port 0 for any port). network
// must be "udp" or "udp4". ListenUDP takes socket options too.
func (e *Engine) ListenPacket(network, address string) (*UDPConn, error) {
	return e.ListenUDP(network, address, SocketOptions{})
}

// ListenUDP opens a UDP socket bound to address with opts.
func (e *Engine) ListenUDP(network, address string, opts SocketOptions) (*UDPConn, error) {
	ap, err := sock.ResolveAddr("udp", network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return e.udp.Listen(network, ap, opts)
}

// DialUDP opens a UDP socket connected to raddr, bound to laddr if it is not
// nil (else to a source address and port the engine chooses, steered so the
// replies reach the worker that sends). Like a connected kernel socket, it
// receives only from raddr, and an ICMP port unreachable from raddr makes the
// next call return ECONNREFUSED. A Dialer takes socket options too.
func (e *Engine) DialUDP(network string, laddr, raddr *net.UDPAddr) (*UDPConn, error) {
	if raddr == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("missing address")}
	}
	if network != "udp" && network != "udp4" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}
	var lap netip.AddrPort
	if laddr != nil {
		lap = laddr.AddrPort()
	}
	return e.udp.Dial(network, lap, raddr.AddrPort(), SocketOptions{})
}

// Dial is DialUDP with a "host:port" address, for callers that want a
// net.Conn.
func (e *Engine) Dial(network, address string) (net.Conn, error) {
	ap, err := sock.ResolveAddr("udp", network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	return e.DialUDP(network, nil, net.UDPAddrFromAddrPort(ap))
}

// Listen opens a TCP listener on address ("198.18.0.1:80", ":80" for every
// address the engine owns, port 0 for any port) with the default backlog.
func (e *Engine) Listen(network, address string) (net.Listener, error) {
	return e.ListenTCP(network, address, TCPListenConfig{})
}

// ListenTCP opens a TCP listener with cfg.
func (e *Engine) ListenTCP(network, address string, cfg TCPListenConfig) (*TCPListener, error) {
	ap, err := sock.ResolveAddr("tcp", network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return e.tcp.Listen(network, ap, cfg)
}

// DialTCP connects to raddr from laddr (nil: an address and port the
// engine chooses, steered so that the replies reach the worker that owns
// the connection). It waits for the handshake like connect(2):
// ECONNREFUSED when the peer answers RST, ETIMEDOUT after the SYN retries.
func (e *Engine) DialTCP(network string, laddr, raddr *net.TCPAddr) (*TCPConn, error) {
	if raddr == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("missing address")}
	}
	var lap netip.AddrPort
	if laddr != nil {
		lap = laddr.AddrPort()
	}
	return e.tcp.Dial(context.Background(), network, lap, raddr.AddrPort(), SocketOptions{})
}

// DialContext connects to address ("198.18.0.2:80"); ctx bounds the
// handshake.
func (e *Engine) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	ap, err := sock.ResolveAddr("tcp", network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	return e.tcp.Dial(ctx, network, netip.AddrPort{}, ap, SocketOptions{})
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
		ap, err := sock.ResolveAddr("tcp", network, address)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		if d.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d.Timeout)
			defer cancel()
		}
		return d.Engine.tcp.Dial(ctx, network, d.LocalAddr, ap, d.SocketOptions)
	case "udp", "udp4":
		ap, err := sock.ResolveAddr("udp", network, address)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		return d.Engine.udp.Dial(network, d.LocalAddr, ap, d.SocketOptions)
	}
	return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
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
