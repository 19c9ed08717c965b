package inet6

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/stats"
)

var allRouters = netip.MustParseAddr("ff02::2")

// goldenRS is scapy's ICMPv6ND_RS()/ICMPv6NDOptSrcLLAddr(lladdr=ourMAC)
// with the checksum zeroed (header's golden bytes).
const goldenRS = "85000000000000000101020000000001"

// checkRS fails t unless f is a Router Solicitation as RFC 4861 4.1 and
// 6.3.7 want it: from ourIP and ourMAC to ff02::2 at 33:33:00:00:00:02,
// hop limit 255, code 0, a valid checksum, the source link-layer option.
func checkRS(t *testing.T, f []byte) {
	t.Helper()
	eth, ip, m := sentICMP(t, f)
	if eth.Dst() != header.MulticastMAC6(allRouters.As16()) || eth.Src() != ourMAC {
		t.Errorf("RS frame from %v to %v", eth.Src(), eth.Dst())
	}
	if ip.Src() != ourIP || ip.Dst() != allRouters || ip.HopLimit() != 255 {
		t.Errorf("RS from %v to %v, hop limit %d; want %v to %v, 255", ip.Src(), ip.Dst(), ip.HopLimit(), ourIP, allRouters)
	}
	got := bytes.Clone(m)
	header.ICMPv6(got).SetChecksum(0)
	if want, _ := hex.DecodeString(goldenRS); !bytes.Equal(got, want) {
		t.Errorf("RS message %x, want %s", got, goldenRS)
	}
	if err := header.ParseNDP(m, ip.HopLimit(), ip.Src16(), ip.Dst16()); err != nil {
		t.Errorf("RS does not validate: %v", err)
	}
}

// rsAt ticks l at each time (ns after the layer's clock origin, 1) and
// returns how many Router Solicitations each tick sent.
func rsAt(t *testing.T, l *testLayer, at ...int64) []int {
	t.Helper()
	var got []int
	for _, ns := range at {
		l.now = 1 + ns
		l.Tick()
		n := 0
		for _, f := range l.link.take() {
			if _, _, m := sentICMP(t, f); m.Type() == header.ICMPv6RouterSolicitation {
				checkRS(t, f)
				n++
			}
		}
		got = append(got, n)
	}
	return got
}

func rsConfig(rs RouterSolicitation) Config {
	cfg := testConfig()
	cfg.RouterSolicitation = rs
	return cfg
}

// TestRouterSolicitations: without a gateway, worker 0 sends Count
// solicitations Interval apart (Linux's 3, 4 s by default), then none.
func TestRouterSolicitations(t *testing.T) {
	l := newTestLayer(t, rsConfig(RouterSolicitation{MaxDelay: -1}), true)
	s := int64(time.Second)
	got := rsAt(t, l, 0, s, 3*s, 4*s, 6*s, 8*s, 12*s, 16*s, 60*s)
	if want := []int{1, 0, 0, 1, 0, 1, 0, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("solicitations per tick %v, want %v", got, want)
	}
	if n := l.st.IPv6.ICMP.OutRouterSolicits; n != 3 {
		t.Errorf("OutRouterSolicits %d, want 3", n)
	}

	// A shorter interval and count (the test hook), and the random delay:
	// the first leaves within MaxDelay.
	l = newTestLayer(t, rsConfig(RouterSolicitation{Count: 2, Interval: 100 * time.Millisecond, MaxDelay: 50 * time.Millisecond}), true)
	ms := int64(time.Millisecond)
	got = rsAt(t, l, 0, 50*ms) // the first tick draws the delay
	if got[0]+got[1] != 1 {
		t.Errorf("within MaxDelay 50 ms: %v, want one solicitation", got)
	}
	if got = rsAt(t, l, 149*ms, 150*ms, 400*ms); !slices.Equal(got, []int{0, 1, 0}) {
		t.Errorf("with Count 2, Interval 100 ms: %v, want [0 1 0]", got)
	}
}

