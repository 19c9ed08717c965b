package udp

import (
	"net/netip"
	"os"
	"syscall"

	"github.com/xdpengine/engine/igmp"
)

// defaultMulticastTTL is IP_MULTICAST_TTL's default, as Linux's.
const defaultMulticastTTL = 1

// membership runs one socket call on the IGMP host and keeps the XDP
// group map in step: a group the interface starts wanting is steered to
// the engine before the report leaves; one it stops wanting goes back to
// the host kernel.
func (c *Conn) membership(op string, group netip.Addr, call func(now int64, h *igmp.Host) error) error {
	if c.closed.Load() {
		return c.opErr(op, os.ErrClosed)
	}
	group = group.Unmap()
	if !group.Is4() || !group.IsMulticast() {
		return c.opErr(op, os.NewSyscallError("setsockopt", syscall.EINVAL))
	}
	if err := c.s.host.Membership(group, call); err != nil {
		return c.opErr(op, err)
	}
	return nil
}

// JoinGroup joins group on the engine's interface (IP_ADD_MEMBERSHIP): the
// engine reports the membership with IGMPv3 and the socket receives the
// datagrams sent to the group and its port. At most 20 groups per socket
// (igmp_max_memberships: ENOBUFS past it); joining twice is EADDRINUSE.
// An IPv6 group (IPV6_JOIN_GROUP, an IPv6 socket only) is reported with
// MLDv2; every IPv6 socket on the port receives its datagrams (bound to
// :: or to the group) when it joined the group or leaves
// IPV6_MULTICAST_ALL on (SetMulticastAll), as on Linux.
func (c *Conn) JoinGroup(group netip.Addr) error {
	if group.Is6() && !group.Is4In6() && group.IsMulticast() {
		return c.join6(group)
	}
	return c.membership("join", group, func(now int64, h *igmp.Host) error { return h.Join(now, c.mc, group.Unmap()) })
}

// LeaveGroup leaves group (IP_DROP_MEMBERSHIP, IPV6_LEAVE_GROUP);
// EADDRNOTAVAIL if the socket had not joined it.
func (c *Conn) LeaveGroup(group netip.Addr) error {
	if group.Is6() && !group.Is4In6() && group.IsMulticast() {
		return c.leave6(group)
	}
	return c.membership("leave", group, func(now int64, h *igmp.Host) error { return h.Leave(now, c.mc, group.Unmap()) })
}

// JoinSourceSpecificGroup receives group's datagrams from source, adding
// it to the socket's include list (IP_ADD_SOURCE_MEMBERSHIP, SSM).
func (c *Conn) JoinSourceSpecificGroup(group, source netip.Addr) error {
	return c.membership("join", group, func(now int64, h *igmp.Host) error {
		return h.JoinSource(now, c.mc, group.Unmap(), source.Unmap())
	})
}

// LeaveSourceSpecificGroup removes source from the include list
// (IP_DROP_SOURCE_MEMBERSHIP); the last one leaves the group.
func (c *Conn) LeaveSourceSpecificGroup(group, source netip.Addr) error {
	return c.membership("leave", group, func(now int64, h *igmp.Host) error {
		return h.LeaveSource(now, c.mc, group.Unmap(), source.Unmap())
	})
}

// ExcludeSourceSpecificGroup blocks source on a group joined with
// JoinGroup (IP_BLOCK_SOURCE).
func (c *Conn) ExcludeSourceSpecificGroup(group, source netip.Addr) error {
	return c.membership("block", group, func(now int64, h *igmp.Host) error {
		return h.BlockSource(now, c.mc, group.Unmap(), source.Unmap())
	})
}

// IncludeSourceSpecificGroup unblocks a source blocked by
// ExcludeSourceSpecificGroup (IP_UNBLOCK_SOURCE).
func (c *Conn) IncludeSourceSpecificGroup(group, source netip.Addr) error {
	return c.membership("unblock", group, func(now int64, h *igmp.Host) error {
		return h.UnblockSource(now, c.mc, group.Unmap(), source.Unmap())
	})
}

// SetMulticastAll sets IP_MULTICAST_ALL: on (the default, as Linux), a
// socket bound to the wildcard also receives datagrams of groups other
// sockets joined; off, only of the groups it joined itself. On an IPv6
// socket it sets IPV6_MULTICAST_ALL too (on by default, as Linux's), the
// same choice for IPv6 groups.
func (c *Conn) SetMulticastAll(on bool) {
	c.mc.SetMulticastAll(on)
	c.mc6.noAll.Store(!on)
}

// SetMulticastTTL sets the TTL of datagrams sent to a group
// (IP_MULTICAST_TTL): 0 to 255, -1 for the default 1.
func (c *Conn) SetMulticastTTL(ttl int) error {
	if ttl == -1 {
		ttl = defaultMulticastTTL
	}
	if ttl < 0 || ttl > 255 {
		return c.opErr("set", os.NewSyscallError("setsockopt IP_MULTICAST_TTL", syscall.EINVAL))
	}
	c.opts.mcTTL.Store(int32(ttl) + 1)
	return nil
}

// MulticastTTL returns IP_MULTICAST_TTL.
func (c *Conn) MulticastTTL() int {
	if t := c.opts.mcTTL.Load(); t != 0 {
		return int(t - 1)
	}
	return defaultMulticastTTL
}

// SetMulticastLoopback sets IP_MULTICAST_LOOP: on (the default), a
// datagram the engine sends to a group it has joined is also delivered to
// its own sockets in that group.
func (c *Conn) SetMulticastLoopback(on bool) { c.opts.mcNoLoop.Store(!on) }

// MulticastLoopback returns IP_MULTICAST_LOOP.
func (c *Conn) MulticastLoopback() bool { return !c.opts.mcNoLoop.Load() }

// SetMulticastInterface chooses the source address of datagrams sent to a
// group (IP_MULTICAST_IF): one of the engine's addresses (the engine has
// one interface: any other is EADDRNOTAVAIL), or the zero Addr for the
// default.
func (c *Conn) SetMulticastInterface(addr netip.Addr) error {
	addr = addr.Unmap()
	if addr.IsValid() && !addr.IsUnspecified() && (!addr.Is4() || !c.s.host.Owns(addr)) {
		return c.opErr("set", os.NewSyscallError("setsockopt IP_MULTICAST_IF", syscall.EADDRNOTAVAIL))
	}
	if addr.IsUnspecified() {
		addr = netip.Addr{}
	}
	c.opts.mcIf.Store(&addr)
	return nil
}

// dropMemberships leaves every group when the socket closes.
func (c *Conn) dropMemberships() {
	c.s.host.DropMemberships(c.mc)
	c.dropMemberships6()
}
