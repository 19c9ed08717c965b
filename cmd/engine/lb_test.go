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
	"time"

	"github.com/prometheus/client_golang/prometheus"

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

// TestServeLBFileErrors: a bad --lb file stops engine serve with status 2
// and the file's line before anything is touched (the interface does not
// even exist).
func TestServeLBFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(lbTestFile, "weight: 2", "weight: 70000", 1)), 0o644)
	nomac := filepath.Join(dir, "nomac.yaml")
	os.WriteFile(nomac, []byte(strings.Replace(lbTestFile, "forwarding: nat", "forwarding: dsr-vxlan\n    vni: 7", 1)), 0o644)
	for _, tc := range []struct{ file, want string }{
		{bad, bad + ":9:40: vips[0].backends[1].weight: 70000 is above 65535"},
		{nomac, "vips[0].backends[0].mac: dsr-vxlan needs the Ethernet address of the backend's VXLAN device"},
		{filepath.Join(dir, "none.yaml"), "no such file or directory (create it: an empty file is a load balancer without VIPs"},
	} {
		var out, errb bytes.Buffer
		code := run([]string{"serve", "-i", "xeb-nolink0", "--addr", "198.18.0.1/24", "--lb", tc.file}, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tc.want) || !strings.Contains(errb.String(), "nothing was started") {
			t.Errorf("engine serve --lb %s: exit %d, stderr %q; want exit 2 and %q", tc.file, code, errb.String(), tc.want)
		}
	}
}

// fakeBalancer stands for lb.Balancer: it keeps what it is given, counts
// 10 packets per backend and the drops it is told, tracks the flows it is
// told, and refuses configurations while fail is set.
type fakeBalancer struct {
	mu    sync.Mutex
	cfg   lb.Config
	sets  int
	fail  error
	drops map[string][lb.NumDropReasons]uint64 // by VIP
	flows []lb.Flow                            // sorted by VIP, then client, as lb.Flows lists them
	asked []int                                // the max of every Flows call
}

func (f *fakeBalancer) FastPath() (lb.FastPathStats, bool) { return lb.FastPathStats{}, false }

func (f *fakeBalancer) Flows(vip string, max int, _ time.Duration) []lb.Flow {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, max)
	var out []lb.Flow
	for _, fl := range f.flows {
		if vip == "" || fl.VIP == vip {
			out = append(out, fl)
		}
		if max > 0 && len(out) == max {
			break
		}
	}
	return out
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
		vs := lb.VIPStats{VIP: v.Key(), DropsBy: f.drops[v.Key()]}
		for _, d := range vs.DropsBy {
			vs.Drops += d
		}
		for _, b := range v.Backends {
			bs := lb.BackendStats{Addr: b.Addr, Weight: b.Weight, Packets: 10, Bytes: 1000, NewFlows: 1}
			for _, fl := range f.flows {
				if fl.VIP == vs.VIP && fl.Backend.Addr() == b.Addr {
					bs.Flows++
				}
			}
			vs.Backends = append(vs.Backends, bs)
			vs.Packets, vs.Bytes, vs.NewFlows, vs.Flows = vs.Packets+10, vs.Bytes+1000, vs.NewFlows+1, vs.Flows+bs.Flows
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
		{[]string{"vip", "add", "198.18.0.100:53/udp", "--forwarding", "dsr-l2", "--backend", "198.18.0.11", "--backend", "198.18.0.12=4", "--announce"}, "added VIP 198.18.0.100:53/udp (dsr-l2) with 2 backends"},
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
	for _, v := range st.VIPs {
		if want := v.VIP == "198.18.0.100:53/udp"; v.Announce != want {
			t.Errorf("VIP %s: announce %v, want %v (vip add --announce)", v.VIP, v.Announce, want)
		}
	}
	if !strings.Contains(f.file(t), "announce: true") {
		t.Errorf("the file does not keep --announce:\n%s", f.file(t))
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
		strings.Contains(logs, "max_flows changed") {
		t.Errorf("logs:\n%s", logs)
	}
	if st.Conntrack.UDP != "10s" || f.bal.Config().Timeouts.UDP != 10*time.Second {
		t.Errorf("conntrack shown %+v, balancer's timeouts %+v: want the file's udp 10s, applied at once", st.Conntrack, f.bal.Config().Timeouts)
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
	for _, args := range [][]string{{"show"}, {"flows"}, {"reload"}, {"backend", "drain", lbTestVIP, "198.18.0.11"}, {"lookup", lbTestVIP, "198.18.0.2:1"}} {
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
	st := []lb.VIPStats{{VIP: "198.18.0.100:80/tcp", Packets: 7, Flows: 2, Drops: 5, DropsBy: [lb.NumDropReasons]uint64{lb.DropNoBackend: 4, lb.DropTooBig: 1},
		Backends: []lb.BackendStats{{Addr: netip.MustParseAddr("198.18.0.11"), Weight: 3, Up: true, Packets: 5, Flows: 2}}}}
	text := exposition(t, func(ch chan<- prometheus.Metric) { collectLB(ch, st) })
	// Drops: one series per reason, zeros included; no series without one.
	// Per VIP and per backend in families of their own.
	for _, want := range []string{
		`engine_lb_drops_total{reason="no_backend",vip="198.18.0.100:80/tcp"} 4`,
		`engine_lb_drops_total{reason="table_full",vip="198.18.0.100:80/tcp"} 0`,
		`engine_lb_drops_total{reason="too_big",vip="198.18.0.100:80/tcp"} 1`,
		`engine_lb_drops_total{reason="other",vip="198.18.0.100:80/tcp"} 0`,
		`engine_lb_packets_total{vip="198.18.0.100:80/tcp"} 7`,
		`engine_lb_flows{vip="198.18.0.100:80/tcp"} 2`,
		`engine_lb_backend_packets_total{backend="198.18.0.11",vip="198.18.0.100:80/tcp"} 5`,
		`engine_lb_backend_flows{backend="198.18.0.11",vip="198.18.0.100:80/tcp"} 2`,
		`engine_lb_backend_up{backend="198.18.0.11",vip="198.18.0.100:80/tcp"} 1`,
		`engine_lb_backend_weight{backend="198.18.0.11",vip="198.18.0.100:80/tcp"} 3`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, `engine_lb_drops_total{vip="198.18.0.100:80/tcp"} `) {
		t.Errorf("/metrics has a drops series without a reason:\n%s", text)
	}
}
