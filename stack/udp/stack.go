package udp

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ring"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/inet4"
	"github.com/xdpengine/engine/stack/inet6"
	"github.com/xdpengine/engine/stack/sock"
	"github.com/xdpengine/engine/stack/socktab"
)

// MaxPayload is the largest UDP payload an IPv4 datagram carries.
const MaxPayload = 65535 - 20 - 8

// MaxPayload6 is the largest UDP payload an IPv6 packet carries without a
// jumbogram: its payload length counts the UDP header, not the IPv6 one.
const MaxPayload6 = 65535 - 8

// Config configures the UDP layer of an engine.
type Config struct {
	Host       *inet4.Host
	Host6      *inet6.Host // nil: the engine has no IPv6 address
	Table      *socktab.Table
	Bufs       *datapath.Bufs
	State      *sock.State
	RecvBuffer int // each socket's receive buffer in bytes (SO_RCVBUF)
}

// Stack is the engine's UDP: its sockets, and one worker part per queue
// (the inet4.Transport of protocol 17).
type Stack struct {
	cfg      Config
	host     *inet4.Host
	host6    *inet6.Host // nil without IPv6
	tab      *socktab.Table
	bufs     *datapath.Bufs
	workers  []*worker
	workers6 []*worker6 // by queue; empty without IPv6

	mu    sync.Mutex // guards conns
	conns map[*Conn]struct{}
}

// New makes the UDP layer; AddWorker gives it the workers.
func New(cfg Config) *Stack {
	return &Stack{cfg: cfg, host: cfg.Host, host6: cfg.Host6, tab: cfg.Table, bufs: cfg.Bufs, conns: map[*Conn]struct{}{}}
}

// AddWorker registers UDP on a worker's IPv4 layer (in queue order).
func (s *Stack) AddWorker(l *inet4.Layer) {
	w := &worker{s: s, l: l, st: l.Stats()}
	l.Register(header.ProtocolUDP, w)
	s.workers = append(s.workers, w)
}

// AddWorker6 registers UDP on a worker's IPv6 layer (after AddWorker gave
// it the worker's IPv4 layer).
func (s *Stack) AddWorker6(l *inet6.Layer) {
	w := &worker6{s: s, l: l, l4: s.workers[l.Queue()].l, st: l.Stats()}
	l.Register(header.ProtocolUDP, w)
	s.workers6 = append(s.workers6, w)
}

// familyOf returns the family of a socket on ap: IPv6 for an IPv6 address
// (the wildcard [::] included, and a v4-mapped one, which only "udp6"
// keeps: the engine's façade unmaps it for "udp" and "udp4"), else IPv4.
func familyOf(ap netip.AddrPort) socktab.Family {
	if ap.Addr().Is6() {
		return socktab.IPv6
	}
	return socktab.IPv4
}

// Listen opens a UDP socket bound to ap with opts: an IPv6 socket when ap
// is an IPv6 address ([::]:P is dual-stack unless opts.V6Only), else an
// IPv4 one.
func (s *Stack) Listen(network string, ap netip.AddrPort, opts sock.Options) (*Conn, error) {
	c, err := s.open(network, familyOf(ap), opts)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.UDPAddrFromAddrPort(ap), Err: err}
	}
	if err := c.bind(ap); err != nil {
		c.release()
		return nil, sock.Relabel(err, "listen", network)
	}
	c.owner.Store(s.host.Layers()[0])
	if err := s.track(c); err != nil {
		c.Close() // bound already: what reached it goes back too
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.UDPAddrFromAddrPort(ap), Err: err}
	}
	return c, nil
}

