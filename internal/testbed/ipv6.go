package testbed

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// setAddrs6 gives the bed its IPv6 /64: 2001:2:0:N::/64 where N is the
// index of its IPv4 /24 in 198.18.0.0/15, so beds that differ in one
// differ in the other (RFC 5180's benchmarking range, 2001:2::/48).
func (b *Bed) setAddrs6() {
	v4 := b.Prefix.Addr().As4()
	n := (uint16(v4[1])-18)<<8 | uint16(v4[2])
	a := [16]byte{0x20, 0x01, 0x00, 0x02, 0, 0, byte(n >> 8), byte(n)}
	b.Prefix6 = netip.PrefixFrom(netip.AddrFrom16(a), 64)
	a[15] = 1
	b.EngineAddr6 = netip.AddrFrom16(a)
	a[15] = 2
	b.PeerAddr6 = netip.AddrFrom16(a)
}

// addPeerAddr6 gives the peer's link PeerAddr6/64 without duplicate
// address detection (usable at once). In the peer namespace.
func (b *Bed) addPeerAddr6(link netlink.Link) error {
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(b.PeerAddr6.AsSlice()), Mask: net.CIDRMask(64, 128)},
		Flags: unix.IFA_F_NODAD}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("testbed: address %s on %s: %w", b.PeerAddr6, b.PeerIf, err)
	}
	return nil
}
