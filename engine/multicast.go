package engine

import (
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/igmp"
	"github.com/xdpengine/engine/stack/socktab"
)

// multicast is the engine's IP multicast host state: the IGMPv3 host of
// the interface (package igmp), the XDP program's group map kept in step
// with it, and the tap through which the engine reads the IGMP queries the
// host kernel keeps (XDP cannot copy a frame to both). Socket calls change
// it under mu; worker 0 sends its reports and reads the tap at its ticks,
// and at once when due is set; workers read Host.Wanted and
// Socket.Accept without locks.
type multicast struct {
	mu   sync.Mutex
	host *igmp.Host
	tap  *afxdp.IGMPTap // nil until Start, or when it could not open
	prog *afxdp.Program // the XDP program's group map; nil before Start and after Close
	due  atomic.Bool    // a report may be due now: worker 0 polls
	buf  []byte         // tap reads (worker 0)
}

// defaultMulticastTTL is IP_MULTICAST_TTL's default, as Linux's.
const defaultMulticastTTL = 1

func (e *Engine) initMulticast() error {
	h, err := igmp.New(igmp.Config{Addr: e.cfg.Addrs[0].Addr(), MAC: e.mac, MTU: e.mtu})
	if err != nil {
		return fmt.Errorf("engine: IGMP: %w", err)
	}
	e.mc.host = h
	e.mc.buf = make([]byte, 2048)
	return nil
}

// startMulticast opens the IGMP tap and puts the groups joined before
// Start into the XDP program.
func (e *Engine) startMulticast() error {
	tap, err := afxdp.OpenIGMPTap(e.cfg.Interface)
	if err != nil {
		return fmt.Errorf("engine: IGMP queries: %w", err)
	}
	e.mc.mu.Lock()
	defer e.mc.mu.Unlock()
	e.mc.tap, e.mc.prog = tap, e.prog
	for _, g := range e.mc.host.Groups(nil) {
		if err := e.prog.AddGroup(g.Group); err != nil {
			return fmt.Errorf("engine: %w", err)
		}
	}
	e.mc.due.Store(true)
	return nil
}

// stopMulticast closes the tap; group changes no longer reach the program.
func (e *Engine) stopMulticast() {
	e.mc.mu.Lock()
	defer e.mc.mu.Unlock()
	if e.mc.tap != nil {
		e.mc.tap.Close()
	}
	e.mc.tap, e.mc.prog = nil, nil
}

// pollMulticast reads the queries the tap caught and sends the IGMP reports
// that are due (worker 0: at every tick, and in the round after a socket
// call set due). The tap is set before the workers start and closed after
// they stop.
func (w *worker) pollMulticast() {
	mc := &w.e.mc
	mc.due.Store(false)
	if mc.tap == nil && mc.host.Next() == 0 {
		return
	}
	mc.mu.Lock()
	defer mc.mu.Unlock()
	for mc.tap != nil {
		n, err := mc.tap.Recv(mc.buf)
		if err != nil || n == 0 {
			break
		}
		eth, err := header.ParseEthernet(mc.buf[:n])
		if err != nil {
			continue
		}
		if ip, err := header.ParseIPv4(eth.Payload()); err == nil {
			mc.host.Input(w.now(), ip)
		}
	}
	mc.host.Poll(w.now(), w.dp.SendFrame)
}

// membership runs one socket call on the IGMP host and keeps the XDP
// group map in step: a group the interface starts wanting is steered to
// the engine before the report leaves; one it stops wanting goes back to
// the host kernel.
func (c *UDPConn) membership(op string, group netip.Addr, call func(now int64, h *igmp.Host) error) error {
	e := c.e
	if c.closed.Load() {
		return c.opErr(op, os.ErrClosed)
	}
	group = group.Unmap()
	if !group.Is4() || !group.IsMulticast() {
		return c.opErr(op, os.NewSyscallError("setsockopt", syscall.EINVAL))
	}
	e.mc.mu.Lock()
	defer e.mc.mu.Unlock()
	prog := e.mc.prog
	if !e.mc.host.Member(group) && prog != nil {
		if err := prog.AddGroup(group); err != nil {
			return c.opErr(op, err)
		}
	}
	err := call(e.nanotime(), e.mc.host)
	if !e.mc.host.Member(group) && prog != nil {
		prog.RemoveGroup(group)
	}
	if err != nil {
		return c.opErr(op, err)
	}
	e.mc.due.Store(true)
	if len(e.workers) > 0 {
		e.workers[0].wake()
	}
	return nil
}

