package engine

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/tcp"
)

// TCPListenConfig sizes a listener.
type TCPListenConfig struct {
	// Backlog is the accept queue per worker (listen(2)'s backlog;
	// default 4096, net.core.somaxconn). A handshake completing on a full
	// queue is dropped and counted (ListenOverflows); the peer retries.
	Backlog int
	// SYNBacklog bounds the connections in SYN-RECEIVED per worker
	// (default 1024). Beyond it SYNs are answered with SYN cookies.
	SYNBacklog int
	// SocketOptions: SO_REUSEADDR, SO_REUSEPORT, IP_FREEBIND,
	// IP_TRANSPARENT (accept connections for an address the engine does
	// not own), ...
	SocketOptions
}

// TCPListener is a listening TCP socket; it implements net.Listener.
//
// Each worker has its own tcp.Listener (SYN queue and accept queue) for
// the connections it owns. The accept queues are SPSC rings: the worker
// produces, and Accept consumes under mu; Close hands the consumer side to
// the workers, which reset the connections nobody accepted.
type TCPListener struct {
	e       *Engine
	net     string
	sock    *socktab.Socket
	laddr   netip.AddrPort
	ls      []*tcp.Listener // one per worker, by queue
	backlog int             // accept queue capacity, all workers together

	mu     sync.Mutex // guards byEP, the accept queues' consumer side, closed transitions
	byEP   map[*tcp.Endpoint]*TCPConn
	closed atomic.Bool // set under mu; loaded by workers without it

	notify   chan struct{}
	waiting  atomic.Int32
	done     chan struct{}
	deadline atomic.Int64
}

// Listen opens a TCP listener on address ("198.18.0.1:80", ":80" for every
// address the engine owns, port 0 for any port) with the default backlog.
func (e *Engine) Listen(network, address string) (net.Listener, error) {
	return e.ListenTCP(network, address, TCPListenConfig{})
}

// ListenTCP opens a TCP listener with cfg.
func (e *Engine) ListenTCP(network, address string, cfg TCPListenConfig) (*TCPListener, error) {
	ap, err := resolveTCP(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	if e.state.Load() == stateClosed {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: net.ErrClosed}
	}
	ln := &TCPListener{e: e, net: network, byEP: map[*tcp.Endpoint]*TCPConn{},
		notify: make(chan struct{}, 1), done: make(chan struct{})}
	for range e.workers {
		l, err := tcp.NewListener(tcp.ListenerConfig{Backlog: cfg.Backlog, SYNBacklog: cfg.SYNBacklog})
		if err != nil {
			return nil, &net.OpError{Op: "listen", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: err}
		}
		ln.ls = append(ln.ls, l)
	}
	ln.backlog = len(e.workers) * roundPow2(max(cfg.Backlog, 1))
	if cfg.Backlog <= 0 {
		ln.backlog = len(e.workers) * 4096
	}
	sock, err := e.tab.Open(socktab.TCP, socktab.IPv4, cfg.table(), ln)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: err}
	}
	ln.sock = sock
	if err := e.tab.Bind(sock, ap); err != nil {
		e.tab.Close(sock)
		return nil, relabel(err, "listen", network)
	}
	if err := e.tab.Listen(sock); err != nil {
		e.tab.Close(sock)
		return nil, relabel(err, "listen", network)
	}
	ln.laddr = e.tab.Local(sock)
	if cfg.Transparent {
		if err := e.addTransparent(ln.laddr.Addr()); err != nil {
			e.tab.Close(sock)
			return nil, &net.OpError{Op: "listen", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: err}
		}
	}
	e.mu.Lock()
	e.listeners[ln] = struct{}{}
	e.mu.Unlock()
	return ln, nil
}

// register, unregister and take map endpoints in the accept queues to
// their connections: workers register and unregister, Accept takes.
func (ln *TCPListener) register(ep *tcp.Endpoint, c *TCPConn) {
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
func (ln *TCPListener) unregister(c *TCPConn) {
	ln.mu.Lock()
	if (!c.estab.Load() || ln.closed.Load()) && ln.byEP[c.ep] == c {
		delete(ln.byEP, c.ep)
		c.releaseApp() // no Accept can return it any more
	}
	ln.mu.Unlock()
}

func (ln *TCPListener) take(ep *tcp.Endpoint) *TCPConn {
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
func (ln *TCPListener) signal() { signal(ln.notify, &ln.waiting) }

func (ln *TCPListener) pending() int {
	n := 0
	for _, l := range ln.ls {
		n += l.Pending()
	}
	return n
}

// Accept waits for and returns the next connection (net.Listener).
func (ln *TCPListener) Accept() (net.Conn, error) { return ln.AcceptTCP() }

// AcceptTCP is Accept returning the concrete type.
func (ln *TCPListener) AcceptTCP() (*TCPConn, error) {
	for {
		c, err := ln.tryAccept()
		if err != nil {
			return nil, ln.opErr("accept", err)
		}
		if c != nil {
			if err := ln.e.trackConn(c); err != nil {
				c.send(tcpCmd{op: cmdAbort, c: c})
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
		err = waitOn(context.Background(), ln.notify, &ln.deadline, ln.done)
		ln.waiting.Add(-1)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, ln.opErr("accept", err)
		}
	}
}

// tryAccept dequeues one established connection, or returns nil.
func (ln *TCPListener) tryAccept() (*TCPConn, error) {
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
				c.holdPort(ln)
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
func (ln *TCPListener) Close() error {
	ln.mu.Lock()
	if ln.closed.Load() {
		ln.mu.Unlock()
		return ln.opErr("close", net.ErrClosed)
	}
	ln.closed.Store(true) // pairs with the loads in workers' tcpListen and in Accept
	ln.mu.Unlock()
	close(ln.done)
	ln.e.tab.Close(ln.sock)
	for _, w := range ln.e.workers {
		w.sendCmd(tcpCmd{op: cmdListenerClose, ln: ln})
	}
	ln.e.mu.Lock()
	delete(ln.e.listeners, ln)
	ln.e.mu.Unlock()
	return nil
}

// Addr returns the listening address.
func (ln *TCPListener) Addr() net.Addr { return net.TCPAddrFromAddrPort(ln.laddr) }

// SetDeadline sets the deadline for Accept; a blocked Accept sees it.
func (ln *TCPListener) SetDeadline(t time.Time) error {
	ln.deadline.Store(unixNano(t))
	ln.waiting.Add(1)
	ln.signal()
	ln.waiting.Add(-1)
	return nil
}

func (ln *TCPListener) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: ln.net, Addr: net.TCPAddrFromAddrPort(ln.laddr), Err: err}
}

var _ net.Listener = (*TCPListener)(nil)
