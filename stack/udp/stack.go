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
	"github.com/xdpengine/engine/stack/sock"
	"github.com/xdpengine/engine/stack/socktab"
)

// MaxPayload is the largest UDP payload an IPv4 datagram carries.
const MaxPayload = 65535 - 20 - 8

// Config configures the UDP layer of an engine.
type Config struct {
	Host       *inet4.Host
	Table      *socktab.Table
	Bufs       *datapath.Bufs
	State      *sock.State
	RecvBuffer int // each socket's receive buffer in bytes (SO_RCVBUF)
}

// Stack is the engine's UDP: its sockets, and one worker part per queue
// (the inet4.Transport of protocol 17).
type Stack struct {
	cfg     Config
	host    *inet4.Host
	tab     *socktab.Table
	bufs    *datapath.Bufs
	workers []*worker

	mu    sync.Mutex // guards conns
	conns map[*Conn]struct{}
}

// New makes the UDP layer; AddWorker gives it the workers.
func New(cfg Config) *Stack {
	return &Stack{cfg: cfg, host: cfg.Host, tab: cfg.Table, bufs: cfg.Bufs, conns: map[*Conn]struct{}{}}
}

// AddWorker registers UDP on a worker's IPv4 layer (in queue order).
func (s *Stack) AddWorker(l *inet4.Layer) {
	w := &worker{s: s, l: l, st: l.Stats()}
	l.Register(header.ProtocolUDP, w)
	s.workers = append(s.workers, w)
}

// Listen opens a UDP socket bound to ap with opts.
func (s *Stack) Listen(network string, ap netip.AddrPort, opts sock.Options) (*Conn, error) {
	c, err := s.open(network, opts)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.UDPAddrFromAddrPort(ap), Err: err}
	}
	if err := c.bind(ap); err != nil {
		c.release()
		return nil, sock.Relabel(err, "listen", network)
	}
	c.owner = s.host.Layers()[0]
	return c, nil
}

// Dial opens a UDP socket connected to rap, bound to lap if it is valid
// (else to a source address and port the engine chooses, steered so the
// replies reach the worker that sends).
func (s *Stack) Dial(network string, lap, rap netip.AddrPort, opts sock.Options) (*Conn, error) {
	rap = netip.AddrPortFrom(rap.Addr().Unmap(), rap.Port())
	raddr := net.UDPAddrFromAddrPort(rap)
	if !rap.Addr().Is4() {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: syscall.EAFNOSUPPORT}
	}
	if s.host.IsBroadcast(rap.Addr()) && !opts.Broadcast {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: os.NewSyscallError("connect", syscall.EACCES)}
	}
	c, err := s.open(network, opts)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	if lap.IsValid() {
		if err := c.bind(netip.AddrPortFrom(lap.Addr().Unmap(), lap.Port())); err != nil {
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
	c.owner = s.host.Owner(flowtable.KeyFrom(rap, local, header.ProtocolUDP))
	return c, nil
}

// open makes an unbound socket.
func (s *Stack) open(network string, opts sock.Options) (*Conn, error) {
	if s.cfg.State.Closed() {
		return nil, net.ErrClosed
	}
	if err := opts.CheckNextHop("socket", s.host.Addrs()); err != nil {
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
		s: s, net: network, rx: rx, rcvbuf: int64(s.cfg.RecvBuffer),
		notify: make(chan struct{}, 1), done: make(chan struct{}),
	}
	c.opts.pmtudisc.Store(int32(sock.PMTUDiscWant))
	c.mc = s.host.NewMulticastSocket()
	c.opts.broadcast.Store(opts.Broadcast)
	c.opts.nonlocal = opts.Freebind || opts.Transparent
	c.opts.transparent = opts.Transparent
	c.opts.nextHop = opts.NextHop
	st, err := s.tab.Open(socktab.UDP, socktab.IPv4, opts.Table(), c)
	if err != nil {
		return nil, err
	}
	c.sock = st
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return c, nil
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
	if c.opts.transparent {
		if err := c.s.host.AddTransparent(c.laddr.Addr()); err != nil {
			return err
		}
	}
	if c.s.host.BroadcastBind(c.laddr.Addr()) {
		if err := c.s.host.AddBroadcastPort(c.laddr.Port()); err != nil {
			return err
		}
		c.bcastPort = c.laddr.Port()
	}
	return nil
}
