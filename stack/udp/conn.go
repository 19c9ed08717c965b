package udp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/inet4"
	"github.com/xdpengine/engine/stack/sock"

	"github.com/xdpengine/engine/igmp"
	"github.com/xdpengine/engine/ring"
	"github.com/xdpengine/engine/stack/socktab"
)

// Conn is a UDP socket of the engine. It implements net.PacketConn and,
// once connected (DialUDP), net.Conn. It is safe for concurrent use.
//
// Received datagrams wait in a bounded queue (Config.RecvBuffer bytes, like
// SO_RCVBUF); when the application does not keep up, new datagrams are
// dropped and counted, and the workers never wait for it.
type Conn struct {
	s      *Stack
	sock   *socktab.Socket
	net    string
	fam    socktab.Family // IPv6: takes IPv6 traffic and, dual-stack, IPv4 (its peers v4-mapped)
	v6only bool           // IPV6_V6ONLY (an IPv6 socket)
	laddr  netip.AddrPort
	raddr  netip.AddrPort // valid when connected
	// owner is the worker that sends for a connected socket (an
	// unconnected one: the worker steered per destination). Stored once
	// the socket table gave the port, after which a worker may already
	// look the socket up (a nil owner: the worker that received it).
	owner atomic.Pointer[inet4.Layer]

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
	mc6                         groups6      // IPv6 memberships (opts6.go)
	bcastPort                   uint16       // the port registered for broadcasts (bind); 0: none
}

type rxItem struct {
	buf      *datapath.Buf
	n        int
	from     netip.AddrPort
	dst      netip.Addr // the destination (IP_PKTINFO)
	ttl, tos uint8      // IP_RECVTTL, IP_RECVTOS
}

// rxMeta is what a worker knows of a datagram besides its payload and
// sender, for ReadMsg.
type rxMeta struct {
	dst      netip.Addr
	ttl, tos uint8
}

// deliver queues a datagram for the application; called by workers, which
// wake the reader through k. It reports false when the receive buffer is
// full (the datagram is dropped).
func (c *Conn) deliver(k *datapath.Waker, payload []byte, from netip.AddrPort, m rxMeta) bool {
	if c.closed.Load() || c.rxBytes.Load()+int64(len(payload)) > c.rcvbuf {
		return false
	}
	b := c.s.bufs.Get(len(payload))
	if b == nil {
		return false
	}
	n := copy(b.B, payload)
	if !c.rx.Enqueue(rxItem{buf: b, n: n, from: from, dst: m.dst, ttl: m.ttl, tos: m.tos}) {
		c.s.bufs.Put(b)
		return false
	}
	c.rxBytes.Add(int64(n))
	k.Wake(c.notify, &c.waiting)
	return true
}

// signal wakes a reader that waits. Pairs with the waiting.Add in wait: a
// reader announces itself before its last look at the queue, and a producer
// looks for readers after its enqueue, so one of the two sees the other.
func (c *Conn) signal() {
	if c.waiting.Load() > 0 {
		select {
		case c.notify <- struct{}{}:
		default:
		}
	}
}

// setSoftError records an errno from an ICMP error for the next call;
// called by workers.
func (c *Conn) setSoftError(k *datapath.Waker, errno syscall.Errno) {
	c.softErr.Store(uint32(errno))
	c.waiting.Add(1) // force the wakeup even if no reader counted itself yet
	k.Wake(c.notify, &c.waiting)
	c.waiting.Add(-1)
}

func (c *Conn) takeSoftError() error {
	if e := c.softErr.Swap(0); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}

// wait blocks until the queue may have changed, the deadline passes or the
// socket closes.
func (c *Conn) wait(deadline *atomic.Int64) error {
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

// mapped returns a as the socket names it: an IPv4 address v4-mapped
// (::ffff:a.b.c.d) for an IPv6 socket, as Linux reports an IPv4 peer to a
// dual-stack socket. It does not allocate.
func (c *Conn) mapped(a netip.Addr) netip.Addr {
	if c.fam == socktab.IPv6 && a.Is4() {
		return netip.AddrFrom16(a.As16())
	}
	return a
}

// ReadFromUDPAddrPort reads one datagram into p (the rest of a longer
// datagram is discarded, as with a kernel socket) and returns its sender.
// An IPv6 socket names an IPv4 sender in v4-mapped form (::ffff:a.b.c.d),
// as Go's net does for a dual-stack socket (netip.Addr.Unmap gives the
// IPv4 address).
func (c *Conn) ReadFromUDPAddrPort(p []byte) (int, netip.AddrPort, error) {
	it, err := c.dequeue()
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	n := copy(p, it.buf.B[:it.n])
	c.s.bufs.Put(it.buf)
	return n, it.from, nil
}

// dequeue waits for a datagram (or a pending error, the deadline, Close);
// the caller puts the item's buffer back.
func (c *Conn) dequeue() (rxItem, error) {
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
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromUDPAddrPort(p)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// Read implements net.Conn (for a connected socket).
func (c *Conn) Read(p []byte) (int, error) {
	n, _, err := c.ReadFromUDPAddrPort(p)
	return n, err
}

// WriteToUDPAddrPort sends p to addr. A datagram larger than the path MTU is
// fragmented, unless SetMTUDiscover asked for PMTUDiscDo or PMTUDiscProbe:
// then it fails with EMSGSIZE. More than 65,507 bytes (65,527 over IPv6)
// always fails with EMSGSIZE; a broadcast destination without
// SetBroadcast(true), with EACCES. An IPv6 socket sends to an IPv4 address,
// or its v4-mapped form, over IPv4 (ENETUNREACH with IPV6_V6ONLY); an IPv4
// socket cannot send to an IPv6 address (EAFNOSUPPORT).
func (c *Conn) WriteToUDPAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	return c.write(p, addr, sendOpts{})
}

func (c *Conn) write(p []byte, addr netip.AddrPort, so sendOpts) (int, error) {
	if c.closed.Load() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	if err := c.takeSoftError(); err != nil {
		return 0, c.opErr("write", os.NewSyscallError("sendto", err))
	}
	dst, v6, err := c.destination(addr.Addr())
	if err == nil && so.src.IsValid() && so.src.Is6() != v6 {
		err = syscall.EINVAL // a source of the other family
	}
	if err != nil {
		return 0, c.opErr("write", os.NewSyscallError("sendto", err))
	}
	if v6 && len(p) > MaxPayload6 || !v6 && len(p) > MaxPayload {
		return 0, c.opErr("write", os.NewSyscallError("sendto", syscall.EMSGSIZE))
	}
	if d := c.writeDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	}
	if v6 {
		err = c.send6(netip.AddrPortFrom(dst, addr.Port()), p, so)
	} else {
		err = c.send(netip.AddrPortFrom(dst, addr.Port()), p, so)
	}
	if err != nil {
		return 0, c.opErr("write", err)
	}
	return len(p), nil
}

