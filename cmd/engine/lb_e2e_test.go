package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/lb"
	"github.com/xdpengine/engine/lb/config"
)

// getVIP fetches http://vip/ n times from the peer, each on a new
// connection, and counts the answers by backend name.
func getVIP(t *testing.T, bed *testbed.Bed, vip netip.Addr, n int) map[string]int {
	t.Helper()
	client := enginetest.PeerHTTPClient(bed)
	client.Transport.(*http.Transport).DisableKeepAlives = true
	client.Timeout = 5 * time.Second
	got := map[string]int{}
	for i := range n {
		resp, err := client.Get("http://" + vip.String() + "/")
		if err != nil {
			t.Fatalf("request %d through the VIP: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got[string(body)]++
	}
	return got
}

// lbFile writes the test's configuration: a NAT VIP on port 80 with the
// given backend lines.
func lbFile(t *testing.T, path string, vip netip.Addr, backends ...string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "# written by %s\nvips:\n  - address: %s\n    port: 80\n    protocol: tcp\n    forwarding: nat\n    health: {type: none}\n    backends:\n", t.Name(), vip)
	for _, be := range backends {
		b.WriteString("      - " + be + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// posOf returns "FILE:LINE:COLUMN" of the first needle in the file.
func posOf(t *testing.T, path, needle string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if c := strings.Index(line, needle); c >= 0 {
			return fmt.Sprintf("%s:%d:%d", path, i+1, c+1)
		}
	}
	t.Fatalf("no %q in %s", needle, path)
	return ""
}

// TestServeLB: engine serve --lb in front of two kernel backends on the
// engine's segment. Requests through the VIP reach both; engine lb drains
// one (the balancer, lb show and the file agree; new connections avoid
// it); SIGHUP applies an edited file; an invalid one is logged with its
// line and the engine goes on with the configuration it had.
func TestServeLB(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	hosts, err := bed.AddSegmentHosts(2)
	if err != nil {
		t.Fatal(err)
	}
	vip := enginetest.RouteVIP(t, bed, 0)
	vipKey := vip.String() + ":80/tcp"
	for i, h := range hosts {
		enginetest.ServeName(t, h, fmt.Sprintf("backend-%d", i))
	}
	dir := t.TempDir()
	file, sock := filepath.Join(dir, "lb.yaml"), filepath.Join(dir, "engine.sock")
	engineArgs := []string{"-i", bed.HostIf, "--addr", netip.PrefixFrom(bed.EngineAddr, 24).String(), "--ctl", sock, "--queues", "1"}
	b0, b1 := hosts[0].Addr.String(), hosts[1].Addr.String()

	// An invalid file: status 2, its line, nothing attached.
	lbFile(t, file, vip, "{address: "+b0+", weight: 70000}", "{address: "+b1+"}")
	if _, stderr, code := engineCmd(t, append([]string{"serve", "--lb", file}, engineArgs...)...); code != 2 ||
		!strings.Contains(stderr, posOf(t, file, "70000")+": vips[0].backends[0].weight: 70000 is above 65535") {
		t.Errorf("engine serve --lb with an invalid file: exit %d, %q", code, stderr)
	}
	if id, _, _ := afxdp.AttachedProgram(bed.HostIf); id != 0 {
		t.Fatalf("XDP program %d attached although the --lb file is invalid", id)
	}

	lbFile(t, file, vip, "{address: "+b0+"}", "{address: "+b1+"}")
	srv := startServe(t, sock, append([]string{"--lb", file}, engineArgs...)...)
	if info := srv.waitControl(t, sock); info.LB != file {
		t.Errorf("config: lb %q, want %q", info.LB, file)
	}
	show := func() lbState {
		t.Helper()
		out, stderr, code := engineCmd(t, "lb", "show", "--json", "--ctl", sock)
		var st lbState
		if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil {
			t.Fatalf("engine lb show --json: exit %d, %v, %s\n%s", code, err, stderr, out)
		}
		return st
	}

	got := getVIP(t, bed, vip, 20)
	if got["backend-0"] == 0 || got["backend-1"] == 0 || got["backend-0"]+got["backend-1"] != 20 {
		t.Errorf("20 requests through the VIP: %v, want both backends", got)
	}
	out, stderr, code := engineCmd(t, "lb", "show", "--ctl", sock)
	t.Logf("engine lb show:\n%s", out)
	if code != 0 || !strings.Contains(out, vipKey+"  nat") || !strings.Contains(out, "  -> "+b0) || !strings.Contains(out, "  -> "+b1) {
		t.Errorf("engine lb show: exit %d, %s\n%s", code, stderr, out)
	}
	st := show()
	if len(st.VIPs) != 1 || st.VIPs[0].NewFlows < 20 || st.VIPs[0].Packets < 100 || len(st.VIPs[0].Backends) != 2 ||
		st.VIPs[0].Backends[0].NewFlows+st.VIPs[0].Backends[1].NewFlows != st.VIPs[0].NewFlows {
		t.Errorf("engine lb show --json: %+v", st)
	}

	if d := st.VIPs[0].DropsByReason; len(d) != int(lb.NumDropReasons) || d["no_backend"] != 0 {
		t.Errorf("drops by reason: %v, want every reason, none counted", d)
	}

	// The 20 connections are tracked (closing: the client closed them),
	// each with its NAT port on the engine's address.
	out, stderr, code = engineCmd(t, "lb", "flows", "--ctl", sock)
	t.Logf("engine lb flows:\n%s", out)
	rows := 0
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 8 && f[0] == "tcp" && strings.HasPrefix(f[1], bed.PeerAddr.String()+":") &&
			f[2] == vip.String()+":80" && (f[3] == b0+":80" || f[3] == b1+":80") && strings.HasPrefix(f[4], bed.EngineAddr.String()+":") {
			rows++
		}
	}
	if code != 0 || rows < 20 {
		t.Errorf("engine lb flows: exit %d, %s, %d rows of the test's connections, want 20", code, stderr, rows)
	}
	// engine stats ends with the balancer's table.
	out, stderr, code = engineCmd(t, "stats", "--ctl", sock)
	if code != 0 || !strings.Contains(out, "load balancer ("+file+"):") || !strings.Contains(out, vipKey) {
		t.Errorf("engine stats: exit %d, %s, no load balancer section:\n%s", code, stderr, out)
	}
	out, _, code = engineCmd(t, "lb", "flows", "--vip", vipKey, "--limit", "1", "--json", "--ctl", sock)
	var fl lbFlowsJSON
	if err := json.Unmarshal([]byte(out), &fl); code != 0 || err != nil || len(fl.Flows) != 1 || fl.Total < 20 || fl.LeftOut != fl.Total-1 {
		t.Errorf("engine lb flows --limit 1 --json: exit %d, %v\n%s", code, err, out)
	}

	// Drain backend 0: the engine, lb show and the file agree.
	before, _ := os.ReadFile(file)
	out, stderr, code = engineCmd(t, "lb", "backend", "drain", vipKey, b0, "--ctl", sock)
	if code != 0 || !strings.Contains(out, "drained backend "+b0) {
		t.Fatalf("engine lb backend drain: exit %d, %s, %s", code, stderr, out)
	}
	if be := show().VIPs[0].Backends[0]; be.Addr.String() != b0 || be.Weight != 0 || be.ConfigWeight != 1 || !be.Drain || be.State != "drained" {
		t.Errorf("after the drain, lb show: %+v", be)
	}
	after, _ := os.ReadFile(file)
	m, err := config.Load(file)
	if err != nil || string(after) == string(before) || !m.VIPs[0].Backends[0].Drain || m.VIPs[0].Backends[1].Drain {
		t.Errorf("the file after the drain (%v):\n%s", err, after)
	}
	if got := getVIP(t, bed, vip, 20); got["backend-1"] != 20 {
		t.Errorf("20 requests after draining backend-0: %v, want all on backend-1", got)
	}
	client := bed.PeerAddr.String() + ":40000"
	if out, _, code := engineCmd(t, "lb", "lookup", vipKey, client, "--ctl", sock); code != 0 || out != vipKey+" from "+client+" -> "+b1+"\n" {
		t.Errorf("engine lb lookup: exit %d, %q", code, out)
	}

	// SIGHUP with an edited file: backend 1 removed, backend 0 back.
	lbFile(t, file, vip, "{address: "+b0+", weight: 3}")
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	enginetest.WaitFor(t, "the reload", func() bool { return strings.Contains(srv.stderr.String(), `msg="lb: reloaded" trigger=SIGHUP`) })
	if bs := show().VIPs[0].Backends; len(bs) != 1 || bs[0].Addr.String() != b0 || bs[0].Weight != 3 || bs[0].State != "active" {
		t.Errorf("after SIGHUP: %+v", bs)
	}
	if got := getVIP(t, bed, vip, 10); got["backend-0"] != 10 {
		t.Errorf("10 requests after the reload: %v, want all on backend-0", got)
	}

	// An invalid file: logged with its line; the configuration stays; the
	// CLI refuses to overwrite it.
	lbFile(t, file, vip, "{address: "+b0+", weight: 3}", "{address: "+b1+", wieght: 1}")
	srv.cmd.Process.Signal(syscall.SIGHUP)
	problem := posOf(t, file, "wieght") + ": vips[0].backends[1].wieght"
	enginetest.WaitFor(t, "the refused reload", func() bool { return strings.Contains(srv.stderr.String(), problem) })
	if logs := srv.stderr.String(); !strings.Contains(logs, `level=ERROR msg="lb: not reloaded, the running configuration stays" trigger=SIGHUP`) {
		t.Errorf("the refused reload's log:\n%s", logs)
	}
	if bs := show().VIPs[0].Backends; len(bs) != 1 || bs[0].Weight != 3 {
		t.Errorf("after an invalid file: %+v, want the previous configuration", bs)
	}
	if _, stderr, code := engineCmd(t, "lb", "backend", "weight", vipKey, b0, "1", "--ctl", sock); code != 1 || !strings.Contains(stderr, "cannot be read back") {
		t.Errorf("a change over an invalid file: exit %d, %q", code, stderr)
	}
	if got := getVIP(t, bed, vip, 5); got["backend-0"] != 5 {
		t.Errorf("requests after the invalid file: %v", got)
	}

	srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-srv.done:
	case <-time.After(15 * time.Second):
		t.Fatal("engine serve did not exit after SIGTERM")
	}
	if srv.err != nil {
		t.Errorf("engine serve: %v", srv.err)
	}
	if id, _, _ := afxdp.AttachedProgram(bed.HostIf); id != 0 {
		t.Errorf("XDP program %d left on %s", id, bed.HostIf)
	}
}
