package udp

import (
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/xdpengine/engine/stack/sock"
	"github.com/xdpengine/engine/stack/socktab"
)

// ControlFlags choose what ReadMsg reports about a datagram, as ip(7)'s
// IP_RECVTTL, IP_RECVTOS and IP_PKTINFO do.
type ControlFlags uint32

const (
	// FlagTTL reports the datagram's TTL (IP_RECVTTL).
	FlagTTL ControlFlags = 1 << iota
	// FlagTOS reports its TOS byte (IP_RECVTOS).
	FlagTOS
	// FlagDst reports the address it was sent to and the interface it
	// came in on (IP_PKTINFO).
	FlagDst
)

// ControlMessage is what ReadMsg reports about a received datagram and
// what WriteMsg may set for one datagram, the engine's form of ip(7)'s
// ancillary messages (IP_TTL, IP_TOS, IP_PKTINFO).
type ControlMessage struct {
	// TTL: received (FlagTTL), or the TTL to send with (1-255; 0: the
	// socket's).
	TTL int
	// TOS: received (FlagTOS), or the TOS to send with (1-255; 0: the
	// socket's).
	TOS int
	// Dst is the address a received datagram was sent to (FlagDst): one
	// of the engine's, a broadcast or a multicast group.
	Dst netip.Addr
	// Local is the engine's address a received datagram came to
	// (FlagDst; IP_PKTINFO's ipi_spec_dst): Dst when it is one of the
	// engine's addresses, else, for a broadcast or a multicast group, the
	// engine's address toward the sender. A server answers from it.
	Local netip.Addr
	// IfIndex is the interface a received datagram came in on (FlagDst).
	IfIndex int
	// Src, when sending, is the source address (IP_PKTINFO's
	// ipi_spec_dst): a wildcard server answers from the address a request
	// was sent to by passing the request's Dst here. It must be one of
	// the engine's addresses (EADDRNOTAVAIL otherwise), unless the socket
	// is transparent or freebind.
	Src netip.Addr
}

// udpOpts are a UDP socket's options, read by senders and workers without
// locks.
type udpOpts struct {
	ttl, tos  atomic.Int32 // 0: default
	pmtudisc  atomic.Int32 // sock.PMTUDisc; sock.PMTUDiscWant from open
	broadcast atomic.Bool  // SO_BROADCAST
	cflags    atomic.Uint32
	mcTTL     atomic.Int32               // IP_MULTICAST_TTL + 1; 0: the default
	mcNoLoop  atomic.Bool                // IP_MULTICAST_LOOP off
	mcIf      atomic.Pointer[netip.Addr] // IP_MULTICAST_IF; nil or zero: the default
	hops      atomic.Int32               // IPV6_UNICAST_HOPS; 0: default
	tclass    atomic.Int32               // IPV6_TCLASS
	mcHops    atomic.Int32               // IPV6_MULTICAST_HOPS + 1; 0: the default

	// Set at open, read-only after.
	nonlocal    bool       // IP_FREEBIND or IP_TRANSPARENT: any source address
	transparent bool       // IP_TRANSPARENT
	nextHop     netip.Addr // Options.NextHop
}

// SetTTL sets the TTL of the datagrams the socket sends (IP_TTL): 1 to 255,
// or -1 for the default (64, net.ipv4.ip_default_ttl). Other values: EINVAL.
func (c *Conn) SetTTL(ttl int) error {
	if ttl == -1 {
		ttl = 0
	} else if ttl < 1 || ttl > 255 {
		return c.opErr("set", os.NewSyscallError("setsockopt IP_TTL", syscall.EINVAL))
	}
	c.opts.ttl.Store(int32(ttl))
	return nil
}

// TTL returns the TTL the socket sends with (IP_TTL).
func (c *Conn) TTL() int {
	if t := c.opts.ttl.Load(); t != 0 {
		return int(t)
	}
	return sock.DefaultTTL
}

// SetTOS sets the TOS byte (DSCP and ECN) of the datagrams the socket sends
// (IP_TOS), 0 to 255.
func (c *Conn) SetTOS(tos int) error {
	if tos < 0 || tos > 255 {
		return c.opErr("set", os.NewSyscallError("setsockopt IP_TOS", syscall.EINVAL))
	}
	c.opts.tos.Store(int32(tos))
	return nil
}

// TOS returns the TOS byte the socket sends with (IP_TOS).
func (c *Conn) TOS() int { return int(c.opts.tos.Load()) }

// SetBroadcast allows sending to a broadcast address (SO_BROADCAST): the
// limited broadcast 255.255.255.255 or the directed broadcast of one of the
// engine's subnets. Without it such a send (or a connect) fails with
// EACCES, as Linux's does.
func (c *Conn) SetBroadcast(on bool) { c.opts.broadcast.Store(on) }

// Broadcast reports SO_BROADCAST.
func (c *Conn) Broadcast() bool { return c.opts.broadcast.Load() }

// SetMTUDiscover sets the path MTU discovery mode (IP_MTU_DISCOVER).
func (c *Conn) SetMTUDiscover(d sock.PMTUDisc) error {
	if d < sock.PMTUDiscDont || d > sock.PMTUDiscProbe {
		return c.opErr("set", os.NewSyscallError("setsockopt IP_MTU_DISCOVER", syscall.EINVAL))
	}
	c.opts.pmtudisc.Store(int32(d))
	return nil
}