// Dial opens a UDP socket connected to rap, bound to lap if it is valid
// (else to a source address and port the engine chooses, steered so the
// replies reach the worker that sends). The socket is of rap's family: an
// IPv6 one for an IPv6 peer (a v4-mapped peer, which only "udp6" keeps,
// makes an IPv6 socket that talks IPv4), else an IPv4 one.
func (s *Stack) Dial(network string, lap, rap netip.AddrPort, opts sock.Options) (*Conn, error) {
	raddr := net.UDPAddrFromAddrPort(rap)
	fam := familyOf(rap)
	if fam == socktab.IPv4 && s.host.IsBroadcast(rap.Addr()) && !opts.Broadcast {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: os.NewSyscallError("connect", syscall.EACCES)}
	}
	c, err := s.open(network, fam, opts)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	if lap.IsValid() {
		if err := c.bind(lap); err != nil {
			c.release()
			return nil, sock.Relabel(err, "dial", network)
		}
	}
	local, err := s.tab.Connect(c.sock, sock.Shard(len(s.workers)), rap)
	if err != nil {
		c.release()
		return nil, sock.Relabel(err, "dial", network) // no free port: EAGAIN, as Linux's UDP
	}
	c.laddr, c.raddr = local, rap
	c.owner.Store(s.host.Owner(flowtable.KeyFrom(unmapPort(rap), unmapPort(local), header.ProtocolUDP)))
	if err := s.track(c); err != nil {
		c.Close() // bound already: what reached it goes back too
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	return c, nil
}

// unmapPort unmaps a v4-mapped address (flow keys of IPv4 traffic hold
// IPv4 addresses).
func unmapPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// open makes an unbound socket of family fam.
func (s *Stack) open(network string, fam socktab.Family, opts sock.Options) (*Conn, error) {
	if s.cfg.State.Closed() {
		return nil, net.ErrClosed
	}
	prefixes := s.host.Addrs()
	if fam == socktab.IPv6 {
		prefixes = nil
		if s.host6 != nil {
			prefixes = s.host6.Addrs()
		}
		if opts.Transparent {
			return nil, os.NewSyscallError("setsockopt IPV6_TRANSPARENT", syscall.EOPNOTSUPP)
		}
	}
	if err := opts.CheckNextHop("socket", prefixes); err != nil {
		return nil, err
	}
	slots := 1
	for slots < s.cfg.RecvBuffer/256 {
		slots <<= 1
	}
	rx, err := ring.NewMPMC[rxItem](slots)
	if err != nil {
		return nil, err
	}
	c := &Conn{
		s: s, net: network, fam: fam, v6only: fam == socktab.IPv6 && opts.V6Only,
		rx: rx, rcvbuf: int64(s.cfg.RecvBuffer),
		notify: make(chan struct{}, 1), done: make(chan struct{}),
	}
	c.opts.pmtudisc.Store(int32(sock.PMTUDiscWant))
	c.mc = s.host.NewMulticastSocket()
	c.opts.broadcast.Store(opts.Broadcast)
	c.opts.nonlocal = opts.Freebind || opts.Transparent
	c.opts.transparent = opts.Transparent
	c.opts.nextHop = opts.NextHop
	st, err := s.tab.Open(socktab.UDP, fam, opts.Table(), c)
	if err != nil {
		return nil, err
	}
	c.sock = st
	return c, nil
}

// track puts a socket that is ready (bound, connected) on CloseAll's list,
// or reports net.ErrClosed when the engine closed since open looked (and
// CloseAll may have taken its list already: the socket would stay open
// for good); the caller then closes it. A socket joins the list only
// once its setup is done, so that CloseAll never closes one that is
// still being bound.
func (s *Stack) track(c *Conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.State.Closed() {
		return net.ErrClosed
	}
	s.conns[c] = struct{}{}
	return nil
}

// CloseAll closes every socket (the engine closes).
func (s *Stack) CloseAll() {
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// bind binds the socket to ap; a transparent socket's address starts
// reaching the engine.
func (c *Conn) bind(ap netip.AddrPort) error {
	if err := c.s.tab.Bind(c.sock, ap); err != nil {
		return err
	}
	c.laddr = c.s.tab.Local(c.sock)
	a := c.laddr.Addr()
	if c.fam == socktab.IPv6 && !a.Is4In6() && !a.IsUnspecified() {
		c.v6only = true // as __inet6_bind sets sk_ipv6only (before the socket is shared)
	}
	if c.fam == socktab.IPv6 && c.v6only {
		return nil // takes no IPv4 traffic: the rest is IPv4's (transparent addresses, broadcasts)
	}
	if c.opts.transparent {
		if err := c.s.host.AddTransparent(a.Unmap()); err != nil {
			return err
		}
	}
	if c.s.host.BroadcastBind(a) {
		if err := c.s.host.AddBroadcastPort(c.laddr.Port()); err != nil {
			return err
		}
		c.bcastPort = c.laddr.Port()
	}
	return nil
}
