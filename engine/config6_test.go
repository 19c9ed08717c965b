package engine

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/xdpengine/engine/lb"
)

func TestAddrsValidate(t *testing.T) {
	pfx := func(ss ...string) (out []netip.Prefix) {
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	for _, tc := range []struct {
		addrs   []netip.Prefix
		gw, gw6 string
		lb      bool
		want    string
	}{
		{addrs: pfx("198.18.0.1/24", "2001:db8::1/64")},
		{addrs: pfx("2001:db8::1/64"), gw6: "fe80::1"},
		{addrs: pfx("2001:db8::1/64"), gw6: "2001:db8::ff"},
		{addrs: pfx("198.18.0.1/24", "2001:db8::1/64"), gw: "198.18.0.254", gw6: "2001:db8::ff"},
		{addrs: nil, want: "no address"},
		{addrs: pfx("fe80::1/64"), want: "link-local address is the host kernel's"},
		{addrs: pfx("ff02::1/64"), want: "unicast IPv6"},
		{addrs: pfx("::ffff:198.18.0.1/120"), want: "IPv4 or IPv6 address"},
		{addrs: pfx("2001:db8::1/64", "2001:db8::1/64"), want: "given twice"},
		{addrs: pfx("2001:db8::1/64"), gw: "198.18.0.254", want: "without an IPv4 address"},
		{addrs: pfx("198.18.0.1/24"), gw: "2001:db8::ff", want: "is not IPv4"},
		{addrs: pfx("198.18.0.1/24"), gw6: "2001:db8::ff", want: "without an IPv6 address"},
		{addrs: pfx("2001:db8::1/64"), gw6: "198.18.0.254", want: "want a unicast IPv6 address"},
		{addrs: pfx("2001:db8::1/64"), lb: true, want: "need an IPv4 address"},
	} {
		c := Config{Interface: "x", Addrs: tc.addrs}
		if tc.gw != "" {
			c.Gateway = netip.MustParseAddr(tc.gw)
		}
		if tc.gw6 != "" {
			c.Gateway6 = netip.MustParseAddr(tc.gw6)
		}
		if tc.lb {
			c.LoadBalancer = &lb.Config{}
		}
		c.setDefaults()
		err := c.validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v gw %q gw6 %q: %v", tc.addrs, tc.gw, tc.gw6, err)
		case tc.want != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v gw %q gw6 %q: %v, want ErrConfig saying %q", tc.addrs, tc.gw, tc.gw6, err, tc.want)
		}
	}
}
