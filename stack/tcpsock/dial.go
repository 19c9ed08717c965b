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
// the connection). It waits for the handshake like connect(2):
// ECONNREFUSED when the peer answers RST, ETIMEDOUT after the SYN retries;
// ctx bounds the wait.
func (s *Stack) Dial(ctx context.Context, network string, laddr, rap netip.AddrPort, opts sock.Options) (*Conn, error) {
	if network != "tcp" && network != "tcp4" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}
	rap = netip.AddrPortFrom(rap.Addr().Unmap(), rap.Port())
	raddr := net.TCPAddrFromAddrPort(rap)
	if !rap.Addr().Is4() {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: syscall.EAFNOSUPPORT}
	}
	if s.host.IsBroadcast(rap.Addr()) || rap.Addr().IsMulticast() {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}
	}
	if !s.cfg.State.Running() {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: net.ErrClosed}
	}
	if err := opts.CheckNextHop("connect", s.host.Addrs()); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	st, err := s.tab.Open(socktab.TCP, socktab.IPv4, opts.Table(), nil)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	if laddr.IsValid() {
		if err := s.tab.Bind(st, netip.AddrPortFrom(laddr.Addr().Unmap(), laddr.Port())); err != nil {
			s.tab.Close(st)
			return nil, sock.Relabel(err, "dial", network)
		}
		if opts.Transparent {
			if err := s.host.AddTransparent(laddr.Addr().Unmap()); err != nil {
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
	owner := s.workers[s.host.Owner(key).Queue()]
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
