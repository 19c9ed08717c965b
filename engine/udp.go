package engine

import (
	"errors"
	"fmt"
	"github.com/xdpengine/engine/stack/datapath"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/igmp"
	"github.com/xdpengine/engine/ring"
	"github.com/xdpengine/engine/stack/socktab"
)

// UDPConn is a UDP socket of the engine. It implements net.PacketConn and,
// once connected (DialUDP), net.Conn. It is safe for concurrent use.
//
// Received datagrams wait in a bounded queue (Config.RecvBuffer bytes, like
// SO_RCVBUF); when the application does not keep up, new datagrams are
// dropped and counted, and the workers never wait for it.
type UDPConn struct {
	e     *Engine
	sock  *socktab.Socket
	net   string
	laddr netip.AddrPort
	raddr netip.AddrPort // valid when connected
	owner *worker        // worker that sends for a connected socket (an unconnected one: the worker steered per destination)

	rx      *ring.MPMC[rxItem]
	rxBytes atomic.Int64
	rcvbuf  int64
	notify  chan struct{} // capacity 1: "the queue or the state changed"
	waiting atomic.Int32  // readers about to wait on notify
	softErr atomic.Uint32 // errno from an ICMP error, reported once
	closed  atomic.Bool
	done    chan struct{}

	readDeadline, writeDeadline atomic.Int64 // UnixNano; 0: none
	opts                        udpOpts      // ip(7) options (udpopts.go)
	errq                        errQueue     // IP_RECVERR (udperrq.go)
	mc                          *igmp.Socket // multicast memberships (multicast.go)
	bcastPort                   uint16       // the port registered for broadcasts (bind); 0: none
}

type rxItem struct {
	buf      *datapath.Buf
	n        int
	from     netip.AddrPort
	dst      [4]byte // the IPv4 destination (IP_PKTINFO)
	ttl, tos uint8   // IP_RECVTTL, IP_RECVTOS
}

// rxMeta is what a worker knows of a datagram besides its payload and
// sender, for ReadMsg.
type rxMeta struct {
	dst      [4]byte
	ttl, tos uint8
}

// ListenPacket opens a UDP socket bound to address ("198.18.0.1:7",
// ":9000" for every address the engine owns, port 0 for any port). network
// must be "udp" or "udp4". ListenUDP takes socket options too.
func (e *Engine) ListenPacket(network, address string) (*UDPConn, error) {
	return e.ListenUDP(network, address, SocketOptions{})
}

// DialUDP opens a UDP socket connected to raddr, bound to laddr if it is not
// nil (else to a source address and port the engine chooses, steered so the
// replies reach the worker that sends). Like a connected kernel socket, it
// receives only from raddr, and an ICMP port unreachable from raddr makes the
// next call return ECONNREFUSED. A Dialer takes socket options too.
func (e *Engine) DialUDP(network string, laddr, raddr *net.UDPAddr) (*UDPConn, error) {
	if raddr == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("missing address")}
	}
	if network != "udp" && network != "udp4" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}
	var lap netip.AddrPort
	if laddr != nil {
		lap = laddr.AddrPort()
	}
	return e.dialUDP(network, lap, raddr.AddrPort(), SocketOptions{})
}

func (e *Engine) dialUDP(network string, lap, rap netip.AddrPort, opts SocketOptions) (*UDPConn, error) {
	rap = netip.AddrPortFrom(rap.Addr().Unmap(), rap.Port())
	raddr := net.UDPAddrFromAddrPort(rap)
	if !rap.Addr().Is4() {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: syscall.EAFNOSUPPORT}
	}
	if err := e.checkConnectDst(protoUDP, rap.Addr(), opts); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	c, err := e.openUDP(network, opts)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	if lap.IsValid() {
		if err := c.bind(netip.AddrPortFrom(lap.Addr().Unmap(), lap.Port())); err != nil {
			c.release()
			return nil, relabel(err, "dial", network)
		}
	}
	shard := int(randUint64() % uint64(len(e.workers)))
	local, err := e.tab.Connect(c.sock, shard, rap)
	if err != nil {
		c.release()
		return nil, relabel(err, "dial", network) // no free port: EAGAIN, as Linux's UDP

	}
	c.laddr, c.raddr = local, rap
	c.owner = e.workers[e.steer.Steer(flowtable.KeyFrom(rap, local, 17))]
	return c, nil
}

