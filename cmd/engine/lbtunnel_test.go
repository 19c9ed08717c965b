package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/ctl"
	"github.com/xdpengine/engine/lb"
	"github.com/xdpengine/engine/lb/config"
)

// TestLBTunnelCommands: tunnel VIPs added with engine lb reach the
// balancer and the file with their mode, port, VNI and backend MACs; show
// reports them; a dsr-vxlan backend without a MAC, or a MAC elsewhere, is
// refused with what to do.
func TestLBTunnelCommands(t *testing.T) {
	f := newLBFixture(t, lbTestFile)
	const (
		gue   = "198.18.0.101:443/tcp"
		vxlan = "198.18.0.102:443/tcp"
		ipip  = "198.18.0.103:53/udp"
		mac1  = "02:00:5e:10:00:01"
		mac2  = "02:00:5e:10:00:02"
		mac3  = "02:00:5e:10:00:03"
	)
	for _, step := range []struct {
		args []string
		out  string
	}{
		{[]string{"vip", "add", gue, "--forwarding", "dsr-gue", "--gue-port", "7000", "--backend", "198.18.1.11"},
			"added VIP " + gue + " (dsr-gue:7000) with 1 backend (saved to "},
		{[]string{"vip", "add", vxlan, "--forwarding", "dsr-vxlan", "--vni", "42", "--backend", "198.18.1.11@" + mac1, "--backend", "198.18.1.12=2@" + mac2},
			"added VIP " + vxlan + " (dsr-vxlan:4789 vni 42) with 2 backends"},
		{[]string{"vip", "add", ipip, "--forwarding", "dsr-ipip", "--backend", "198.18.1.11"}, "added VIP " + ipip + " (dsr-ipip) with 1 backend"},
		{[]string{"backend", "add", vxlan, "198.18.1.13", "--mac", mac3}, "added backend 198.18.1.13 (MAC " + mac3 + ") to " + vxlan + " with weight 1"},
	} {
		out, stderr, code := f.lb(step.args...)
		if code != 0 || !strings.HasPrefix(out, step.out) {
			t.Fatalf("engine lb %s: exit %d, %s, %q; want %q", strings.Join(step.args, " "), code, stderr, out, step.out)
		}
	}

	// The file: what config.Load reads back, and the keys it has.
	m, err := config.Load(f.path)
	if err != nil || !m.Equal(f.c.current()) {
		t.Fatalf("the file is not the model: %v\n%s", err, f.file(t))
	}
	byKey := map[string]config.VIP{}
	for _, v := range m.VIPs {
		byKey[v.Key()] = v
	}
	mac := func(s string) header.MAC { m, _ := parseMAC(s); return m }
	if v := byKey[gue]; v.Forwarding != config.DSRGUE || v.GUEPort != 7000 || v.VNI != 0 || v.VXLANPort != 0 {
		t.Errorf("dsr-gue VIP in the file: %+v", v)
	}
	if v := byKey[vxlan]; v.Forwarding != config.DSRVXLAN || v.VNI != 42 || v.VXLANPort != config.DefaultVXLANPort || v.GUEPort != 0 ||
		len(v.Backends) != 3 || v.Backends[0].MAC != mac(mac1) || v.Backends[1].MAC != mac(mac2) || v.Backends[1].Weight != 2 || v.Backends[2].MAC != mac(mac3) {
		t.Errorf("dsr-vxlan VIP in the file: %+v", v)
	}
	if v := byKey[ipip]; v.Forwarding != config.DSRIPIP || v.Backends[0].MAC != (header.MAC{}) {
		t.Errorf("dsr-ipip VIP in the file: %+v", v)
	}
	for _, want := range []string{"forwarding: dsr-gue\n    gue_port: 7000\n", "forwarding: dsr-vxlan\n", "vni: 42\n", `mac: "` + mac2 + `"`, "forwarding: dsr-ipip\n"} {
		if !strings.Contains(f.file(t), want) {
			t.Errorf("the file lacks %q:\n%s", want, f.file(t))
		}
	}
	// The balancer: what lb.FromConfig makes of the file.
	for _, v := range f.bal.Config().VIPs {
		if v.Key() == vxlan && (v.Mode != lb.DSRVXLAN || v.VNI != 42 || v.VXLANPort != 4789 || v.Backends[2].MAC != mac(mac3)) {
			t.Errorf("dsr-vxlan VIP in the balancer: %+v", v)
		}
		if v.Key() == gue && (v.Mode != lb.DSRGUE || v.GUEPort != 7000) {
			t.Errorf("dsr-gue VIP in the balancer: %+v", v)
		}
	}

	// show: the tunnel's settings, the MACs, the drops by reason.
	f.bal.mu.Lock()
	f.bal.drops = map[string][lb.NumDropReasons]uint64{lbTestVIP: {lb.DropNoBackend: 3, lb.DropTooBig: 1}}
	f.bal.mu.Unlock()
	out, _, _ := f.lb("show", "--json")
	var raw struct {
		VIPs []map[string]any `json:"vips"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil || len(raw.VIPs) != 4 {
		t.Fatalf("show --json: %v\n%s", err, out)
	}
	nat := raw.VIPs[0]
	if _, has := nat["vni"]; has || nat["gue_port"] != nil || nat["vxlan_port"] != nil {
		t.Errorf("a nat VIP shows tunnel settings: %v", nat)
	}
	if got, want := fmt.Sprint(nat["drops_by_reason"]), "map[no_backend:3 other:0 table_full:0 too_big:1]"; got != want || nat["drops"] != 4.0 {
		t.Errorf("drops %v, drops_by_reason %s; want 4 and %s", nat["drops"], got, want)
	}
	st := f.show(t)
	if v := st.VIPs[1]; v.VIP != gue || v.Forwarding != "dsr-gue" || v.GUEPort != 7000 || v.VNI != nil {
		t.Errorf("show --json, dsr-gue: %+v", v)
	}
	if v := st.VIPs[2]; v.VIP != vxlan || v.VNI == nil || *v.VNI != 42 || v.VXLANPort != 4789 || v.Backends[1].MAC != mac2 {
		t.Errorf("show --json, dsr-vxlan: %+v", v)
	}
	out, _, _ = f.lb("show")
	if !hasRow(out, vxlan, "dsr-vxlan:4789 vni 42 5-tuple tcp 30 3000 3 0 0") || !hasRow(out, "  -> 198.18.1.12@"+mac2, "2 active - 10 1000 1 0") ||
		!hasRow(out, gue, "dsr-gue:7000 5-tuple tcp 10 1000 1 0 0") || !strings.Contains(out, "Drops by reason:\n  "+lbTestVIP+": no backend 3, too big 1\n") {
		t.Errorf("engine lb show:\n%s", out)
	}

	// Refusals, by the command line and by the control socket alike.
	before, sets := f.file(t), f.bal.sets
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"backend", "add", vxlan, "198.18.1.14"}, "backend 198.18.1.14: the VIP forwards dsr-vxlan, which needs the MAC of the backend's VXLAN device " +
			"(ip link show DEV on the backend prints it): add --mac MAC, e.g. --mac 02:00:5e:10:00:01"},
		{[]string{"backend", "add", lbTestVIP, "198.18.1.14", "--mac", mac1}, "backend 198.18.1.14: only dsr-vxlan VIPs use a backend's MAC (this VIP forwards nat): drop --mac"},
		{[]string{"backend", "add", vxlan, "198.18.1.11", "--mac", mac1}, "backend 198.18.1.11 is already in it"},
	} {
		if _, stderr, code := f.lb(tc.args...); code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("engine lb %s: exit %d, %q; want exit 1 and %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
	c, err := ctl.Dial(f.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	vni := uint32(7)
	for _, tc := range []struct {
		a    lbArgs
		want string
	}{
		{lbArgs{VIP: "198.18.0.104:80/tcp", Forwarding: "nat", VNI: &vni}, "--vni applies to --forwarding dsr-vxlan only (this VIP forwards nat): drop it"},
		{lbArgs{VIP: "198.18.0.104:80/tcp", Forwarding: "dsr-vxlan"}, "--forwarding dsr-vxlan needs --vni N"},
		{lbArgs{VIP: "198.18.0.104:80/tcp", Forwarding: "dsr-vxlan", VNI: &vni, Backends: []lbBackendArg{{Addr: be11}}},
			"--backend 198.18.0.11: dsr-vxlan needs the MAC of the backend's VXLAN device"},
		{lbArgs{VIP: "198.18.0.104:80/tcp", Forwarding: "dsr-vxlan", VNI: &vni, Backends: []lbBackendArg{{Addr: be11, MAC: "ff:ff:ff:ff:ff:ff"}}},
			"MAC ff:ff:ff:ff:ff:ff is a group address"},
		{lbArgs{VIP: "198.18.0.104:80/tcp", Forwarding: "vxlan"}, `--forwarding "vxlan": want nat, dsr-l2, dsr-ipip, dsr-gue, dsr-vxlan`},
	} {
		if err := c.Call("lb.vip.add", tc.a, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("lb.vip.add %+v: %v, want %q", tc.a, err, tc.want)
		}
	}
	if f.file(t) != before || f.bal.sets != sets {
		t.Errorf("a refused change touched the file or the balancer")
	}
}
