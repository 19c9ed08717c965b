package inet6

import (
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/mld"
	"github.com/xdpengine/engine/ndp"
)

// TestJoinGroupReports: a join is reported by worker 0 with an MLDv2
// report to ff02::16, hop limit 1, behind a Router Alert, from the
// interface's link-local address.
func TestJoinGroupReports(t *testing.T) {
	l := newTestLayer(t, testConfig(), true)
	g := netip.MustParseAddr("ff0e::1:2")
	if err := l.h.JoinGroup(g); err != nil {
		t.Fatal(err)
	}
	l.Round()
	eth, ip, m := sentICMP(t, l.link.only(t))
	if m.Type() != header.ICMPv6MulticastListenerReportV2 || ip.Dst16() != mld.AllMLDv2Routers ||
		eth.Dst() != header.MulticastMAC6(mld.AllMLDv2Routers) || ip.HopLimit() != 1 || ip.Src16() != header.LinkLocalFromMAC(ourMAC) {
		t.Fatalf("sent type %d to %v hop %d from %v", m.Type(), ip.Dst(), ip.HopLimit(), ip.Src())
	}
	var ext header.IPv6Ext
	if header.ParseIPv6Ext(ip, &ext); !ext.RouterAlert {
		t.Error("no Router Alert option")
	}
	recs := header.MLD(m).Records()
	rec, ok := recs.Next()
	if !ok || rec.Address() != g.As16() || rec.Type() != header.MLDv2ChangeToExclude {
		t.Errorf("record %v", rec)
	}
	if !l.h.takesGroup(g.As16()) {
		t.Error("the joined group is not received")
	}
	if err := l.h.LeaveGroup(g); err != nil {
		t.Fatal(err)
	}
	if l.h.takesGroup(g.As16()) {
		t.Error("a left group is still received")
	}
}

// TestSteeredNDPLearns: an advertisement another worker received teaches
// this worker's cache, and is never answered.
func TestSteeredNDPLearns(t *testing.T) {
	l := newTestLayer(t, testConfig(), true)
	var b [32]byte
	n, _ := header.PutNeighborSolicitation(b[:], ourIP.As16(), peerMAC)
	dst := netip.AddrFrom16(header.SolicitedNodeMulticast(ourIP.As16()))
	l.ndpSteered(packet6(peerIP, dst, header.ProtocolICMPv6, 255, ndpMsg(peerIP, dst, b[:n])))
	if l.link.count() != 0 {
		t.Error("a steered solicitation was answered")
	}
	if st, mac, _ := l.cache.State(peerIP.As16()); st != ndp.Stale || mac != peerMAC {
		t.Errorf("peer %v at %v, want STALE at %v", st, mac, peerMAC)
	}
}
