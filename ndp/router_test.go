package ndp

import (
	"math"
	"testing"

	"github.com/xdpengine/engine/header"
)

type pfx struct {
	p          [16]byte
	l          uint8
	flags      uint8
	valid, pre uint32
}

func raMsg(t testing.TB, lifetime uint16, prefixes []pfx, opts ...func([]byte) int) []byte {
	b := make([]byte, 256)
	n, _ := header.PutRouterAdvertisement(b, 64, 0, lifetime, 20000, 2000)
	for _, p := range prefixes {
		k, _ := header.PutNDPPrefixInfoOption(b[n:], p.p, p.l, p.flags, p.valid, p.pre)
		n += k
	}
	for _, o := range opts {
		n += o(b[n:])
	}
	return b[:n]
}

func mtu(v uint32) func([]byte) int {
	return func(b []byte) int { n, _ := header.PutNDPMTUOption(b, v); return n }
}

func sll(m header.MAC) func([]byte) int {
	return func(b []byte) int {
		n, _ := header.PutNDPLinkLayerOption(b, header.NDPOptionSourceLinkLayer, m)
		return n
	}
}

func TestRouterList(t *testing.T) {
	c := newCache(Config{})
	l := NewRouterList(RouterConfig{LinkMTU: 9000})
	l.Cache = c
	r1, r2 := peerLL, [16]byte{0xfe, 0x80, 15: 0x98}
	onlink := pfx{[16]byte{0x20, 0x01, 0, 2, 8: 0xff}, 64, header.NDPPrefixFlagOnLink | header.NDPPrefixFlagAuto, 600, 300}
	if err := l.Input(0, 255, r1, AllNodes, raMsg(t, 1800, []pfx{onlink,
		{[16]byte{0xfe, 0x80}, 64, header.NDPPrefixFlagOnLink, 600, 600},     // link-local: ignored
		{[16]byte{0x20, 0x01, 0, 3}, 64, header.NDPPrefixFlagAuto, 600, 600}, // not on-link: ignored
	}, mtu(1500), sll(macA)), nil); err != nil {
		t.Fatal(err)
	}
	if l.CurHopLimit != 64 || l.MTU != 1500 || l.ReachableNs != 20e9 || l.RetransNs != 2e9 || c.ReachableTime() != 20e9 {
		t.Fatalf("params %d %d %d %d %d", l.CurHopLimit, l.MTU, l.ReachableNs, l.RetransNs, c.ReachableTime())
	}
	if st, mac, router := c.State(r1); st != Stale || mac != macA || !router {
		t.Fatalf("router entry %v %v %v", st, mac, router)
	}
	ps := l.Prefixes(nil)
	if len(ps) != 1 || ps[0].Prefix != [16]byte{0x20, 0x01, 0, 2} || !ps[0].Autonomous || ps[0].Expires != 600e9 {
		t.Fatalf("prefixes %+v", ps)
	}
	if !l.OnLink(1, ip(5)) || l.OnLink(1, [16]byte{0x20, 0x01, 0, 3, 15: 1}) || l.OnLink(600e9, ip(5)) {
		t.Fatal("on-link")
	}
	// A second router, not yet resolved: the first stays the default.
	l.Input(1, 255, r2, AllNodes, raMsg(t, 600, nil, mtu(1000), mtu(9001)), nil)
	if l.MTU != 1500 || l.Stats.BadMTU != 2 {
		t.Fatalf("MTU %d bad %d", l.MTU, l.Stats.BadMTU)
	}
	if d, ok := l.DefaultRouter(2); !ok || d != r1 {
		t.Fatalf("default %x", d)
	}
	// r1 leaves (lifetime 0): r2.
	l.Input(3, 255, r1, AllNodes, raMsg(t, 0, nil), nil)
	if d, ok := l.DefaultRouter(4); !ok || d != r2 {
		t.Fatalf("default %x", d)
	}
	// r2 expires.
	if _, ok := l.DefaultRouter(601e9 + 1); ok {
		t.Fatal("expired router used")
	}
	// Prefix withdrawn (valid lifetime 0), then infinite.
	onlink.valid = 0
	l.Input(5, 255, r2, AllNodes, raMsg(t, 600, []pfx{onlink}), nil)
	if len(l.Prefixes(nil)) != 0 {
		t.Fatal("prefix kept")
	}
	onlink.valid = header.NDPInfiniteLifetime
	l.Input(6, 255, r2, AllNodes, raMsg(t, 600, []pfx{onlink}), nil)
	if ps := l.Prefixes(nil); len(ps) != 1 || ps[0].Expires != math.MaxInt64 {
		t.Fatalf("infinite prefix %+v", ps)
	}
	l.Tick(700e9)
	if len(l.Routers(nil)) != 0 || len(l.Prefixes(nil)) != 1 {
		t.Fatalf("tick: %v %v", l.Routers(nil), l.Prefixes(nil))
	}
	// Invalid: global source, hop limit, another type.
	if err := l.Input(7, 255, ip(3), AllNodes, raMsg(t, 600, nil), nil); err != header.ErrNDPAddress {
		t.Fatal(err)
	}
	if err := l.Input(7, 64, r1, AllNodes, raMsg(t, 600, nil), nil); err != header.ErrNDPHopLimit {
		t.Fatal(err)
	}
	if err := l.Input(7, 255, r1, AllNodes, []byte{133, 0, 0, 0, 0, 0, 0, 0}, nil); err != header.ErrNDPCode {
		t.Fatal(err)
	}
}

