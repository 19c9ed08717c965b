package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpengine/engine/stack/inet4"
	"github.com/xdpengine/engine/stack/inet6"
)

// fakeResolver answers from a map; a name it lacks is not found, as
// net.Resolver says it.
type fakeResolver map[string][]netip.Addr

func (r fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if network != "ip" && network != "ip4" && network != "ip6" {
		return nil, errors.New("fake resolver: network " + network)
	}
	if a, ok := r[host]; ok {
		return a, nil // every family: the Dialer filters
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestDialErrors: the network argument and the address are checked as
// net.Dialer checks them, before the engine is touched (the Engine here
// is never started): unknown networks, IPv6, names without a Resolver,
// the Resolver's errors passed through.
func TestDialErrors(t *testing.T) {
	res := fakeResolver{
		"v6only.test": {netip.MustParseAddr("2001:db8::1")},
	}
	d := &Dialer{Engine: &Engine{}, Resolver: res}
	ctx := context.Background()
	for _, c := range []struct {
		network, address string
		check            func(error) bool
		what             string
	}{
		{"ip4", "192.0.2.1:80", isUnknownNetwork, "net.UnknownNetworkError"},
		{"unix", "/tmp/x", isUnknownNetwork, "net.UnknownNetworkError"},
		{"tcp6", "192.0.2.1:80", isNoSuitable, "*net.AddrError no suitable address"},
		{"tcp6", "[::ffff:192.0.2.1]:80", isNoSuitable, "*net.AddrError no suitable address (Go's net: tcp6 takes no v4-mapped address)"},
		{"udp4", "[2001:db8::1]:53", isNoSuitable, "*net.AddrError no suitable address"},
		{"udp6", "192.0.2.1:53", isNoSuitable, "*net.AddrError no suitable address"},
		{"udp6", "[::ffff:192.0.2.1]:53", isNoSuitable, "*net.AddrError no suitable address (Go's net: udp6 takes no v4-mapped address)"},
		{"udp4", "v6only.test:53", isNoSuitable, "*net.AddrError no suitable address"},
		{"tcp4", "[2001:db8::1]:80", isNoSuitable, "*net.AddrError no suitable address"},
		{"tcp4", "v6only.test:80", isNoSuitable, "*net.AddrError no suitable address"},
		{"tcp", "192.0.2.1", isAddrError, "missing port"},
		{"tcp", "192.0.2.1:nosuchservice", isDNSError, "unknown port (a *net.DNSError, as net.LookupPort says it)"},
		{"tcp", "missing.test:80", isNotFound, "the resolver's *net.DNSError"},
	} {
		_, err := d.DialContext(ctx, c.network, c.address)
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "dial" || oe.Net != c.network || !c.check(err) {
			t.Errorf("Dial(%q, %q) = %v, want a dial *net.OpError with %s", c.network, c.address, err, c.what)
		}
	}
	// No Resolver: a name is refused, with a DNS error.
	_, err := (&Dialer{Engine: &Engine{}}).Dial("tcp", "example.test:80")
	var de *net.DNSError
	if !errors.Is(err, ErrNoResolver) || !errors.As(err, &de) || de.Name != "example.test" {
		t.Errorf("a name without a Resolver: %v, want ErrNoResolver in a *net.DNSError", err)
	}
	// Listening checks the same way.
	e := &Engine{}
	if _, err := e.ListenPacket("udp6", "192.0.2.1:53"); !isNoSuitable(err) {
		t.Errorf("ListenPacket udp6 on an IPv4 address: %v", err)
	}
	if _, err := e.ListenPacket("udp4", "[2001:db8::1]:53"); !isNoSuitable(err) {
		t.Errorf("ListenPacket udp4 on an IPv6 address: %v", err)
	}
	if _, err := e.Listen("tcp6", "192.0.2.1:80"); !isNoSuitable(err) {
		t.Errorf("Listen tcp6 on an IPv4 address: %v", err)
	}
	if _, err := e.Listen("tcp4", "[2001:db8::1]:80"); !isNoSuitable(err) {
		t.Errorf("Listen tcp4 on an IPv6 address: %v", err)
	}
	if _, err := e.ListenTCPAddrPort("udp4", netip.AddrPort{}, TCPListenConfig{}); !isUnknownNetwork(err) {
		t.Errorf("ListenTCPAddrPort udp4: %v", err)
	}
	if _, err := e.DialUDPAddrPort("tcp4", netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.1:53")); !isUnknownNetwork(err) {
		t.Errorf("DialUDPAddrPort tcp4: %v", err)
	}
	if _, err := e.DialTCPAddrPort("tcp4", netip.AddrPort{}, netip.MustParseAddrPort("[2001:db8::1]:80")); !isNoSuitable(err) {
		t.Errorf("DialTCPAddrPort tcp4 to IPv6: %v", err)
	}
}

// TestCheckAddrUDP: Go's net rules for UDP addresses: "udp4" IPv4 (a
// v4-mapped address unmapped), "udp6" native IPv6 only, "udp" either; the
// wildcard is [::] (dual-stack) for "udp" when the engine has IPv6.
func TestCheckAddrUDP(t *testing.T) {
	for _, c := range []struct {
		network, addr string
		dual          bool
		want          string // "" for an error
	}{
		{"udp", "", false, "0.0.0.0:7"},
		{"udp", "", true, "[::]:7"},
		{"udp4", "", true, "0.0.0.0:7"},
		{"udp6", "", false, "[::]:7"},
		{"udp", "192.0.2.1", true, "192.0.2.1:7"},
		{"udp", "::ffff:192.0.2.1", true, "192.0.2.1:7"},
		{"udp", "2001:db8::1", false, "[2001:db8::1]:7"},
		{"udp", "::", false, "[::]:7"},
		{"udp4", "::ffff:192.0.2.1", true, "192.0.2.1:7"},
		{"udp4", "2001:db8::1", true, ""},
		{"udp6", "192.0.2.1", true, ""},
		{"udp6", "::ffff:192.0.2.1", true, ""},
		{"udp6", "fe80::1%eth0", true, "[fe80::1]:7"},
	} {
		var a netip.Addr
		if c.addr != "" {
			a = netip.MustParseAddr(c.addr)
		}
		got, err := checkSockAddr(c.network, netip.AddrPortFrom(a, 7), c.dual)
		if c.want == "" && err == nil || c.want != "" && (err != nil || got.String() != c.want) {
			t.Errorf("checkSockAddr(%s, %s, dual %v) = %v, %v; want %q", c.network, c.addr, c.dual, got, err, c.want)
		}
	}
}

// TestResolveFamilies: a name with A and AAAA records: "udp" tries both,
// the family the engine has addresses of first (IPv4 on an engine with
// none of IPv6; IPv6 on an IPv6-only engine); "udp6" and "udp4" one
// family; TCP likewise.
func TestResolveFamilies(t *testing.T) {
	res := fakeResolver{"both.test": {netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.1")}}
	v4only := &Dialer{Engine: &Engine{}, Resolver: res}
	v6only := &Dialer{Engine: &Engine{host: &inet4.Host{}, host6: &inet6.Host{}}, Resolver: res}
	for _, c := range []struct {
		d                    *Dialer
		proto, network, want string
	}{
		{v4only, "udp", "udp", "[192.0.2.1:53 [2001:db8::1]:53]"},
		{v6only, "udp", "udp", "[[2001:db8::1]:53 192.0.2.1:53]"},
		{v4only, "udp", "udp6", "[[2001:db8::1]:53]"},
		{v6only, "udp", "udp4", "[192.0.2.1:53]"},
		{v4only, "tcp", "tcp", "[192.0.2.1:53 [2001:db8::1]:53]"},
		{v6only, "tcp", "tcp6", "[[2001:db8::1]:53]"},
		{v4only, "tcp", "tcp4", "[192.0.2.1:53]"},
	} {
		got, err := c.d.resolve(context.Background(), c.proto, c.network, "both.test:53", nil)
		if err != nil || fmt.Sprint(got) != c.want {
			t.Errorf("resolve %s: %v, %v; want %s", c.network, got, err, c.want)
		}
	}
}

func isUnknownNetwork(err error) bool {
	var u net.UnknownNetworkError
	return errors.As(err, &u)
}

func isAddrError(err error) bool {
	var ae *net.AddrError
	return errors.As(err, &ae)
}

func isNoSuitable(err error) bool {
	var ae *net.AddrError
	return errors.As(err, &ae) && ae.Err == "no suitable address found"
}

func isDNSError(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de)
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// TestPartialDeadline: net's rule for sharing a dial's time among the
// addresses left.
func TestPartialDeadline(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, c := range []struct {
		left      time.Duration
		remaining int
		want      time.Duration
	}{
		{10 * time.Second, 2, 5 * time.Second},
		{10 * time.Second, 10, 2 * time.Second}, // at least 2 s
		{time.Second, 3, time.Second},           // never past the deadline
		{9 * time.Second, 1, 9 * time.Second},
	} {
		if got := partialDeadline(now, now.Add(c.left), c.remaining).Sub(now); got != c.want {
			t.Errorf("partialDeadline(%v left, %d) = %v, want %v", c.left, c.remaining, got, c.want)
		}
	}
}