// MTUDiscover returns the path MTU discovery mode (IP_MTU_DISCOVER).
func (c *Conn) MTUDiscover() sock.PMTUDisc { return sock.PMTUDisc(c.opts.pmtudisc.Load()) }

// SetDontFragment is SetMTUDiscover(sock.PMTUDiscDo) for true and
// SetMTUDiscover(sock.PMTUDiscWant), Linux's default, for false.
func (c *Conn) SetDontFragment(df bool) {
	if df {
		c.opts.pmtudisc.Store(int32(sock.PMTUDiscDo))
	} else {
		c.opts.pmtudisc.Store(int32(sock.PMTUDiscWant))
	}
}

// PathMTU returns the path MTU toward the connected peer (IP_MTU, IPV6_MTU
// for an IPv6 peer): the link MTU, or less if an ICMP "fragmentation
// needed" or an ICMPv6 Packet Too Big said so within the last 10 minutes.
// An unconnected socket gets ENOTCONN.
func (c *Conn) PathMTU() (int, error) {
	if !c.raddr.IsValid() {
		return 0, c.opErr("get", os.NewSyscallError("getsockopt IP_MTU", syscall.ENOTCONN))
	}
	if a := c.raddr.Addr(); a.Is6() && !a.Is4In6() && c.s.host6 != nil {
		return c.s.host6.PathMTU(a), nil
	}
	return c.s.host.PathMTU(c.raddr.Addr().Unmap()), nil
}

// SetControlMessage turns on (or off) the reports flags names for the
// datagrams ReadMsg returns (IP_RECVTTL, IP_RECVTOS, IP_PKTINFO).
func (c *Conn) SetControlMessage(flags ControlFlags, on bool) {
	for {
		old := c.opts.cflags.Load()
		nw := old | uint32(flags)
		if !on {
			nw = old &^ uint32(flags)
		}
		if c.opts.cflags.CompareAndSwap(old, nw) {
			return
		}
	}
}

// localFor returns the engine's address a datagram sent to dst by from
// came to (IP_PKTINFO's ipi_spec_dst, IPV6_PKTINFO's address): dst when it
// is one of the engine's, else the engine's address toward from. An IPv6
// socket names an IPv4 one v4-mapped, as Linux does.
func (c *Conn) localFor(dst, from netip.Addr) netip.Addr {
	d := dst.Unmap()
	if d.Is4() {
		if c.s.host.IsLocal(d) {
			return dst
		}
		return c.mapped(c.s.host.SourceFor(from.Unmap()))
	}
	h6 := c.s.host6
	if h6 == nil || h6.Owns(d) {
		return dst
	}
	return h6.SourceFor(from)
}

// ReadMsg reads one datagram like ReadFromUDPAddrPort and reports what
// SetControlMessage asked for about it; fields not asked for are zero.
func (c *Conn) ReadMsg(p []byte) (n int, cm ControlMessage, from netip.AddrPort, err error) {
	it, err := c.dequeue()
	if err != nil {
		return 0, cm, from, err
	}
	n = copy(p, it.buf.B[:it.n])
	c.s.bufs.Put(it.buf)
	flags := ControlFlags(c.opts.cflags.Load())
	if flags&FlagTTL != 0 {
		cm.TTL = int(it.ttl)
	}
	if flags&FlagTOS != 0 {
		cm.TOS = int(it.tos)
	}
	if flags&FlagDst != 0 {
		cm.Dst = it.dst
		cm.Local = c.localFor(it.dst, it.from.Addr())
		cm.IfIndex = c.s.host.Ifindex()
	}
	return n, cm, it.from, nil
}

// WriteMsg sends p to addr (or to the connected peer when addr is the zero
// value) with the per-datagram settings of cm, which may be nil: its Src
// chooses the source address (IP_PKTINFO), its TTL and TOS override the
// socket's for this datagram.
func (c *Conn) WriteMsg(p []byte, cm *ControlMessage, addr netip.AddrPort) (int, error) {
	if !addr.IsValid() {
		if !c.raddr.IsValid() {
			return 0, c.opErr("write", os.NewSyscallError("sendmsg", syscall.EDESTADDRREQ))
		}
		addr = c.raddr
	} else if c.raddr.IsValid() && addr != c.raddr {
		return 0, c.opErr("write", os.NewSyscallError("sendmsg", syscall.EISCONN))
	}
	var so sendOpts
	if cm != nil {
		if cm.TTL < 0 || cm.TTL > 255 || cm.TOS < 0 || cm.TOS > 255 {
			return 0, c.opErr("write", os.NewSyscallError("sendmsg", syscall.EINVAL))
		}
		so.ttl, so.tos = uint8(cm.TTL), uint8(cm.TOS)
		if cm.Src.IsValid() && !cm.Src.IsUnspecified() {
			src := cm.Src.Unmap()
			h6 := c.s.host6
			owned := src.Is4() && c.s.host.Owns(src) || src.Is6() && h6 != nil && h6.Owns(src)
			if src.Is6() && c.fam == socktab.IPv4 || !owned && !c.opts.nonlocal {
				return 0, c.opErr("write", os.NewSyscallError("sendmsg", syscall.EADDRNOTAVAIL))
			}
			so.src = src
		}
	}
	return c.write(p, addr, so)
}
