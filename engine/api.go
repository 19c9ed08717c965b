package engine

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/xdpengine/engine/stack/inet4"
	"github.com/xdpengine/engine/stack/inet6"
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
	// connects (SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY, IP_FREEBIND,
	// IP_TRANSPARENT, IP_BIND_ADDRESS_NO_PORT, SO_BROADCAST).
	SocketOptions = sock.Options
	// PMTUDisc is a socket's path MTU discovery mode (IP_MTU_DISCOVER,
	// IPV6_MTU_DISCOVER).
	PMTUDisc = sock.PMTUDisc
	// ControlFlags choose what UDPConn.ReadMsg reports.
	ControlFlags = udp.ControlFlags
	// ControlMessage is what UDPConn.ReadMsg reports and WriteMsg sets.
	ControlMessage = udp.ControlMessage
	// SockError is an entry of a UDP socket's error queue (IP_RECVERR).
	SockError = udp.SockError
	// NeighborEntry is one worker's ARP entry, as `ip neigh` lists it.
	NeighborEntry = inet4.NeighborEntry
	// RouterSolicitation sets the IPv6 Router Solicitations
	// (Config.IPv6RouterSolicitation).
	RouterSolicitation = inet6.RouterSolicitation
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
// "[2001:2::1]:7", ":9000" for every address the engine owns, port 0 for
// any port), as net.ListenPacket: network is "udp", "udp4" or "udp6", and
// the net.PacketConn is a *UDPConn (c.(*engine.UDPConn) reaches its other
// methods, or call ListenUDP). As with Go's net, "udp" with the wildcard
// (":9000", "[::]:9000") is one dual-stack IPv6 socket when the engine has
// IPv6 addresses: it takes IPv4 traffic too and names its IPv4 peers
// ::ffff:a.b.c.d; "udp6" is IPv6 only (IPV6_V6ONLY); an IPv4 address, or
// "udp4", makes an IPv4 socket.
func (e *Engine) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := e.ListenUDP(network, address, SocketOptions{})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ListenUDP opens a UDP socket bound to address with opts (ListenPacket's
// networks and addresses; opts.V6Only makes a "udp" IPv6 socket IPv6 only).
func (e *Engine) ListenUDP(network, address string, opts SocketOptions) (*UDPConn, error) {
	ap, err := parseAddrUDP(network, address, e.host6 != nil)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return e.udp.Listen(network, ap, udpOptions(network, opts))
}

// ListenUDPAddrPort is ListenUDP with a netip.AddrPort: an invalid address
// (netip.AddrPortFrom(netip.Addr{}, 9000)) is every address the engine
// owns (ListenPacket's wildcard), port 0 any port.
func (e *Engine) ListenUDPAddrPort(network string, laddr netip.AddrPort, opts SocketOptions) (*UDPConn, error) {
	if err := checkNetwork("udp", network); err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	ap, err := checkSockAddr(network, laddr, e.host6 != nil)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return e.udp.Listen(network, ap, udpOptions(network, opts))
}

// udpOptions sets IPV6_V6ONLY for "udp6", as Go's net does.
func udpOptions(network string, opts SocketOptions) SocketOptions {
	if network == "udp6" {
		opts.V6Only = true
	}
	return opts
}

// Listen opens a TCP listener on address ("198.18.0.1:80",
// "[2001:2::1]:80", ":80" for every address the engine owns, port 0 for
// any port) with the default backlog, as net.Listen: network is "tcp",
// "tcp4" or "tcp6", and the net.Listener is a *TCPListener. As with Go's
// net, "tcp" on the wildcard (":80", "0.0.0.0:80", "[::]:80") is one
// dual-stack IPv6 listener on [::] when the engine has IPv6 addresses: it
// accepts IPv4 connections too, whose addresses read ::ffff:a.b.c.d
// (unless SocketOptions.V6Only), and an IPv4 listener on the same port
// takes the IPv4 ones first; "tcp6" is IPv6 only (IPV6_V6ONLY), "tcp4" or
// an IPv4 address IPv4.
func (e *Engine) Listen(network, address string) (net.Listener, error) {
	ln, err := e.ListenTCP(network, address, TCPListenConfig{})
	if err != nil {
		return nil, err
	}
	return ln, nil
}

// ListenTCP opens a TCP listener with cfg (Listen's networks and
// addresses).
func (e *Engine) ListenTCP(network, address string, cfg TCPListenConfig) (*TCPListener, error) {
	ap, err := parseTCPAddr(network, address)
	if err == nil {
		_, _, _, err = tcpsock.SockFamily(network, ap.Addr(), true, e.host6 != nil)
	}
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return e.tcp.Listen(network, ap, cfg)
}

// ListenTCPAddrPort is ListenTCP with a netip.AddrPort (an invalid
// address: every address the engine owns, as Listen's wildcard).
func (e *Engine) ListenTCPAddrPort(network string, laddr netip.AddrPort, cfg TCPListenConfig) (*TCPListener, error) {
	a := laddr.Addr().WithZone("")
	if _, _, _, err := tcpsock.SockFamily(network, a, true, e.host6 != nil); err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return e.tcp.Listen(network, netip.AddrPortFrom(a, laddr.Port()), cfg)
}

// tcpNetwork checks a TCP network name: "tcp", "tcp4" or "tcp6"
// (stack/tcpsock applies Go's net's family rules to the addresses).
func tcpNetwork(network string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return nil
	}
	return net.UnknownNetworkError(network)
}

// parseTCPAddr parses "host:port" for a TCP network: host is an IP
// address (a zone is dropped: one interface) or empty, the wildcard.
// tcpsock.SockFamily then checks it against the network's family.
func parseTCPAddr(network, address string) (netip.AddrPort, error) {
	if err := tcpNetwork(network); err != nil {
		return netip.AddrPort{}, err
	}
	host, port, err := splitAddr("tcp", address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	var a netip.Addr
	if host != "" {
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, fmt.Errorf("%q is not an IP address (the engine resolves no names here): %w", host, err)
		}
	}
	return netip.AddrPortFrom(a.WithZone(""), port), nil
}
