package engine

import (
	"fmt"
	"net/netip"

	"github.com/xdpengine/engine/header"
)

// validateAddrs checks the addresses and gateways: IPv4 or IPv6 prefixes,
// at least one, none twice; each gateway of its family, on the link.
func (c *Config) validateAddrs() error {
	seen := map[netip.Addr]bool{}
	for _, p := range c.Addrs {
		a := p.Addr()
		switch {
		case !p.IsValid() || a.Is4In6() || a.Zone() != "":
			return fmt.Errorf("address %v: want an IPv4 or IPv6 address with a prefix, e.g. 198.18.0.1/24 or 2001:db8::1/64", p)
		case a.Is6() && (a.IsMulticast() || a.IsUnspecified() || a.IsLoopback() || a.IsLinkLocalUnicast()):
			return fmt.Errorf("address %v: want a global (or unique local) unicast IPv6 address; the link-local address is the host kernel's", p)
		case a.Is4() && (a.IsMulticast() || a.IsUnspecified()):
			return fmt.Errorf("address %v: want a unicast IPv4 address", p)
		case seen[a]:
			return fmt.Errorf("address %v given twice", a)
		}
		seen[a] = true
	}
	v4, v6 := splitAddrs(c.Addrs)
	if c.Gateway.IsValid() {
		if !c.Gateway.Is4() {
			return fmt.Errorf("gateway %v is not IPv4 (an IPv6 gateway is Gateway6)", c.Gateway)
		}
		if len(v4) == 0 {
			return fmt.Errorf("IPv4 gateway %v without an IPv4 address", c.Gateway)
		}
	}
	if g := c.Gateway6; g.IsValid() {
		if !g.Is6() || g.Is4In6() || g.IsMulticast() || g.IsUnspecified() || g.Zone() != "" {
			return fmt.Errorf("IPv6 gateway %v: want a unicast IPv6 address", g)
		}
		if len(v6) == 0 {
			return fmt.Errorf("IPv6 gateway %v without an IPv6 address", g)
		}
	}
	if len(v6) > 0 && c.MTU != 0 && c.MTU < header.IPv6MinMTU {
		return fmt.Errorf("MTU %d is below IPv6's minimum of %d", c.MTU, header.IPv6MinMTU)
	}
	if len(v4) == 0 && (c.LoadBalancer != nil || c.Decap.IPIP || c.Decap.GUE) {
		return fmt.Errorf("the load balancer and the tunnels need an IPv4 address")
	}
	return nil
}

// splitAddrs splits the engine's addresses by family.
func splitAddrs(all []netip.Prefix) (v4, v6 []netip.Prefix) {
	for _, p := range all {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return v4, v6
}
