package inet4

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/igmp"
)

// multicast is the engine's IP multicast host state: the IGMPv3 host of
// the interface (package igmp), the XDP program's group map kept in step
// with it, and the tap through which the engine reads the IGMP queries the
// host kernel keeps (XDP cannot copy a frame to both). Socket calls change
// it under mu (Membership); worker 0 sends its reports and reads the tap
// at its ticks, and at once when due is set; workers read Host.Wanted and
// Socket.Accept without locks.
type multicast struct {
	mu   sync.Mutex
	host *igmp.Host
	tap  *afxdp.IGMPTap // nil until Attach, or when it could not open
	prog *afxdp.Program // the XDP program's group map; nil before Attach and after Detach
	due  atomic.Bool    // a report may be due now: worker 0 polls
	buf  []byte         // tap reads (worker 0)
}

func (h *Host) initMulticast() error {
	src := netip.IPv4Unspecified() // an IPv6-only engine: reports from 0.0.0.0 (RFC 3376 4.2.13)
	if len(h.cfg.Addrs) > 0 {
		src = h.cfg.Addrs[0].Addr()
	}
	ig, err := igmp.New(igmp.Config{Addr: src, MAC: h.cfg.MAC, MTU: h.cfg.MTU})
	if err != nil {
		return fmt.Errorf("inet4: IGMP: %w", err)
	}
	h.mc.host = ig
	h.mc.buf = make([]byte, 2048)
	return nil
}

// startMulticast opens the IGMP tap and puts the groups joined before
// Attach into the XDP program.
func (h *Host) startMulticast(prog *afxdp.Program) error {
	h.mc.mu.Lock()
	defer h.mc.mu.Unlock()
	h.mc.prog = prog
	for _, g := range h.mc.host.Groups(nil) {
		if err := prog.AddGroup(g.Group); err != nil {
			return fmt.Errorf("inet4: %w", err)
		}
	}
	h.mc.due.Store(true)
	tap, err := afxdp.OpenIGMPTap(h.cfg.Interface)
	if err != nil {
		return fmt.Errorf("inet4: IGMP queries: %w", err)
	}
	h.mc.tap = tap
	return nil
}

// stopMulticast closes the tap; group changes no longer reach the program.
func (h *Host) stopMulticast() {
	h.mc.mu.Lock()
	defer h.mc.mu.Unlock()
	if h.mc.tap != nil {
		h.mc.tap.Close()
	}
	h.mc.tap, h.mc.prog = nil, nil
}

// pollMulticast reads the queries the tap caught and sends the IGMP reports
// that are due (worker 0: at every tick, and in the round after a socket
// call set due).
func (l *Layer) pollMulticast() {
	mc := &l.h.mc
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
			mc.host.Input(l.Now(), ip)
		}
	}
	mc.host.Poll(l.Now(), l.dp.SendFrame)
}

// NewMulticastSocket returns a socket's membership state in the IGMP host.
func (h *Host) NewMulticastSocket() *igmp.Socket { return h.mc.host.NewSocket() }

// Wanted reports whether the interface wants datagrams to group from src
// (some socket's filter takes them).
func (h *Host) Wanted(group, src netip.Addr) bool { return h.mc.host.Wanted(group.As4(), src.As4()) }

// Membership runs one socket call on the IGMP host (join, leave, a source
// filter change) and keeps the XDP group map in step: a group the
// interface starts wanting is steered to the engine before the report
// leaves; one it stops wanting goes back to the host kernel. Worker 0
// sends the report.
func (h *Host) Membership(group netip.Addr, call func(now int64, ig *igmp.Host) error) error {
	h.mc.mu.Lock()
	defer h.mc.mu.Unlock()
	prog := h.mc.prog
	if !h.mc.host.Member(group) && prog != nil {
		if err := prog.AddGroup(group); err != nil {
			return err
		}
	}
	err := call(h.Nanotime(), h.mc.host)
	if !h.mc.host.Member(group) && prog != nil {
		prog.RemoveGroup(group)
	}
	if err != nil {
		return err
	}
	h.mc.due.Store(true)
	if len(h.layers) > 0 {
		h.layers[0].Wake()
	}
	return nil
}

// DropMemberships leaves every group of s (its socket closes).
func (h *Host) DropMemberships(s *igmp.Socket) {
	h.mc.mu.Lock()
	defer h.mc.mu.Unlock()
	before := h.mc.host.Groups(nil)
	h.mc.host.Drop(h.Nanotime(), s)
	if h.mc.prog == nil {
		return
	}
	for _, g := range before {
		if !h.mc.host.Member(g.Group) {
			h.mc.prog.RemoveGroup(g.Group)
		}
	}
	h.mc.due.Store(true)
}

// takesGroup reports whether a packet to an address that is not the
// engine's is a UDP datagram to a multicast group the interface wants from
// its source, or to a broadcast address: those go to every matching socket
// (the UDP transport's fan-out).
func (l *Layer) takesGroup(ip header.IPv4) bool {
	if ip.Protocol() != header.ProtocolUDP {
		return false
	}
	dst := ip.Dst4()
	if dst[0]&0xf0 == 0xe0 {
		return l.h.mc.host.Wanted(dst, ip.Src4())
	}
	return l.h.IsBroadcast(addr4(dst))
}