// TestRouterSolicitationsStop: a valid Router Advertisement, from the tap
// or unicast to our address through the XDP program, stops the
// solicitations; an invalid one does not.
func TestRouterSolicitationsStop(t *testing.T) {
	s := int64(time.Second)
	for _, c := range []struct {
		name string
		ra   func(l *testLayer)
	}{
		{"tap", func(l *testLayer) { l.tapFrame(l.h.Nanotime(), raFrame(t, routerLL, 255, 1800, 0)) }},
		{"unicast", func(l *testLayer) { l.Frame(unicastRA(t, 1800)) }},
		{"unicast with router lifetime 0", func(l *testLayer) { l.Frame(unicastRA(t, 0)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newTestLayer(t, rsConfig(RouterSolicitation{MaxDelay: -1}), true)
			if got := rsAt(t, l, 0); got[0] != 1 {
				t.Fatalf("first tick sent %d", got[0])
			}
			l.tapFrame(l.h.Nanotime(), raFrame(t, routerLL, 64, 1800, 0)) // hop limit 64: invalid
			if got := rsAt(t, l, 4*s); got[0] != 1 {
				t.Fatalf("after an invalid advertisement, %d solicitations; want the second", got[0])
			}
			c.ra(l)
			if got := rsAt(t, l, 8*s, 12*s); !slices.Equal(got, []int{0, 0}) {
				t.Errorf("after an advertisement: %v", got)
			}
			l.Publish(l.st)
			if n := l.st.IPv6.NDP; n.RouterAdvertsUsed != 1 {
				t.Errorf("router adverts %d, used %d", n.RouterAdverts, n.RouterAdvertsUsed)
			}
		})
	}
	// The unicast one teaches the route too.
	l := newTestLayer(t, testConfig(), true)
	l.Frame(unicastRA(t, 1800))
	if next, _, ok := l.h.Route(offLink); !ok || next != routerLL {
		t.Errorf("Route(%v) = %v, %v after a unicast advertisement; want via %v", offLink, next, ok, routerLL)
	}
}

// unicastRA is a Router Advertisement from routerLL to ourIP (a router's
// answer to our solicitation) with router lifetime lifetime.
func unicastRA(t *testing.T, lifetime uint16) []byte {
	t.Helper()
	b := make([]byte, 64)
	n, _ := header.PutRouterAdvertisement(b, 64, 0, lifetime, 0, 0)
	k, _ := header.PutNDPLinkLayerOption(b[n:], header.NDPOptionSourceLinkLayer, peerMAC)
	n += k
	return frameOf(ourMAC, peerMAC, packet6(routerLL, ourIP, header.ProtocolICMPv6, 255, ndpMsg(routerLL, ourIP, b[:n])))
}

// TestRouterSolicitationsNot: none with a configured gateway, with a
// negative Count, on another worker than 0, or while DAD runs; after DAD
// the first one leaves.
func TestRouterSolicitationsNot(t *testing.T) {
	s := int64(time.Second)
	cfg := rsConfig(RouterSolicitation{MaxDelay: -1})
	cfg.Gateway = netip.MustParseAddr("fe80::99")
	if got := rsAt(t, newTestLayer(t, cfg, true), 0, 5*s); !slices.Equal(got, []int{0, 0}) {
		t.Errorf("with a gateway: %v", got)
	}
	if got := rsAt(t, newTestLayer(t, rsConfig(RouterSolicitation{Count: -1}), true), 0, 5*s); !slices.Equal(got, []int{0, 0}) {
		t.Errorf("with Count -1: %v", got)
	}

	h, err := NewHost(rsConfig(RouterSolicitation{MaxDelay: -1}))
	if err != nil {
		t.Fatal(err)
	}
	tl := &testLayer{link: newFakeLink(true), now: 1}
	for q := range 2 {
		tl.st = new(stats.Worker)
		if tl.Layer, err = h.newLayer(nil, tl.link, q, tl.st, 1); err != nil {
			t.Fatal(err)
		}
	}
	tl.Layer.now = func() int64 { return tl.now }
	if got := rsAt(t, tl, 0, 5*s); !slices.Equal(got, []int{0, 0}) {
		t.Errorf("worker 1: %v", got)
	}

	cfg = rsConfig(RouterSolicitation{MaxDelay: -1})
	cfg.NoDAD = false
	l := newTestLayer(t, cfg, true)
	l.Start()
	if got := rsAt(t, l, 0, s/2); !slices.Equal(got, []int{0, 0}) {
		t.Errorf("during DAD: %v", got)
	}
	l.now = 1 + 3*s/2
	l.Round() // DAD ends
	if got := rsAt(t, l, 3*s/2); got[0] != 1 {
		t.Errorf("after DAD: %d solicitations, want 1", got[0])
	}
}
