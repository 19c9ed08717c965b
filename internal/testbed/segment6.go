package testbed

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AddSegmentIPv6 turns IPv6 on on the segment of AddSegmentHosts (whose
// hosts, and bridge, have it off): the peer's PeerAddr6 moves from PeerIf,
// now a bridge port, to SegmentBridge, and each of hosts gets the address
// of Prefix6 whose last byte is its IPv4 address's (.11 → ::b), all
// without duplicate address detection, router solicitations or address
// autoconfiguration, so that they are usable at once and the link carries
// little besides the test's traffic, Neighbor Discovery and MLD. It
// returns the hosts' IPv6 addresses, in order. The bed needs Config.IPv6;
// calling it again for the same hosts keeps their addresses.
func (b *Bed) AddSegmentIPv6(hosts []*SegmentHost) ([]netip.Addr, error) {
	if !b.Prefix6.IsValid() {
		return nil, errors.New("testbed: AddSegmentIPv6 needs a bed with Config.IPv6")
	}
	b.seg.mu.Lock()
	bridge := b.seg.bridgeIndex
	b.seg.mu.Unlock()
	if bridge == 0 {
		return nil, errors.New("testbed: AddSegmentIPv6 needs segment hosts (AddSegmentHosts)")
	}
	err := b.Do(func() error {
		if err := enableIPv6(SegmentBridge); err != nil {
			return err
		}
		if peer, err := netlink.LinkByName(b.PeerIf); err == nil {
			err := netlink.AddrDel(peer, addr6(b.PeerAddr6, b.Prefix6.Bits()))
			if err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) && !errors.Is(err, syscall.ENOENT) {
				return fmt.Errorf("remove %s from %s: %w", b.PeerAddr6, b.PeerIf, err)
			}
		}
		br, err := netlink.LinkByIndex(bridge)
		if err != nil {
			return err
		}
		if err := netlink.AddrReplace(br, addr6(b.PeerAddr6, b.Prefix6.Bits())); err != nil {
			return fmt.Errorf("address %s on %s: %w", b.PeerAddr6, SegmentBridge, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("testbed: IPv6 on the segment's bridge: %w", err)
	}
	out := make([]netip.Addr, 0, len(hosts))
	for _, h := range hosts {
		a := b.Prefix6.Addr().As16()
		a[15] = h.Addr.As4()[3]
		a6 := netip.AddrFrom16(a)
		err := h.Do(func() error {
			if err := enableIPv6(h.Ifname); err != nil {
				return err
			}
			link, err := netlink.LinkByName(h.Ifname)
			if err != nil {
				return err
			}
			return netlink.AddrReplace(link, addr6(a6, b.Prefix6.Bits()))
		})
		if err != nil {
			return nil, fmt.Errorf("testbed: IPv6 address %s on segment host %s: %w", a6, h.Addr, err)
		}
		out = append(out, a6)
	}
	return out, nil
}

// enableIPv6 turns IPv6 on on ifname (in the calling thread's namespace)
// without DAD, router solicitations or autoconfiguration.
func enableIPv6(ifname string) error {
	dir := "/proc/sys/net/ipv6/conf/" + ifname + "/"
	for _, s := range []struct{ name, value string }{
		{"accept_dad", "0"},
		{"dad_transmits", "0"},
		{"accept_ra", "0"},
		{"autoconf", "0"},
		{"router_solicitations", "0"},
		{"disable_ipv6", "0"},
	} {
		if err := os.WriteFile(dir+s.name, []byte(s.value), 0o644); err != nil {
			return fmt.Errorf("IPv6 on %s: %w", ifname, err)
		}
	}
	return nil
}

func addr6(a netip.Addr, bits int) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(bits, 128)}, Flags: unix.IFA_F_NODAD}
}
