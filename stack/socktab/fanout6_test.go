package socktab

import (
	"net/netip"
	"slices"
	"testing"
)

// TestLookupAll6SelectsLikeLinux: a UDP datagram to an IPv6 group goes to
// every IPv6 socket on its port that __udp_v6_is_mcast_sock accepts:
// bound to :: (dual-stack or IPV6_V6ONLY) or to the group, connected only
// to the sender, every SO_REUSEPORT member; not IPv4 sockets, not sockets
// on a unicast or v4-mapped address, not one connected from a wildcard
// bind.
func TestLookupAll6SelectsLikeLinux(t *testing.T) {
	tab, _ := newTable(t, Config{Addrs: []netip.Prefix{netip.PrefixFrom(addrA, 24), netip.MustParsePrefix("2001:db8::1/64")}})
	r := Options{ReuseAddr: true}
	open := func(name string, f Family, o Options, addr string) *Socket {
		t.Helper()
		s := mustOpen(t, tab, UDP, f, o, name)
		if err := tab.Bind(s, ap(addr)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return s
	}
	open("dual", IPv6, r, "[::]:5000")
	open("v6only", IPv6, Options{ReuseAddr: true, V6Only: true}, "[::]:5000")
	open("group", IPv6, r, "[ff0e::1:2]:5000")
	open("other group", IPv6, r, "[ff0e::1:3]:5000")
	open("unicast", IPv6, Options{ReuseAddr: true, Freebind: true}, "[2001:db8::1]:5000")
	open("m0", IPv6, r, "[::ffff:0.0.0.0]:5000")
	open("ipv4", IPv4, r, "0.0.0.0:5000")
	open("rp1", IPv6, Options{ReuseAddr: true, ReusePort: true}, "[::]:5000")
	open("rp2", IPv6, Options{ReuseAddr: true, ReusePort: true}, "[::]:5000")
	open("other port", IPv6, r, "[::]:5001")
	cw := open("connected wild", IPv6, r, "[::]:5000")
	cg := open("connected group", IPv6, r, "[ff0e::1:2]:5000")
	for _, s := range []*Socket{cw, cg} {
		if _, err := tab.Connect(s, 0, ap("[2001:db8::2]:9")); err != nil {
			t.Fatal(err)
		}
	}
	all := []string{"dual", "rp1", "rp2", "v6only"}
	for _, c := range []struct {
		src, dst string
		want     []string
	}{
		{"[2001:db8::2]:9", "[ff0e::1:2]:5000", append(slices.Clone(all), "connected group", "group")},
		{"[2001:db8::2]:8", "[ff0e::1:2]:5000", append(slices.Clone(all), "group")},
		{"[2001:db8::3]:9", "[ff0e::1:2]:5000", append(slices.Clone(all), "group")},
		{"[fe80::2]:9", "[ff02::1:2]:5000", all},
		{"[2001:db8::2]:9", "[ff0e::1:2]:5002", nil},
	} {
		got, ok := fanIDs(tab, c.src, c.dst)
		if want := slices.Sorted(slices.Values(c.want)); !ok || !slices.Equal(got, want) {
			t.Errorf("%s -> %s: %v (fan-out %v), want %v", c.src, c.dst, got, ok, want)
		}
	}
	if k := key4("[2001:db8::2]:9", "[2001:db8::1]:5000", UDP); tab.IsFanout(&k) {
		t.Error("IPv6 unicast fans out")
	}
	if k := key4("[2001:db8::2]:9", "[ff0e::1:2]:5000", TCP); tab.IsFanout(&k) {
		t.Error("TCP to an IPv6 group fans out")
	}
	if got := tab.MaxFanout(); got != 7 {
		t.Errorf("MaxFanout = %d, want 7 (the IPv6 sockets on port 5000 bound to :: or a group)", got)
	}

	// Closing a member drops it.
	if err := tab.Close(cg); err != nil {
		t.Fatal(err)
	}
	if got, _ := fanIDs(tab, "[2001:db8::2]:9", "[ff0e::1:2]:5000"); slices.Contains(got, "connected group") {
		t.Errorf("a closed socket still takes the group: %v", got)
	}
}
