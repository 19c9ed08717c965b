package tcpsock

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdpengine/engine/stack/sock"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/tcp"
)

// ListenConfig sizes a listener.
type ListenConfig struct {
	// Backlog is the accept queue per worker (listen(2)'s backlog). As on
	// Linux it is capped at the stack's somaxconn (Config.Somaxconn,
	// engine.Config.TCPSomaxconn: 4096 by default), and 0 or a negative
	// backlog takes somaxconn, as listen(fd, -1) does. A handshake
	// completing on a full queue is dropped and counted (ListenOverflows);
	// the peer retries.
	Backlog int
	// SYNBacklog bounds the connections in SYN-RECEIVED per worker
	// (default 1024). Beyond it SYNs are answered with SYN cookies.
	SYNBacklog int
	// SocketOptions: SO_REUSEADDR, SO_REUSEPORT, IP_FREEBIND,
	// IP_TRANSPARENT (accept connections for an address the engine does
	// not own), ...
	SocketOptions
}

// SocketOptions are the options a socket takes before it binds.
type SocketOptions = sock.Options

// Listener is a listening TCP socket; it implements net.Listener.
//
// Each worker has its own tcp.Listener (SYN queue and accept queue) for
// the connections it owns. The accept queues are SPSC rings: the worker
// produces, and Accept consumes under mu; Close hands the consumer side to
// the workers, which reset the connections nobody accepted.
type Listener struct {
	s       *Stack
	net     string
	sock    *socktab.Socket
	laddr   netip.AddrPort
	ls      []*tcp.Listener // one per worker, by queue
	backlog int             // accept queue capacity, all workers together
	v6      bool            // an IPv6 socket (dual-stack on [::] unless V6Only): adopt

	mu   sync.Mutex // guards byEP, children, the accept queues' consumer side, closed transitions
	byEP map[*tcp.Endpoint]*Conn
	// children are the connections Accept returned that the workers have
	// not freed, twChildren the TIME-WAIT records they became: Close
	// registers both in the socket table (holdPort, holdTW).
	children   map[*Conn]struct{}
	twChildren map[*timeWait]struct{}
	closed     atomic.Bool // set under mu; loaded by workers without it

	notify   chan struct{}
	waiting  atomic.Int32
	done     chan struct{}
	deadline atomic.Int64
}

// Listen opens a TCP listener on ap with cfg. network is "tcp4", "tcp6"
// or "tcp" (sockFamily: the wildcard is a dual-stack [::] when the engine
// has IPv6 addresses, as with Go's net).
func (s *Stack) Listen(network string, ap netip.AddrPort, cfg ListenConfig) (*Listener, error) {
	if s.cfg.State.Closed() {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: net.ErrClosed}
	}
	fam, a, v6only, err := s.sockFamily(network, ap.Addr(), true)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: err}
	}
	ap = netip.AddrPortFrom(a, ap.Port())
	opts := cfg.SocketOptions
	opts.V6Only = opts.V6Only || v6only
	if cfg.Transparent && fam == socktab.IPv6 && !a.Is4In6() {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: errTransparent6}
	}
	ln := &Listener{s: s, net: network, v6: fam == socktab.IPv6, byEP: map[*tcp.Endpoint]*Conn{}, children: map[*Conn]struct{}{},
		twChildren: map[*timeWait]struct{}{}, notify: make(chan struct{}, 1), done: make(chan struct{})}
	backlog := s.backlog(cfg.Backlog)
	for range s.workers {
		l, err := tcp.NewListener(tcp.ListenerConfig{Backlog: backlog, SYNBacklog: cfg.SYNBacklog})
		if err != nil {
			return nil, &net.OpError{Op: "listen", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: err}
		}
		ln.ls = append(ln.ls, l)
	}
	ln.backlog = len(s.workers) * roundPow2(backlog)
	st, err := s.tab.Open(socktab.TCP, fam, opts.Table(), ln)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: err}
	}
	ln.sock = st
	if err := s.tab.Bind(st, ap); err != nil {
		s.tab.Close(st)
		return nil, sock.Relabel(err, "listen", network)
	}
	if err := s.tab.Listen(st); err != nil {
		s.tab.Close(st)
		return nil, sock.Relabel(err, "listen", network)
	}
	ln.laddr = s.tab.Local(st)
	if cfg.Transparent {
		if err := s.host.AddTransparent(ln.laddr.Addr().Unmap()); err != nil {
			s.tab.Close(st)
			return nil, &net.OpError{Op: "listen", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: err}
		}
	}
	s.mu.Lock()
	if s.cfg.State.Closed() {
		// The engine closed since the look above, and CloseAll may have
		// taken its list already: the listener would stay open for good.
		s.mu.Unlock()
		ln.Close() // listening already: connections it began go too
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: net.ErrClosed}
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	return ln, nil
}

// backlog is the accept queue per worker a listener asking for b gets:
// b capped at somaxconn, somaxconn for 0 or less (Linux's listen(2)).
func (s *Stack) backlog(b int) int {
	somax := s.cfg.Somaxconn
	if somax <= 0 {
		somax = 4096
	}
	if b <= 0 || b > somax {
		return somax
	}
	return b
}

func roundPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// Queues reports the accept queue (Recv-Q) and the backlog (Send-Q), as ss
// does for a listener.
func (ln *Listener) Queues() (recvQ, sendQ uint64) { return uint64(ln.pending()), uint64(ln.backlog) }

