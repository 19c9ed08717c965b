package udp

import (
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/xdpengine/engine/stack/datapath"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/icmp"
)

// SockError is one entry of a socket's error queue (IP_RECVERR): an ICMP
// error about a datagram the socket sent, the engine's form of Linux's
// struct sock_extended_err read with MSG_ERRQUEUE.
type SockError struct {
	// Errno is the error the ICMP message means (ECONNREFUSED for a port
	// unreachable, EMSGSIZE for fragmentation needed, EHOSTUNREACH, ...),
	// as Linux's icmp_err_convert maps it.
	Errno syscall.Errno
	// Type and Code are the ICMP message's (SO_EE_ORIGIN_ICMP), or the
	// ICMPv6 message's when ICMPv6 is set (SO_EE_ORIGIN_ICMP6).
	Type, Code uint8
	// ICMPv6 says the error came in ICMPv6, about an IPv6 datagram.
	ICMPv6 bool
	// Info is the next-hop MTU of a "fragmentation needed" or an ICMPv6
	// Packet Too Big, else zero.
	Info uint32
	// Offender is the host that sent the ICMP message (SO_EE_OFFENDER).
	Offender netip.Addr
	// Dst is the destination of the datagram the error is about.
	Dst netip.AddrPort
	// Payload is the part of that datagram's payload the ICMP message
	// quoted (often the first 8 bytes only, or none).
	Payload []byte
}

// errQueueMax bounds a socket's error queue. Linux bounds it by the
// receive buffer; errors past the bound are dropped, as Linux drops them
// when the queue's memory exceeds SO_RCVBUF.
const errQueueMax = 64

// errQueue is a UDP socket's IP_RECVERR state: workers append, the
// application takes.
type errQueue struct {
	on      atomic.Bool
	mu      sync.Mutex
	q       []SockError
	dropped uint64
}

// SetRecvErr turns IP_RECVERR (and IPV6_RECVERR: one switch for both
// families of a dual-stack socket) on or off. When on, every ICMP error about a
// datagram the socket sent is queued for ReadError, and the next read or
// write returns its errno once, for an unconnected socket too; when off
// (the default) an unconnected socket sees no ICMP errors and a connected
// one only the hard ones (ECONNREFUSED, EMSGSIZE), as Linux does. Turning
// it off empties the queue.
func (c *Conn) SetRecvErr(on bool) {
	c.errq.on.Store(on)
	if !on {
		c.errq.mu.Lock()
		c.errq.q = nil
		c.errq.mu.Unlock()
	}
}

// ReadError takes the oldest entry of the error queue (recvmsg with
// MSG_ERRQUEUE); EAGAIN when the queue is empty. It never blocks.
func (c *Conn) ReadError() (SockError, error) {
	c.errq.mu.Lock()
	defer c.errq.mu.Unlock()
	if len(c.errq.q) == 0 {
		return SockError{}, c.opErr("read", os.NewSyscallError("recvmsg", syscall.EAGAIN))
	}
	e := c.errq.q[0]
	c.errq.q = c.errq.q[1:]
	if len(c.errq.q) == 0 {
		c.errq.q = nil
	}
	return e, nil
}

// queueError records an ICMP error for IP_RECVERR (worker side; errors
// are rare and bounded, so a mutex and a copy of the quote are fine).
func (c *Conn) queueError(k *datapath.Waker, ip header.IPv4, re *icmp.ReceivedError, quote []byte) {
	c.queueSockError(k, SockError{Errno: re.Errno, Type: re.Type, Code: re.Code, Info: uint32(re.MTU),
		Offender: ip.Src(), Dst: netip.AddrPortFrom(c.mapped(netip.AddrFrom4(re.Remote)), re.RemotePort),
		Payload: append([]byte(nil), quote...)})
}

// queueSockError appends e to the error queue and reports its errno once.
func (c *Conn) queueSockError(k *datapath.Waker, e SockError) {
	c.errq.mu.Lock()
	if len(c.errq.q) >= errQueueMax {
		c.errq.dropped++
		c.errq.mu.Unlock()
		return
	}
	c.errq.q = append(c.errq.q, e)
	c.errq.mu.Unlock()
	c.setSoftError(k, e.Errno)
}

// quotedPayload returns the UDP payload an ICMP error quotes (after the
// quoted IPv4 and UDP headers), or nil.
func quotedPayload(m header.ICMPv4) []byte {
	q, err := header.ParseIPv4Quoted(m.Payload())
	if err != nil {
		return nil
	}
	p := q.Payload()
	if len(p) <= header.UDPHeaderLen {
		return nil
	}
	return p[header.UDPHeaderLen:]
}
