package udp

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/xdpengine/engine/stack/socktab"
)

// TestDestination: where a datagram goes from each kind of socket, as
// Linux's udp_sendmsg and udpv6_sendmsg decide.
func TestDestination(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.1")
	mapped := netip.MustParseAddr("::ffff:192.0.2.1")
	v6 := netip.MustParseAddr("2001:db8::1")
	dual := &Conn{fam: socktab.IPv6, laddr: netip.MustParseAddrPort("[::]:7")}
	only := &Conn{fam: socktab.IPv6, v6only: true, laddr: netip.MustParseAddrPort("[::]:7")}
	bound6 := &Conn{fam: socktab.IPv6, v6only: true, laddr: netip.MustParseAddrPort("[2001:db8::2]:7")} // as bind sets it
	ipv4 := &Conn{fam: socktab.IPv4, laddr: netip.MustParseAddrPort("0.0.0.0:7")}
	for _, c := range []struct {
		name  string
		c     *Conn
		to    netip.Addr
		want  netip.Addr
		over6 bool
		err   error
	}{
		{"dual to IPv6", dual, v6, v6, true, nil},
		{"dual to v4-mapped", dual, mapped, v4, false, nil},
		{"dual to IPv4", dual, v4, v4, false, nil},
		{"v6only to v4-mapped", only, mapped, mapped, false, syscall.ENETUNREACH},
		{"bound to IPv6, to IPv4", bound6, v4, v4, false, syscall.ENETUNREACH},
		{"IPv4 to v4-mapped", ipv4, mapped, v4, false, nil},
		{"IPv4 to IPv6", ipv4, v6, v6, false, syscall.EAFNOSUPPORT},
		{"IPv6 to nothing", dual, netip.Addr{}, netip.Addr{}, true, syscall.EINVAL},
	} {
		got, over6, err := c.c.destination(c.to)
		if !errors.Is(err, c.err) || err == nil && (got != c.want || over6 != c.over6) {
			t.Errorf("%s: %v over IPv6 %v, %v; want %v, %v, %v", c.name, got, over6, err, c.want, c.over6, c.err)
		}
	}
	if a := dual.mapped(v4); a != mapped {
		t.Errorf("a dual-stack socket names %v as %v, want %v", v4, a, mapped)
	}
	if a := ipv4.mapped(v4); a != v4 {
		t.Errorf("an IPv4 socket names %v as %v", v4, a)
	}
	if n := testing.AllocsPerRun(100, func() { _ = dual.mapped(v4) }); n != 0 {
		t.Errorf("mapped allocates %v", n)
	}
}

// TestIPv6Options: IPV6_UNICAST_HOPS, IPV6_TCLASS and IPV6_MULTICAST_HOPS
// take Linux's ranges and defaults.
func TestIPv6Options(t *testing.T) {
	c := &Conn{fam: socktab.IPv6}
	if c.HopLimit() != 64 || c.MulticastHopLimit() != 1 || c.TrafficClass() != 0 {
		t.Errorf("defaults: hop limit %d, multicast %d, traffic class %d", c.HopLimit(), c.MulticastHopLimit(), c.TrafficClass())
	}
	for _, bad := range []int{0, 256, -2} {
		if err := c.SetHopLimit(bad); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("SetHopLimit(%d): %v, want EINVAL", bad, err)
		}
	}
	if c.SetHopLimit(9) != nil || c.HopLimit() != 9 || c.SetHopLimit(-1) != nil || c.HopLimit() != 64 {
		t.Error("SetHopLimit 9 then -1")
	}
	if c.SetTrafficClass(256) == nil || c.SetTrafficClass(0xb8) != nil || c.TrafficClass() != 0xb8 ||
		c.SetTrafficClass(-1) != nil || c.TrafficClass() != 0 {
		t.Error("SetTrafficClass")
	}
	if c.SetMulticastHopLimit(0) != nil || c.MulticastHopLimit() != 0 || c.SetMulticastHopLimit(-1) != nil ||
		c.MulticastHopLimit() != 1 || c.SetMulticastHopLimit(256) == nil {
		t.Error("SetMulticastHopLimit")
	}
	if !c.IPv6() || c.V6Only() {
		t.Error("IPv6, V6Only")
	}
}
