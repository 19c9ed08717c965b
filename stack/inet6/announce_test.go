package inet6

import (
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ndp"
	"github.com/xdpengine/engine/stack/announce"
)

// Announce: the address is answered (Announces), its solicited-node group
// received, and worker 0's next round sends an unsolicited Neighbor
// Advertisement for it (override set, to all-nodes, the engine's MAC),
// repeated at ticks announce.Interval apart, announce.Count in all;
// the engine's own address and non-unicast ones are not announced;
// withdrawal forgets the address and its group.
func TestAnnounce(t *testing.T) {
	tl := newTestLayer(t, testConfig(), true)
	h := tl.h
	vip := netip.MustParseAddr("2001:db8:1::100")
	k := vip.As16()
	g := header.SolicitedNodeMulticast(k)
	if h.Announces(k) || h.takesGroup(g) {
		t.Fatal("announced before Announce")
	}
	for range 2 { // the second is a no-op
		if err := h.Announce(vip, true); err != nil {
			t.Fatal(err)
		}
	}
	if !h.Announces(k) || !h.takesGroup(g) || len(h.announced()) != 1 {
		t.Fatalf("after Announce: Announces %v, group %v, Announced %v", h.Announces(k), h.takesGroup(g), h.announced())
	}
	tl.Round()
	f := tl.link.only(t)
	ip, err := header.ParseIPv6(header.Ethernet(f).Payload())
	if err != nil {
		t.Fatal(err)
	}
	na := header.NeighborAdvertisement(ip.Payload())
	if ip.Dst16() != ndp.AllNodes || ip.Src16() != k || na.Target() != k || na.Flags()&header.NDPFlagOverride == 0 || na.Solicited() {
		t.Fatalf("announcement: %x -> %x, target %x, flags %#x", ip.Src16(), ip.Dst16(), na.Target(), na.Flags())
	}
	if mac, ok := na.Options().LinkLayer(header.NDPOptionTargetLinkLayer); !ok || mac != ourMAC {
		t.Fatalf("announcement's target link-layer address %v (%v), want %v", mac, ok, ourMAC)
	}
	tl.Round()
	if n := tl.link.count(); n != 0 {
		t.Fatalf("%d more frames in the next round, want none before announce.Interval", n)
	}
	for i := 2; i <= announce.Count+1; i++ { // the repeats, then nothing
		tl.now += int64(announce.Interval)
		tl.Tick()
		want := 1
		if i > announce.Count {
			want = 0
		}
		n := 0 // advertisements; a tick may send MLD reports and solicitations too
		for _, f := range tl.link.take() {
			if ip, err := header.ParseIPv6(header.Ethernet(f).Payload()); err == nil && ip.NextHeader() == header.ProtocolICMPv6 &&
				header.ICMPv6(ip.Payload()).Type() == header.ICMPv6NeighborAdvertisement {
				n++
			}
		}
		if n != want {
			t.Fatalf("announcement %d, a tick announce.Interval later: %d advertisements, want %d", i, n, want)
		}
	}
	if err := h.Announce(ourNet.Addr(), true); err != nil || len(h.announced()) != 1 {
		t.Fatalf("the engine's own address: %v, Announced %v", err, h.announced())
	}
	for _, bad := range []string{"198.18.0.1", "fe80::1", "ff02::1", "::"} {
		if err := h.Announce(netip.MustParseAddr(bad), true); err == nil {
			t.Errorf("Announce(%s): no error", bad)
		}
	}
	if err := h.Announce(vip, false); err != nil {
		t.Fatal(err)
	}
	if h.Announces(k) || h.takesGroup(g) || len(h.announced()) != 0 {
		t.Fatal("still announced after the withdrawal")
	}
}
