package socktab

import (
	"bytes"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/portalloc"
)

var (
	addrA = netip.MustParseAddr("198.18.0.1")
	addrB = netip.MustParseAddr("198.18.0.10")
	peer  = netip.MustParseAddrPort("198.18.0.2:443")
)

func newTable(t testing.TB, cfg Config) (*Table, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	if cfg.Addrs == nil {
		cfg.Addrs = []netip.Prefix{netip.PrefixFrom(addrA, 24), netip.PrefixFrom(addrB, 24)}
	}
	cfg.BindService = true
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	if cfg.Ports.NewRand == nil {
		cfg.Ports.NewRand = func(i int) rand.Source { return rand.NewPCG(1, uint64(i+2)) }
	}
	tab, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tab, &logs
}

func mustOpen(t testing.TB, tab *Table, p Proto, f Family, o Options, ep any) *Socket {
	t.Helper()
	s, err := tab.Open(p, f, o, ep)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func key4(src, dst string, proto Proto) flowtable.Key {
	return flowtable.KeyFrom(ap(src), ap(dst), uint8(proto))
}

func TestWildcardWarningAndDeny(t *testing.T) {
	tab, logs := newTable(t, Config{})
	s := mustOpen(t, tab, TCP, IPv4, Options{}, nil)
	if err := tab.Bind(s, ap("0.0.0.0:8080")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "wildcard bind") || !strings.Contains(logs.String(), "every address") {
		t.Errorf("no warning naming the exposure; log: %q", logs.String())
	}
	tab2, _ := newTable(t, Config{DenyWildcard: true})
	s2 := mustOpen(t, tab2, UDP, IPv6, Options{}, nil)
	err := tab2.Bind(s2, ap("[::]:53"))
	if !errors.Is(err, ErrWildcardDenied) || !errors.Is(err, syscall.EACCES) {
		t.Fatalf("denied wildcard: %v", err)
	}
	if err := tab2.Bind(s2, ap("[::ffff:198.18.0.1]:53")); err != nil {
		t.Fatalf("specific bind after a refused wildcard: %v", err)
	}
}

func TestErrorsSayWhatToDo(t *testing.T) {
	tab, _ := newTable(t, Config{})
	a := mustOpen(t, tab, TCP, IPv4, Options{}, nil)
	b := mustOpen(t, tab, TCP, IPv4, Options{}, nil)
	if err := tab.Bind(a, ap("198.18.0.1:80")); err != nil {
		t.Fatal(err)
	}
	err := tab.Bind(b, ap("198.18.0.1:80"))
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "SO_REUSEADDR") {
		t.Fatalf("err %v", err)
	}
	if err := tab.Bind(a, ap("198.18.0.1:81")); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("second bind: %v", err)
	}
	if _, err := tab.Open(Proto(1), IPv4, Options{}, nil); !errors.Is(err, syscall.EPROTONOSUPPORT) {
		t.Fatalf("bad proto: %v", err)
	}
}

func TestReuseportNeedsSameOwner(t *testing.T) {
	tab, _ := newTable(t, Config{})
	a := mustOpen(t, tab, TCP, IPv4, Options{ReusePort: true, Owner: 1000}, nil)
	b := mustOpen(t, tab, TCP, IPv4, Options{ReusePort: true, Owner: 1001}, nil)
	c := mustOpen(t, tab, TCP, IPv4, Options{ReusePort: true, Owner: 1000}, nil)
	if tab.Bind(a, ap("198.18.0.1:9000")) != nil || tab.Listen(a) != nil {
		t.Fatal("first reuseport listener refused")
	}
	if err := tab.Bind(b, ap("198.18.0.1:9000")); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("other owner: %v, want EADDRINUSE", err)
	}
	if tab.Bind(c, ap("198.18.0.1:9000")) != nil || tab.Listen(c) != nil {
		t.Fatal("same-owner reuseport listener refused")
	}
	// The group spreads by 4-tuple hash, deterministically.
	seen := map[uint64]int{}
	for p := range 200 {
		k := flowtable.KeyFrom4([4]byte{198, 18, 0, 2}, addrA.As4(), uint16(10000+p), 9000, uint8(TCP))
		s, m := tab.Lookup(&k)
		if m != MatchSpecific || (s != a && s != c) {
			t.Fatalf("lookup %v: %v %v", k, s, m)
		}
		if s2, _ := tab.Lookup(&k); s2 != s {
			t.Fatal("reuseport choice is not stable per 4-tuple")
		}
		seen[s.ID()]++
	}
	if len(seen) != 2 || seen[a.ID()] < 50 || seen[c.ID()] < 50 {
		t.Errorf("spread over the group: %v", seen)
	}
}

