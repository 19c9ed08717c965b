package inet4

import (
	"net/netip"
	"testing"
)

// Announce adds and removes an address the ARP responders answer for;
// the engine's own addresses are answered anyway and not listed; what is
// not a unicast IPv4 address is refused; each new one is queued for a
// gratuitous ARP once.
func TestAnnounce(t *testing.T) {
	h := testHost(t, "")
	vip := netip.MustParseAddr("198.18.0.100")
	if h.Announces(vip.As4()) {
		t.Fatal("announces a VIP before Announce")
	}
	for range 2 { // the second is a no-op
		if err := h.Announce(vip, true); err != nil {
			t.Fatal(err)
		}
	}
	if !h.Announces(vip.As4()) || len(h.announced()) != 1 || h.announced()[0] != vip {
		t.Fatalf("after Announce: Announces %v, Announced %v", h.Announces(vip.As4()), h.announced())
	}
	if h.ann.sched.Len() != 1 || !h.ann.sched.Due() {
		t.Fatalf("gratuitous ARPs queued for %d addresses (due %v), want one", h.ann.sched.Len(), h.ann.sched.Due())
	}
	if err := h.Announce(netip.MustParseAddr("198.18.0.1"), true); err != nil || len(h.announced()) != 1 {
		t.Fatalf("the engine's own address: %v, Announced %v", err, h.announced())
	}
	for _, bad := range []string{"2001:db8::1", "0.0.0.0", "224.0.0.5", "127.0.0.1"} {
		if err := h.Announce(netip.MustParseAddr(bad), true); err == nil {
			t.Errorf("Announce(%s): no error", bad)
		}
	}
	if err := h.Announce(vip, false); err != nil {
		t.Fatal(err)
	}
	if h.Announces(vip.As4()) || len(h.announced()) != 0 {
		t.Fatalf("after withdrawal: Announces %v, Announced %v", h.Announces(vip.As4()), h.announced())
	}
}
