package flowtable

import (
	"net/netip"
	"testing"
)

func TestKey(t *testing.T) {
	src := netip.MustParseAddrPort("198.18.0.2:40000")
	dst := netip.MustParseAddrPort("198.18.0.1:80")
	k := KeyFrom(src, dst, 6)
	if k.Family != FamilyIPv4 {
		t.Errorf("family: got %d, want %d", k.Family, FamilyIPv4)
	}
	if got := k.SrcAddrPort(); got != src {
		t.Errorf("src: got %v, want %v", got, src)
	}
	if got := k.DstAddrPort(); got != dst {
		t.Errorf("dst: got %v, want %v", got, dst)
	}
	if raw := KeyFrom4(src.Addr().As4(), dst.Addr().As4(), 40000, 80, 6); raw != k {
		t.Errorf("KeyFrom4 = %v, KeyFrom = %v", raw, k)
	}
	r := k.Reverse()
	if r.SrcAddrPort() != dst || r.DstAddrPort() != src || r.Reverse() != k {
		t.Errorf("Reverse: got %v", r)
	}
	v6 := KeyFrom(netip.MustParseAddrPort("[2001:db8::1]:1"), netip.MustParseAddrPort("[2001:db8::2]:2"), 17)
	if v6.Family != FamilyIPv6 || v6.SrcAddrPort().String() != "[2001:db8::1]:1" {
		t.Errorf("IPv6 key: %v", v6)
	}
	if got, want := k.String(), "proto 6 198.18.0.2:40000 -> 198.18.0.1:80"; got != want {
		t.Errorf("String: got %q, want %q", got, want)
	}
}