func TestLookupOrderAndDualStack(t *testing.T) {
	tab, _ := newTable(t, Config{})
	// Linux refuses 198.18.0.1:80 beside a dual-stack [::]:80 unless both
	// sockets share a SO_REUSEPORT owner.
	l4 := mustOpen(t, tab, TCP, IPv4, Options{ReusePort: true}, "v4 specific")
	l6 := mustOpen(t, tab, TCP, IPv6, Options{ReusePort: true}, "dual ::")
	l6o := mustOpen(t, tab, TCP, IPv6, Options{V6Only: true}, "v6only ::")
	for s, a := range map[*Socket]string{l4: "198.18.0.1:80", l6: "[::]:80", l6o: "[::]:81"} {
		if err := tab.Bind(s, ap(a)); err != nil {
			t.Fatal(err)
		}
		if err := tab.Listen(s); err != nil {
			t.Fatal(err)
		}
	}
	check := func(k flowtable.Key, want *Socket, wantM Match) {
		t.Helper()
		s, m := tab.Lookup(&k)
		if s != want || m != wantM {
			t.Errorf("%v: got %v/%v, want %v/%v", k, s, m, want, wantM)
		}
	}
	check(key4("198.18.0.2:5000", "198.18.0.1:80", TCP), l4, MatchSpecific)
	check(key4("198.18.0.2:5000", "198.18.0.10:80", TCP), l6, MatchWildcard) // dual-stack fills the gap
	check(key4("198.18.0.2:5000", "198.18.0.10:81", TCP), nil, MatchNone)    // v6only takes no IPv4
	check(key4("198.18.0.2:5000", "198.18.0.1:80", UDP), nil, MatchNone)     // other protocol
	check(flowtable.KeyFrom(ap("[2001:db8::2]:5000"), ap("[2001:db8::1]:81"), uint8(TCP)), l6o, MatchWildcard)
	// An IPv4 0.0.0.0 listener never takes IPv6.
	u4 := mustOpen(t, tab, UDP, IPv4, Options{}, nil)
	_ = tab.Bind(u4, ap("0.0.0.0:53"))
	check(flowtable.KeyFrom(ap("[2001:db8::2]:5000"), ap("[2001:db8::1]:53"), uint8(UDP)), nil, MatchNone)
	// A connected socket wins by exact 5-tuple.
	c := mustOpen(t, tab, TCP, IPv4, Options{}, nil)
	local, err := tab.Connect(c, 0, peer)
	if err != nil {
		t.Fatal(err)
	}
	check(flowtable.KeyFrom(peer, local, uint8(TCP)), c, MatchExact)
	_ = tab.Close(c)
	check(flowtable.KeyFrom(peer, local, uint8(TCP)), nil, MatchNone)
	_ = tab.Close(l4)
	check(key4("198.18.0.2:5000", "198.18.0.1:80", TCP), l6, MatchWildcard)
}

func TestConnect(t *testing.T) {
	tab, _ := newTable(t, Config{Ports: portalloc.Config{Range: portalloc.Range{First: 40000, Last: 40003}}})
	// Bound first, then connect: the bound port is kept; the same tuple
	// again is EADDRNOTAVAIL.
	a := mustOpen(t, tab, TCP, IPv4, Options{ReuseAddr: true}, nil)
	if err := tab.Bind(a, ap("198.18.0.1:5555")); err != nil {
		t.Fatal(err)
	}
	la, err := tab.Connect(a, 0, peer)
	if err != nil || la != ap("198.18.0.1:5555") {
		t.Fatalf("connect bound: %v %v", la, err)
	}
	b := mustOpen(t, tab, TCP, IPv4, Options{ReuseAddr: true}, nil)
	if err := tab.Bind(b, ap("198.18.0.1:5555")); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Connect(b, 0, peer); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("duplicate tuple: %v", err)
	}
	if _, err := tab.Connect(b, 0, ap("198.18.0.3:443")); err != nil {
		t.Fatalf("same port to another peer: %v", err)
	}
	// Automatic ports: 4 in the range, shared across destinations, then
	// EADDRNOTAVAIL.
	for _, dst := range []string{"198.18.0.2:80", "198.18.0.3:80"} {
		seen := map[uint16]bool{}
		for range 4 {
			s := mustOpen(t, tab, TCP, IPv4, Options{}, nil)
			l, err := tab.Connect(s, 0, ap(dst))
			if err != nil {
				t.Fatalf("%s: %v", dst, err)
			}
			if l.Addr() != addrA || seen[l.Port()] {
				t.Fatalf("%s: local %v (seen %v)", dst, l, seen)
			}
			seen[l.Port()] = true
		}
		s := mustOpen(t, tab, TCP, IPv4, Options{}, nil)
		if _, err := tab.Connect(s, 0, ap(dst)); !errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Fatalf("%s exhausted: %v", dst, err)
		}
	}
	// IP_BIND_ADDRESS_NO_PORT: bind(B, 0) takes no port; connect gives one.
	n := mustOpen(t, tab, TCP, IPv4, Options{BindAddressNoPort: true}, nil)
	if err := tab.Bind(n, ap("198.18.0.10:0")); err != nil {
		t.Fatal(err)
	}
	if l, err := tab.Connect(n, 0, peer); err != nil || l.Addr() != addrB || l.Port() < 40000 {
		t.Fatalf("no-port connect: %v %v", l, err)
	}
	// An explicit bind conflicts with a connected socket's port (no reuse).
	x := mustOpen(t, tab, TCP, IPv4, Options{}, nil)
	if err := tab.Bind(x, ap("0.0.0.0:40000")); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("bind over connected port: %v", err)
	}
	// Family and state errors.
	v6 := mustOpen(t, tab, TCP, IPv6, Options{V6Only: true}, nil)
	if _, err := tab.Connect(v6, 0, ap("[::ffff:198.18.0.2]:80")); !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("v6only to IPv4: %v", err)
	}
	if _, err := tab.Connect(a, 0, peer); !errors.Is(err, syscall.EISCONN) {
		t.Fatalf("connect twice: %v", err)
	}
}

