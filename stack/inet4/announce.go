package inet4

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/xdpengine/engine/arp"
)

// Announced addresses: addresses the engine does not own but answers ARP
// requests for with its own MAC address, as a host answers for its own
// addresses, and announces with a gratuitous ARP when they are added (a
// load balancer's VIPs on the engine's segment, lb.VIP.Announce). Without
// it a client reaches such an address only through a route to one of the
// engine's addresses. The gratuitous ARP goes out AnnounceCount times,
// AnnounceInterval apart (a lost one would leave a neighbor's stale entry
// until it ages out). Withdrawing one sends nothing: the neighbors' caches
// expire.
type announcements struct {
	set     atomic.Pointer[map[[4]byte]struct{}] // read by the workers' ARP responders
	pending []announcing                         // to announce (guarded by Host.mu)
	due     atomic.Bool                          // pending is not empty: worker 0 polls
	next    atomic.Int64                         // when the next ones are due (the workers' clock)
}

// announcing is an address with the announcements it still has to send.
type announcing struct {
	ip   [4]byte
	left int
}

// How many times, and how far apart, an announced address is announced
// (keepalived-like senders repeat theirs; RFC 5227 announces twice).
const (
	AnnounceCount    = 3
	AnnounceInterval = time.Second
)

// Announce starts (on) or stops answering ARP for a, an IPv4 address the
// XDP program already steers to the engine (AddTransparent), which the
// engine does not own. Starting sends a gratuitous ARP for it from worker
// 0, at its next round.
func (h *Host) Announce(a netip.Addr, on bool) error {
	if !a.Is4() || !a.IsGlobalUnicast() || h.IsBroadcast(a) {
		return fmt.Errorf("inet4: announce %v: not a unicast IPv4 address (loopback, link-local, multicast and broadcast addresses are not announced)", a)
	}
	if h.Owns(a) {
		return nil // answered as the engine's own
	}
	k := a.As4()
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.ann.set.Load()
	was := false
	if old != nil {
		_, was = (*old)[k]
	}
	if was == on {
		return nil
	}
	next := map[[4]byte]struct{}{}
	if old != nil {
		for x := range *old {
			next[x] = struct{}{}
		}
	}
	if on {
		next[k] = struct{}{}
		h.ann.pending = append(h.ann.pending, announcing{k, AnnounceCount})
	} else {
		delete(next, k)
	}
	h.ann.set.Store(&next)
	if on {
		h.ann.next.Store(0)
		h.ann.due.Store(true)
		if len(h.layers) > 0 {
			h.layers[0].Wake()
		}
	}
	return nil
}

// Announces reports whether the engine answers ARP for ip without owning
// it (Announce). Lock-free.
func (h *Host) Announces(ip [4]byte) bool {
	s := h.ann.set.Load()
	if s == nil {
		return false
	}
	_, ok := (*s)[ip]
	return ok
}

// announced returns the announced addresses.
func (h *Host) announced() []netip.Addr {
	s := h.ann.set.Load()
	if s == nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(*s))
	for k := range *s {
		out = append(out, netip.AddrFrom4(k))
	}
	return out
}

// announce sends the gratuitous ARPs due at now (worker 0, from its rounds
// and ticks while any are pending).
func (l *Layer) announce(now int64) {
	if now < l.h.ann.next.Load() {
		return
	}
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	kept := l.h.ann.pending[:0]
	for _, p := range l.h.ann.pending {
		if !l.h.Announces(p.ip) { // withdrawn meanwhile
			continue
		}
		var f [arpFrameLen]byte
		if n, err := arp.Gratuitous(f[:], l.h.cfg.MAC, p.ip); err == nil {
			l.dp.SendFrame(f[:n])
		}
		if p.left--; p.left > 0 {
			kept = append(kept, p)
		}
	}
	l.h.ann.pending = kept
	l.h.ann.next.Store(now + int64(AnnounceInterval))
	l.h.ann.due.Store(len(kept) > 0)
}