// bind binds the socket to ap; a transparent socket's address starts
// reaching the engine.
func (c *UDPConn) bind(ap netip.AddrPort) error {
	if err := c.e.tab.Bind(c.sock, ap); err != nil {
		return err
	}
	c.laddr = c.e.tab.Local(c.sock)
	if c.opts.transparent {
		if err := c.e.addTransparent(c.laddr.Addr()); err != nil {
			return err
		}
	}
	if c.e.broadcastBind(c.laddr.Addr()) {
		if err := c.e.addBroadcastPort(c.laddr.Port()); err != nil {
			return err
		}
		c.bcastPort = c.laddr.Port()
	}
	return nil
}

// Dial is DialUDP with a "host:port" address, for callers that want a
// net.Conn.
func (e *Engine) Dial(network, address string) (net.Conn, error) {
	ap, err := resolveUDP(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	return e.DialUDP(network, nil, net.UDPAddrFromAddrPort(ap))
}

func (e *Engine) openUDP(network string, opts SocketOptions) (*UDPConn, error) {
	if e.state.Load() == stateClosed {
		return nil, net.ErrClosed
	}
	slots := 1
	for slots < e.cfg.RecvBuffer/256 {
		slots <<= 1
	}
	rx, err := ring.NewMPMC[rxItem](slots)
	if err != nil {
		return nil, err
	}
	c := &UDPConn{
		e: e, net: network, rx: rx, rcvbuf: int64(e.cfg.RecvBuffer),
		notify: make(chan struct{}, 1), done: make(chan struct{}),
	}
	c.opts.pmtudisc.Store(int32(PMTUDiscWant))
	c.mc = e.mc.host.NewSocket()
	c.opts.broadcast.Store(opts.Broadcast)
	c.opts.nonlocal = opts.Freebind || opts.Transparent
	c.opts.transparent = opts.Transparent
	sock, err := e.tab.Open(socktab.UDP, socktab.IPv4, opts.table(), c)
	if err != nil {
		return nil, err
	}
	c.sock = sock
	e.mu.Lock()
	e.conns[c] = struct{}{}
	e.mu.Unlock()
	return c, nil
}

func resolveUDP(network, address string) (netip.AddrPort, error) {
	return resolveAddr("udp", network, address)
}

// resolveAddr parses "host:port" for proto ("udp" or "tcp"): network must be
// proto or proto+"4", the host a literal IPv4 address or empty (the
// wildcard), the port a number or a service name.
func resolveAddr(proto, network, address string) (netip.AddrPort, error) {
	if network != proto && network != proto+"4" {
		return netip.AddrPort{}, net.UnknownNetworkError(network)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	addr := netip.IPv4Unspecified()
	if host != "" {
		if addr, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, fmt.Errorf("%q is not an IP address (the engine resolves no names): %w", host, err)
		}
	}
	p, err := net.LookupPort(proto, port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	addr = addr.Unmap()
	if !addr.Is4() {
		return netip.AddrPort{}, syscall.EAFNOSUPPORT
	}
	return netip.AddrPortFrom(addr, uint16(p)), nil
}

// relabel sets the Op and Net of a socket-table error.
func relabel(err error, op, network string) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		oe.Op, oe.Net = op, network
		return oe
	}
	return &net.OpError{Op: op, Net: network, Err: err}
}

