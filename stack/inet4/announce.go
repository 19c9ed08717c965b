package inet4

import (
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/xdpengine/engine/arp"
	"github.com/xdpengine/engine/stack/announce"
)

// Announced addresses: addresses the engine does not own but answers ARP
// requests for with its own MAC address, as a host answers for its own
// addresses, and announces with a gratuitous ARP when they are added (a
// load balancer's VIPs on the engine's segment, lb.VIP.Announce). Without
// it a client reaches such an address only through a route to one of the
// engine's addresses. The gratuitous ARP goes out announce.Count times,
// announce.Interval apart. Withdrawing one sends nothing: the neighbors'
// caches expire.
type announcements struct {
	set   atomic.Pointer[map[[4]byte]struct{}] // read by the workers' ARP responders
	sched announce.Schedule[[4]byte]           // gratuitous ARPs to send (worker 0)
}

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
	} else {
		delete(next, k)
	}
	h.ann.set.Store(&next)
	if on {
		h.ann.sched.Add(k)
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
	l.h.ann.sched.Run(now, l.h.Announces, func(ip [4]byte) {
		var f [arpFrameLen]byte
		if n, err := arp.Gratuitous(f[:], l.h.cfg.MAC, ip); err == nil {
			l.dp.SendFrame(f[:n])
		}
	})
}
