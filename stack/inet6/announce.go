package inet6

import (
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ndp"
	"github.com/xdpengine/engine/stack/announce"
)

// Announced addresses: addresses the engine does not own but answers
// Neighbor Solicitations for with its own MAC address, as for its own
// addresses (taking their solicited-node groups), and announces with an
// unsolicited Neighbor Advertisement (override set, to all-nodes) when they
// are added: a load balancer's VIPs on the engine's link
// (lb.VIP.Announce), which clients then reach without a route to the
// engine. The advertisement goes out announce.Count times,
// announce.Interval apart. Withdrawing one sends nothing: the neighbors'
// entries age out.
type announcements6 struct {
	set   atomic.Pointer[annSet6]     // read by the workers per packet
	sched announce.Schedule[[16]byte] // advertisements to send (worker 0)
}

// annSet6 is one immutable snapshot: the addresses and their
// solicited-node groups (a count each: addresses may share one).
type annSet6 struct {
	addrs  map[[16]byte]struct{}
	groups map[[16]byte]int
}

// Announce starts (on) or stops answering Neighbor Solicitations for a,
// an IPv6 address the XDP program already steers to the engine with its
// solicited-node group (AddTransparent), which the engine does not own.
// Starting sends an unsolicited advertisement from worker 0 at its next
// round.
func (h *Host) Announce(a netip.Addr, on bool) error {
	a = a.WithZone("")
	if !a.Is6() || a.Is4In6() || !a.IsGlobalUnicast() {
		return fmt.Errorf("inet6: announce %v: not a global unicast IPv6 address", a)
	}
	if h.Owns(a) {
		return nil // answered as the engine's own
	}
	k := a.As16()
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.ann.set.Load()
	was := false
	if old != nil {
		_, was = old.addrs[k]
	}
	if was == on {
		return nil
	}
	next := &annSet6{addrs: map[[16]byte]struct{}{}, groups: map[[16]byte]int{}}
	if old != nil {
		for x := range old.addrs {
			next.addrs[x] = struct{}{}
		}
		for g, n := range old.groups {
			next.groups[g] = n
		}
	}
	g := header.SolicitedNodeMulticast(k)
	if on {
		next.addrs[k] = struct{}{}
		next.groups[g]++
	} else {
		delete(next.addrs, k)
		if next.groups[g]--; next.groups[g] <= 0 {
			delete(next.groups, g)
		}
	}
	h.ann.set.Store(next)
	if on {
		h.ann.sched.Add(k)
		h.wake0()
	}
	return nil
}

// Announces reports whether the engine answers solicitations for a
// without owning it (Announce). Lock-free.
func (h *Host) Announces(a [16]byte) bool {
	s := h.ann.set.Load()
	if s == nil {
		return false
	}
	_, ok := s.addrs[a]
	return ok
}

// announcesGroup reports whether g is the solicited-node group of an
// announced address.
func (h *Host) announcesGroup(g [16]byte) bool {
	s := h.ann.set.Load()
	return s != nil && s.groups[g] > 0
}

// announced returns the announced addresses.
func (h *Host) announced() []netip.Addr {
	s := h.ann.set.Load()
	if s == nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(s.addrs))
	for k := range s.addrs {
		out = append(out, netip.AddrFrom16(k))
	}
	return out
}

// announce sends the unsolicited advertisements due at now (worker 0,
// from its rounds and ticks while any are pending).
func (l *Layer) announce(now int64) {
	l.h.ann.sched.Run(now, l.h.Announces, func(a [16]byte) {
		if n, err := ndp.PutAnnouncement(l.ndpOut[:], l.h.cfg.MAC, a, false); err == nil {
			l.sendICMPFrame(a, ndp.AllNodes, header.MulticastMAC6(ndp.AllNodes), header.NDPHopLimit, l.ndpOut[:n], false)
		}
	})
}
