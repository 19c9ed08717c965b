package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/xdpengine/engine/internal/ctl"
	"github.com/xdpengine/engine/lb"
	"github.com/xdpengine/engine/lb/config"
)

const lbTestFile = `# the test's balancer
vips:
  - address: 198.18.0.100
    port: 80
    protocol: tcp
    forwarding: nat
    backends:
      - {address: 198.18.0.11}
      - {address: 198.18.0.12, weight: 2}
`

const lbTestVIP = "198.18.0.100:80/tcp"

func TestParseLB(t *testing.T) {
	w := func(n uint32) *uint32 { return &n }
	for _, tc := range []struct {
		args []string
		cmd  string
		want any // the control command's arguments
	}{
		{[]string{"show"}, "lb.show", nil},
		{[]string{"-i", "eth1", "show", "--json"}, "lb.show", nil},
		{[]string{"show", "--ctl", "/x.sock"}, "lb.show", nil},
		{[]string{"reload"}, "lb.reload", nil},
		{[]string{"vip", "add", lbTestVIP, "--forwarding", "nat", "--backend", "198.18.0.11", "--backend=198.18.0.12=3"},
			"lb.vip.add", lbArgs{VIP: lbTestVIP, Forwarding: "nat", Backends: []lbBackendArg{
				{Addr: netip.MustParseAddr("198.18.0.11")}, {Addr: netip.MustParseAddr("198.18.0.12"), Weight: w(3)}}}},
		{[]string{"vip", "add", "--forwarding", "dsr-l2", "--hash", "source", "--table-size", "251", "198.18.0.100:0/udp"},
			"lb.vip.add", lbArgs{VIP: "198.18.0.100:0/udp", Forwarding: "dsr-l2", Hash: "source", TableSize: 251}},
		{[]string{"vip", "remove", lbTestVIP}, "lb.vip.remove", lbArgs{VIP: lbTestVIP}},
		{[]string{"vip", "del", lbTestVIP}, "lb.vip.remove", lbArgs{VIP: lbTestVIP}}, // lb/config's messages say "vip del"
		{[]string{"backend", "add", lbTestVIP, "198.18.0.13"}, "lb.backend.add", lbArgs{VIP: lbTestVIP, Backend: "198.18.0.13"}},
		{[]string{"backend", "add", lbTestVIP, "198.18.0.13", "0"}, "lb.backend.add", lbArgs{VIP: lbTestVIP, Backend: "198.18.0.13", Weight: w(0)}},
		{[]string{"backend", "remove", lbTestVIP, "198.18.0.13"}, "lb.backend.remove", lbArgs{VIP: lbTestVIP, Backend: "198.18.0.13"}},
		{[]string{"backend", "weight", lbTestVIP, "198.18.0.13", "65535"}, "lb.backend.weight", lbArgs{VIP: lbTestVIP, Backend: "198.18.0.13", Weight: w(65535)}},
		{[]string{"backend", "drain", lbTestVIP, "198.18.0.13", "-i", "eth1"}, "lb.backend.drain", lbArgs{VIP: lbTestVIP, Backend: "198.18.0.13"}},
		{[]string{"backend", "undrain", lbTestVIP, "198.18.0.13"}, "lb.backend.undrain", lbArgs{VIP: lbTestVIP, Backend: "198.18.0.13"}},
		{[]string{"lookup", "198.18.0.100:53/udp", "198.18.0.2:4000"}, "lb.lookup", lbLookupArgs{
			VIP: netip.MustParseAddrPort("198.18.0.100:53"), Proto: "udp", Src: netip.MustParseAddrPort("198.18.0.2:4000")}},
	} {
		r, err := parseLB(tc.args, nil)
		if err != nil {
			t.Errorf("engine lb %s: %v", strings.Join(tc.args, " "), err)
			continue
		}
		got, _ := json.Marshal(r.args)
		want, _ := json.Marshal(tc.want)
		if r.cmd != tc.cmd || !bytes.Equal(got, want) {
			t.Errorf("engine lb %s: %s %s, want %s %s", strings.Join(tc.args, " "), r.cmd, got, tc.cmd, want)
		}
	}
	r, _ := parseLB([]string{"-i", "eth1", "show", "--json"}, nil)
	if r.t.iface != "eth1" || !r.asJSON {
		t.Errorf("flags before and after the subcommand: %+v", r)
	}
}

func TestLBUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		inStderr string
	}{
		{[]string{"lb"}, "give a subcommand: show, vip add|remove, backend add|remove|weight|drain|undrain, lookup or reload"},
		{[]string{"lb", "frob"}, `unknown subcommand "frob"`},
		{[]string{"lb", "vip"}, "lb vip: give what to do: add or remove"},
		{[]string{"lb", "backend", "kill"}, `unknown subcommand "backend kill"`},
		{[]string{"lb", "show", "extra"}, "wrong number of arguments: engine lb show [--json]"},
		{[]string{"lb", "vip", "add", lbTestVIP}, "vip add: give --forwarding nat or dsr-l2"},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "tunnel"}, `--forwarding "tunnel": want nat, dsr-l2, dsr-ipip, dsr-gue, dsr-vxlan`},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "nat", "--hash", "random"}, `--hash "random": want 5-tuple or source`},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "nat", "--backend", "198.18.0.11=x"}, `weight "x": want 0 to 65535`},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "nat", "--table-size", "big"}, "want a prime"},
		{[]string{"lb", "vip", "add", "198.18.0.100:80", "--forwarding", "nat"}, "no protocol: want ADDR:PORT/PROTO, like 198.18.0.100:80/tcp"},
		{[]string{"lb", "vip", "remove", "198.18.0.100/tcp"}, "no port"},
		{[]string{"lb", "backend", "add", lbTestVIP}, "wrong number of arguments: engine lb backend add VIP ADDR [WEIGHT]"},
		{[]string{"lb", "backend", "add", lbTestVIP, "198.18.0.11:8080"}, "give its address only, 198.18.0.11: a backend serves on the port the client sent to"},
		{[]string{"lb", "backend", "add", lbTestVIP, "web1"}, `backend "web1" is not an IPv4 address`},
		{[]string{"lb", "backend", "weight", lbTestVIP, "198.18.0.11"}, "wrong number of arguments: engine lb backend weight VIP ADDR WEIGHT"},
		{[]string{"lb", "backend", "weight", lbTestVIP, "198.18.0.11", "70000"}, `weight "70000": want 0 to 65535`},
		{[]string{"lb", "backend", "drain", "198.18.0.100:80/sctp", "198.18.0.11"}, `protocol "sctp": use tcp or udp`},
		{[]string{"lb", "lookup", lbTestVIP, "198.18.0.2"}, `client "198.18.0.2": want its IPv4 ADDR:PORT`},
		{[]string{"lb", "show", "--frob"}, "flag provided but not defined: -frob"},
		{[]string{"lb", "-i", "a", "--ctl", "b", "show"}, "give -i IFACE or --ctl PATH, not both"},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tc.inStderr) || !strings.Contains(errb.String(), "Run 'engine lb -h'") {
			t.Errorf("engine %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tc.args, " "), code, errb.String(), tc.inStderr)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"lb", "show", "--ctl", "/nonexistent/engine.sock"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no engine is running") {
		t.Errorf("engine lb show with no engine: exit %d, %q", code, errb.String())
	}
	for _, args := range [][]string{{"lb", "-h"}, {"lb", "vip", "add", "-h"}} {
		out.Reset()
		if code := run(args, &out, &errb); code != 0 || !strings.Contains(out.String(), "Usage: engine lb [-i IFACE | --ctl PATH] ") {
			t.Errorf("engine %s: exit %d:\n%s", strings.Join(args, " "), code, out.String())
		}
	}
	if !strings.Contains(out.String(), "-forwarding") {
		t.Errorf("engine lb vip add -h does not list --forwarding:\n%s", out.String())
	}
}