func TestSSListing(t *testing.T) {
	tab, _ := newTable(t, Config{Queues: queues{}})
	l := mustOpen(t, tab, TCP, IPv4, Options{}, nil)
	_ = tab.Bind(l, ap("0.0.0.0:22"))
	_ = tab.Listen(l)
	l6 := mustOpen(t, tab, TCP, IPv6, Options{V6Only: true}, nil)
	_ = tab.Bind(l6, ap("[::]:22"))
	_ = tab.Listen(l6)
	c := mustOpen(t, tab, TCP, IPv4, Options{}, nil)
	_ = tab.Bind(c, ap("198.18.0.1:40001"))
	if _, err := tab.Connect(c, 0, peer); err != nil {
		t.Fatal(err)
	}
	tab.SetState(c, StateEstablished)
	var out bytes.Buffer
	if err := WriteSS(&out, tab.Sockets(TCP)); err != nil {
		t.Fatal(err)
	}
	want := `State  Recv-Q Send-Q Local Address:Port Peer Address:Port
LISTEN 0      4096   0.0.0.0:22         0.0.0.0:*
ESTAB  0      0      198.18.0.1:40001   198.18.0.2:443
LISTEN 0      4096   [::]:22            [::]:*
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

type queues struct{}

func (queues) Queues(s *Socket) (uint64, uint64) {
	return 0, map[bool]uint64{true: 4096}[s.state == StateListen]
}

func TestLookupAllocs(t *testing.T) {
	tab, _ := newTable(t, Config{})
	s := mustOpen(t, tab, UDP, IPv4, Options{ReusePort: true}, nil)
	_ = tab.Bind(s, ap("198.18.0.1:53"))
	s2 := mustOpen(t, tab, UDP, IPv4, Options{ReusePort: true}, nil)
	_ = tab.Bind(s2, ap("198.18.0.1:53"))
	k := key4("198.18.0.2:1000", "198.18.0.1:53", UDP)
	if n := testing.AllocsPerRun(1000, func() { tab.Lookup(&k) }); n != 0 {
		t.Errorf("Lookup allocates %v per call", n)
	}
}

// TestConnectUnlisted: a connection registered with ConnectUnlisted holds
// its port and its 5-tuple as Connect's does (the same tuple again is
// EADDRNOTAVAIL, a listen on its port needs SO_REUSEADDR as with any bound
// socket), but Lookup does not return it (the engine's TCP workers find
// the connection themselves). After Close the tuple is free again.
func TestConnectUnlisted(t *testing.T) {
	tab, _ := newTable(t, Config{})
	a := mustOpen(t, tab, TCP, IPv4, Options{ReuseAddr: true}, nil)
	if err := tab.Bind(a, ap("198.18.0.1:5555")); err != nil {
		t.Fatal(err)
	}
	la, _, err := tab.ConnectUnlisted(a, 0, peer)
	if err != nil || la != ap("198.18.0.1:5555") {
		t.Fatalf("connect bound: %v %v", la, err)
	}
	k := flowtable.KeyFrom(peer, la, uint8(TCP))
	if s, m := tab.Lookup(&k); s != nil || m != MatchNone {
		t.Fatalf("Lookup of the unlisted connection's tuple: %v %v, want none", s, m)
	}
	if h := tab.Holder(k); h != a {
		t.Fatalf("Holder of the unlisted connection's tuple: %v, want it", h)
	}
	b := mustOpen(t, tab, TCP, IPv4, Options{ReuseAddr: true}, nil)
	if err := tab.Bind(b, ap("198.18.0.1:5555")); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Connect(b, 0, peer); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("the unlisted connection's tuple again: %v, want EADDRNOTAVAIL", err)
	}
	tab.Close(b)
	ln := mustOpen(t, tab, TCP, IPv4, Options{}, nil)
	if err := tab.Bind(ln, ap("0.0.0.0:5555")); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("bind without SO_REUSEADDR to the unlisted connection's port: %v, want EADDRINUSE", err)
	}
	tab.Close(a)
	if h := tab.Holder(k); h != nil {
		t.Fatalf("Holder after Close: %v, want none", h)
	}
	c := mustOpen(t, tab, TCP, IPv4, Options{ReuseAddr: true}, nil)
	if err := tab.Bind(c, ap("198.18.0.1:5555")); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Connect(c, 0, peer); err != nil {
		t.Fatalf("the tuple after Close: %v", err)
	}
	if s, m := tab.Lookup(&k); s != c || m != MatchExact {
		t.Fatalf("Lookup of a listed connection: %v %v, want it, exact", s, m)
	}
}
