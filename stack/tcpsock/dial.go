package tcpsock

import (
	"context"
	"net"
	"net/netip"
	"os"
	"syscall"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/sock"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/tcp"
	"github.com/xdpengine/engine/tcp/syncookie"
)

// Dial connects to rap from laddr (the zero value: an address and port the
// engine chooses, steered so that the replies reach the worker that owns
// the connection). network is "tcp4", "tcp6" or "tcp" (sockFamily: the
// peer's address chooses IPv4 or IPv6). It waits for the handshake like
// connect(2): ECONNREFUSED when the peer answers RST, ETIMEDOUT after the
// SYN retries, the errno of an ICMP or ICMPv6 error that is hard in
// SYN-SENT; ctx bounds the wait.
func (s *Stack) Dial(ctx context.Context, network string, laddr, rap netip.AddrPort, opts sock.Options) (*Conn, error) {
	fam, ra, v6only, err := s.sockFamily(network, rap.Addr(), false)
	raddr := net.TCPAddrFromAddrPort(rap)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	rap = netip.AddrPortFrom(ra, rap.Port())
	raddr = net.TCPAddrFromAddrPort(rap)
	v6 := fam == socktab.IPv6
	if (!v6 && s.host.IsBroadcast(ra)) || ra.IsMulticast() {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}
	}
	if !s.cfg.State.Running() {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: net.ErrClosed}
	}
	prefixes := s.host.Addrs()
	if v6 {
		prefixes = nil
		if s.host6 != nil {
			prefixes = s.host6.Addrs()
		}
		if opts.Transparent {
			return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: errTransparent6}
		}
	}
	if err := opts.CheckNextHop("connect", prefixes); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	opts.V6Only = opts.V6Only || v6only
	st, err := s.tab.Open(socktab.TCP, fam, opts.Table(), nil)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	if laddr.IsValid() {
		la := laddr.Addr()
		if !v6 {
			la = la.Unmap()
		}
		if err := s.tab.Bind(st, netip.AddrPortFrom(la, laddr.Port())); err != nil {
			s.tab.Close(st)
			return nil, sock.Relabel(err, "dial", network)
		}
		if opts.Transparent {
			if err := s.host.AddTransparent(la); err != nil {
				s.tab.Close(st)
				return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
			}
		}
	}
	local, err := s.tab.Connect(st, sock.Shard(len(s.workers)), rap)
	if err != nil {
		s.tab.Close(st)
		return nil, sock.Relabel(err, "dial", network)
	}
	key := flowtable.KeyFrom(rap, local, header.ProtocolTCP)
	owner := s.owner(key)
	t, _ := syncookie.TupleFromKey(key)
	now := s.host.Nanotime()
	cfg := owner.tcpConfig(rap.Addr(), local.Port(), rap.Port(), tcp.Seq(s.jar.ISN(t, now)), s.tsOffset(t))
	ep, err := tcp.Dial(now, cfg)
	if err != nil {
		s.tab.Close(st)
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	c := s.newConn(owner, ep, key)
	c.via = opts.NextHop
	c.sock.Store(st)
	if err := c.send(command{op: cmdOpen, c: c}); err != nil {
		s.tab.Close(st)
		c.releaseApp() // the worker never had it: the collector takes the rings
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	for {
		if c.estab.Load() {
			break
		}
		if en := c.errno.Load(); en != 0 {
			c.releaseApp()
			return nil, &net.OpError{Op: "dial", Net: network, Source: c.LocalAddr(), Addr: raddr,
				Err: os.NewSyscallError("connect", syscall.Errno(en))}
		}
		if c.gone.Load() {
			c.releaseApp()
			return nil, &net.OpError{Op: "dial", Net: network, Source: c.LocalAddr(), Addr: raddr,
				Err: os.NewSyscallError("connect", syscall.ECONNRESET)}
		}
		c.wwait.Add(1)
		if c.estab.Load() || c.errno.Load() != 0 || c.gone.Load() {
			c.wwait.Add(-1)
			continue
		}
		err := sock.WaitOn(ctx, c.wnotify, nil, nil)
		c.wwait.Add(-1)
		if err != nil {
			c.send(command{op: cmdAbort, c: c})
			c.releaseApp()
			return nil, &net.OpError{Op: "dial", Net: network, Source: c.LocalAddr(), Addr: raddr, Err: err}
		}
	}
	if err := s.track(c); err != nil {
		c.send(command{op: cmdAbort, c: c})
		c.releaseApp()
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	return c, nil
}

// track registers c for CloseAll.
func (s *Stack) track(c *Conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.State.Closed() {
		return net.ErrClosed
	}
	s.conns[c] = struct{}{}
	return nil
}
