package socktab

import (
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/portalloc"
)

// acceptOn registers a connection from 198.18.0.2:port to ln.
func acceptOn(t *testing.T, tab *Table, ln *Socket, port uint16) *Socket {
	t.Helper()
	l := tab.Local(ln)
	a := l.Addr().Unmap()
	if isWildcard(l.Addr()) {
		a = addrA
	}
	k := flowtable.KeyFrom(netip.AddrPortFrom(netip.MustParseAddr("198.18.0.2"), port), netip.AddrPortFrom(a, l.Port()), uint8(TCP))
	c, err := tab.Accept(ln, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAcceptedConnectionHoldsPort(t *testing.T) {
	for _, tc := range []struct {
		name          string
		old, new      Options
		timeWait      bool
		bind, listenE syscall.Errno
	}{
		{"no reuse", Options{}, Options{}, false, syscall.EADDRINUSE, 0},
		{"reuseaddr on the new socket only", Options{}, Options{ReuseAddr: true}, false, syscall.EADDRINUSE, 0},
		{"reuseaddr on both", Options{ReuseAddr: true}, Options{ReuseAddr: true}, false, 0, 0},
		{"reuseaddr on both, TIME-WAIT", Options{ReuseAddr: true}, Options{ReuseAddr: true}, true, 0, 0},
		{"reuseaddr on the new socket only, TIME-WAIT", Options{}, Options{ReuseAddr: true}, true, syscall.EADDRINUSE, 0},
		{"reuseport, other owner", Options{ReusePort: true, Owner: 1000}, Options{ReusePort: true}, false, syscall.EADDRINUSE, 0},
		{"reuseport, other owner, TIME-WAIT", Options{ReusePort: true, Owner: 1000}, Options{ReusePort: true}, true, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab, _ := newTable(t, Config{})
			ln := mustOpen(t, tab, TCP, IPv4, tc.old, nil)
			if err := tab.Bind(ln, ap("198.18.0.1:8000")); err != nil || tab.Listen(ln) != nil {
				t.Fatal(err)
			}
			c := acceptOn(t, tab, ln, 40000)
			if k := key4("198.18.0.2:40000", "198.18.0.1:8000", TCP); func() bool { s, m := tab.Lookup(&k); return s != c || m != MatchExact }() {
				t.Fatal("the accepted connection is not found by exact 5-tuple")
			}
			if err := tab.Close(ln); err != nil {
				t.Fatal(err)
			}
			if tc.timeWait {
				tab.SetState(c, StateTimeWait)
			}
			n := mustOpen(t, tab, TCP, IPv4, tc.new, nil)
			err := tab.Bind(n, ap("198.18.0.1:8000"))
			if engineErrno(t, err) != tc.bind {
				t.Fatalf("bind: %v, want %v", err, tc.bind)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "TIME-WAIT and accepted connections") {
					t.Errorf("the error does not explain accepted connections: %v", err)
				}
				if err := tab.Close(c); err != nil {
					t.Fatal(err)
				}
				if err := tab.Bind(n, ap("198.18.0.1:8000")); err != nil {
					t.Fatalf("bind after the connection closed: %v", err)
				}
			}
			if err := tab.Listen(n); engineErrno(t, err) != tc.listenE {
				t.Fatalf("listen: %v", err)
			}
		})
	}
}

func TestAcceptErrorsAndListing(t *testing.T) {
	tab, _ := newTable(t, Config{})
	ln := mustOpen(t, tab, TCP, IPv6, Options{}, nil)
	if err := tab.Bind(ln, ap("[::]:8001")); err != nil || tab.Listen(ln) != nil {
		t.Fatal(err)
	}
	c := acceptOn(t, tab, ln, 40001)
	if tab.Local(c) != ap("[::ffff:198.18.0.1]:8001") || tab.Shard(c) != 0 {
		t.Fatalf("child of a dual-stack listener: local %v shard %d", tab.Local(c), tab.Shard(c))
	}
	k := key4("198.18.0.2:40001", "198.18.0.1:8001", TCP)
	if _, err := tab.Accept(ln, k, nil); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("same 5-tuple twice: %v", err)
	}
	other := key4("198.18.0.2:40001", "198.18.0.1:8002", TCP)
	if _, err := tab.Accept(ln, other, nil); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("another port: %v", err)
	}
	u := mustOpen(t, tab, UDP, IPv4, Options{}, nil)
	if _, err := tab.Accept(u, k, nil); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("accept on UDP: %v", err)
	}
	tab.SetState(c, StateTimeWait)
	var b strings.Builder
	if err := WriteSS(&b, tab.Sockets(TCP)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "TIME-WAIT 0      0      [::ffff:198.18.0.1]:8001 [::ffff:198.18.0.2]:40001") {
		t.Errorf("listing:\n%s", b.String())
	}
	// A connection established before its listener closed is registered
	// late (the engine does it when its worker is idle) and still holds
	// the port.
	_ = tab.Close(ln)
	_ = tab.Close(c)
	late, err := tab.Accept(ln, key4("198.18.0.2:40002", "198.18.0.1:8001", TCP), nil)
	if err != nil {
		t.Fatalf("late accept after the listener closed: %v", err)
	}
	s2, err := tab.Open(TCP, IPv4, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.Bind(s2, ap("0.0.0.0:8001")); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("bind over a late-registered connection: %v, want EADDRINUSE", err)
	}
	_ = tab.Close(late)
	if err := tab.Bind(s2, ap("0.0.0.0:8001")); err != nil {
		t.Fatalf("bind once the late connection closed: %v", err)
	}
}

