package engine

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// fakeResolver answers from a map; a name it lacks is not found, as
// net.Resolver says it.
type fakeResolver map[string][]netip.Addr

func (r fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if network != "ip4" {
		return nil, errors.New("fake resolver: network " + network)
	}
	if a, ok := r[host]; ok {
		return a, nil
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
		{"tcp6", "[2001:db8::1]:80", isIPv6, "ErrIPv6Unsupported and EAFNOSUPPORT"},
		{"udp6", "[2001:db8::1]:53", isIPv6, "ErrIPv6Unsupported and EAFNOSUPPORT"},
		{"tcp", "[2001:db8::1]:80", isIPv6, "ErrIPv6Unsupported and EAFNOSUPPORT"},
		{"udp", "v6only.test:53", isIPv6, "ErrIPv6Unsupported and EAFNOSUPPORT"},
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
	if _, err := e.ListenPacket("udp6", ":53"); !isIPv6(err) {
		t.Errorf("ListenPacket udp6: %v", err)
	}
	if _, err := e.Listen("tcp", "[::]:80"); !isIPv6(err) {
		t.Errorf("Listen tcp [::]:80: %v", err)
	}
	if _, err := e.ListenTCPAddrPort("udp4", netip.AddrPort{}, TCPListenConfig{}); !isUnknownNetwork(err) {
		t.Errorf("ListenTCPAddrPort udp4: %v", err)
	}
	if _, err := e.DialUDPAddrPort("tcp4", netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.1:53")); !isUnknownNetwork(err) {
		t.Errorf("DialUDPAddrPort tcp4: %v", err)
	}
	if _, err := e.DialTCPAddrPort("tcp", netip.AddrPort{}, netip.MustParseAddrPort("[2001:db8::1]:80")); !isIPv6(err) {
		t.Errorf("DialTCPAddrPort to IPv6: %v", err)
	}
}

func isUnknownNetwork(err error) bool {
	var u net.UnknownNetworkError
	return errors.As(err, &u)
}

func isIPv6(err error) bool {
	return errors.Is(err, ErrIPv6Unsupported) && errors.Is(err, syscall.EAFNOSUPPORT)
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
