package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/tcp"
	"github.com/xdpengine/engine/tcp/syncookie"
)

// TCPConn is a TCP connection of the engine; it implements net.Conn and is
// safe for concurrent use.
//
// The application and the worker that owns the connection share only the
// endpoint's two byte rings (tcp.ByteRing, SPSC) and the atomics below.
// Write copies into the send ring and pokes the worker (one command in
// flight at most, pokeQueued); Read copies out of the receive ring and
// pokes it too (a window update may be due). When a ring is full or empty
// the goroutine waits on a notify channel that the worker signals from the
// endpoint's events. A slow reader never blocks the worker: its full
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
type TCPConn struct {
	e             *Engine
	owner         *worker
	ep            *tcp.Endpoint
	key           flowtable.Key // arrival order: Src is the peer
	local, remote [4]byte
	laddr, raddr  netip.AddrPort
	// sock is the socket-table entry that holds the port: a Dial's, set
	// before the worker sees the connection, or an accepted one's, set by
	// Accept (holdPort); freeTCP swaps in freedSock and closes it.
	sock atomic.Pointer[socktab.Socket]
	ln   *TCPListener // passive opens: the listener that made it

	// Worker only.
	timerAt   int64
	heapIdx   int
	retrying  bool
	freed     bool
	lastState tcp.State
	ipID      uint16

	// Shared. Each store by the worker is followed by a signal, and each
	// waiter announces itself (rwait, wwait) before its last look, so a
	// wakeup is never lost (as UDPConn's waiting/signal pair).
	pubState   atomic.Uint32 // tcp.State, stored by the worker on each change
	errno      atomic.Uint32 // the endpoint's failure (ECONNREFUSED, ECONNRESET, ETIMEDOUT)
	estab      atomic.Bool   // the handshake completed
	peerFIN    atomic.Bool   // the peer's FIN arrived, after the data before it was in the ring
	gone       atomic.Bool   // the worker freed the endpoint (CLOSED)
	pokeQueued atomic.Bool   // a cmdPoke is queued: CAS in poke, cleared by the worker before Output
	closed     atomic.Bool   // the application closed the socket
	wrShut     atomic.Bool   // CloseWrite was called
	linger0    atomic.Bool   // SetLinger(0): Close resets
	lingerNs   atomic.Int64  // SetLinger(sec > 0): how long Close waits for the FIN's ACK
	sndLimit   atomic.Int64  // SetWriteBuffer: bytes the send ring may hold (0: all of it)
	sndWant    atomic.Int64  // the endpoint's SendBufWant, published by the worker with EvWritable
	growReq    atomic.Uint32 // send-ring growths asked for (Write, under wmu)
	growDone   atomic.Uint32 // and done or refused (worker); the ring is the worker's while they differ
	accepted   bool          // guarded by ln.mu
	refs       atomic.Int32  // owners of the ring memory (worker, application): see above
	appDropped atomic.Bool   // releaseApp ran

	rnotify, wnotify            chan struct{} // capacity 1
	rwait, wwait                atomic.Int32
	done                        chan struct{} // closed by Close
	readDeadline, writeDeadline atomic.Int64  // UnixNano; 0: none
	rmu, wmu                    sync.Mutex    // one reader, one writer at a time (the rings are SPSC)
	ipOpts                      tcpIPOpts     // IP_TTL, IP_TOS, IP_MTU_DISCOVER (tcpipopts.go)
}

func (e *Engine) newTCPConn(owner *worker, ep *tcp.Endpoint, key flowtable.Key) *TCPConn {
	c := &TCPConn{e: e, owner: owner, ep: ep, key: key,
		rnotify: make(chan struct{}, 1), wnotify: make(chan struct{}, 1), done: make(chan struct{})}
	copy(c.remote[:], key.Src[12:])
	copy(c.local[:], key.Dst[12:])
	c.raddr = netip.AddrPortFrom(netip.AddrFrom4(c.remote), key.SrcPort)
	c.laddr = netip.AddrPortFrom(netip.AddrFrom4(c.local), key.DstPort)
	c.refs.Store(2) // the worker's and the application's
	return c
}

// freedSock marks a connection the worker freed: a later holdPort closes
// what it registered.
var freedSock socktab.Socket

// portSock returns the socket-table entry holding c's port, nil when none.
func (c *TCPConn) portSock() *socktab.Socket {
	if s := c.sock.Load(); s != &freedSock {
		return s
	}
	return nil
}