// SetIncomingQueue makes the listener, a member of a SO_REUSEPORT group,
// the group's choice for the connections whose SYN arrives on queue q (its
// worker), as SO_INCOMING_CPU does for a CPU; q < 0 removes the
// preference. EINVAL past the last queue.
func (ln *Listener) SetIncomingQueue(q int) error {
	if err := ln.s.tab.SetHome(ln.sock, q); err != nil {
		return ln.opErr("set", err)
	}
	return nil
}

// register, unregister and take map endpoints in the accept queues to
// their connections: workers register and unregister, Accept takes.
func (ln *Listener) register(ep *tcp.Endpoint, c *Conn) {
	ln.mu.Lock()
	ln.byEP[ep] = c
	ln.mu.Unlock()
}

// unregister is called by the worker that frees c (before it drops its
// own reference to the rings). A connection that
// reached the accept queue stays mapped: Accept returns it, and its first
// read returns the error that ended it (ECONNRESET for a reset), as
// Linux's accept(2) does with a connection reset while it waited. One that
// never left SYN-RECEIVED is not in the queue and is forgotten; so is any
// once the listener is closed (the workers drain the queues then).
func (ln *Listener) unregister(c *Conn) {
	ln.mu.Lock()
	delete(ln.children, c)
	if (!c.estab.Load() || ln.closed.Load()) && ln.byEP[c.ep] == c {
		delete(ln.byEP, c.ep)
		c.releaseApp() // no Accept can return it any more
	}
	ln.mu.Unlock()
}

func (ln *Listener) take(ep *tcp.Endpoint) *Conn {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	c := ln.byEP[ep]
	delete(ln.byEP, ep)
	if c != nil {
		c.accepted = true
	}
	return c
}

// signal wakes an Accept that waits; workers call it on EvEstablished.
// Pairs with the waiting.Add(1) in Accept.
func (ln *Listener) signal() { sock.Signal(ln.notify, &ln.waiting) }

func (ln *Listener) pending() int {
	n := 0
	for _, l := range ln.ls {
		n += l.Pending()
	}
	return n
}

// Accept waits for and returns the next connection (net.Listener).
func (ln *Listener) Accept() (net.Conn, error) { return ln.AcceptTCP() }

// AcceptTCP is Accept returning the concrete type.
func (ln *Listener) AcceptTCP() (*Conn, error) {
	for {
		c, err := ln.tryAccept()
		if err != nil {
			return nil, ln.opErr("accept", err)
		}
		if c != nil {
			if err := ln.s.track(c); err != nil {
				c.send(command{op: cmdAbort, c: c})
				c.releaseApp()
				return nil, ln.opErr("accept", err)
			}
			return c, nil
		}
		if d := ln.deadline.Load(); d != 0 && time.Now().UnixNano() >= d {
			return nil, ln.opErr("accept", os.ErrDeadlineExceeded)
		}
		ln.waiting.Add(1)
		if ln.pending() > 0 || ln.closed.Load() {
			ln.waiting.Add(-1)
			continue
		}
		err = sock.WaitOn(context.Background(), ln.notify, &ln.deadline, ln.done)
		ln.waiting.Add(-1)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, ln.opErr("accept", err)
		}
	}
}

// tryAccept dequeues one established connection, or returns nil.
func (ln *Listener) tryAccept() (*Conn, error) {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	for {
		if ln.closed.Load() {
			return nil, net.ErrClosed
		}
		got := false
		for _, l := range ln.ls {
			ep, ok := l.Accept()
			if !ok {
				continue
			}
			got = true
			if c := ln.byEP[ep]; c != nil {
				delete(ln.byEP, ep)
				c.accepted = true
				ln.children[c] = struct{}{}
				return c, nil
			}
			// Freed after the listener closed: skip it.
		}
		if !got {
			return nil, nil
		}
	}
}

// Close stops listening; connections not yet accepted are reset, as
// Linux does. Accepted connections are not affected.
func (ln *Listener) Close() error {
	ln.mu.Lock()
	if ln.closed.Load() {
		ln.mu.Unlock()
		return ln.opErr("close", net.ErrClosed)
	}
	ln.closed.Store(true) // pairs with the loads in workers' tcpListen and in Accept
	// The accepted connections hold the port from now on, as Linux's
	// children do: registered before the listener lets go of it, with mu
	// held so that a worker freeing one waits (unregister) and then
	// closes what was registered.
	for c := range ln.children {
		c.holdPort(ln)
	}
	clear(ln.children)
	for t := range ln.twChildren {
		t.holdTW(ln)
	}
	clear(ln.twChildren)
	ln.mu.Unlock()
	close(ln.done)
	ln.s.tab.Close(ln.sock)
	for _, w := range ln.s.workers {
		w.sendCmd(command{op: cmdListenerClose, ln: ln})
	}
	ln.s.mu.Lock()
	delete(ln.s.listeners, ln)
	ln.s.mu.Unlock()
	return nil
}

// Addr returns the listening address.
func (ln *Listener) Addr() net.Addr { return net.TCPAddrFromAddrPort(ln.laddr) }

// SetDeadline sets the deadline for Accept; a blocked Accept sees it.
func (ln *Listener) SetDeadline(t time.Time) error {
	ln.deadline.Store(sock.UnixNano(t))
	ln.waiting.Add(1)
	ln.signal()
	ln.waiting.Add(-1)
	return nil
}

func (ln *Listener) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: ln.net, Addr: net.TCPAddrFromAddrPort(ln.laddr), Err: err}
}

var _ net.Listener = (*Listener)(nil)