// deliver queues a datagram for the application; called by workers, which
// wake the reader through k. It reports false when the receive buffer is
// full (the datagram is dropped).
func (c *UDPConn) deliver(k *datapath.Waker, payload []byte, from netip.AddrPort, m rxMeta) bool {
	if c.closed.Load() || c.rxBytes.Load()+int64(len(payload)) > c.rcvbuf {
		return false
	}
	b := c.e.bufs.Get(len(payload))
	if b == nil {
		return false
	}
	n := copy(b.B, payload)
	if !c.rx.Enqueue(rxItem{buf: b, n: n, from: from, dst: m.dst, ttl: m.ttl, tos: m.tos}) {
		c.e.bufs.Put(b)
		return false
	}
	c.rxBytes.Add(int64(n))
	k.Wake(c.notify, &c.waiting)
	return true
}

// signal wakes a reader that waits. Pairs with the waiting.Add in wait: a
// reader announces itself before its last look at the queue, and a producer
// looks for readers after its enqueue, so one of the two sees the other.
func (c *UDPConn) signal() {
	if c.waiting.Load() > 0 {
		select {
		case c.notify <- struct{}{}:
		default:
		}
	}
}

// setSoftError records an errno from an ICMP error for the next call;
// called by workers.
func (c *UDPConn) setSoftError(k *datapath.Waker, errno syscall.Errno) {
	c.softErr.Store(uint32(errno))
	c.waiting.Add(1) // force the wakeup even if no reader counted itself yet
	k.Wake(c.notify, &c.waiting)
	c.waiting.Add(-1)
}

func (c *UDPConn) takeSoftError() error {
	if e := c.softErr.Swap(0); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}

// wait blocks until the queue may have changed, the deadline passes or the
// socket closes.
func (c *UDPConn) wait(deadline *atomic.Int64) error {
	var timer <-chan time.Time
	if d := deadline.Load(); d != 0 {
		left := time.Until(time.Unix(0, d))
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		t := time.NewTimer(left)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-c.notify:
		return nil
	case <-timer:
		return nil // the caller re-checks the deadline
	case <-c.done:
		return net.ErrClosed
	}
}

// ReadFromUDPAddrPort reads one datagram into p (the rest of a longer
// datagram is discarded, as with a kernel socket) and returns its sender.
func (c *UDPConn) ReadFromUDPAddrPort(p []byte) (int, netip.AddrPort, error) {
	it, err := c.dequeue()
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	n := copy(p, it.buf.B[:it.n])
	c.e.bufs.Put(it.buf)
	return n, it.from, nil
}

// dequeue waits for a datagram (or a pending error, the deadline, Close);
// the caller puts the item's buffer back.
func (c *UDPConn) dequeue() (rxItem, error) {
	for {
		if c.closed.Load() {
			return rxItem{}, c.opErr("read", net.ErrClosed)
		}
		if err := c.takeSoftError(); err != nil {
			return rxItem{}, c.opErr("read", os.NewSyscallError("recvfrom", err))
		}
		if it, ok := c.rx.Dequeue(); ok {
			c.rxBytes.Add(-int64(it.n))
			return it, nil
		}
		if d := c.readDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
			return rxItem{}, c.opErr("read", os.ErrDeadlineExceeded)
		}
		c.waiting.Add(1)
		if c.rx.Len() > 0 || c.softErr.Load() != 0 {
			c.waiting.Add(-1)
			continue
		}
		err := c.wait(&c.readDeadline)
		c.waiting.Add(-1)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return rxItem{}, c.opErr("read", err)
		}
	}
}

// ReadFrom implements net.PacketConn.
func (c *UDPConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromUDPAddrPort(p)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// Read implements net.Conn (for a connected socket).
func (c *UDPConn) Read(p []byte) (int, error) {
	n, _, err := c.ReadFromUDPAddrPort(p)
	return n, err
}

// WriteToUDPAddrPort sends p to addr. A datagram larger than the path MTU is
// fragmented, unless SetMTUDiscover asked for PMTUDiscDo or PMTUDiscProbe:
// then it fails with EMSGSIZE. More than 65,507 bytes always fails with
// EMSGSIZE; a broadcast destination without SetBroadcast(true), with EACCES.
func (c *UDPConn) WriteToUDPAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	return c.write(p, addr, sendOpts{})
}