// holdPort registers an accepted connection in the socket table, as
// Linux's accepted socket joins its listener's bind bucket: while it (or
// its TIME-WAIT) lives, a new listener on the port needs SO_REUSEADDR.
// Accept calls it before it returns c, with ln.mu held and ln open, so the
// port is held from the moment the application has the connection; the
// cost (the table's mutex) is the accepting goroutine's, off the worker.
// A connection the table refuses keeps working unregistered and is
// counted (AcceptPortFails).
func (c *TCPConn) holdPort(ln *TCPListener) {
	s, err := c.e.tab.Accept(ln.sock, c.key, c)
	if err != nil {
		c.e.acceptPortFails[c.owner.queue].Add(1)
		return
	}
	if !c.sock.CompareAndSwap(nil, s) { // pairs with the Swap in freeTCP
		c.e.tab.Close(s) // freed meanwhile
		return
	}
	if tcp.State(c.pubState.Load()) == tcp.TimeWait {
		c.e.tab.SetState(s, socktab.StateTimeWait) // the worker's transition came first
	}
}

// release drops one reference to the ring memory; the last one gives it
// back to the pool. The Add is a full barrier: the other owner's accesses
// to the rings, made before its own Add, happen before the release.
func (c *TCPConn) release() {
	switch n := c.refs.Add(-1); { // pairs with the other owner's Add(-1)
	case n == 0:
		c.ep.Recycle() // rings and control block
	case n < 0:
		panic("engine: TCP ring memory released twice")
	}
}

// releaseApp drops the application's reference, once. The caller
// guarantees that no application goroutine touches the rings any more.
func (c *TCPConn) releaseApp() {
	if !c.appDropped.Swap(true) {
		c.release()
	}
}

// publish turns endpoint events into state the application sees, and wakes
// it (through the owner's waker). Worker side.
func (c *TCPConn) publish(ev tcp.Events) {
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
		k.Wake(c.rnotify, &c.rwait)
	}
	if ev&(tcp.EvWritable|tcp.EvEstablished|tcp.EvError|tcp.EvClosed|tcp.EvTimeWait) != 0 {
		if ev&tcp.EvWritable != 0 && c.ep.SendRing().Cap() < c.e.cfg.TCPSendBufferMax {
			c.sndWant.Store(int64(c.ep.SendBufWant())) // pairs with the load in growSend
		}
		k.Wake(c.wnotify, &c.wwait)
	}
}

// signal wakes a goroutine waiting on ch. Pairs with the Add(1) of the
// waiter, made before its last look at the state.
func signal(ch chan struct{}, waiting *atomic.Int32) {
	if waiting.Load() > 0 {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// waitOn blocks until ch is signalled, the deadline passes (nil: the
// caller re-checks it), ctx ends, or done closes (net.ErrClosed).
func waitOn(ctx context.Context, ch chan struct{}, deadline *atomic.Int64, done chan struct{}) error {
	var timer <-chan time.Time
	if deadline != nil {
		if d := deadline.Load(); d != 0 {
			left := time.Until(time.Unix(0, d))
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			t := time.NewTimer(left)
			defer t.Stop()
			timer = t.C
		}
	}
	cdone := ctx.Done() // nil for context.Background: never ready
	select {
	case <-ch:
		return nil
	case <-timer:
		return nil
	case <-cdone:
		return ctx.Err()
	case <-done:
		return net.ErrClosed
	}
}

// send queues a command to the owning worker, waiting for room if the
// worker is behind.
func (c *TCPConn) send(cmd tcpCmd) error {
	return c.owner.sendCmd(cmd)
}

func (w *worker) sendCmd(cmd tcpCmd) error {
	for spins := 0; !w.tcp.cmdq.Enqueue(cmd); spins++ {
		w.wake()
		if w.e.state.Load() == stateClosed {
			return net.ErrClosed
		}
		if spins < 64 {
			runtime.Gosched()
		} else {
			time.Sleep(20 * time.Microsecond)
		}
	}
	w.wake()
	return nil
}

// poke asks the worker to run Output for the connection.
func (c *TCPConn) poke() {
	if c.pokeQueued.CompareAndSwap(false, true) { // pairs with the worker's Store(false)
		if c.send(tcpCmd{op: cmdPoke, c: c}) != nil {
			c.pokeQueued.Store(false)
		}
	}
}

// Read implements net.Conn: it returns io.EOF once the peer's FIN arrived
// and the data before it was read, and ECONNRESET / ETIMEDOUT (in a
// *net.OpError) when the connection failed.
func (c *TCPConn) Read(p []byte) (int, error) {
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
		c.rwait.Add(1)
		if r.Len() > 0 || c.peerFIN.Load() || c.gone.Load() || c.errno.Load() != 0 {
			c.rwait.Add(-1)
			continue
		}
		err := waitOn(context.Background(), c.rnotify, &c.readDeadline, c.done)
		c.rwait.Add(-1)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, c.opErr("read", err)
		}
	}
}