// TestServeLBFileErrors: a bad --lb file stops engine serve with status 2
// and the file's line before anything is touched (the interface does not
// even exist).
func TestServeLBFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(lbTestFile, "weight: 2", "weight: 70000", 1)), 0o644)
	tunnel := filepath.Join(dir, "tunnel.yaml")
	os.WriteFile(tunnel, []byte(strings.Replace(lbTestFile, "forwarding: nat", "forwarding: dsr-ipip", 1)), 0o644)
	for _, tc := range []struct{ file, want string }{
		{bad, bad + ":9:40: vips[0].backends[1].weight: 70000 is above 65535"},
		{tunnel, tunnel + ": lb: VIP " + lbTestVIP + ": forwarding dsr-ipip is not supported yet (use nat or dsr-l2)"},
		{filepath.Join(dir, "none.yaml"), "no such file or directory (create it: an empty file is a load balancer without VIPs"},
	} {
		var out, errb bytes.Buffer
		code := run([]string{"serve", "-i", "xeb-nolink0", "--addr", "198.18.0.1/24", "--lb", tc.file}, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tc.want) || !strings.Contains(errb.String(), "nothing was started") {
			t.Errorf("engine serve --lb %s: exit %d, stderr %q; want exit 2 and %q", tc.file, code, errb.String(), tc.want)
		}
	}
}

func sampleLBState() lbState {
	return lbState{
		File:      "/etc/engine/lb.yaml",
		Conntrack: lbConntrackJSON{MaxFlows: 65536, TCPSyn: "1m", TCPEstablished: "24h", TCPClosing: "2m", UDP: "30s"},
		VIPs: []lbVIPJSON{
			{VIP: lbTestVIP, Forwarding: "nat", Hash: "5-tuple", TableSize: 65537, HealthCheck: "tcp",
				Packets: 123456, Bytes: 98765432, NewFlows: 400, Drops: 3, Backends: []lbBackendJSON{
					{Addr: netip.MustParseAddr("198.18.0.11"), Weight: 1, ConfigWeight: 1, State: "active", Packets: 41000, Bytes: 32000000, NewFlows: 133},
					{Addr: netip.MustParseAddr("198.18.0.12"), Weight: 0, ConfigWeight: 2, Drain: true, State: "drained", Packets: 82456, Bytes: 66765432, NewFlows: 267},
					{Addr: netip.MustParseAddr("198.18.0.13"), Weight: 0, State: "quiesced"},
				}},
			{VIP: "198.18.0.100:0/udp", Forwarding: "dsr-l2", Hash: "source", TableSize: 251, HealthCheck: "none", Backends: []lbBackendJSON{}},
		},
		Unavailable: []string{"flows", "health"},
	}
}

func TestLBTable(t *testing.T) {
	var b bytes.Buffer
	if err := writeLBTable(&b, sampleLBState()); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	golden := filepath.Join("testdata", "lb-table.golden")
	if *update {
		os.WriteFile(golden, b.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("engine lb show: got\n%s\nwant (%s)\n%s", got, golden, want)
	}
	// Once the engine reports flows and health, they replace the dashes.
	st := sampleLBState()
	st.Unavailable = nil
	flows, up := uint64(7), "up"
	st.VIPs[0].Flows, st.VIPs[0].Backends[0].Flows, st.VIPs[0].Backends[0].Health = &flows, &flows, &up
	b.Reset()
	writeLBTable(&b, st)
	if !hasRow(b.String(), lbTestVIP, "nat 5-tuple tcp 123456 98765432 400 3 7") ||
		!hasRow(b.String(), "  -> 198.18.0.11", "1 active up 41000 32000000 133 7") || strings.Contains(b.String(), "not available") {
		t.Errorf("with flows and health:\n%s", b.String())
	}
	b.Reset()
	writeLBTable(&b, lbState{File: "x.yaml"})
	if !strings.Contains(b.String(), "0 VIPs") || !strings.Contains(b.String(), "no VIPs: add one with `engine lb vip add") {
		t.Errorf("empty:\n%s", b.String())
	}
}

// fakeBalancer stands for lb.Balancer: it keeps what it is given, counts
// 10 packets per backend, and refuses configurations while fail is set.
type fakeBalancer struct {
	mu   sync.Mutex
	cfg  lb.Config
	sets int
	fail error
}

func (f *fakeBalancer) Config() lb.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg
}