func TestRouterListRoundRobinAndBounds(t *testing.T) {
	c := newCache(Config{})
	l := NewRouterList(RouterConfig{MaxRouters: 2, MaxPrefixes: 1})
	l.Cache = c
	a, b, x := [16]byte{0xfe, 0x80, 15: 1}, [16]byte{0xfe, 0x80, 15: 2}, [16]byte{0xfe, 0x80, 15: 3}
	p1 := pfx{ip(0), 64, header.NDPPrefixFlagOnLink, 60, 60}
	p2 := pfx{[16]byte{0x20, 0x01, 0, 3}, 64, header.NDPPrefixFlagOnLink, 60, 60}
	l.Input(0, 255, a, AllNodes, raMsg(t, 60, []pfx{p1, p2}), nil)
	l.Input(0, 255, b, AllNodes, raMsg(t, 60, nil), nil)
	l.Input(0, 255, x, AllNodes, raMsg(t, 60, nil), nil)
	if l.Stats.RoutersFull != 1 || l.Stats.PrefixesFull != 1 {
		t.Fatalf("stats %+v", l.Stats)
	}
	// Neither is known reachable: they take turns.
	d1, _ := l.DefaultRouter(1)
	d2, _ := l.DefaultRouter(2)
	if d1 == d2 {
		t.Fatalf("no round robin: %x %x", d1, d2)
	}
	c.Lookup(3, b, 0, false)
	c.Advertised(3, b, macB, true, header.NDPFlagSolicited|header.NDPFlagRouter, nil)
	for now := int64(4); now < 7; now++ {
		if d, _ := l.DefaultRouter(now); d != b {
			t.Fatalf("reachable router not preferred: %x", d)
		}
	}
}

func TestRouterListNoAllocs(t *testing.T) {
	l := NewRouterList(RouterConfig{})
	l.Cache = newCache(Config{})
	msg := raMsg(t, 1800, []pfx{{ip(0), 64, header.NDPPrefixFlagOnLink, 600, 300}}, mtu(1500), sll(macA))
	l.Input(0, 255, peerLL, AllNodes, msg, nil)
	if n := testing.AllocsPerRun(100, func() {
		l.Input(1, 255, peerLL, AllNodes, msg, nil)
		l.DefaultRouter(2)
		l.OnLink(2, ip(1))
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