// Write implements net.Conn: it blocks until p is in the send buffer (or
// the deadline passes, or the connection fails).
func (c *TCPConn) Write(p []byte) (int, error) {
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
		c.wwait.Add(1)
		if c.sendRoom(s) > 0 || c.gone.Load() || c.errno.Load() != 0 {
			c.wwait.Add(-1)
			continue
		}
		err := waitOn(context.Background(), c.wnotify, &c.writeDeadline, c.done)
		c.wwait.Add(-1)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return total, c.opErr("write", err)
		}
	}
}

// growSend asks the worker for a larger send ring when the full one is
// smaller than what auto-tuning wants (SendBufWant, published by the
// worker) or than the SetWriteBuffer size, within TCPSendBufferMax; it
// reports whether it asked. Write's loop then waits (waitGrown) before it
// touches the ring again. Under wmu.
func (c *TCPConn) growSend(s *tcp.ByteRing) bool {
	want := c.sndWant.Load()
	if lim := c.sndLimit.Load(); lim > 0 {
		want = lim // SO_SNDBUF set: a fixed size, no auto-tuning
	}
	ceiling := c.e.cfg.TCPSendBufferMax
	if int(want) <= s.Cap() || s.Cap() >= ceiling {
		return false
	}
	size := min(1<<bits.Len64(uint64(want-1)), ceiling)
	c.growReq.Add(1)
	if c.send(tcpCmd{op: cmdGrowSend, c: c, arg: int64(size)}) != nil {
		c.growDone.Add(1) // the engine is closed: nobody will grow it
	}
	return true
}

// waitGrown waits until the worker has grown the send ring (or refused),
// within the write deadline. Under wmu.
func (c *TCPConn) waitGrown() error {
	for c.growReq.Load() != c.growDone.Load() {
		if c.closed.Load() || c.gone.Load() || c.errno.Load() != 0 {
			return nil // Write's checks report it; the ring is not touched
		}
		if d := c.writeDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
			return os.ErrDeadlineExceeded
		}
		c.wwait.Add(1)
		if c.growReq.Load() == c.growDone.Load() || c.gone.Load() || c.errno.Load() != 0 {
			c.wwait.Add(-1)
			continue
		}
		err := waitOn(context.Background(), c.wnotify, &c.writeDeadline, c.done)
		c.wwait.Add(-1)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
	}
	return nil
}

// sendRoom is how many bytes Write may add to the send ring now: its free
// space, within the SetWriteBuffer limit.
func (c *TCPConn) sendRoom(s *tcp.ByteRing) int {
	room := s.Free()
	if lim := c.sndLimit.Load(); lim > 0 {
		room = min(room, int(lim)-s.Len())
	}
	return max(room, 0)
}

// Close closes the connection: a FIN after the queued data, or a RST when
// received data was left unread or SetLinger(0) was called, as Linux does.
// Blocked and later calls return net.ErrClosed. The connection lives on in
// the worker through FIN-WAIT and TIME-WAIT.
func (c *TCPConn) Close() error {
	if c.closed.Swap(true) {
		return c.opErr("close", net.ErrClosed)
	}
	close(c.done)
	c.e.mu.Lock()
	delete(c.e.tcpConns, c)
	c.e.mu.Unlock()
	// A Read or Write in progress sees done or closed and leaves; one
	// that starts later sees closed first. Then the rings are free, and
	// the application's reference goes before the command does, so the
	// worker that runs it knows that it alone can touch them (it drops
	// them on entering TIME-WAIT: serviceTCP).
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
	c.send(tcpCmd{op: op, c: c})
	if d := c.lingerNs.Load(); d > 0 && op == cmdClose {
		c.lingerWait(time.Duration(d))
	}
	return nil
}

