package lb

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/header"
)

// SetConfig announces an address while any VIP of it asks (two ports, one
// removed: still announced; the last removed: withdrawn), refuses an
// address that cannot be announced without touching what runs, and a
// reload without the flag withdraws it.
func TestBalancerAnnounce(t *testing.T) {
	b, h := newUnitBalancer(t, 1)
	vip := netip.MustParseAddr("198.18.0.100")
	be := []Backend{{Addr: netip.MustParseAddr("198.18.0.11"), Weight: 1}}
	on := func() bool { return h.Announces(vip.As4()) }
	vipOn := func(port uint16) VIP {
		return VIP{Addr: vip, Port: port, Proto: header.ProtocolTCP, Mode: NAT, Backends: be, Announce: true}
	}
	set := func(vips ...VIP) error { return b.SetConfig(Config{VIPs: vips}) }
	if err := set(vipOn(80), vipOn(443)); err != nil {
		t.Fatal(err)
	}
	if !on() {
		t.Fatal("two announced VIPs of the address: not announced")
	}
	if err := set(vipOn(443)); err != nil || !on() {
		t.Fatalf("one of the two removed: %v, announced %v; want still announced", err, on())
	}
	for _, bad := range []string{"198.18.0.255", "127.0.0.1", "224.0.0.9"} {
		v := vipOn(80)
		v.Addr = netip.MustParseAddr(bad)
		if err := set(vipOn(443), v); !errors.Is(err, ErrConfig) {
			t.Errorf("announcing %s: %v, want ErrConfig", bad, err)
		}
		if h.Announces(v.Addr.As4()) || !on() || len(b.Config().VIPs) != 1 {
			t.Fatalf("after the refused configuration with %s: the running one changed", bad)
		}
	}
	off := vipOn(443)
	off.Announce = false
	if err := set(off); err != nil || on() {
		t.Fatalf("reloaded without announce: %v, announced %v; want withdrawn", err, on())
	}
	if err := set(vipOn(443)); err != nil || !on() {
		t.Fatalf("announced again: %v, %v", err, on())
	}
	if err := set(); err != nil || on() {
		t.Fatalf("every VIP removed: %v, announced %v; want withdrawn", err, on())
	}
}
