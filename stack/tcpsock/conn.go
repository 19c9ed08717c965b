package tcpsock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/stack/sock"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/tcp"
)

// Conn is a TCP connection of the engine; it implements net.Conn and is
// safe for concurrent use.
//
// The application and the worker that owns the connection share only the
// endpoint's two byte rings (tcp.ByteRing, SPSC) and the atomics below.
// Write copies into the send ring and pokes the worker (one command in
// flight at most, pokeQueued); Read copies out of the receive ring and
// pokes it too (a window update may be due). When a ring is full or empty
// the goroutine waits on a notify channel that the worker signals from the
// endpoint's events, one for readers and one for writers, each made by its
// first waiter (sock.LazyChan): a connection held idle, or closed without
// waiting, has none. A slow reader never blocks the worker: its full
// receive ring closes the advertised window.
//
// Ring memory. The rings' memory comes from the engine's ringPool and goes
// back to it when neither side can touch it any more. Two references
// count this (refs): the worker's, dropped by freeTCP once the endpoint is
// CLOSED and forgotten, and the application's, dropped once by
// releaseApp: in Close (after any Read or Write in progress has left, and
// every later one returns net.ErrClosed before looking at a ring), by the
// listener when it discards a connection no Accept returned, and by Dial
// when it fails. The last drop calls Endpoint.Recycle (the rings and the
// control block go back to their pools). A reference
// never dropped (a command the worker never ran) only costs the reuse: the
// collector frees the memory.
type Conn struct {
	s     *Stack
	owner *worker
	ep    *tcp.Endpoint
	via   netip.Addr // Options.NextHop: the neighbor every segment goes to (set before the worker sees c)
	// sock is the socket-table entry that holds the port: a Dial's, set
	// before the worker sees the connection, or an accepted one's, set when
	// its listener closes (holdPort); freeTCP swaps in freedSock and
	// closes it.
	sock atomic.Pointer[socktab.Socket]
	ln   *Listener     // passive opens: the listener that made it
	key  flowtable.Key // arrival order: Src is the peer
	// mapped: the application sees the IPv4 addresses of key as
	// v4-mapped IPv6 ones (a dual-stack listener's connection: adopt).
	mapped   bool
	accepted bool // guarded by ln.mu

	// The Stack's list of connections the application holds, for
	// CloseAll (guarded by Stack.mu): a list, not a map, so that the
	// millionth connection costs what the first does.
	appPrev, appNext *Conn

	// Shared. Each store by the worker is followed by a signal, and each
	// waiter announces itself (rwait, wwait) before its last look, so a
	// wakeup is never lost (as UDPConn's waiting/signal pair).
	//
	// The groups and the fields within them are ordered by size: a Conn
	// takes 288 bytes, not 320. A dial makes one, memory that with a
	// million connections open comes fresh from the operating system.
	lingerNs                    atomic.Int64  // SetLinger(sec > 0): how long Close waits for the FIN's ACK
	sndLimit                    atomic.Int64  // SetWriteBuffer: bytes the send ring may hold (0: all of it)
	sndWant                     atomic.Int64  // the endpoint's SendBufWant, published by the worker with EvWritable
	readDeadline, writeDeadline atomic.Int64  // UnixNano; 0: none
	rnotify, wnotify            sock.LazyChan // made by the first waiter; Close signals both
	pubState                    atomic.Uint32 // tcp.State, stored by the worker on each change
	errno                       atomic.Uint32 // the endpoint's failure (ECONNREFUSED, ECONNRESET, ETIMEDOUT)
	estab                       atomic.Bool   // the handshake completed
	peerFIN                     atomic.Bool   // the peer's FIN arrived, after the data before it was in the ring
	gone                        atomic.Bool   // the worker freed the endpoint (CLOSED)
	pokeQueued                  atomic.Bool   // a cmdPoke is queued: CAS in poke, cleared by the worker before Output
	closed                      atomic.Bool   // the application closed the socket
	wrShut                      atomic.Bool   // CloseWrite was called
	linger0                     atomic.Bool   // SetLinger(0): Close resets
	growReq                     atomic.Uint32 // send-ring growths asked for (Write, under wmu)
	growDone                    atomic.Uint32 // and done or refused (worker); the ring is the worker's while they differ
	refs                        atomic.Int32  // owners of the ring memory (worker, application): see above
	appDropped                  atomic.Bool   // releaseApp ran
	rwait, wwait                atomic.Int32
	rmu, wmu                    sync.Mutex // one reader, one writer at a time (the rings are SPSC)
	ipOpts                      tcpIPOpts  // IP_TTL, IP_TOS, IP_MTU_DISCOVER (tcpipopts.go)

	// Worker only.
	timerAt   int64
	heapIdx   int32
	flow      uint32 // IPv6 flow label, set by the first segment (sink6.go)
	ipID      uint16
	lastState tcp.State
	retrying  bool
	deferred  bool // in the worker's deferred list (segment)
	freed     bool
	orphan    bool // counted in the worker's orphans (memory.go)
}

