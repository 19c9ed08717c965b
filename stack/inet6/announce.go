package inet6

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ndp"
)

// Announced addresses: addresses the engine does not own but answers
// Neighbor Solicitations for with its own MAC address, as for its own
// addresses (taking their solicited-node groups), and announces with an
// unsolicited Neighbor Advertisement (override set, to all-nodes) when they
// are added: a load balancer's VIPs on the engine's link
// (lb.VIP.Announce), which clients then reach without a route to the
// engine. The advertisement goes out AnnounceCount times,
// AnnounceInterval apart (RFC 4861 7.2.6 allows up to
// MAX_NEIGHBOR_ADVERTISEMENT, 3). Withdrawing one sends nothing: the
// neighbors' entries age out.
type announcements6 struct {
	set     atomic.Pointer[annSet6] // read by the workers per packet
	pending []announcing6           // to announce (guarded by Host.mu)
	due     atomic.Bool             // pending is not empty: worker 0 polls
	next    atomic.Int64            // when the next ones are due (the workers' clock)
}

// How many times, and how far apart, an announced address is advertised
// (as inet4 repeats its gratuitous ARP).
const (
	AnnounceCount    = 3
	AnnounceInterval = time.Second
)

// announcing6 is an address with the advertisements it still has to send.
type announcing6 struct {
	addr [16]byte
	left int
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
		h.ann.pending = append(h.ann.pending, announcing6{k, AnnounceCount})
	} else {
		delete(next.addrs, k)
		if next.groups[g]--; next.groups[g] <= 0 {
			delete(next.groups, g)
		}
	}
	h.ann.set.Store(next)
	if on {
		h.ann.next.Store(0)
		h.ann.due.Store(true)
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
	if now < l.h.ann.next.Load() {
		return
	}
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	kept := l.h.ann.pending[:0]
	for _, p := range l.h.ann.pending {
		if !l.h.Announces(p.addr) { // withdrawn meanwhile
			continue
		}
		if n, err := ndp.PutAnnouncement(l.ndpOut[:], l.h.cfg.MAC, p.addr, false); err == nil {
			l.sendICMPFrame(p.addr, ndp.AllNodes, header.MulticastMAC6(ndp.AllNodes), header.NDPHopLimit, l.ndpOut[:n], false)
		}
		if p.left--; p.left > 0 {
			kept = append(kept, p)
		}
	}
	l.h.ann.pending = kept
	l.h.ann.next.Store(now + int64(AnnounceInterval))
	l.h.ann.due.Store(len(kept) > 0)
}
