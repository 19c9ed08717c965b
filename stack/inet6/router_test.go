package inet6

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/mld"
)

var (
	routerLL  = netip.MustParseAddr("fe80::1")
	offLink   = netip.MustParseAddr("2001:db8::1")
	advPrefix = netip.MustParsePrefix("2001:db8:5::/64")
)

// raFrame builds a Router Advertisement from src to ff02::1 with hop
// limit hop, router lifetime lifetime, the source link-layer option
// (peerMAC), an MTU option (when mtu is not 0) and advPrefix on-link.
func raFrame(t *testing.T, src netip.Addr, hop uint8, lifetime uint16, mtu uint32) []byte {
	t.Helper()
	b := make([]byte, 128)
	n, err := header.PutRouterAdvertisement(b, 64, 0, lifetime, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := header.PutNDPLinkLayerOption(b[n:], header.NDPOptionSourceLinkLayer, peerMAC)
	n += k
	if mtu != 0 {
		k, _ = header.PutNDPMTUOption(b[n:], mtu)
		n += k
	}
	k, err = header.PutNDPPrefixInfoOption(b[n:], advPrefix.Addr().As16(), uint8(advPrefix.Bits()),
		header.NDPPrefixFlagOnLink|header.NDPPrefixFlagAuto, 3600, 1800)
	if err != nil {
		t.Fatal(err)
	}
	n += k
	dst := netip.AddrFrom16(allNodes)
	pkt := packet6(src, dst, header.ProtocolICMPv6, hop, ndpMsg(src, dst, b[:n]))
	return frameOf(header.MulticastMAC6(allNodes), peerMAC, pkt)
}

// TestRouteLearnedRouter: without Config.Gateway an off-link destination
// has no route until a Router Advertisement names a default router; then
// it goes through the router (whose link-layer address the caches
// learned), the advertised prefix is on the link, and the advertised MTU
// lowers the link's. Invalid advertisements teach nothing; a router
// lifetime of 0 withdraws the router.
func TestRouteLearnedRouter(t *testing.T) {
	l := newTestLayer(t, testConfig(), true)
	h := l.h
	if _, _, ok := h.Route(offLink); ok {
		t.Fatal("a route off the link before any advertisement")
	}
	l.tapFrame(h.Nanotime(), raFrame(t, routerLL, 64, 1800, 1400))                           // hop limit not 255
	l.tapFrame(h.Nanotime(), raFrame(t, netip.MustParseAddr("2001:db8:1::9"), 255, 1800, 0)) // not link-local
	if _, _, ok := h.Route(offLink); ok {
		t.Fatal("an invalid advertisement was learned")
	}
	l.tapFrame(h.Nanotime(), raFrame(t, routerLL, 255, 1800, 1400))
	next, src, ok := h.Route(offLink)
	if !ok || next != routerLL || src != ourIP {
		t.Fatalf("Route(%v) = %v from %v, %v; want via %v from %v", offLink, next, src, ok, routerLL, ourIP)
	}
	if r, ok := h.DefaultRouter(); !ok || r != routerLL {
		t.Errorf("DefaultRouter() = %v, %v", r, ok)
	}
	onLink := netip.MustParseAddr("2001:db8:5::7")
	if next, _, ok := h.Route(onLink); !ok || next != onLink {
		t.Errorf("Route(%v) = %v, %v; want on the link (advertised prefix)", onLink, next, ok)
	}
	if h.MTU() != 1400 || h.PathMTU(offLink) != 1400 {
		t.Errorf("MTU %d, path MTU %d: want the advertised 1400", h.MTU(), h.PathMTU(offLink))
	}
	if st, mac, _ := l.cache.State(routerLL.As16()); st == 0 || mac != peerMAC {
		t.Errorf("router's cache entry %v at %v, want %v", st, mac, peerMAC)
	}
	l.Publish(l.st)
	if n := l.st.IPv6.NDP; n.RouterAdverts != 3 || n.RouterAdvertsUsed != 1 || n.InErrors != 2 {
		t.Errorf("router adverts %d, used %d, NDP in errors %d; want 3, 1, 2", n.RouterAdverts, n.RouterAdvertsUsed, n.InErrors)
	}

	// An MTU above the link's is ignored; the advertised one stays.
	l.tapFrame(h.Nanotime(), raFrame(t, routerLL, 255, 1800, 9000))
	if h.MTU() != 1400 {
		t.Errorf("MTU %d after an advertised 9000", h.MTU())
	}
	// Router lifetime 0: no longer a default router.
	l.tapFrame(h.Nanotime(), raFrame(t, routerLL, 255, 0, 0))
	if next, _, ok := h.Route(offLink); ok {
		t.Errorf("Route(%v) = %v after the router withdrew", offLink, next)
	}

	// A router whose lifetime ended is not used either.
	l.tapFrame(h.Nanotime()-5e9, raFrame(t, routerLL, 255, 1, 0))
	if _, _, ok := h.Route(offLink); ok {
		t.Error("an expired router is used")
	}
}

// TestRouteGatewayWins: a configured gateway is used rather than the
// learned router.
func TestRouteGatewayWins(t *testing.T) {
	cfg := testConfig()
	cfg.Gateway = netip.MustParseAddr("fe80::99")
	l := newTestLayer(t, cfg, true)
	l.tapFrame(l.h.Nanotime(), raFrame(t, routerLL, 255, 1800, 0))
	if next, _, ok := l.h.Route(offLink); !ok || next != cfg.Gateway {
		t.Errorf("Route(%v) = %v, %v; want the gateway %v", offLink, next, ok, cfg.Gateway)
	}
}

// TestTapGeneralQuery: a general MLD query the tap read (to ff02::1,
// behind a Router Alert) makes worker 0 report the groups joined.
func TestTapGeneralQuery(t *testing.T) {
	l := newTestLayer(t, testConfig(), true)
	g := netip.MustParseAddr("ff0e::1:2")
	if err := l.h.JoinGroup(g); err != nil {
		t.Fatal(err)
	}
	l.Round()
	l.link.take()
	for range 3 { // the join's retransmissions
		l.h.mld.Poll(l.h.Nanotime()+60e9, func([16]byte, []byte) {})
	}
	var q [64]byte
	n, err := header.PutMLDv2Query(q[:], 1, [16]byte{}, false, 2, 125, nil) // answer within 1 ms
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.AddrFrom16(allNodes)
	llPeer := netip.MustParseAddr("fe80::2")
	msg := ndpMsg(llPeer, dst, q[:n])
	pkt := packet6(llPeer, dst, header.ProtocolHopByHop, 1, slices.Concat(mld.HopByHopRouterAlert[:], msg))
	l.tapFrame(l.h.Nanotime(), frameOf(header.MulticastMAC6(allNodes), peerMAC, pkt))
	deadline := l.h.Nanotime() + 2e9
	for l.link.count() == 0 && l.h.Nanotime() < deadline {
		l.pollMLD()
	}
	fs := l.link.take()
	if len(fs) == 0 {
		t.Fatal("no report after a general query")
	}
	_, _, m := sentICMP(t, fs[0])
	if m.Type() != header.ICMPv6MulticastListenerReportV2 {
		t.Errorf("sent type %d", m.Type())
	}
}
