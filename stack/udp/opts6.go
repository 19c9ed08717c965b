package udp

import (
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/xdpengine/engine/stack/sock"
	"github.com/xdpengine/engine/stack/socktab"
)

// The IPv6 counterparts of ip(7)'s options (ipv6(7)), where the IPv4 one
// exists. They apply to the IPv6 datagrams of an IPv6 socket; a dual-stack
// socket's IPv4 datagrams follow the IPv4 options (TTL, TOS), as Linux's
// do. Shared with IPv4: SetMTUDiscover (IPV6_MTU_DISCOVER, same modes),
// SetDontFragment (IPV6_DONTFRAG: EMSGSIZE instead of fragmenting),
// SetControlMessage (FlagDst is IPV6_RECVPKTINFO, FlagTTL
// IPV6_RECVHOPLIMIT, FlagTOS IPV6_RECVTCLASS), SetRecvErr (IPV6_RECVERR),
// PathMTU (IPV6_MTU), JoinGroup and LeaveGroup (IPV6_JOIN_GROUP,
// IPV6_LEAVE_GROUP).

// V6Only reports IPV6_V6ONLY: an IPv6 socket that takes no IPv4 traffic
// (SocketOptions.V6Only, the "udp6" network, or, as Linux sets it, a bind
// to a specific IPv6 address that is not v4-mapped). False for IPv4
// sockets.
func (c *Conn) V6Only() bool { return c.v6only }

// IPv6 reports whether the socket is an IPv6 one (AF_INET6), dual-stack
// unless V6Only.
func (c *Conn) IPv6() bool { return c.fam == socktab.IPv6 }

// SetHopLimit sets the hop limit of the unicast IPv6 datagrams the socket
// sends (IPV6_UNICAST_HOPS): 1 to 255, or -1 for the default (64,
// net.ipv6.conf.*.hop_limit). Other values: EINVAL.
func (c *Conn) SetHopLimit(hops int) error {
	if hops == -1 {
		hops = 0
	} else if hops < 1 || hops > 255 {
		return c.opErr("set", os.NewSyscallError("setsockopt IPV6_UNICAST_HOPS", syscall.EINVAL))
	}
	c.opts.hops.Store(int32(hops))
	return nil
}

// HopLimit returns IPV6_UNICAST_HOPS.
func (c *Conn) HopLimit() int {
	if h := c.opts.hops.Load(); h != 0 {
		return int(h)
	}
	return sock.DefaultHopLimit
}

// SetTrafficClass sets the traffic class (DSCP and ECN) of the IPv6
// datagrams the socket sends (IPV6_TCLASS): 0 to 255, -1 for the default 0.
func (c *Conn) SetTrafficClass(tc int) error {
	if tc == -1 {
		tc = 0
	}
	if tc < 0 || tc > 255 {
		return c.opErr("set", os.NewSyscallError("setsockopt IPV6_TCLASS", syscall.EINVAL))
	}
	c.opts.tclass.Store(int32(tc))
	return nil
}

// TrafficClass returns IPV6_TCLASS.
func (c *Conn) TrafficClass() int { return int(c.opts.tclass.Load()) }

// SetMulticastHopLimit sets the hop limit of IPv6 datagrams sent to a
// group (IPV6_MULTICAST_HOPS): 0 to 255, -1 for the default 1.
func (c *Conn) SetMulticastHopLimit(hops int) error {
	if hops == -1 {
		hops = defaultMulticastTTL
	}
	if hops < 0 || hops > 255 {
		return c.opErr("set", os.NewSyscallError("setsockopt IPV6_MULTICAST_HOPS", syscall.EINVAL))
	}
	c.opts.mcHops.Store(int32(hops) + 1)
	return nil
}

// MulticastHopLimit returns IPV6_MULTICAST_HOPS.
func (c *Conn) MulticastHopLimit() int {
	if h := c.opts.mcHops.Load(); h != 0 {
		return int(h - 1)
	}
	return defaultMulticastTTL
}

// groups6 are the IPv6 groups a socket joined: the socket's calls change
// them under mu; workers read the published copy per multicast datagram.
type groups6 struct {
	mu    sync.Mutex
	set   atomic.Pointer[[][16]byte]
	noAll atomic.Bool // IPV6_MULTICAST_ALL off
}

// accept reports whether the socket takes a datagram to the group g
// (Linux's inet6_mc_check without source filters): when it joined g, or
// with IPV6_MULTICAST_ALL (on by default: inet6_create sets it) when it
// did not, as the engine received g only because some socket joined it
// (or it is a group the interface is always in). Workers; no lock, no
// allocation.
func (g *groups6) accept(a [16]byte) bool { return g.has(a) || !g.noAll.Load() }

// has reports whether g was joined (workers; no lock, no allocation).
func (g *groups6) has(a [16]byte) bool {
	p := g.set.Load()
	if p == nil {
		return false
	}
	for _, x := range *p {
		if x == a {
			return true
		}
	}
	return false
}

// join6 is IPV6_JOIN_GROUP: the engine reports the membership with MLDv2
// and the XDP program steers the group to the engine; the socket then
// receives the group's datagrams to its port. Joining twice is
// EADDRINUSE; an IPv4 socket gets EINVAL.
func (c *Conn) join6(group netip.Addr) error {
	if c.fam != socktab.IPv6 || c.s.host6 == nil {
		return c.opErr("join", os.NewSyscallError("setsockopt IPV6_JOIN_GROUP", syscall.EINVAL))
	}
	g := &c.mc6
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.has(group.As16()) {
		return c.opErr("join", os.NewSyscallError("setsockopt IPV6_JOIN_GROUP", syscall.EADDRINUSE))
	}
	if err := c.s.host6.JoinGroup(group); err != nil {
		return c.opErr("join", os.NewSyscallError("setsockopt IPV6_JOIN_GROUP", syscall.EINVAL))
	}
	var next [][16]byte
	if p := g.set.Load(); p != nil {
		next = append(next, *p...)
	}
	next = append(next, group.As16())
	g.set.Store(&next)
	return nil
}

// leave6 is IPV6_LEAVE_GROUP; EADDRNOTAVAIL if the socket had not joined
// group.
func (c *Conn) leave6(group netip.Addr) error {
	g := &c.mc6
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.has(group.As16()) {
		return c.opErr("leave", os.NewSyscallError("setsockopt IPV6_LEAVE_GROUP", syscall.EADDRNOTAVAIL))
	}
	var next [][16]byte
	for _, x := range *g.set.Load() {
		if x != group.As16() {
			next = append(next, x)
		}
	}
	g.set.Store(&next)
	if err := c.s.host6.LeaveGroup(group); err != nil {
		return c.opErr("leave", err)
	}
	return nil
}

// dropMemberships6 leaves every IPv6 group when the socket closes.
func (c *Conn) dropMemberships6() {
	g := &c.mc6
	g.mu.Lock()
	p := g.set.Swap(nil)
	g.mu.Unlock()
	if p == nil {
		return
	}
	for _, x := range *p {
		c.s.host6.LeaveGroup(netip.AddrFrom16(x))
	}
}