func (f *fakeBalancer) SetConfig(c lb.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.cfg = c
	f.sets++
	return nil
}

func (f *fakeBalancer) Stats() []lb.VIPStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []lb.VIPStats
	for _, v := range f.cfg.VIPs {
		vs := lb.VIPStats{VIP: v.Key()}
		for _, b := range v.Backends {
			vs.Backends = append(vs.Backends, lb.BackendStats{Addr: b.Addr, Weight: b.Weight, Packets: 10, Bytes: 1000, NewFlows: 1})
			vs.Packets, vs.Bytes, vs.NewFlows = vs.Packets+10, vs.Bytes+1000, vs.NewFlows+1
		}
		out = append(out, vs)
	}
	return out
}

func (f *fakeBalancer) Lookup(vip netip.AddrPort, proto uint8, src netip.AddrPort) (netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.cfg.VIPs {
		if v.Addr == vip.Addr() && v.Port == vip.Port() && v.Proto == proto {
			for _, b := range v.Backends {
				if b.Weight > 0 {
					return b.Addr, nil
				}
			}
			return netip.Addr{}, fmt.Errorf("lb: VIP %s has no backend taking new flows", v.Key())
		}
	}
	return netip.Addr{}, fmt.Errorf("lb: no VIP %v/%d", vip, proto)
}

// lbFixture is an lbControl on a fake balancer, served on a control socket
// in a temporary directory, as engine serve --lb does.
type lbFixture struct {
	path string // the --lb file
	sock string
	bal  *fakeBalancer
	c    *lbControl
	logs *syncBuffer
}