// JoinGroup joins group on the engine's interface (IP_ADD_MEMBERSHIP): the
// engine reports the membership with IGMPv3 and the socket receives the
// datagrams sent to the group and its port. At most 20 groups per socket
// (igmp_max_memberships: ENOBUFS past it); joining twice is EADDRINUSE.
func (c *UDPConn) JoinGroup(group netip.Addr) error {
	return c.membership("join", group, func(now int64, h *igmp.Host) error { return h.Join(now, c.mc, group.Unmap()) })
}

// LeaveGroup leaves group (IP_DROP_MEMBERSHIP); EADDRNOTAVAIL if the
// socket had not joined it.
func (c *UDPConn) LeaveGroup(group netip.Addr) error {
	return c.membership("leave", group, func(now int64, h *igmp.Host) error { return h.Leave(now, c.mc, group.Unmap()) })
}

// JoinSourceSpecificGroup receives group's datagrams from source, adding
// it to the socket's include list (IP_ADD_SOURCE_MEMBERSHIP, SSM).
func (c *UDPConn) JoinSourceSpecificGroup(group, source netip.Addr) error {
	return c.membership("join", group, func(now int64, h *igmp.Host) error {
		return h.JoinSource(now, c.mc, group.Unmap(), source.Unmap())
	})
}

// LeaveSourceSpecificGroup removes source from the include list
// (IP_DROP_SOURCE_MEMBERSHIP); the last one leaves the group.
func (c *UDPConn) LeaveSourceSpecificGroup(group, source netip.Addr) error {
	return c.membership("leave", group, func(now int64, h *igmp.Host) error {
		return h.LeaveSource(now, c.mc, group.Unmap(), source.Unmap())
	})
}

// ExcludeSourceSpecificGroup blocks source on a group joined with
// JoinGroup (IP_BLOCK_SOURCE).
func (c *UDPConn) ExcludeSourceSpecificGroup(group, source netip.Addr) error {
	return c.membership("block", group, func(now int64, h *igmp.Host) error {
		return h.BlockSource(now, c.mc, group.Unmap(), source.Unmap())
	})
}

// IncludeSourceSpecificGroup unblocks a source blocked by
// ExcludeSourceSpecificGroup (IP_UNBLOCK_SOURCE).
func (c *UDPConn) IncludeSourceSpecificGroup(group, source netip.Addr) error {
	return c.membership("unblock", group, func(now int64, h *igmp.Host) error {
		return h.UnblockSource(now, c.mc, group.Unmap(), source.Unmap())
	})
}

// SetMulticastAll sets IP_MULTICAST_ALL: on (the default, as Linux), a
// socket bound to the wildcard also receives datagrams of groups other
// sockets joined; off, only of the groups it joined itself.
func (c *UDPConn) SetMulticastAll(on bool) { c.mc.SetMulticastAll(on) }

