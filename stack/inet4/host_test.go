package inet4

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpengine/engine/header"
)

func testHost(t *testing.T, gw string) *Host {
	t.Helper()
	cfg := Config{
		Interface: "none", MAC: header.MAC{2, 0, 0, 0, 0, 1}, MTU: 1500,
		Addrs: []netip.Prefix{
			netip.MustParsePrefix("198.18.0.1/24"),
			netip.MustParsePrefix("198.19.5.1/30"),
		},
		Epoch: time.Now(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if gw != "" {
		cfg.Gateway = netip.MustParseAddr(gw)
	}
	h, err := NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRoute(t *testing.T) {
	a := netip.MustParseAddr
	h := testHost(t, "198.18.0.254")
	for _, tc := range []struct{ dst, next, src string }{
		{"198.18.0.7", "198.18.0.7", "198.18.0.1"},
		{"198.19.5.2", "198.19.5.2", "198.19.5.1"},
		{"203.0.113.9", "198.18.0.254", "198.18.0.1"}, // off link: the gateway
	} {
		next, src, ok := h.Route(a(tc.dst))
		if !ok || next != a(tc.next) || src != a(tc.src) {
			t.Errorf("route to %s: %v from %v (%v), want %s from %s", tc.dst, next, src, ok, tc.next, tc.src)
		}
	}
	if _, _, ok := testHost(t, "").Route(a("203.0.113.9")); ok {
		t.Error("a route off the link without a gateway")
	}
	if got := testHost(t, "").SourceFor(a("203.0.113.9")); got != a("198.18.0.1") {
		t.Errorf("source without a route: %v, want the first address", got)
	}
}

func TestBroadcastsAndLocal(t *testing.T) {
	a := netip.MustParseAddr
	h := testHost(t, "")
	for addr, want := range map[string]bool{
		"255.255.255.255": true, "198.18.0.255": true, "198.19.5.3": true,
		"198.18.0.1": false, "198.19.5.2": false, "10.0.0.255": false,
	} {
		if got := h.IsBroadcast(a(addr)); got != want {
			t.Errorf("IsBroadcast(%s) = %v", addr, got)
		}
	}
	if got := h.BroadcastOf(a("198.19.5.1")); got != a("198.19.5.3") {
		t.Errorf("BroadcastOf: %v", got)
	}
	if h.BroadcastOf(a("198.18.0.9")).IsValid() {
		t.Error("BroadcastOf an address the engine does not own")
	}
	tp := a("203.0.113.5")
	if h.IsLocal(tp) {
		t.Fatal("a foreign address is local")
	}
	if err := h.AddTransparent(tp); err != nil {
		t.Fatal(err)
	}
	if !h.IsLocal(tp) || h.Owns(tp) || !h.IsLocal(a("198.18.0.1")) {
		t.Error("a transparent address is local but not owned")
	}
	if !h.BroadcastBind(a("0.0.0.0")) || !h.BroadcastBind(a("198.18.0.255")) || h.BroadcastBind(a("198.18.0.1")) {
		t.Error("BroadcastBind")
	}
}

func TestBroadcastPortsCounted(t *testing.T) {
	h := testHost(t, "")
	for range 2 {
		if err := h.AddBroadcastPort(67); err != nil {
			t.Fatal(err)
		}
	}
	h.RemoveBroadcastPort(67)
	if h.bcastPorts[67] != 1 {
		t.Fatalf("port 67 claimed %d times after two adds and a remove", h.bcastPorts[67])
	}
	h.RemoveBroadcastPort(67)
	if _, ok := h.bcastPorts[67]; ok {
		t.Fatal("port 67 still claimed")
	}
}

func TestPathMTU(t *testing.T) {
	a := netip.MustParseAddr
	h := testHost(t, "")
	dst := a("198.18.0.9")
	if got := h.PathMTU(dst); got != 1500 {
		t.Fatalf("no learned MTU: %d", got)
	}
	h.Learn(dst, 1400)
	if got := h.PathMTU(dst); got != 1400 {
		t.Errorf("learned 1400: %d", got)
	}
	h.Learn(dst, 100) // below min_pmtu: raised to 552, as Linux
	if got := h.PathMTU(dst); got != 552 {
		t.Errorf("learned 100: %d, want 552", got)
	}
	h.Learn(dst, 9000) // never above the link
	if got := h.PathMTU(dst); got != 1500 {
		t.Errorf("learned 9000: %d, want the link's 1500", got)
	}
	if got := h.PathMTU(a("198.18.0.10")); got != 1500 {
		t.Errorf("another destination: %d", got)
	}
}