func (s *Stack) newConn(owner *worker, ep *tcp.Endpoint, key flowtable.Key) *Conn {
	c := &Conn{s: s, owner: owner, ep: ep, key: key}
	c.refs.Store(2) // the worker's and the application's
	return c
}

// freedSock marks a connection the worker freed: a later holdPort closes
// what it registered.
var freedSock socktab.Socket

// portSock returns the socket-table entry holding c's port, nil when none.
func (c *Conn) portSock() *socktab.Socket {
	if s := c.sock.Load(); s != &freedSock {
		return s
	}
	return nil
}

// holdPort registers an accepted connection in the socket table, as
// Linux's accepted socket sits in its listener's bind bucket: while it (or
// its TIME-WAIT) lives, a new listener on the port needs SO_REUSEADDR.
// While the listener is open it dominates every bind conflict the child
// could take part in (the child has the listener's options and does not
// listen), so the child is registered only when the listener closes
// (Listener.Close, before the listener's own entry goes): no socket-table
// work per connection, and the port never free in between. The workers
// demultiplex connections themselves, so the table holds the port and the
// tuple without a lookup entry (HoldAccepted). A connection the table
// refuses keeps working unregistered and is counted (AcceptPortFails).
func (c *Conn) holdPort(ln *Listener) {
	s, err := c.s.tab.HoldAccepted(ln.sock, c.key, c)
	if err != nil {
		c.s.acceptPortFails[c.owner.queue].Add(1)
		return
	}
	if !c.sock.CompareAndSwap(nil, s) { // pairs with the Swap in freeTCP
		c.s.tab.Close(s) // freed meanwhile
		return
	}
	if tcp.State(c.pubState.Load()) == tcp.TimeWait {
		c.s.tab.SetState(s, socktab.StateTimeWait) // the worker's transition came first
	}
}

// release drops one reference to the ring memory; the last one gives it
// back to the pool. The Add is a full barrier: the other owner's accesses
// to the rings, made before its own Add, happen before the release.
func (c *Conn) release() {
	switch n := c.refs.Add(-1); { // pairs with the other owner's Add(-1)
	case n == 0:
		c.ep.Recycle() // rings and control block
	case n < 0:
		panic("engine: TCP ring memory released twice")
	}
}

// releaseApp drops the application's reference, once. The caller
// guarantees that no application goroutine touches the rings any more.
func (c *Conn) releaseApp() {
	if !c.appDropped.Swap(true) {
		c.release()
	}
}

// publish turns endpoint events into state the application sees, and wakes
// it (through the owner's waker). Worker side.
func (c *Conn) publish(ev tcp.Events) {
	k := c.owner.wk
	if ev&tcp.EvError != 0 {
		c.errno.Store(uint32(c.ep.Err())) // pairs with the loads in Read, Write, Dial
	}
	if ev&tcp.EvPeerClosed != 0 {
		c.peerFIN.Store(true) // after the data: pairs with the load in Read
	}
	if ev&tcp.EvEstablished != 0 {
		c.estab.Store(true) // pairs with the loads in dial and Accept
		if c.ln != nil {
			k.Wake(c.ln.notify, &c.ln.waiting)
		}
	}
	if ev&(tcp.EvReadable|tcp.EvPeerClosed|tcp.EvError|tcp.EvClosed|tcp.EvTimeWait) != 0 {
		k.Wake(c.rnotify.Load(), &c.rwait)
	}
	if ev&(tcp.EvWritable|tcp.EvEstablished|tcp.EvError|tcp.EvClosed|tcp.EvTimeWait) != 0 {
		if ev&tcp.EvWritable != 0 && c.ep.SendRing().Cap() < c.s.cfg.SendBufferMax {
			c.sndWant.Store(int64(c.ep.SendBufWant())) // pairs with the load in growSend
		}
		k.Wake(c.wnotify.Load(), &c.wwait)
	}
}

