package engine

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestNeighborsValidate(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	at := func(a string, m net.HardwareAddr) Neighbor { return Neighbor{Addr: netip.MustParseAddr(a), MAC: m} }
	for _, tc := range []struct {
		n    []Neighbor
		want string
	}{
		{[]Neighbor{at("198.18.0.2", mac)}, ""},
		{[]Neighbor{at("198.18.0.2", mac), at("198.18.0.3", mac)}, ""}, // two addresses, one MAC: allowed
		{[]Neighbor{at("198.19.0.2", mac)}, "not on the link"},
		{[]Neighbor{at("198.18.0.1", mac)}, "engine's own address"},
		{[]Neighbor{at("::1", mac)}, "not on the link"},
		{[]Neighbor{at("fe80::2", mac)}, "not on the link"}, // link-local, but the engine has no IPv6 address
		{[]Neighbor{at("ff02::1", mac)}, "unicast"},
		{[]Neighbor{at("198.18.0.2", net.HardwareAddr{1, 0, 0, 0, 0, 1})}, "unicast"},
		{[]Neighbor{at("198.18.0.2", make(net.HardwareAddr, 6))}, "unicast"},
		{[]Neighbor{at("198.18.0.2", mac[:5])}, "unicast"},
		{[]Neighbor{at("198.18.0.2", mac), at("198.18.0.2", mac)}, "twice"},
		{make([]Neighbor, maxNeighbors+1), "at most"},
	} {
		c := Config{Interface: "x", Addrs: testAddrs, Neighbors: tc.n}
		c.setDefaults()
		err := c.validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.n[0], err)
		case tc.want != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%d neighbors, first %v: %v, want ErrConfig saying %q", len(tc.n), tc.n[0], err, tc.want)
		}
	}
}

var testAddrs = []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}