// destination returns the address a datagram to a goes to and whether it
// goes over IPv6, as Linux's udpv6_sendmsg decides for an IPv6 socket: an
// IPv4 address (or its v4-mapped form) goes over IPv4 unless the socket is
// IPV6_V6ONLY, which a bind to a native IPv6 address sets (ENETUNREACH). An IPv4
// socket sends IPv4 only (EAFNOSUPPORT).
func (c *Conn) destination(a netip.Addr) (netip.Addr, bool, error) {
	if c.fam == socktab.IPv4 {
		if a = a.Unmap(); !a.Is4() {
			return a, false, syscall.EAFNOSUPPORT
		}
		return a, false, nil
	}
	if !a.Is4() && !a.Is4In6() {
		if !a.IsValid() {
			return a, true, syscall.EINVAL
		}
		return a, true, nil
	}
	if c.v6only {
		return a, false, syscall.ENETUNREACH
	}
	return a.Unmap(), false, nil
}

// WriteTo implements net.PacketConn.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
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
func (c *Conn) Write(p []byte) (int, error) {
	if !c.raddr.IsValid() {
		return 0, c.opErr("write", os.NewSyscallError("sendto", syscall.EDESTADDRREQ))
	}
	return c.WriteToUDPAddrPort(p, c.raddr)
}

// Close closes the socket: blocked and later calls return net.ErrClosed.
func (c *Conn) Close() error {
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
		c.s.bufs.Put(it.buf)
	}
	return nil
}

func (c *Conn) release() {
	c.s.tab.Close(c.sock)
	c.dropMemberships()
	if c.bcastPort != 0 {
		c.s.host.RemoveBroadcastPort(c.bcastPort)
	}

	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
}

// LocalAddr returns the bound address.
func (c *Conn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.laddr) }

// RemoteAddr returns the connected peer, or nil.
func (c *Conn) RemoteAddr() net.Addr {
	if !c.raddr.IsValid() {
		return nil
	}
	return net.UDPAddrFromAddrPort(c.raddr)
}

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline; blocked reads see the new value.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.readDeadline.Store(sock.UnixNano(t))
	c.waiting.Add(1)
	c.signal()
	c.waiting.Add(-1)
	return nil
}

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.writeDeadline.Store(sock.UnixNano(t))
	return nil
}

func (c *Conn) opErr(op string, err error) error {
	oe := &net.OpError{Op: op, Net: c.net, Source: net.UDPAddrFromAddrPort(c.laddr), Err: err}
	if c.raddr.IsValid() {
		oe.Addr = net.UDPAddrFromAddrPort(c.raddr)
	}
	return oe
}

// String describes the socket for logs.
func (c *Conn) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "udp %v", c.laddr)
	if c.raddr.IsValid() {
		fmt.Fprintf(&b, " -> %v", c.raddr)
	}
	return b.String()
}

var (
	_ net.PacketConn = (*Conn)(nil)
	_ net.Conn       = (*Conn)(nil)
)

// Queues reports the receive queue's bytes (Recv-Q) and nothing queued to
// send (Send-Q), for socket listings.
func (c *Conn) Queues() (recvQ, sendQ uint64) { return uint64(c.rxBytes.Load()), 0 }

// SetIncomingQueue makes the socket, a member of a SO_REUSEPORT group, the
// group's choice for the flows the NIC delivers on queue q (its worker),
// as SO_INCOMING_CPU does for a CPU: flows arriving on q are spread over
// the members homed on q, and flows on a queue with no homed member over
// every member. q < 0 removes the preference. EINVAL past the last queue.
func (c *Conn) SetIncomingQueue(q int) error {
	if err := c.s.tab.SetHome(c.sock, q); err != nil {
		return c.opErr("set", err)
	}
	return nil
}

// IncomingQueue returns the queue (worker) that sends for the socket: for
// a connected socket, the one its peer's datagrams are steered to, as
// SO_INCOMING_CPU reports a socket's CPU.
func (c *Conn) IncomingQueue() int { return c.owner.Load().Queue() }