// send queues a command to the owning worker, waiting for room if the
// worker is behind.
func (c *Conn) send(cmd command) error {
	return c.owner.sendCmd(cmd)
}

func (w *worker) sendCmd(cmd command) error {
	if w.cmdq.Enqueue(cmd) { // the fast path allocates nothing
		w.dp.Wake()
		return nil
	}
	return sock.Push(w.cmdq, cmd, w.dp.Wake, func() error {
		if w.s.cfg.State.Closed() {
			return net.ErrClosed
		}
		return nil
	})
}

// poke asks the worker to run Output for the connection.
func (c *Conn) poke() {
	if c.pokeQueued.CompareAndSwap(false, true) { // pairs with the worker's Store(false)
		if c.send(command{op: cmdPoke, c: c}) != nil {
			c.pokeQueued.Store(false)
		}
	}
}

// Read implements net.Conn: it returns io.EOF once the peer's FIN arrived
// and the data before it was read, and ECONNRESET / ETIMEDOUT (in a
// *net.OpError) when the connection failed.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	// closed is checked under rmu before every look at the ring: Close
	// sets it, then waits for rmu before it drops the reference.
	if c.closed.Load() {
		return 0, c.opErr("read", net.ErrClosed)
	}
	r := c.ep.RecvRing()
	for {
		if c.closed.Load() {
			return 0, c.opErr("read", net.ErrClosed)
		}
		if len(p) == 0 {
			return 0, nil
		}
		if n := r.Read(p); n > 0 {
			c.poke()
			return n, nil
		}
		if c.peerFIN.Load() || c.gone.Load() || c.errno.Load() != 0 {
			if n := r.Read(p); n > 0 { // data stored before the flag
				c.poke()
				return n, nil
			}
			if e := c.errno.Load(); e != 0 {
				return 0, c.opErr("read", os.NewSyscallError("read", syscall.Errno(e)))
			}
			return 0, io.EOF
		}
		if d := c.readDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		}
		ch := c.rnotify.Get() // before the announcement: see LazyChan
		c.rwait.Add(1)
		if r.Len() > 0 || c.peerFIN.Load() || c.gone.Load() || c.errno.Load() != 0 || c.closed.Load() {
			c.rwait.Add(-1)
			continue
		}
		err := sock.WaitOn(context.Background(), ch, &c.readDeadline, nil)
		c.rwait.Add(-1)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, c.opErr("read", err)
		}
	}
}

// WaitReadable blocks until a Read would not block: data is queued, the
// peer closed its side, the connection failed or was closed, or the read
// deadline passed (then it returns the error Read would:
// os.ErrDeadlineExceeded, or net.ErrClosed once closed). It returns nil
// when a Read would return at once, with data, io.EOF or the connection's
// error, and it takes no buffer: a server with many idle connections lends
// one only to a connection with data to read, as an epoll loop does with
// the kernel's sockets. It waits as Read does (under the same lock, so a
// Read and a WaitReadable do not run at once).
func (c *Conn) WaitReadable() error {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	r := c.ep.RecvRing()
	for {
		if c.closed.Load() {
			return c.opErr("read", net.ErrClosed)
		}
		if r.Len() > 0 || c.peerFIN.Load() || c.gone.Load() || c.errno.Load() != 0 {
			return nil
		}
		if d := c.readDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
			return c.opErr("read", os.ErrDeadlineExceeded)
		}
		ch := c.rnotify.Get() // before the announcement: see LazyChan
		c.rwait.Add(1)
		if r.Len() > 0 || c.peerFIN.Load() || c.gone.Load() || c.errno.Load() != 0 || c.closed.Load() {
			c.rwait.Add(-1)
			continue
		}
		err := sock.WaitOn(context.Background(), ch, &c.readDeadline, nil)
		c.rwait.Add(-1)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return c.opErr("read", err)
		}
	}
}

