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
// kernel (the peer namespace, on the bridge) resolves the VIP with ARP or
// Neighbor Discovery, which the engine answers with its own MAC; the
// engine's announcement at start (a gratuitous ARP, an unsolicited
// Neighbor Advertisement with the override flag) corrects a neighbor
// entry the client had, as Linux updates an existing entry from one;
// withdrawing the announcement leaves the VIP unresolved.
func TestAnnouncedVIP(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		name := "ipv4"
		if v6 {
			name = "ipv6"
		}
		t.Run(name, func(t *testing.T) { testAnnouncedVIP(t, v6) })
	}
}

func testAnnouncedVIP(t *testing.T, v6 bool) {
	bed := testbed.New(t, testbed.Config{IPv6: v6})
	hosts, err := bed.AddSegmentHosts(2)
	if err != nil {
		t.Fatal(err)
	}
	var backends []lb.Backend
	var vip netip.Addr
	ecfg := engine.Config{}
	family := "-4"
	if v6 {
		addrs, err := bed.AddSegmentIPv6(hosts)
		if err != nil {
			t.Fatal(err)
		}
		a := bed.Prefix6.Addr().As16()
		a[14], a[15] = 0x01, 0x00
		vip = netip.AddrFrom16(a)
		for i, h := range hosts {
			backends = append(backends, lb.Backend{Addr: addrs[i], Weight: 1})
			serveName6(t, h, fmt.Sprintf("backend-%d", i))
		}
		ecfg.IPv6NoDAD = true
		ecfg.Addrs = []netip.Prefix{netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits()), netip.PrefixFrom(bed.EngineAddr6, 64)}
		family = "-6"
	} else {
		a := bed.Prefix.Addr().As4()
		a[3] = 100
		vip = netip.AddrFrom4(a)
		for i, h := range hosts {
			backends = append(backends, lb.Backend{Addr: h.Addr, Weight: 1})
			enginetest.ServeName(t, h, fmt.Sprintf("backend-%d", i))
		}
	}
	ipNeigh := func(args ...string) string {
		t.Helper()
		out, err := bed.Command(context.Background(), "ip", append([]string{family, "neigh"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %s neigh %v: %v: %s", family, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	neigh := func() string { return ipNeigh("show", vip.String(), "dev", testbed.SegmentBridge) }
	// A stale entry with another MAC, as a client has for a VIP that
	// moved: the announcement must correct it.
	const oldMAC = "02:00:5e:00:00:99"
	ipNeigh("replace", vip.String(), "lladdr", oldMAC, "dev", testbed.SegmentBridge, "nud", "stale")

	ecfg.LoadBalancer = &lb.Config{VIPs: []lb.VIP{{Addr: vip, Port: 80, Proto: header.ProtocolTCP, Mode: lb.NAT, Backends: backends, Announce: true}}}
	eng := enginetest.Start(t, bed, ecfg)
	engMAC := strings.ToLower(bed.HostMAC.String())
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(neigh(), engMAC) {
		if time.Now().After(deadline) {
			t.Fatalf("the client's entry for %v after the engine started: %q, want the engine's MAC %s (the announcement)", vip, neigh(), engMAC)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Resolved from scratch: the engine answers the client's request.
	ipNeigh("flush", "to", vip.String(), "dev", testbed.SegmentBridge)
	client := enginetest.PeerHTTPClient(bed)
	client.Transport.(*http.Transport).DisableKeepAlives = true
	url := "http://" + netip.AddrPortFrom(vip, 80).String() + "/"
	got := map[string]int{}
	for i := range 20 {
		resp, err := client.Get(url)
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

	// Withdrawn: nobody answers for the VIP any more.
	c := eng.Balancer().Config()
	c.VIPs[0].Announce = false
	if err := eng.Balancer().SetConfig(c); err != nil {
		t.Fatal(err)
	}
	ipNeigh("flush", "to", vip.String(), "dev", testbed.SegmentBridge)
	client.Timeout = 4 * time.Second // the kernel gives up resolving after 3 s
	if resp, err := client.Get(url); err == nil {
		resp.Body.Close()
		t.Fatalf("a request to the VIP after the announcement was withdrawn succeeded (the client's entry: %q)", neigh())
	}
	if n := neigh(); strings.Contains(n, engMAC) {
		t.Errorf("the client's entry for %v after the withdrawal: %q, want it unresolved", vip, n)
	}
}
