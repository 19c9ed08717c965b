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
	if err != nil {
		return nil, dialError(network, nil, rap, err)
	}
	rap = netip.AddrPortFrom(ra, rap.Port())
	v6 := fam == socktab.IPv6
	if (!v6 && s.host.IsBroadcast(ra)) || ra.IsMulticast() {
		return nil, dialError(network, nil, rap, os.NewSyscallError("connect", syscall.ENETUNREACH))
	}
	if !s.cfg.State.Running() {
		return nil, dialError(network, nil, rap, net.ErrClosed)
	}
	prefixes := s.host.Addrs()
	if v6 {
		prefixes = nil
		if s.host6 != nil {
			prefixes = s.host6.Addrs()
		}
		if opts.Transparent {
			return nil, dialError(network, nil, rap, errTransparent6)
		}
	}
	if err := opts.CheckNextHop("connect", prefixes); err != nil {
		return nil, dialError(network, nil, rap, err)
	}
	opts.V6Only = opts.V6Only || v6only
	st, err := s.tab.Open(socktab.TCP, fam, opts.Table(), nil)
	if err != nil {
		return nil, dialError(network, nil, rap, err)
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
				return nil, dialError(network, nil, rap, err)
			}
		}
	}
	// Unlisted: the worker finds the connection in its flow table, from
	// the open command on, before the SYN leaves.
	local, _, err := s.tab.ConnectUnlisted(st, sock.Shard(len(s.workers)), rap)
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
		return nil, dialError(network, nil, rap, err)
	}
	c := s.newConn(owner, ep, key)
	// The handshake's wake-up channel comes from dialChans and goes back
	// when Dial returns: most connections never wait again.
	var lent chan struct{}
	defer func() { c.wnotify.Reclaim(&dialChans, lent) }()
	c.via = opts.NextHop
	c.sock.Store(st)
	if err := c.send(command{op: cmdOpen, c: c}); err != nil {
		s.tab.Close(st)
		c.releaseApp() // the worker never had it: the collector takes the rings
		return nil, dialError(network, nil, rap, err)
	}
	for {
		if c.estab.Load() {
			break
		}
		if en := c.errno.Load(); en != 0 {
			c.releaseApp()
			return nil, dialError(network, c.LocalAddr(), rap, os.NewSyscallError("connect", syscall.Errno(en)))
		}
		if c.gone.Load() {
			c.releaseApp()
			return nil, dialError(network, c.LocalAddr(), rap, os.NewSyscallError("connect", syscall.ECONNRESET))
		}
		ch := c.wnotify.Lend(&dialChans) // before the announcement: see LazyChan
		lent = ch
		c.wwait.Add(1)
		if c.estab.Load() || c.errno.Load() != 0 || c.gone.Load() {
			c.wwait.Add(-1)
			continue
		}
		// The owner's queue closes when its worker drains (the engine
		// closes, or the worker failed: net.ErrClosed then too): an
		// open command enqueued after the drain is never taken, and
		// nothing would wake this wait.
		err := sock.WaitOn(ctx, ch, nil, owner.cmdq.Done())
		c.wwait.Add(-1)
		if err != nil {
			c.send(command{op: cmdAbort, c: c})
			c.releaseApp()
			return nil, dialError(network, c.LocalAddr(), rap, err)
		}
	}
	if err := s.track(c); err != nil {
		c.send(command{op: cmdAbort, c: c})
		c.releaseApp()
		return nil, dialError(network, nil, rap, err)
	}
	return c, nil
}

// dialChans lends Dial the channels it waits on for the handshake.
var dialChans sock.ChanPool

// dialError is Dial's error about the connection from src (nil: not
// chosen yet) to rap (its address made only on failure: a dial allocates
// none).
func dialError(network string, src net.Addr, rap netip.AddrPort, err error) error {
	return &net.OpError{Op: "dial", Net: network, Source: src, Addr: net.TCPAddrFromAddrPort(rap), Err: err}
}

// track registers c for CloseAll.
func (s *Stack) track(c *Conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.State.Closed() {
		return net.ErrClosed
	}
	c.appNext = s.appConns
	if c.appNext != nil {
		c.appNext.appPrev = c
	}
	s.appConns = c
	return nil
}

// untrack takes c off CloseAll's list, if it is on it.
func (s *Stack) untrack(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.appPrev == nil && s.appConns != c {
		return // not on the list
	}
	if c.appPrev != nil {
		c.appPrev.appNext = c.appNext
	} else {
		s.appConns = c.appNext
	}
	if c.appNext != nil {
		c.appNext.appPrev = c.appPrev
	}
	c.appPrev, c.appNext = nil, nil
}