// Write implements net.Conn: it blocks until p is in the send buffer (or
// the deadline passes, or the connection fails).
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// closed is checked under wmu before every look at the ring (as in Read).
	if c.closed.Load() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	s := c.ep.SendRing()
	total := 0
	for {
		switch {
		case c.closed.Load():
			return total, c.opErr("write", net.ErrClosed)
		case c.errno.Load() != 0:
			return total, c.opErr("write", os.NewSyscallError("write", syscall.Errno(c.errno.Load())))
		case c.wrShut.Load() || c.gone.Load():
			return total, c.opErr("write", os.NewSyscallError("write", syscall.EPIPE))
		}
		if len(p) == 0 {
			return total, nil
		}
		if c.growReq.Load() != c.growDone.Load() {
			// A growth this Write, or an earlier one that timed out, asked
			// for: the ring is the worker's until it is done.
			if err := c.waitGrown(); err != nil {
				return total, c.opErr("write", err)
			}
			continue
		}
		if n := s.Write(p[:min(len(p), c.sendRoom(s))]); n > 0 {
			total += n
			p = p[n:]
			c.poke()
			continue
		}
		if c.growSend(s) {
			continue
		}
		if d := c.writeDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
			return total, c.opErr("write", os.ErrDeadlineExceeded)
		}
		ch := c.wnotify.Get() // before the announcement: see LazyChan
		c.wwait.Add(1)
		if c.sendRoom(s) > 0 || c.gone.Load() || c.errno.Load() != 0 || c.closed.Load() {
			c.wwait.Add(-1)
			continue
		}
		err := sock.WaitOn(context.Background(), ch, &c.writeDeadline, nil)
		c.wwait.Add(-1)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return total, c.opErr("write", err)
		}
	}
}

// Close closes the connection: a FIN after the queued data, or a RST when
// received data was left unread or SetLinger(0) was called, as Linux does.
// Blocked and later calls return net.ErrClosed. The connection lives on in
// the worker through FIN-WAIT (an orphan, within Config.Memory.MaxOrphans)
// and TIME-WAIT (as a small record).
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return c.opErr("close", net.ErrClosed)
	}
	// Wake a Read or Write that waits: it sees closed (each waiter
	// announces itself in rwait or wwait before its last look at closed).
	sock.Notify(c.rnotify.Load())
	sock.Notify(c.wnotify.Load())
	c.s.untrack(c)
	// A Read or Write in progress sees closed and leaves; one that starts
	// later sees closed first. Then the rings are free, and the
	// application's reference goes before the command does, so the
	// worker that runs it knows that it alone can touch them (it gives
	// them back with the endpoint once CLOSED or in TIME-WAIT, which a
	// small record keeps: timewait.go).
	c.rmu.Lock()
	//lint:ignore SA2001 waiting for the reader to leave is the point
	c.rmu.Unlock()
	c.wmu.Lock()
	//lint:ignore SA2001 waiting for the writer to leave is the point
	c.wmu.Unlock()
	c.releaseApp()
	op := cmdClose
	if c.linger0.Load() {
		op = cmdAbort
	}
	c.send(command{op: op, c: c})
	if d := c.lingerNs.Load(); d > 0 && op == cmdClose {
		c.lingerWait(time.Duration(d))
	}
	return nil
}

// CloseWrite shuts down the sending side (shutdown(SHUT_WR)): a FIN
// follows the queued data; reading goes on.
func (c *Conn) CloseWrite() error {
	if c.closed.Load() {
		return c.opErr("close", net.ErrClosed)
	}
	if c.wrShut.Swap(true) {
		return nil
	}
	return c.send(command{op: cmdCloseWrite, c: c})
}

// SetNoDelay turns Nagle's algorithm off (true, Go's default for TCP) or on.
func (c *Conn) SetNoDelay(on bool) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	return c.send(command{op: cmdNoDelay, c: c, on: on})
}

// SetKeepAlive turns keepalive probes on or off (15 s idle and interval
// when on, Go's default).
func (c *Conn) SetKeepAlive(on bool) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	return c.send(command{op: cmdKeepAlive, c: c, on: on, arg: int64(15 * time.Second)})
}

// SetKeepAlivePeriod turns keepalive on with d as idle time and interval.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	if d <= 0 {
		return c.opErr("set", syscall.EINVAL)
	}
	return c.send(command{op: cmdKeepAlive, c: c, on: true, arg: int64(d)})
}

// SetReadBuffer sets the receive window limit to bytes (SO_RCVBUF), within
// [tcp.MinRecvBuffer, Config.TCPRecvBuffer], and turns receive-window
// auto-tuning off for the connection, as SO_RCVBUF does on Linux. A
// window already advertised is not taken back: a smaller limit shows as
// the data in flight is read. Linux doubles the value for its bookkeeping;
// the engine has none and uses it as given.
func (c *Conn) SetReadBuffer(bytes int) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	if bytes <= 0 {
		return c.opErr("set", syscall.EINVAL)
	}
	return c.send(command{op: cmdRecvBuffer, c: c, arg: int64(bytes)})
}