// CloseWrite shuts down the sending side (shutdown(SHUT_WR)): a FIN
// follows the queued data; reading goes on.
func (c *TCPConn) CloseWrite() error {
	if c.closed.Load() {
		return c.opErr("close", net.ErrClosed)
	}
	if c.wrShut.Swap(true) {
		return nil
	}
	return c.send(tcpCmd{op: cmdCloseWrite, c: c})
}

// SetNoDelay turns Nagle's algorithm off (true, Go's default for TCP) or on.
func (c *TCPConn) SetNoDelay(on bool) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	return c.send(tcpCmd{op: cmdNoDelay, c: c, on: on})
}

// SetKeepAlive turns keepalive probes on or off (15 s idle and interval
// when on, Go's default).
func (c *TCPConn) SetKeepAlive(on bool) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	return c.send(tcpCmd{op: cmdKeepAlive, c: c, on: on, arg: int64(15 * time.Second)})
}

// SetKeepAlivePeriod turns keepalive on with d as idle time and interval.
func (c *TCPConn) SetKeepAlivePeriod(d time.Duration) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	if d <= 0 {
		return c.opErr("set", syscall.EINVAL)
	}
	return c.send(tcpCmd{op: cmdKeepAlive, c: c, on: true, arg: int64(d)})
}

// SetReadBuffer sets the receive window limit to bytes (SO_RCVBUF), within
// [tcp.MinRecvBuffer, Config.TCPRecvBuffer], and turns receive-window
// auto-tuning off for the connection, as SO_RCVBUF does on Linux. A
// window already advertised is not taken back: a smaller limit shows as
// the data in flight is read. Linux doubles the value for its bookkeeping;
// the engine has none and uses it as given.
func (c *TCPConn) SetReadBuffer(bytes int) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	if bytes <= 0 {
		return c.opErr("set", syscall.EINVAL)
	}
	return c.send(tcpCmd{op: cmdRecvBuffer, c: c, arg: int64(bytes)})
}

// SetWriteBuffer bounds the data waiting in the send buffer (sent and not
// yet acknowledged, or not yet sent) at bytes (SO_SNDBUF), within
// [4096, Config.TCPSendBufferMax]: Write blocks beyond it, and the send
// ring grows to hold it when it is larger. Like setting SO_SNDBUF on
// Linux, it turns send-buffer auto-tuning off. Taken as given, not
// doubled as Linux does.
func (c *TCPConn) SetWriteBuffer(bytes int) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	if bytes <= 0 {
		return c.opErr("set", syscall.EINVAL)
	}
	c.sndLimit.Store(int64(max(bytes, 4096))) // the ring caps it
	c.wwait.Add(1)
	signal(c.wnotify, &c.wwait) // a blocked Write re-reads the limit
	c.wwait.Add(-1)
	return nil
}

// SetLinger sets SO_LINGER, as Linux applies it to close(2): 0 makes Close
// reset the connection (RST, queued data discarded); sec > 0 makes Close
// send the queued data and the FIN as usual and then wait, at most sec
// seconds, until the peer acknowledged them (the connection goes on in the
// background if the time runs out); a negative value restores the default,
// a Close that returns at once.
func (c *TCPConn) SetLinger(sec int) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.linger0.Store(sec == 0)
	c.lingerNs.Store(int64(max(sec, 0)) * int64(time.Second))
	return nil
}

// lingerWait waits, at most d, until the FIN Close queued is acknowledged:
// the worker took the connection past FIN-WAIT-1, CLOSING and LAST-ACK.
func (c *TCPConn) lingerWait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	acked := func() bool {
		switch tcp.State(c.pubState.Load()) {
		case tcp.FinWait2, tcp.TimeWait, tcp.Closed:
			return true
		}
		return c.gone.Load() || c.errno.Load() != 0
	}
	for {
		c.wwait.Add(1)
		if acked() {
			c.wwait.Add(-1)
			return
		}
		select {
		case <-c.wnotify:
		case <-t.C:
			c.wwait.Add(-1)
			return
		}
		c.wwait.Add(-1)
	}
}

// LocalAddr returns the local address.
func (c *TCPConn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(c.laddr) }

// RemoteAddr returns the peer's address.
func (c *TCPConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.raddr) }