// SetMulticastTTL sets the TTL of datagrams sent to a group
// (IP_MULTICAST_TTL): 0 to 255, -1 for the default 1.
func (c *UDPConn) SetMulticastTTL(ttl int) error {
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
func (c *UDPConn) MulticastTTL() int {
	if t := c.opts.mcTTL.Load(); t != 0 {
		return int(t - 1)
	}
	return defaultMulticastTTL
}

// SetMulticastLoopback sets IP_MULTICAST_LOOP: on (the default), a
// datagram the engine sends to a group it has joined is also delivered to
// its own sockets in that group.
func (c *UDPConn) SetMulticastLoopback(on bool) { c.opts.mcNoLoop.Store(!on) }

// MulticastLoopback returns IP_MULTICAST_LOOP.
func (c *UDPConn) MulticastLoopback() bool { return !c.opts.mcNoLoop.Load() }

// SetMulticastInterface chooses the source address of datagrams sent to a
// group (IP_MULTICAST_IF): one of the engine's addresses (the engine has
// one interface: any other is EADDRNOTAVAIL), or the zero Addr for the
// default.
func (c *UDPConn) SetMulticastInterface(addr netip.Addr) error {
	addr = addr.Unmap()
	if addr.IsValid() && !addr.IsUnspecified() && (!addr.Is4() || !c.e.ownedAddr(addr.As4())) {
		return c.opErr("set", os.NewSyscallError("setsockopt IP_MULTICAST_IF", syscall.EADDRNOTAVAIL))
	}
	if addr.IsUnspecified() {
		addr = netip.Addr{}
	}
	c.opts.mcIf.Store(&addr)
	return nil
}

// dropMemberships leaves every group when the socket closes.
func (c *UDPConn) dropMemberships() {
	e := c.e
	e.mc.mu.Lock()
	defer e.mc.mu.Unlock()
	before := e.mc.host.Groups(nil)
	e.mc.host.Drop(e.nanotime(), c.mc)
	if e.mc.prog == nil {
		return
	}
	for _, g := range before {
		if !e.mc.host.Member(g.Group) {
			e.mc.prog.RemoveGroup(g.Group)
		}
	}
	e.mc.due.Store(true)
}

// broadcastBind reports whether a socket bound to a receives broadcasts:
// bound to the wildcard or to a broadcast address (Linux's fan-out rule).
func (e *Engine) broadcastBind(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsUnspecified() || a.Is4() && e.isBroadcast(a.As4())
}

// addBroadcastPort makes the XDP program steer broadcast UDP to port to
// the engine while a socket that receives broadcasts is bound to it;
// removeBroadcastPort undoes it at close. Counted here so that binds made
// before Start reach the program when it attaches.
func (e *Engine) addBroadcastPort(port uint16) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.bcastPorts[port] == 0 && e.prog != nil && e.state.Load() == stateRunning {
		if err := e.prog.AddBroadcastPort(port); err != nil {
			return err
		}
	}
	e.bcastPorts[port]++
	return nil
}

func (e *Engine) removeBroadcastPort(port uint16) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.bcastPorts[port]--; e.bcastPorts[port] > 0 {
		return
	}
	delete(e.bcastPorts, port)
	if e.prog != nil && e.state.Load() == stateRunning {
		e.prog.RemoveBroadcastPort(port)
	}
}

// isMulticast reports whether a is in 224.0.0.0/4.
func isMulticast(a [4]byte) bool { return a[0]&0xf0 == 0xe0 }

// takesGroup reports whether a packet to an address that is not the
// engine's is a UDP datagram to a multicast group the interface wants from
// its source, or to a broadcast address: those go to every matching socket
// (fanout).
func (w *worker) takesGroup(ip header.IPv4) bool {
	if ip.Protocol() != protoUDP {
		return false
	}
	dst := ip.Dst4()
	if isMulticast(dst) {
		return w.e.mc.host.Wanted(dst, ip.Src4())
	}
	return w.e.isBroadcast(dst)
}

// fanout delivers a multicast or broadcast datagram to every socket the
// socket table matched whose own filter wants it (IP_ADD_MEMBERSHIP and
// source filters, IP_MULTICAST_ALL), as Linux's __udp4_lib_mcast_deliver:
// each gets a copy; none is a silent drop (no ICMP about a multicast or a
// broadcast).
func (w *worker) fanout(socks []*socktab.Socket, ip header.IPv4, u header.UDP) {
	src, dst := ip.Src4(), ip.Dst4()
	from := netip.AddrPortFrom(netip.AddrFrom4(src), u.SrcPort())
	m := rxMeta{dst: dst, ttl: ip.TTL(), tos: ip.TOS()}
	delivered := false
	for i, s := range socks {
		socks[i] = nil // the slice is the worker's, kept for the next datagram
		c, ok := s.Endpoint().(*UDPConn)
		if !ok || isMulticast(dst) && !c.mc.Accept(dst, src) {
			continue
		}
		delivered = true
		if !c.deliver(w.wk, u.Payload(), from, m) {
			w.st.DropRecvBuffer++
		}
	}
	w.fan = socks[:0]
	if !delivered {
		w.st.DropNoSocket++
	}
}
