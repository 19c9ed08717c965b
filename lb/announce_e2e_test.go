package lb_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/lb"
)

// A VIP with Announce on the engine's segment needs no route: the client
// kernel (the peer namespace, on the bridge) resolves the VIP with ARP,
// which the engine answers with its own MAC; the engine's gratuitous ARP
// at start corrects a neighbor entry the client had (Linux updates an
// existing entry from one, arp_accept or not); withdrawing the
// announcement leaves ARP for the VIP unanswered.
func TestAnnouncedVIP(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	hosts, err := bed.AddSegmentHosts(2)
	if err != nil {
		t.Fatal(err)
	}
	a := bed.Prefix.Addr().As4()
	a[3] = 100
	vip := netip.AddrFrom4(a)
	var backends []lb.Backend
	for i, h := range hosts {
		backends = append(backends, lb.Backend{Addr: h.Addr, Weight: 1})
		enginetest.ServeName(t, h, fmt.Sprintf("backend-%d", i))
	}
	neigh := func() string {
		t.Helper()
		out, err := bed.Command(context.Background(), "ip", "neigh", "show", vip.String(), "dev", testbed.SegmentBridge).CombinedOutput()
		if err != nil {
			t.Fatalf("ip neigh show: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	ipNeigh := func(args ...string) {
		t.Helper()
		out, err := bed.Command(context.Background(), "ip", append([]string{"neigh"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip neigh %v: %v: %s", args, err, out)
		}
	}
	// A stale entry with another MAC, as a client has for a VIP that
	// moved: the gratuitous ARP must correct it.
	const oldMAC = "02:00:5e:00:00:99"
	ipNeigh("replace", vip.String(), "lladdr", oldMAC, "dev", testbed.SegmentBridge, "nud", "stale")

	cfg := &lb.Config{VIPs: []lb.VIP{{Addr: vip, Port: 80, Proto: header.ProtocolTCP, Mode: lb.NAT, Backends: backends, Announce: true}}}
	eng := enginetest.Start(t, bed, engine.Config{LoadBalancer: cfg})
	engMAC := strings.ToLower(bed.HostMAC.String())
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(neigh(), engMAC) {
		if time.Now().After(deadline) {
			t.Fatalf("the client's entry for %v after the engine started: %q, want the engine's MAC %s (gratuitous ARP)", vip, neigh(), engMAC)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Resolved from scratch: the engine answers the client's ARP request.
	ipNeigh("flush", "to", vip.String(), "dev", testbed.SegmentBridge)
	client := enginetest.PeerHTTPClient(bed)
	client.Transport.(*http.Transport).DisableKeepAlives = true
	got := map[string]int{}
	for i := range 20 {
		resp, err := client.Get("http://" + vip.String() + "/")
		if err != nil {
			t.Fatalf("request %d to the announced VIP: %v (the client's entry: %q)", i, err, neigh())
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got[strings.TrimSpace(string(body))]++
	}
	if len(got) != 2 {
		t.Errorf("answers by backend %v, want both backends", got)
	}
	if n := neigh(); !strings.Contains(n, engMAC) || strings.Contains(n, "FAILED") {
		t.Errorf("the client's entry for %v: %q, want the engine's MAC %s", vip, n, engMAC)
	}

	// Withdrawn: nobody answers ARP for the VIP any more.
	c := eng.Balancer().Config()
	c.VIPs[0].Announce = false
	if err := eng.Balancer().SetConfig(c); err != nil {
		t.Fatal(err)
	}
	ipNeigh("flush", "to", vip.String(), "dev", testbed.SegmentBridge)
	client.Timeout = 4 * time.Second // the kernel gives up resolving after 3 s
	if resp, err := client.Get("http://" + vip.String() + "/"); err == nil {
		resp.Body.Close()
		t.Fatalf("a request to the VIP after the announcement was withdrawn succeeded (the client's entry: %q)", neigh())
	}
	if n := neigh(); strings.Contains(n, engMAC) {
		t.Errorf("the client's entry for %v after the withdrawal: %q, want it unresolved", vip, n)
	}
}