// ReleaseTuple (tcp_tw_reuse): a new connect may take the tuple of a
// TIME-WAIT connection, which keeps its port against bind until Close; its
// Close does not disturb the new connection.
func TestReleaseTupleForTimeWaitReuse(t *testing.T) {
	tab, _ := newTable(t, Config{})
	old := mustOpen(t, tab, TCP, IPv4, Options{ReuseAddr: true}, nil)
	if err := tab.Bind(old, ap("198.18.0.1:7000")); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Connect(old, 0, peer); err != nil {
		t.Fatal(err)
	}
	tab.SetState(old, StateTimeWait)
	nw := mustOpen(t, tab, TCP, IPv4, Options{ReuseAddr: true}, nil)
	if err := tab.Bind(nw, ap("198.18.0.1:7000")); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Connect(nw, 0, peer); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("connect to the tuple in TIME-WAIT: %v", err)
	}
	tab.ReleaseTuple(old)
	if _, err := tab.Connect(nw, 0, peer); err != nil {
		t.Fatalf("connect after ReleaseTuple: %v", err)
	}
	x := mustOpen(t, tab, TCP, IPv4, Options{}, nil)
	if err := tab.Bind(x, ap("198.18.0.1:7000")); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("bind over the TIME-WAIT socket: %v", err)
	}
	_ = tab.Close(old)
	k := key4("198.18.0.2:443", "198.18.0.1:7000", TCP)
	if s, m := tab.Lookup(&k); s != nw || m != MatchExact {
		t.Fatalf("the new connection lost its tuple when the old one closed: %v %v", s, m)
	}
}

// ::ffff:0.0.0.0 on an IPv6 socket is the IPv4 wildcard: it warns, DenyWildcard
// refuses it, it takes IPv4 traffic for every address after IPv4 sockets,
// and connect chooses a source address for it.
func TestV4MappedWildcard(t *testing.T) {
	tab, logs := newTable(t, Config{})
	s := mustOpen(t, tab, UDP, IPv6, Options{}, "m0")
	if err := tab.Bind(s, ap("[::ffff:0.0.0.0]:5353")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "IPv4 wildcard") {
		t.Errorf("no wildcard warning: %q", logs.String())
	}
	k := key4("198.18.0.2:9", "198.18.0.10:5353", UDP)
	if got, m := tab.Lookup(&k); got != s || m != MatchWildcard {
		t.Fatalf("IPv4 datagram: %v %v", got, m)
	}
	k6 := flowtable.KeyFrom(ap("[2001:db8::2]:9"), ap("[2001:db8::1]:5353"), uint8(UDP))
	if got, _ := tab.Lookup(&k6); got != nil {
		t.Fatal("::ffff:0.0.0.0 took IPv6 traffic")
	}
	c := mustOpen(t, tab, TCP, IPv6, Options{}, nil)
	_ = tab.Bind(c, ap("[::ffff:0.0.0.0]:0"))
	if l, err := tab.Connect(c, 0, ap("[::ffff:198.18.0.2]:80")); err != nil || l.Addr() != netip.MustParseAddr("::ffff:198.18.0.1") {
		t.Fatalf("connect from ::ffff:0.0.0.0: %v %v", l, err)
	}
	deny, _ := newTable(t, Config{DenyWildcard: true})
	d := mustOpen(t, deny, TCP, IPv6, Options{}, nil)
	if err := deny.Bind(d, ap("[::ffff:0.0.0.0]:80")); !errors.Is(err, ErrWildcardDenied) {
		t.Fatalf("DenyWildcard: %v", err)
	}
}