func newLBFixture(t *testing.T, file string) *lbFixture {
	t.Helper()
	dir := t.TempDir()
	f := &lbFixture{path: filepath.Join(dir, "lb.yaml"), sock: filepath.Join(dir, "engine.sock"), bal: &fakeBalancer{}, logs: &syncBuffer{}}
	if err := os.WriteFile(f.path, []byte(file), 0o640); err != nil {
		t.Fatal(err)
	}
	m, c, err := loadLB(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.bal.SetConfig(c); err != nil {
		t.Fatal(err)
	}
	f.c = newLBControl(f.path, m, f.bal, slog.New(slog.NewTextHandler(f.logs, nil)))
	srv, err := ctl.Listen(f.sock, f.c.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	handleLB(srv.Handle, f.c)
	return f
}

// lb runs engine lb on the fixture's socket.
func (f *lbFixture) lb(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = run(append(append([]string{"lb"}, args...), "--ctl", f.sock), &out, &errb)
	return out.String(), errb.String(), code
}

func (f *lbFixture) show(t *testing.T) lbState {
	t.Helper()
	out, stderr, code := f.lb("show", "--json")
	var st lbState
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil {
		t.Fatalf("engine lb show --json: exit %d, %v, %s\n%s", code, err, stderr, out)
	}
	return st
}

func (f *lbFixture) file(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// hasRow reports whether table has a line starting with name whose other
// fields are fields.
func hasRow(table, name, fields string) bool {
	for _, line := range strings.Split(table, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok && strings.Join(strings.Fields(rest), " ") == fields {
			return true
		}
	}
	return false
}

func backendOf(t *testing.T, st lbState, vip, addr string) lbBackendJSON {
	t.Helper()
	for _, v := range st.VIPs {
		if v.VIP != vip {
			continue
		}
		for _, b := range v.Backends {
			if b.Addr.String() == addr {
				return b
			}
		}
	}
	t.Fatalf("no backend %s of %s in %+v", addr, vip, st)
	return lbBackendJSON{}
}

// TestLBCommands drives every engine lb subcommand through a control
// socket to an lbControl on a fake balancer, and checks the balancer, the
// file and the output after each.
func TestLBCommands(t *testing.T) {
	f := newLBFixture(t, lbTestFile)
	out, stderr, code := f.lb("show")
	if code != 0 || !strings.Contains(out, "Load balancer from "+f.path+": 1 VIP;") ||
		!hasRow(out, lbTestVIP, "nat 5-tuple tcp 20 2000 2 0 0") || !hasRow(out, "  -> 198.18.0.12", "2 active - 10 1000 1 0") {
		t.Errorf("engine lb show: exit %d, %s\n%s", code, stderr, out)
	}
	st := f.show(t)
	if st.File != f.path || len(st.VIPs) != 1 || st.VIPs[0].Packets != 20 || st.Conntrack.TCPEstablished != "24h" ||
		st.VIPs[0].Flows == nil || len(st.Unavailable) != 0 {
		t.Errorf("show --json: %+v", st)
	}

	out, stderr, code = f.lb("backend", "drain", lbTestVIP, "198.18.0.12")
	if want := "drained backend 198.18.0.12 of " + lbTestVIP + ": no new flows, its tracked flows go on (saved to " + f.path + ")\n"; code != 0 || out != want {
		t.Errorf("backend drain: exit %d, %s, %q; want %q", code, stderr, out, want)
	}
	if b := backendOf(t, f.show(t), lbTestVIP, "198.18.0.12"); b.Weight != 0 || b.ConfigWeight != 2 || !b.Drain || b.State != "drained" {
		t.Errorf("after drain: %+v", b)
	}
	if w := f.bal.Config().VIPs[0].Backends[1].Weight; w != 0 {
		t.Errorf("the balancer has weight %d for the drained backend", w)
	}
	if onDisk := f.file(t); !strings.Contains(onDisk, "{address: 198.18.0.12, weight: 2, drain: true}") {
		t.Errorf("file after drain:\n%s", onDisk)
	}
	if fi, _ := os.Stat(f.path); fi.Mode().Perm() != 0o640 {
		t.Errorf("file mode %v after the save, want 0640 kept", fi.Mode())
	}

	for _, step := range []struct {
		args []string
		out  string
	}{
		{[]string{"backend", "undrain", lbTestVIP, "198.18.0.12"}, "takes new flows again"},
		{[]string{"backend", "weight", lbTestVIP, "198.18.0.12", "5"}, "has weight 5"},
		{[]string{"backend", "add", lbTestVIP, "198.18.0.13", "0"}, "added backend 198.18.0.13 to " + lbTestVIP + " with weight 0"},
		{[]string{"backend", "remove", lbTestVIP, "198.18.0.11"}, "removed backend 198.18.0.11"},
		{[]string{"vip", "add", "198.18.0.100:53/udp", "--forwarding", "dsr-l2", "--backend", "198.18.0.11", "--backend", "198.18.0.12=4"}, "added VIP 198.18.0.100:53/udp (dsr-l2) with 2 backends"},
	} {
		out, stderr, code := f.lb(step.args...)
		if code != 0 || !strings.Contains(out, step.out) {
			t.Fatalf("engine lb %s: exit %d, %s, %q", strings.Join(step.args, " "), code, stderr, out)
		}
	}
	st = f.show(t)
	if b := backendOf(t, st, lbTestVIP, "198.18.0.12"); b.Weight != 5 || b.Drain || b.State != "active" {
		t.Errorf("after undrain and weight 5: %+v", b)
	}
	if b := backendOf(t, st, lbTestVIP, "198.18.0.13"); b.State != "quiesced" {
		t.Errorf("backend of weight 0: %+v", b)
	}
	if b := backendOf(t, st, "198.18.0.100:53/udp", "198.18.0.12"); b.Weight != 4 || len(st.VIPs) != 2 || len(st.VIPs[0].Backends) != 2 {
		t.Errorf("after vip add: %+v", st)
	}
	m, err := config.Load(f.path)
	if err != nil || !m.Equal(f.c.current()) {
		t.Fatalf("the file is not the model: %v\n%s", err, f.file(t))
	}
	lc, _ := lb.FromConfig(m)
	if got, want := fmt.Sprint(f.bal.Config()), fmt.Sprint(lc); got != want {
		t.Errorf("the balancer runs\n%s\nthe file says\n%s", got, want)
	}

	out, _, code = f.lb("lookup", "198.18.0.100:53/udp", "198.18.0.2:4000")
	if code != 0 || out != "198.18.0.100:53/udp from 198.18.0.2:4000 -> 198.18.0.11\n" {
		t.Errorf("lookup: exit %d, %q", code, out)
	}
	out, _, code = f.lb("lookup", "198.18.0.100:53/udp", "198.18.0.2:4000", "--json")
	var l lbLookupJSON
	if err := json.Unmarshal([]byte(out), &l); code != 0 || err != nil || l.Backend != netip.MustParseAddr("198.18.0.11") {
		t.Errorf("lookup --json: exit %d, %v, %q", code, err, out)
	}

	// Refusals: the message says what to do; nothing changes.
	before, sets := f.file(t), f.bal.sets
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"backend", "drain", lbTestVIP, "198.18.0.99"}, `backend 198.18.0.99 is not in ` + lbTestVIP + `: add it first with "engine lb backend add"`},
		{[]string{"backend", "add", lbTestVIP, "198.18.0.12"}, `already in it: change its weight with "engine lb backend weight"`},
		{[]string{"vip", "remove", "198.18.0.100:81/tcp"}, `VIP 198.18.0.100:81/tcp does not exist: add it first with "engine lb vip add"`},
		{[]string{"vip", "add", lbTestVIP, "--forwarding", "nat"}, `the VIP exists already`},
		{[]string{"vip", "add", "198.18.0.100:81/tcp", "--forwarding", "dsr-gue"}, "forwarding dsr-gue is not supported yet (use nat or dsr-l2)"},
		{[]string{"vip", "add", "198.18.0.100:81/tcp", "--forwarding", "nat", "--table-size", "1000"}, "1000 is not a prime"},
		{[]string{"lookup", "198.18.0.100:81/tcp", "198.18.0.2:1"}, "no VIP"},
	} {
		_, stderr, code := f.lb(tc.args...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("engine lb %s: exit %d, %q; want exit 1 and %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
	if f.file(t) != before || f.bal.sets != sets {
		t.Errorf("a refused change touched the file or the balancer")
	}
}

// TestLBChangeOrder: a change the balancer refuses leaves the file alone;
// a save that fails gives the balancer its previous configuration back; a
// hand edit not yet applied is never overwritten.
func TestLBChangeOrder(t *testing.T) {
	f := newLBFixture(t, lbTestFile)
	drain := func() error {
		_, err := f.c.mutate("drain", func(m *config.Config) (*config.Config, error) {
			return m.Drain(lbTestVIP, netip.MustParseAddr("198.18.0.11"))
		})
		return err
	}
	running := f.bal.Config()

	f.bal.fail = errors.New("lb: no room")
	if err := drain(); err == nil || !strings.Contains(err.Error(), "nothing changed: the balancer refused it: lb: no room") {
		t.Errorf("refused by the balancer: %v", err)
	}
	if f.file(t) != lbTestFile || f.c.current().VIPs[0].Backends[0].Drain {
		t.Errorf("the refused change reached the file or the model:\n%s", f.file(t))
	}
	f.bal.fail = nil

	f.c.save = func(string, *config.Config) error { return errors.New("disk full") }
	if err := drain(); err == nil || !strings.Contains(err.Error(), "could not be saved: disk full (the balancer is back to the file's configuration)") {
		t.Errorf("failed save: %v", err)
	}
	if got := f.bal.Config(); fmt.Sprint(got) != fmt.Sprint(running) || f.bal.sets != 3 {
		t.Errorf("after a failed save the balancer runs %v (%d sets), want %v back", got, f.bal.sets, running)
	}
	if f.file(t) != lbTestFile || f.c.current().VIPs[0].Backends[0].Drain {
		t.Errorf("after a failed save: the file or the model changed")
	}
	f.c.save = config.Save

	edited := strings.Replace(lbTestFile, "weight: 2", "weight: 3", 1)
	os.WriteFile(f.path, []byte(edited), 0o644)
	if err := drain(); err == nil || !strings.Contains(err.Error(), "was edited since the engine loaded it: apply the edit first with `engine lb reload`") {
		t.Errorf("hand-edited file: %v", err)
	}
	if f.file(t) != edited {
		t.Errorf("the hand edit was overwritten")
	}
	// Applied, the edit is the base of the next change.
	if _, stderr, code := f.lb("reload"); code != 0 {
		t.Fatalf("reload: %s", stderr)
	}
	if err := drain(); err != nil {
		t.Fatal(err)
	}
	m, _ := config.Load(f.path)
	if b := m.VIPs[0].Backends; !b[0].Drain || b[1].Weight != 3 {
		t.Errorf("after reload and drain: %+v", b)
	}
}

// TestLBReload: a valid file is applied; an invalid one is refused with
// its line, logged, and the running configuration stays.
func TestLBReload(t *testing.T) {
	f := newLBFixture(t, lbTestFile)
	added := lbTestFile + `  - address: 198.18.0.100
    port: 443
    protocol: tcp
    forwarding: dsr-l2
    backends: [{address: 198.18.0.11}]
conntrack: {udp: 10s}
`
	os.WriteFile(f.path, []byte(added), 0o644)
	st, err := f.c.reload("SIGHUP")
	if err != nil || len(st.VIPs) != 2 || len(f.bal.Config().VIPs) != 2 {
		t.Fatalf("reload: %v, %+v", err, st)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `msg="lb: reloaded" trigger=SIGHUP`) || !strings.Contains(logs, "changes=+198.18.0.100:443/tcp") ||
		!strings.Contains(logs, "conntrack settings changed") {
		t.Errorf("logs:\n%s", logs)
	}
	if st.Conntrack.UDP != "30s" {
		t.Errorf("conntrack shown %+v, want the start's (udp 30s) until a restart", st.Conntrack)
	}

	bad := strings.Replace(added, "port: 443", "port: 70000", 1) + "bogus: 1\n"
	os.WriteFile(f.path, []byte(bad), 0o644)
	_, err = f.c.reload("SIGHUP")
	if err == nil || !strings.Contains(err.Error(), f.path+":11:11: vips[1].port: 70000") || !strings.Contains(err.Error(), "the running configuration stays") {
		t.Errorf("invalid reload: %v", err)
	}
	logs = f.logs.String()
	for _, want := range []string{f.path + ":11:11: vips[1].port", f.path + ":16:1: bogus", "not reloaded, the running configuration stays"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if len(f.bal.Config().VIPs) != 2 || len(f.c.current().VIPs) != 2 {
		t.Errorf("the invalid file changed the running configuration")
	}
	_, stderr, code := f.lb("reload")
	if code != 1 || !strings.Contains(stderr, ":11:11: vips[1].port") {
		t.Errorf("engine lb reload of an invalid file: exit %d, %q", code, stderr)
	}
}

// TestLBConcurrentChanges: changes from many clients at once are
// serialized: none is lost, in the balancer or in the file.
func TestLBConcurrentChanges(t *testing.T) {
	f := newLBFixture(t, lbTestFile)
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, stderr, code := f.lb("backend", "add", lbTestVIP, fmt.Sprintf("198.18.1.%d", 100+i)); code != 0 {
				errs <- stderr
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	m, err := config.Load(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(m.VIPs[0].Backends); got != n+2 {
		t.Errorf("the file has %d backends, want %d", got, n+2)
	}
	if got := len(f.bal.Config().VIPs[0].Backends); got != n+2 {
		t.Errorf("the balancer has %d backends, want %d", got, n+2)
	}
}

// TestLBWithoutLB: an engine started without --lb answers every lb
// command with what to do.
func TestLBWithoutLB(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "engine.sock")
	srv, err := ctl.Listen(sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	handleLB(srv.Handle, nil)
	for _, args := range [][]string{{"show"}, {"reload"}, {"backend", "drain", lbTestVIP, "198.18.0.11"}, {"lookup", lbTestVIP, "198.18.0.2:1"}} {
		var out, errb bytes.Buffer
		code := run(append(append([]string{"lb"}, args...), "--ctl", sock), &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "this engine runs no load balancer: start `engine serve` with --lb FILE") {
			t.Errorf("engine lb %s without --lb: exit %d, %q", strings.Join(args, " "), code, errb.String())
		}
	}
}

// TestLBEmptyFile: an empty file is a balancer without VIPs, which the
// command line fills.
func TestLBEmptyFile(t *testing.T) {
	f := newLBFixture(t, "")
	if out, _, code := f.lb("show"); code != 0 || !strings.Contains(out, "0 VIPs") || !strings.Contains(out, "no VIPs: add one") {
		t.Errorf("show of an empty file: exit %d:\n%s", code, out)
	}
	if _, stderr, code := f.lb("vip", "add", lbTestVIP, "--forwarding", "nat", "--backend", "198.18.0.11=2"); code != 0 {
		t.Fatalf("vip add: %s", stderr)
	}
	want := "vips:\n  - address: 198.18.0.100\n    port: 80\n    protocol: tcp\n    forwarding: nat\n"
	if got := f.file(t); !strings.HasPrefix(got, want) || !strings.Contains(got, "{address: 198.18.0.11, weight: 2}") {
		t.Errorf("file after vip add:\n%s", got)
	}
	if vs := f.bal.Config().VIPs; len(vs) != 1 || len(vs[0].Backends) != 1 || vs[0].Backends[0].Weight != 2 {
		t.Errorf("balancer after vip add: %+v", vs)
	}
}

// TestLBFamilies: the balancer's counters become Prometheus samples per
// VIP and per backend.
func TestLBFamilies(t *testing.T) {
	st := []lb.VIPStats{{VIP: "198.18.0.100:80/tcp", Packets: 7, Flows: 2, Backends: []lb.BackendStats{
		{Addr: netip.MustParseAddr("198.18.0.11"), Weight: 3, Up: true, Packets: 5, Flows: 2}}}}
	fams := lbFamilies(st)
	find := func(name string, labels int) float64 {
		for _, f := range fams {
			if f.Name != metricPrefix+name {
				continue
			}
			for _, s := range f.Samples {
				if len(s.Labels) == labels {
					return s.Value
				}
			}
		}
		t.Fatalf("no %s sample with %d labels", name, labels)
		return 0
	}
	if find("lb_packets_total", 1) != 7 || find("lb_packets_total", 2) != 5 || find("lb_flows", 2) != 2 ||
		find("lb_backend_up", 2) != 1 || find("lb_backend_weight", 2) != 3 {
		t.Errorf("families: %+v", fams)
	}
}