func (c *UDPConn) write(p []byte, addr netip.AddrPort, so sendOpts) (int, error) {
	if c.closed.Load() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	if err := c.takeSoftError(); err != nil {
		return 0, c.opErr("write", os.NewSyscallError("sendto", err))
	}
	dst := addr.Addr().Unmap()
	if !dst.Is4() {
		return 0, c.opErr("write", os.NewSyscallError("sendto", syscall.EAFNOSUPPORT))
	}
	if len(p) > maxUDPPayload {
		return 0, c.opErr("write", os.NewSyscallError("sendto", syscall.EMSGSIZE))
	}
	if d := c.writeDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	}
	err := c.e.sendUDP(c, netip.AddrPortFrom(dst, addr.Port()), p, so)
	if err != nil {
		return 0, c.opErr("write", err)
	}
	return len(p), nil
}

// WriteTo implements net.PacketConn.
func (c *UDPConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, c.opErr("write", fmt.Errorf("address %v is not a *net.UDPAddr: %w", addr, syscall.EINVAL))
	}
	if c.raddr.IsValid() {
		return 0, c.opErr("write", syscall.EISCONN)
	}
	return c.WriteToUDPAddrPort(p, ua.AddrPort())
}

// Write implements net.Conn: it sends to the connected peer.
func (c *UDPConn) Write(p []byte) (int, error) {
	if !c.raddr.IsValid() {
		return 0, c.opErr("write", os.NewSyscallError("sendto", syscall.EDESTADDRREQ))
	}
	return c.WriteToUDPAddrPort(p, c.raddr)
}

// Close closes the socket: blocked and later calls return net.ErrClosed.
func (c *UDPConn) Close() error {
	if c.closed.Swap(true) {
		return c.opErr("close", net.ErrClosed)
	}
	close(c.done)
	c.release()
	for {
		it, ok := c.rx.Dequeue()
		if !ok {
			break
		}
		c.e.bufs.Put(it.buf)
	}
	return nil
}

func (c *UDPConn) release() {
	c.e.tab.Close(c.sock)
	c.dropMemberships()
	if c.bcastPort != 0 {
		c.e.removeBroadcastPort(c.bcastPort)
	}

	c.e.mu.Lock()
	delete(c.e.conns, c)
	c.e.mu.Unlock()
}

// LocalAddr returns the bound address.
func (c *UDPConn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.laddr) }

// RemoteAddr returns the connected peer, or nil.
func (c *UDPConn) RemoteAddr() net.Addr {
	if !c.raddr.IsValid() {
		return nil
	}
	return net.UDPAddrFromAddrPort(c.raddr)
}

// SetDeadline sets the read and write deadlines.
func (c *UDPConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline; blocked reads see the new value.
func (c *UDPConn) SetReadDeadline(t time.Time) error {
	c.readDeadline.Store(unixNano(t))
	c.waiting.Add(1)
	c.signal()
	c.waiting.Add(-1)
	return nil
}

// SetWriteDeadline sets the write deadline.
func (c *UDPConn) SetWriteDeadline(t time.Time) error {
	c.writeDeadline.Store(unixNano(t))
	return nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.UnixNano(), 1)
}

func (c *UDPConn) opErr(op string, err error) error {
	oe := &net.OpError{Op: op, Net: c.net, Source: net.UDPAddrFromAddrPort(c.laddr), Err: err}
	if c.raddr.IsValid() {
		oe.Addr = net.UDPAddrFromAddrPort(c.raddr)
	}
	return oe
}

// String describes the socket for logs.
func (c *UDPConn) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "udp %v", c.laddr)
	if c.raddr.IsValid() {
		fmt.Fprintf(&b, " -> %v", c.raddr)
	}
	return b.String()
}

var (
	_ net.PacketConn = (*UDPConn)(nil)
	_ net.Conn       = (*UDPConn)(nil)
)