// A connect whose worker's share is used up takes a port from another
// worker's shard and says which; TCP fails with EADDRNOTAVAIL and UDP with
// EAGAIN only when the whole range is used.
func TestConnectFallsBackAcrossShards(t *testing.T) {
	for _, proto := range []Proto{TCP, UDP} {
		tab, _ := newTable(t, Config{Ports: portalloc.Config{
			Range: portalloc.Range{First: 40000, Last: 40031}, Steering: portalloc.Metro{Seed: 3, Workers: 4},
		}})
		shards := map[int]int{}
		for i := range 32 {
			s := mustOpen(t, tab, proto, IPv4, Options{}, nil)
			l, sh, err := tab.ConnectShard(s, 2, peer)
			if err != nil {
				t.Fatalf("proto %d: connect %d: %v", proto, i, err)
			}
			st := portalloc.Metro{Seed: 3, Workers: 4}
			if want := st.Steer(flowtable.KeyFrom(peer, l, uint8(proto))); sh != want || tab.Shard(s) != sh {
				t.Fatalf("proto %d: shard %d (Shard says %d), the tuple steers to %d", proto, sh, tab.Shard(s), st.Steer(flowtable.KeyFrom(peer, l, uint8(proto))))
			}
			shards[sh]++
		}
		if len(shards) != 4 {
			t.Errorf("proto %d: ports came from shards %v, want all four", proto, shards)
		}
		want := map[Proto]syscall.Errno{TCP: syscall.EADDRNOTAVAIL, UDP: syscall.EAGAIN}[proto]
		s := mustOpen(t, tab, proto, IPv4, Options{}, nil)
		if _, sh, err := tab.ConnectShard(s, 2, peer); !errors.Is(err, want) || sh != -1 {
			t.Fatalf("proto %d: range used up: %v (shard %d), want %v", proto, err, sh, want)
		}
	}
}

func TestSetPortRange(t *testing.T) {
	tab, _ := newTable(t, Config{Ports: portalloc.Config{Range: portalloc.Range{First: 40000, Last: 40000}}})
	a := mustOpen(t, tab, TCP, IPv4, Options{}, nil)
	if l, err := tab.Connect(a, 0, peer); err != nil || l.Port() != 40000 {
		t.Fatal(l, err)
	}
	if err := tab.SetPortRange(portalloc.Range{First: 1000, Last: 2000}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("range below ip_unprivileged_port_start: %v", err)
	}
	if err := tab.SetPortRange(portalloc.Range{First: 41000, Last: 41001}); err != nil {
		t.Fatal(err)
	}
	if err := tab.SetReservedPorts([]portalloc.Range{{First: 41000, Last: 41000}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Proto{TCP, UDP} {
		s := mustOpen(t, tab, p, IPv4, Options{}, nil)
		if l, err := tab.Connect(s, 0, peer); err != nil || l.Port() != 41001 {
			t.Fatalf("proto %d after SetPortRange: %v %v", p, l, err)
		}
	}
	b := mustOpen(t, tab, TCP, IPv4, Options{}, nil)
	if err := tab.Bind(b, ap("198.18.0.1:40000")); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("the old range's port is still connected: bind %v", err)
	}
	low, _ := newTable(t, Config{UnprivilegedPortStart: 500, Ports: portalloc.Config{Range: portalloc.Range{First: 600, Last: 700}}})
	if err := low.SetPortRange(portalloc.Range{First: 499, Last: 700}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("below a lowered ip_unprivileged_port_start: %v", err)
	}
}

// IP_BIND_ADDRESS_NO_PORT: bind(addr, 0) takes no port, so the socket may be
// bound again (Linux: __inet_bind checks only inet_num and the state).
func TestRebindAfterNoPortBind(t *testing.T) {
	tab, _ := newTable(t, Config{})
	s := mustOpen(t, tab, TCP, IPv4, Options{BindAddressNoPort: true}, nil)
	if err := tab.Bind(s, ap("198.18.0.1:0")); err != nil {
		t.Fatal(err)
	}
	if err := tab.Bind(s, ap("198.18.0.10:6000")); err != nil {
		t.Fatalf("second bind: %v", err)
	}
	if err := tab.Bind(s, ap("198.18.0.10:6001")); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("third bind: %v", err)
	}
}