// SetDeadline sets the read and write deadlines.
func (c *TCPConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline; a blocked Read sees the new value.
func (c *TCPConn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.readDeadline.Store(unixNano(t))
	c.rwait.Add(1)
	signal(c.rnotify, &c.rwait)
	c.rwait.Add(-1)
	return nil
}

// SetWriteDeadline sets the write deadline; a blocked Write sees it.
func (c *TCPConn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.writeDeadline.Store(unixNano(t))
	c.wwait.Add(1)
	signal(c.wnotify, &c.wwait)
	c.wwait.Add(-1)
	return nil
}

func (c *TCPConn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: net.TCPAddrFromAddrPort(c.laddr),
		Addr: net.TCPAddrFromAddrPort(c.raddr), Err: err}
}

// String describes the connection for logs.
func (c *TCPConn) String() string { return fmt.Sprintf("tcp %v -> %v", c.laddr, c.raddr) }

// DialTCP connects to raddr from laddr (nil: an address and port the
// engine chooses, steered so that the replies reach the worker that owns
// the connection). It waits for the handshake like connect(2):
// ECONNREFUSED when the peer answers RST, ETIMEDOUT after the SYN retries.
func (e *Engine) DialTCP(network string, laddr, raddr *net.TCPAddr) (*TCPConn, error) {
	if raddr == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("missing address")}
	}
	var lap netip.AddrPort
	if laddr != nil {
		lap = laddr.AddrPort()
	}
	return e.dialTCP(context.Background(), network, lap, raddr.AddrPort(), SocketOptions{})
}

// DialContext connects to address ("198.18.0.2:80"); ctx bounds the
// handshake.
func (e *Engine) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	ap, err := resolveTCP(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	return e.dialTCP(ctx, network, netip.AddrPort{}, ap, SocketOptions{})
}

func (e *Engine) dialTCP(ctx context.Context, network string, laddr, rap netip.AddrPort, opts SocketOptions) (*TCPConn, error) {
	if network != "tcp" && network != "tcp4" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}
	rap = netip.AddrPortFrom(rap.Addr().Unmap(), rap.Port())
	raddr := net.TCPAddrFromAddrPort(rap)
	if !rap.Addr().Is4() {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: syscall.EAFNOSUPPORT}
	}
	if err := e.checkConnectDst(protoTCP, rap.Addr(), opts); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	if e.state.Load() != stateRunning {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: net.ErrClosed}
	}
	sock, err := e.tab.Open(socktab.TCP, socktab.IPv4, opts.table(), nil)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	if laddr.IsValid() {
		if err := e.tab.Bind(sock, netip.AddrPortFrom(laddr.Addr().Unmap(), laddr.Port())); err != nil {
			e.tab.Close(sock)
			return nil, relabel(err, "dial", network)
		}
		if opts.Transparent {
			if err := e.addTransparent(laddr.Addr().Unmap()); err != nil {
				e.tab.Close(sock)
				return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
			}
		}
	}
	shard := int(randUint64() % uint64(len(e.workers)))
	local, err := e.tab.Connect(sock, shard, rap)
	if err != nil {
		e.tab.Close(sock)
		return nil, relabel(err, "dial", network)
	}
	key := flowtable.KeyFrom(rap, local, protoTCP)
	owner := e.workers[e.steer.Steer(key)]
	t, _ := syncookie.TupleFromKey(key)
	now := e.nanotime()
	cfg := e.tcpConfig(rap.Addr().As4(), local.Port(), rap.Port(), tcp.Seq(e.jar.ISN(t, now)), e.tsOffset(t))
	ep, err := tcp.Dial(now, cfg)
	if err != nil {
		e.tab.Close(sock)
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	c := e.newTCPConn(owner, ep, key)
	c.sock.Store(sock)
	if err := c.send(tcpCmd{op: cmdOpen, c: c}); err != nil {
		e.tab.Close(sock)
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
		err := waitOn(ctx, c.wnotify, nil, nil)
		c.wwait.Add(-1)
		if err != nil {
			c.send(tcpCmd{op: cmdAbort, c: c})
			c.releaseApp()
			return nil, &net.OpError{Op: "dial", Net: network, Source: c.LocalAddr(), Addr: raddr, Err: err}
		}
	}
	if err := e.trackConn(c); err != nil {
		c.send(tcpCmd{op: cmdAbort, c: c})
		c.releaseApp()
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	return c, nil
}

// trackConn registers c for Engine.Close.
func (e *Engine) trackConn(c *TCPConn) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state.Load() == stateClosed {
		return net.ErrClosed
	}
	e.tcpConns[c] = struct{}{}
	return nil
}

func resolveTCP(network, address string) (netip.AddrPort, error) {
	return resolveAddr("tcp", network, address)
}

var _ net.Conn = (*TCPConn)(nil)
