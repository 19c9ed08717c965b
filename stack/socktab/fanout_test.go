package socktab

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/xdpengine/engine/flowtable"
)

// fanIDs returns the endpoints (names) of LookupAll's result for a
// datagram from src to dst, sorted, and whether it fanned out.
func fanIDs(tab *Table, src, dst string) ([]string, bool) {
	k := key4(src, dst, UDP)
	socks, ok := tab.LookupAll(&k, nil)
	var ids []string
	for _, s := range socks {
		ids = append(ids, s.Endpoint().(string))
	}
	slices.Sort(ids)
	return ids, ok
}

func TestLookupAllSelectsLikeLinux(t *testing.T) {
	tab, _ := newTable(t, Config{})
	r := Options{ReuseAddr: true}
	open := func(name string, p Proto, f Family, o Options, addr string) *Socket {
		t.Helper()
		s := mustOpen(t, tab, p, f, o, name)
		if err := tab.Bind(s, ap(addr)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return s
	}
	open("wild", UDP, IPv4, r, "0.0.0.0:5000")
	open("unicast", UDP, IPv4, r, "198.18.0.1:5000")
	open("lbcast", UDP, IPv4, r, "255.255.255.255:5000")
	open("dbcast", UDP, IPv4, r, "198.18.0.255:5000")
	open("group", UDP, IPv4, r, "239.1.2.3:5000")
	open("dual", UDP, IPv6, r, "[::]:5000")
	open("v6only", UDP, IPv6, Options{ReuseAddr: true, V6Only: true}, "[::]:5000")
	open("m0", UDP, IPv6, r, "[::ffff:0.0.0.0]:5000")
	open("mdbcast", UDP, IPv6, r, "[::ffff:198.18.0.255]:5000")
	open("native6", UDP, IPv6, Options{ReuseAddr: true, Freebind: true}, "[2001:db8::1]:5000")
	open("rp1", UDP, IPv4, Options{ReuseAddr: true, ReusePort: true}, "0.0.0.0:5000")
	open("rp2", UDP, IPv4, Options{ReuseAddr: true, ReusePort: true}, "0.0.0.0:5000")
	open("other port", UDP, IPv4, r, "0.0.0.0:5001")
	ln := open("tcp", TCP, IPv4, Options{}, "0.0.0.0:5000")
	if err := tab.Listen(ln); err != nil {
		t.Fatal(err)
	}
	cw := open("connected wild", UDP, IPv4, r, "0.0.0.0:5000")
	cb := open("connected lbcast", UDP, IPv4, r, "255.255.255.255:5000")
	for _, c := range []struct {
		s    *Socket
		peer string
	}{{cw, "198.18.0.2:9"}, {cb, "198.18.0.2:9"}} {
		if _, err := tab.Connect(c.s, 0, ap(c.peer)); err != nil {
			t.Fatal(err)
		}
	}
	all := []string{"dual", "m0", "rp1", "rp2", "wild"}
	for _, c := range []struct {
		src, dst string
		want     []string
		fan      bool
	}{
		{"198.18.0.2:9", "255.255.255.255:5000", append(slices.Clone(all), "connected lbcast", "lbcast"), true},
		{"198.18.0.3:9", "255.255.255.255:5000", append(slices.Clone(all), "lbcast"), true},
		{"198.18.0.2:8", "255.255.255.255:5000", append(slices.Clone(all), "lbcast"), true},
		{"198.18.0.2:9", "198.18.0.255:5000", append(slices.Clone(all), "dbcast", "mdbcast"), true},
		{"198.18.0.2:9", "239.1.2.3:5000", append(slices.Clone(all), "group"), true},
		{"198.18.0.2:9", "224.0.0.251:5000", all, true},
		{"198.18.0.2:9", "239.1.2.3:5002", nil, true},
		{"198.18.0.2:9", "198.18.0.0:5000", nil, false}, // the network address is unicast
		{"198.18.0.2:9", "198.18.0.1:5000", nil, false},
	} {
		got, ok := fanIDs(tab, c.src, c.dst)
		want := slices.Sorted(slices.Values(c.want))
		if ok != c.fan || !slices.Equal(got, want) {
			t.Errorf("%s -> %s: %v (fan-out %v), want %v (%v)", c.src, c.dst, got, ok, want, c.fan)
		}
	}
	if k := key4("198.18.0.2:9", "255.255.255.255:5000", TCP); tab.IsFanout(&k) {
		t.Error("TCP to a broadcast address fans out")
	}
	if got := tab.MaxFanout(); got != 10 {
		t.Errorf("MaxFanout = %d, want 10 (the UDP sockets on port 5000 that may take a broadcast)", got)
	}

	// Closing and connecting change the lists.
	if err := tab.Close(cb); err != nil {
		t.Fatal(err)
	}
	w2 := mustOpen(t, tab, UDP, IPv4, r, "late")
	if err := tab.Bind(w2, ap("0.0.0.0:5000")); err != nil {
		t.Fatal(err)
	}
	if got, _ := fanIDs(tab, "198.18.0.2:9", "255.255.255.255:5000"); !slices.Contains(got, "late") || slices.Contains(got, "connected lbcast") {
		t.Errorf("after a close and a bind: %v", got)
	}
	if _, err := tab.Connect(w2, 0, ap("198.18.0.2:10")); err != nil {
		t.Fatal(err)
	}
	if got, _ := fanIDs(tab, "198.18.0.2:9", "255.255.255.255:5000"); slices.Contains(got, "late") {
		t.Errorf("a socket connected from a wildcard bind still takes broadcasts: %v", got)
	}
}

// TestFanoutPrefixes: only IPv4 prefixes shorter than /31 have a directed
// broadcast address, and two addresses in one subnet share it.
func TestFanoutPrefixes(t *testing.T) {
	tab, _ := newTable(t, Config{Addrs: []netip.Prefix{
		netip.MustParsePrefix("198.18.0.1/24"), netip.MustParsePrefix("198.18.0.10/24"),
		netip.MustParsePrefix("198.18.1.0/31"), netip.MustParsePrefix("198.18.2.1/32"),
		netip.MustParsePrefix("10.1.0.1/16"), netip.MustParsePrefix("2001:db8::1/64"),
	}})
	for dst, want := range map[string]bool{
		"198.18.0.255": true, "10.1.255.255": true, "255.255.255.255": true, "224.0.0.1": true, "239.255.255.255": true,
		"198.18.1.1": false, "198.18.2.1": false, "10.1.0.255": false, "198.18.0.0": false, "240.0.0.1": false,
	} {
		k := key4("198.18.0.2:9", dst+":53", UDP)
		if got := tab.IsFanout(&k); got != want {
			t.Errorf("IsFanout(%s) = %v, want %v", dst, got, want)
		}
	}
	if len(tab.bcast4) != 2 {
		t.Errorf("directed broadcasts %v, want two", tab.bcast4)
	}
	k6 := flowtable.KeyFrom(ap("[2001:db8::2]:9"), ap("[2001:db8::1]:53"), uint8(UDP))
	if _, ok := tab.LookupAll(&k6, nil); ok {
		t.Error("IPv6 unicast fans out")
	}
}

func TestLookupAllDoesNotAllocate(t *testing.T) {
	tab, _ := newTable(t, Config{})
	for i := range 8 {
		s := mustOpen(t, tab, UDP, IPv4, Options{ReusePort: true}, fmt.Sprint(i))
		if err := tab.Bind(s, ap("0.0.0.0:5000")); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]*Socket, 0, tab.MaxFanout())
	k := key4("198.18.0.2:9", "255.255.255.255:5000", UDP)
	if n := testing.AllocsPerRun(100, func() { out, _ = tab.LookupAll(&k, out[:0]) }); n != 0 || len(out) != 8 {
		t.Fatalf("%v allocations, %d sockets", n, len(out))
	}
}
