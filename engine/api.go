package engine

import (
	"net"
	"net/netip"

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
// ":9000" for every address the engine owns, port 0 for any port), as
// net.ListenPacket: network is "udp" or "udp4", and the net.PacketConn is
// a *UDPConn (c.(*engine.UDPConn) reaches its other methods, or call
// ListenUDP). IPv6 ("udp6", an IPv6 address) is ErrIPv6Unsupported for
// now.
func (e *Engine) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := e.ListenUDP(network, address, SocketOptions{})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ListenUDP opens a UDP socket bound to address with opts.
func (e *Engine) ListenUDP(network, address string, opts SocketOptions) (*UDPConn, error) {
	ap, err := parseAddr("udp", network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return e.udp.Listen(network, ap, opts)
}

// ListenUDPAddrPort is ListenUDP with a netip.AddrPort: an invalid address
// (netip.AddrPortFrom(netip.Addr{}, 9000)) is every address the engine
// owns, port 0 any port.
func (e *Engine) ListenUDPAddrPort(network string, laddr netip.AddrPort, opts SocketOptions) (*UDPConn, error) {
	ap, err := listenAddr("udp", network, laddr)
	if err != nil {
		return nil, err
	}
	return e.udp.Listen(network, ap, opts)
}

// Listen opens a TCP listener on address ("198.18.0.1:80", ":80" for every
// address the engine owns, port 0 for any port) with the default backlog,
// as net.Listen: network is "tcp" or "tcp4", and the net.Listener is a
// *TCPListener.
func (e *Engine) Listen(network, address string) (net.Listener, error) {
	ln, err := e.ListenTCP(network, address, TCPListenConfig{})
	if err != nil {
		return nil, err
	}
	return ln, nil
}

// ListenTCP opens a TCP listener with cfg.
func (e *Engine) ListenTCP(network, address string, cfg TCPListenConfig) (*TCPListener, error) {
	ap, err := parseAddr("tcp", network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return e.tcp.Listen(network, ap, cfg)
}

// ListenTCPAddrPort is ListenTCP with a netip.AddrPort (an invalid
// address: every address the engine owns).
func (e *Engine) ListenTCPAddrPort(network string, laddr netip.AddrPort, cfg TCPListenConfig) (*TCPListener, error) {
	ap, err := listenAddr("tcp", network, laddr)
	if err != nil {
		return nil, err
	}
	return e.tcp.Listen(network, ap, cfg)
}

// listenAddr checks network and laddr for a listen.
func listenAddr(proto, network string, laddr netip.AddrPort) (netip.AddrPort, error) {
	if err := checkNetwork(proto, network); err != nil {
		return laddr, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	ap, err := checkAddr(network, laddr)
	if err != nil {
		return laddr, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return ap, nil
}
