package sock

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
)

func TestResolveAddr(t *testing.T) {
	for _, tc := range []struct {
		proto, network, address string
		want                    netip.AddrPort
	}{
		{"udp", "udp4", ":7", netip.MustParseAddrPort("0.0.0.0:7")},
		{"tcp", "tcp", "198.18.0.1:http", netip.MustParseAddrPort("198.18.0.1:80")},
		{"udp", "udp", "[::ffff:198.18.0.1]:53", netip.MustParseAddrPort("198.18.0.1:53")},
	} {
		got, err := ResolveAddr(tc.proto, tc.network, tc.address)
		if err != nil || got != tc.want {
			t.Errorf("%s %q: %v, %v; want %v", tc.network, tc.address, got, err, tc.want)
		}
	}
	var unknown net.UnknownNetworkError
	if _, err := ResolveAddr("udp", "udp6", ":7"); !errors.As(err, &unknown) {
		t.Errorf("udp6: %v, want an unknown network", err)
	}
	if _, err := ResolveAddr("tcp", "tcp", "[2001:2::1]:80"); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Errorf("IPv6: %v, want EAFNOSUPPORT", err)
	}
	if _, err := ResolveAddr("tcp", "tcp", "example.com:80"); err == nil {
		t.Error("a name was resolved")
	}
}

func TestState(t *testing.T) {
	var s State
	if !s.IsNew() || s.Running() || s.Closed() {
		t.Fatal("zero State is not new")
	}
	if !s.Start() || !s.Running() || s.Start() {
		t.Fatal("Start")
	}
	if !s.Close() || !s.Closed() || s.Close() {
		t.Fatal("Close")
	}
}

func TestOptionsTable(t *testing.T) {
	o := Options{Transparent: true, ReusePort: true}
	if tab := o.Table(); !tab.Freebind || !tab.ReusePort || tab.ReuseAddr {
		t.Errorf("%+v", tab)
	}
	if PMTUDiscProbe.String() != "probe" || PMTUDisc(9).String() != "PMTUDisc(9)" {
		t.Error("PMTUDisc names")
	}
}