// SetWriteBuffer bounds the data waiting in the send buffer (sent and not
// yet acknowledged, or not yet sent) at bytes (SO_SNDBUF), within
// [4096, Config.TCPSendBufferMax]: Write blocks beyond it, and the send
// ring grows to hold it when it is larger. Like setting SO_SNDBUF on
// Linux, it turns send-buffer auto-tuning off. Taken as given, not
// doubled as Linux does.
func (c *Conn) SetWriteBuffer(bytes int) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	if bytes <= 0 {
		return c.opErr("set", syscall.EINVAL)
	}
	c.sndLimit.Store(int64(max(bytes, 4096))) // the ring caps it
	// A blocked Write re-reads the limit. Get, not Load: a Write may have
	// read the old limit (growSend) before it made the channel, and its
	// last look (the ring's room) does not see the limit.
	sock.Notify(c.wnotify.Get())
	return nil
}

// SetLinger sets SO_LINGER, as Linux applies it to close(2): 0 makes Close
// reset the connection (RST, queued data discarded); sec > 0 makes Close
// send the queued data and the FIN as usual and then wait, at most sec
// seconds, until the peer acknowledged them (the connection goes on in the
// background if the time runs out); a negative value restores the default,
// a Close that returns at once.
func (c *Conn) SetLinger(sec int) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.linger0.Store(sec == 0)
	c.lingerNs.Store(int64(max(sec, 0)) * int64(time.Second))
	return nil
}

// lingerWait waits, at most d, until the FIN Close queued is acknowledged:
// the worker took the connection past FIN-WAIT-1, CLOSING and LAST-ACK.
func (c *Conn) lingerWait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	acked := func() bool {
		switch tcp.State(c.pubState.Load()) {
		case tcp.FinWait2, tcp.TimeWait, tcp.Closed:
			return true
		}
		return c.gone.Load() || c.errno.Load() != 0
	}
	ch := c.wnotify.Get() // before the announcement: see LazyChan
	for {
		c.wwait.Add(1)
		if acked() {
			c.wwait.Add(-1)
			return
		}
		select {
		case <-ch:
		case <-t.C:
			c.wwait.Add(-1)
			return
		}
		c.wwait.Add(-1)
	}
}

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(c.laddrPort()) }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.raddrPort()) }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline; a blocked Read sees the new value.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.readDeadline.Store(sock.UnixNano(t))
	sock.Notify(c.rnotify.Load()) // a waiter made it before its last look at the deadline
	return nil
}

// SetWriteDeadline sets the write deadline; a blocked Write sees it.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.writeDeadline.Store(sock.UnixNano(t))
	sock.Notify(c.wnotify.Load()) // a waiter made it before its last look at the deadline
	return nil
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: net.TCPAddrFromAddrPort(c.laddrPort()),
		Addr: net.TCPAddrFromAddrPort(c.raddrPort()), Err: err}
}

// String describes the connection for logs.
func (c *Conn) String() string { return fmt.Sprintf("tcp %v -> %v", c.laddrPort(), c.raddrPort()) }

// laddrPort and raddrPort are the local and remote addresses as the
// application sees them (derived from key, not stored: a connection's
// memory is what a million of them cost).
func (c *Conn) laddrPort() netip.AddrPort { return c.appAddr(c.key.DstAddrPort()) }
func (c *Conn) raddrPort() netip.AddrPort { return c.appAddr(c.key.SrcAddrPort()) }

func (c *Conn) appAddr(ap netip.AddrPort) netip.AddrPort {
	if c.mapped {
		return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
	}
	return ap
}

var _ net.Conn = (*Conn)(nil)

// IncomingQueue returns the queue (worker) that owns the connection: the
// one its segments are steered to, as SO_INCOMING_CPU reports a socket's
// CPU.
func (c *Conn) IncomingQueue() int { return c.owner.queue }

// WriteBufferSize returns the send ring's size (getsockopt SO_SNDBUF):
// 0 before the first Write and after an idle period (the ring holds no
// memory then), what the first Write attached (up to
// Config.TCPSendBuffer), or more once auto-tuning or SetWriteBuffer grew
// it; 0 after Close. It waits for a Write in progress (the worker may be
// growing the ring for it).
func (c *Conn) WriteBufferSize() int {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.Load() {
		return 0
	}
	return c.ep.SendRing().Cap()
}
