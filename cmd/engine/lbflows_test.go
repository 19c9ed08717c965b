package main

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/lb"
)

const lbUDPVIP = "198.18.0.100:53/udp"

// lbTwoVIPs is lbTestFile with a second VIP, for --vip.
const lbTwoVIPs = lbTestFile + `  - address: 198.18.0.100
    port: 53
    protocol: udp
    forwarding: dsr-l2
    backends: [{address: 198.18.0.11}]
`

// sampleFlows are tracked flows as lb.Flows lists them: by VIP, then client.
func sampleFlows() []lb.Flow {
	ap := netip.MustParseAddrPort
	return []lb.Flow{
		{VIP: lbUDPVIP, Client: ap("198.18.0.2:5353"), Backend: ap("198.18.0.11:53"), Queue: 1, State: "udp", Idle: 1500 * time.Millisecond},
		{VIP: lbTestVIP, Client: ap("198.18.0.2:40000"), Backend: ap("198.18.0.11:80"), SNAT: ap("198.18.0.1:33001"), State: "established", Idle: 20 * time.Millisecond},
		{VIP: lbTestVIP, Client: ap("198.18.0.2:40001"), Backend: ap("198.18.0.12:80"), SNAT: ap("198.18.0.1:33002"), Queue: 1, State: "syn", Idle: 3 * time.Second},
		{VIP: lbTestVIP, Client: ap("198.18.0.3:40000"), Backend: ap("198.18.0.12:80"), SNAT: ap("198.18.0.1:33003"), State: "closing", Idle: 90 * time.Second},
	}
}

// TestLBFlows: engine lb flows lists the balancer's tracked flows through
// lb.flows, at most --limit of them, and says how many it left out.
func TestLBFlows(t *testing.T) {
	f := newLBFixture(t, lbTwoVIPs)
	if out, stderr, code := f.lb("flows"); code != 0 || out != "no tracked flows\n" {
		t.Errorf("flows of an idle balancer: exit %d, %s, %q", code, stderr, out)
	}
	f.bal.flows = sampleFlows()

	out, stderr, code := f.lb("flows")
	want := `Proto  Client            VIP              Backend         NAT               State         Idle  Queue
udp    198.18.0.2:5353   198.18.0.100:53  198.18.0.11:53  -                 udp           1.5s      1
tcp    198.18.0.2:40000  198.18.0.100:80  198.18.0.11:80  198.18.0.1:33001  established     0s      0
tcp    198.18.0.2:40001  198.18.0.100:80  198.18.0.12:80  198.18.0.1:33002  syn             3s      1
tcp    198.18.0.3:40000  198.18.0.100:80  198.18.0.12:80  198.18.0.1:33003  closing      1m30s      0
4 flows
`
	if code != 0 || out != want {
		t.Errorf("engine lb flows: exit %d, %s\n%s\nwant\n%s", code, stderr, out, want)
	}
	if got := f.bal.asked[len(f.bal.asked)-1]; got != lbFlowsDefault+1 {
		t.Errorf("the balancer was asked for %d flows, want the default limit and one more (%d)", got, lbFlowsDefault+1)
	}

	out, _, code = f.lb("flows", "--vip", lbTestVIP)
	if code != 0 || strings.Contains(out, "udp") || !strings.HasSuffix(out, "\n3 flows of "+lbTestVIP+"\n") {
		t.Errorf("flows --vip: exit %d\n%s", code, out)
	}

	out, _, code = f.lb("flows", "--limit", "2")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 4 ||
		lines[3] != "2 of 4 flows shown, 2 left out: raise --limit (at most 100000) or pick a VIP with --vip" {
		t.Errorf("flows --limit 2: exit %d\n%s", code, out)
	}

	out, _, code = f.lb("flows", "--limit", "1", "--vip", lbTestVIP, "--json")
	var got lbFlowsJSON
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
		t.Fatalf("flows --json: exit %d, %v\n%s", code, err, out)
	}
	snat := netip.MustParseAddrPort("198.18.0.1:33001")
	wantJSON := lbFlowsJSON{VIP: lbTestVIP, Limit: 1, Total: 3, LeftOut: 2, Flows: []lbFlowJSON{{Proto: "tcp", VIP: lbTestVIP,
		Client: netip.MustParseAddrPort("198.18.0.2:40000"), Backend: netip.MustParseAddrPort("198.18.0.11:80"), SNAT: &snat,
		State: "established", IdleNs: int64(20 * time.Millisecond)}}}
	if !reflect.DeepEqual(got, wantJSON) {
		t.Errorf("flows --json:\n got %+v\nwant %+v", got, wantJSON)
	}
	out, _, _ = f.lb("flows", "--vip", lbUDPVIP, "--json")
	if strings.Contains(out, `"snat"`) || !strings.Contains(out, `"left_out": 0`) {
		t.Errorf("a DSR flow has no snat key; nothing left out:\n%s", out)
	}

	if _, stderr, code := f.lb("flows", "--vip", "198.18.0.100:81/tcp"); code != 1 ||
		!strings.Contains(stderr, "VIP 198.18.0.100:81/tcp does not exist: `engine lb show` lists the VIPs") {
		t.Errorf("flows of a VIP that does not exist: exit %d, %q", code, stderr)
	}
	// What another client of the control socket may send.
	for _, tc := range []struct {
		a    lbFlowsArgs
		want string
	}{
		{lbFlowsArgs{Limit: -1}, "limit -1: want 1 to 100000"},
		{lbFlowsArgs{Limit: lbFlowsMax + 1}, "limit 100001: want 1 to 100000"},
		{lbFlowsArgs{VIP: "198.18.0.100"}, "no protocol: want ADDR:PORT/PROTO"},
	} {
		if _, err := f.c.flows(tc.a); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("lb.flows %+v: %v, want %q", tc.a, err, tc.want)
		}
	}
}
