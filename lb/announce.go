package lb

import (
	"fmt"
	"net/netip"
)

// announce makes the engine answer ARP or Neighbor Discovery for the VIP
// addresses of cur that ask for it (VIP.Announce; an address counts once
// however many ports it has) and stops it for those of prev that no
// longer do. The addresses are VIPs that build accepted (checkAnnounce:
// global unicast, of a family the engine has), so the hosts refuse none.
func (b *Balancer) announce(prev, cur []VIP) {
	on := map[netip.Addr]bool{}
	for _, v := range cur {
		if v.Announce {
			on[v.Addr] = true
		}
	}
	set := func(a netip.Addr, announce bool) {
		if a.Is4() {
			b.p.Host.Announce(a, announce)
		} else if b.p.Host6 != nil {
			b.p.Host6.Announce(a, announce)
		}
	}
	for _, v := range prev {
		if v.Announce && !on[v.Addr] {
			set(v.Addr, false)
		}
	}
	for a := range on {
		set(a, true)
	}
}

// checkAnnounce refuses an announced VIP whose address the engine cannot
// answer ARP or Neighbor Discovery for: not global unicast (loopback,
// link-local, multicast, unspecified) or, in IPv4, a broadcast address.
func (b *Balancer) checkAnnounce(v *VIP) error {
	if !v.Announce {
		return nil
	}
	if !v.Addr.IsGlobalUnicast() || (v.Addr.Is4() && b.p.Host != nil && b.p.Host.IsBroadcast(v.Addr)) {
		return fmt.Errorf("lb: VIP %s: %v cannot be announced: only a global unicast address (not loopback, link-local, multicast or broadcast) is answered in ARP or Neighbor Discovery; remove Announce: %w",
			v.Key(), v.Addr, ErrConfig)
	}
	return nil
}
