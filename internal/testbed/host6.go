package testbed

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AddHostAddr6 is Config.HostKernelAddr for IPv6: it turns IPv6 on on
// HostIf and gives the caller's kernel the address ::3 of the bed's /64
// (Prefix6), without duplicate address detection (usable at once), for
// comparisons with the kernel's own IPv6 stack beside an engine that owns
// EngineAddr6 (::1), which is never given to a kernel. It returns ::3.
// The bed needs Config.IPv6.
//
// Only HostIf's own settings change (net.ipv6.conf.HostIf.*; the link
// goes with the bed): no DAD, no router solicitations and no address
// autoconfiguration from advertisements, so that the link carries nothing
// but the kernel's neighbor discovery and its MLD reports besides the
// test's traffic. The link-local address stays the kernel's EUI-64 one,
// which an engine on the link takes for the host's (stack/inet6). Calling
// it again keeps the address.
func (b *Bed) AddHostAddr6() (netip.Addr, error) {
	if !b.Prefix6.IsValid() {
		return netip.Addr{}, errors.New("testbed: AddHostAddr6 needs a bed with Config.IPv6")
	}
	if b.closed.Load() {
		return netip.Addr{}, errors.New("testbed: bed is closed")
	}
	a := b.Prefix6.Addr().As16()
	a[15] = 3
	host := netip.AddrFrom16(a)
	dir := "/proc/sys/net/ipv6/conf/" + b.HostIf + "/"
	if _, err := os.Stat(dir); err != nil {
		return netip.Addr{}, fmt.Errorf("testbed: IPv6 on %s: %w", b.HostIf, err)
	}
	// Set before IPv6 comes up, so that the link-local address is made
	// without DAD and no solicitation leaves.
	for _, s := range []struct{ name, value string }{
		{"accept_dad", "0"},
		{"dad_transmits", "0"},
		{"accept_ra", "0"},
		{"autoconf", "0"},
		{"router_solicitations", "0"},
		{"disable_ipv6", "0"},
	} {
		if err := os.WriteFile(dir+s.name, []byte(s.value), 0o644); err != nil {
			return netip.Addr{}, fmt.Errorf("testbed: IPv6 on %s: %w", b.HostIf, err)
		}
	}
	link, err := netlink.LinkByName(b.HostIf)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("testbed: %s: %w", b.HostIf, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(host.AsSlice()), Mask: net.CIDRMask(b.Prefix6.Bits(), 128)},
		Flags: unix.IFA_F_NODAD}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return netip.Addr{}, fmt.Errorf("testbed: address %s on %s: %w", host, b.HostIf, err)
	}
	return host, nil
}
