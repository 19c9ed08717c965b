package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/portalloc"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/tcp"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestUsageErrors runs the commands with bad flags. None of these touches
// an interface or needs privileges: they fail before.
func TestUsageErrors(t *testing.T) {
	// No such interface: should a case ever parse, it fails instead of
	// attaching to a real link.
	base := []string{"serve", "-i", "xeb-nolink0", "--addr", "198.18.0.1/24"}
	with := func(extra ...string) []string { return append(slices.Clone(base), extra...) }
	// engine.New checks these against a real interface's limits.
	withLo := func(extra ...string) []string {
		return append([]string{"serve", "-i", "lo", "--addr", "198.18.0.1/24"}, extra...)
	}
	for _, tc := range []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"serve"}, 2, "no interface: give the one to serve with -i IFACE"},
		{[]string{"serve", "-i", "lo"}, 2, "no address: give the engine's own IPv4 address with --addr CIDR"},
		{[]string{"serve", "-i", "lo", "--addr", "198.18.0.1"}, 2, `"198.18.0.1" has no prefix length: give the subnet too, e.g. 198.18.0.1/24`},
		{[]string{"serve", "-i", "lo", "--addr", "nonsense"}, 2, "is not an IPv4 address with a prefix length (CIDR)"},
		{[]string{"serve", "-i", "lo", "--addr", "fe80::1/64"}, 2, "the link-local address stays the host's"},
		{[]string{"serve", "-i", "lo", "--addr", "198.18.0.0/24"}, 2, "network address of its subnet: give the engine's own address, e.g. 198.18.0.1/24"},
		{with("--echo", "sctp:80"), 2, `unknown protocol "sctp" (want udp:PORT or tcp:PORT)`},
		{with("--discard", "tcp:9", "--echo", "tcp:9"), 2, "both want tcp port 9: give each port once"},
		{with("--http", "80", "--echo", "tcp:80"), 2, "both want tcp port 80: give each port once"},
		{with("--http", "0"), 2, "want a TCP port, 1-65535"},
		{with("--echo", "7"), 2, "want udp:PORT"},
		{with("--echo", "udp:0"), 2, "want 1-65535"},
		{with("--echo", "udp:70000"), 2, "want 1-65535"},
		{with("--echo", "udp:7", "--echo", "udp:198.18.0.1:7"), 2, "both want udp port 7: give each port once"},
		{with("--echo", "udp:198.18.0.9:7"), 2, "198.18.0.9 is not an --addr of the engine"},
		{with("--mode", "fast"), 2, `--mode "fast": want auto, zerocopy or copy`},
		{with("--xdp-mode", "offload"), 2, "want auto, native or generic"},
		{with("--poll", "sometimes"), 2, "want busy, adaptive or interrupt"},
		{with("--nap", "10us", "--poll", "busy"), 2, "with busy polling leave Nap at 0"},
		{with("--nap", "1ms"), 2, "want 0 (off) to 100µs"},
		{with("--nap", "50us", "--spin-time", "40us"), 2, "shorter than the spin it replaces"},
		{with("--queues", "-1"), 2, "--queues -1"},
		{with("--gomaxprocs", "-2"), 2, "--gomaxprocs -2"},
		{with("--tcp-mtu-probing", "3"), 2, "want 0, 1 or 2"},
		{with("--rx-checksum", "trust"), 2, `--rx-checksum "trust": want auto, verify or trust-virtual`},
		{with("--ports", "6000-5000"), 2, "want FIRST-LAST"},
		{with("--ports", "500-600"), 2, "must start at 1024 or above"},
		{with("--reserved-ports", "5,x"), 2, "want FIRST-LAST"},
		{with("--cpus", "a,b"), 2, "want a CPU list"},
		{with("--gateway", "gw"), 2, "not an IP address"},
		{with("--neigh", "198.18.0.2"), 2, "want ADDR=MAC"},
		{with("--neigh", "198.18.0.2=zz"), 2, "want ADDR=MAC"},
		{withLo("--neigh", "198.19.0.2=02:00:00:00:00:02"), 2, "198.19.0.2 is not on the link"},
		{with("--log-level", "loud"), 2, "log-level"},
		{with("--metrics", ":9090"), 2, "pass --metrics-allow-wildcard to expose it on purpose"},
		{with("--metrics", "0.0.0.0:9090"), 2, "--metrics-allow-wildcard"},
		{with("--metrics", "[::]:9090"), 2, "--metrics-allow-wildcard"},
		{with("--metrics", "localhost"), 2, "want HOST:PORT"},
		{withLo("--frame-size", "1000"), 2, "frame size 1000: want 2048 or 4096"},
		{withLo("--ring-size", "100"), 2, "ring size 100: want a power of two"},
		{withLo("--mtu", "100"), 2, "MTU 100"},
		{with("extra"), 2, `unexpected argument "extra"`},
		{with("--no-such-flag"), 2, "unknown flag: --no-such-flag"},
		// Runtime errors (status 1) that need no privileges either.
		{[]string{"serve", "-i", "xebnosuch0", "--addr", "198.18.0.1/24"}, 1, `interface "xebnosuch0"`},
		{[]string{"ss", "-a", "-l", "--ctl", "/nonexistent/engine.sock"}, 2, "give -a or -l"},
		{[]string{"ss", "-x"}, 2, "unknown shorthand flag: 'x' in -x"},
		{[]string{"stats", "-frob"}, 2, "unknown flag -frob (short flags are one letter"},
		{[]string{"ss", "-i", "a", "--ctl", "b"}, 2, "give -i IFACE or --ctl PATH, not both"},
		{[]string{"ss", "--ctl", "/nonexistent/engine.sock"}, 1, "no engine is running at /nonexistent/engine.sock: start one with `engine serve"},
		{[]string{"stats", "-i", "xebnosuch0"}, 1, "no engine is running on xebnosuch0 (no control socket /run/engine/xebnosuch0.sock): start one with `engine serve -i xebnosuch0 --addr CIDR`"},
		{[]string{"stats", "--json", "--socket", "/nonexistent/engine.sock"}, 1, "no engine is running"},
		{[]string{"stats", "now"}, 2, `unexpected argument "now"`},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.inStderr) {
			t.Errorf("engine %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), code, errb.String(), tc.code, tc.inStderr)
		}
		if code == 2 && tc.code == 2 && !strings.Contains(errb.String(), "Run 'engine "+tc.args[0]+" -h'") {
			t.Errorf("engine %s: the usage error does not point to -h: %q", strings.Join(tc.args, " "), errb.String())
		}
	}
}

func TestHelp(t *testing.T) {
	for cmd, want := range map[string]string{
		"serve": "Usage: engine serve -i IFACE --addr CIDR",
		"stats": "Usage: engine stats [-i IFACE | --ctl PATH] [--json]",
		"ss":    "Usage: engine ss [-t] [-u] [-a | -l]",
		"lb":    "Usage: engine lb [-i IFACE | --ctl PATH] show [--json]",
	} {
		var out, errb bytes.Buffer
		if code := run([]string{cmd, "-h"}, &out, &errb); code != 0 || !strings.Contains(out.String(), want) || errb.Len() != 0 {
			t.Errorf("engine %s -h: exit %d, stdout %q, stderr %q", cmd, code, out.String(), errb.String())
		}
	}
	var out bytes.Buffer
	run(nil, &out, &out)
	for _, c := range []string{"serve", "stats", "ss", "neigh", "ports", "lb", "detach", "version"} {
		if !strings.Contains(out.String(), "\n  "+c+" ") {
			t.Errorf("engine help does not list %s:\n%s", c, out.String())
		}
	}
}

func TestParseServe(t *testing.T) {
	o, err := parseServe([]string{"-i", "eth1", "--addr", "198.18.0.1/24", "--addr=198.19.0.5/31", "--echo", "udp:7",
		"--echo", "udp:198.18.0.1:9000", "--queues", "2", "--mode", "copy", "--xdp-mode", "generic", "--poll", "busy",
		"--cpus", "2-3", "--ports", "40000-40999", "--gateway", "198.18.0.254", "--neigh", "198.18.0.254=02:00:00:00:00:fe", "--metrics", "127.0.0.1:0",
		"--log-level", "debug", "--frame-size", "2048", "--rx-checksum", "verify", "--tcp-mtu-probing", "1", "--tcp-max-connections", "1000", "--gomaxprocs", "3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	want := []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24"), netip.MustParsePrefix("198.19.0.5/31")}
	if c.Interface != "eth1" || !slices.Equal(c.Addrs, want) || c.Queues != 2 || c.Mode != afxdp.ModeCopy ||
		c.XDPMode != afxdp.XDPGeneric || c.Poll != engine.PollBusy || !slices.Equal(c.CPUs, []int{2, 3}) ||
		c.Ports != (portalloc.Range{First: 40000, Last: 40999}) || c.Gateway != netip.MustParseAddr("198.18.0.254") ||
		c.FrameSize != 2048 || !c.BindService || len(c.Neighbors) != 1 || c.RxChecksum != engine.RxChecksumVerify || c.TCPMTUProbing != tcp.MTUProbingBlackHole || c.TCPMaxConnections != 1000 ||
		c.Neighbors[0].Addr != netip.MustParseAddr("198.18.0.254") || c.Neighbors[0].MAC.String() != "02:00:00:00:00:fe" {
		t.Errorf("config: %+v", c)
	}
	if len(o.echo) != 2 || o.echo[0].String() != "udp:7" || o.echo[0].listenAddr() != ":7" ||
		o.echo[1].String() != "udp:198.18.0.1:9000" || o.echo[1].listenAddr() != "198.18.0.1:9000" {
		t.Errorf("echo: %v", o.echo)
	}
	if o.ctlPath != "/run/engine/eth1.sock" || o.metricsAddr != "127.0.0.1:0" || o.logLevel.String() != "DEBUG" || o.gomaxprocs != 3 {
		t.Errorf("options: %+v", o)
	}
	// The wildcard is accepted when asked for.
	if _, err := parseServe([]string{"-i", "eth1", "--addr", "198.18.0.1/24", "--metrics", ":9090", "--metrics-allow-wildcard"}, nil); err != nil {
		t.Errorf("--metrics :9090 --metrics-allow-wildcard: %v", err)
	}
}

// TestServeProcs checks the GOMAXPROCS engine serve sets: --gomaxprocs
// when given, nothing when the environment sets GOMAXPROCS, else the
// engine's preference.
func TestServeProcs(t *testing.T) {
	for _, c := range []struct {
		flag      int
		env       string
		preferred int
		want      int
	}{
		{0, "", 1, 1},
		{0, "", 4, 4},
		{3, "", 1, 3},
		{3, "8", 1, 3},
		{0, "8", 1, 0},
	} {
		if got, why := serveProcs(c.flag, c.env, c.preferred); got != c.want || (got > 0) != (why != "") {
			t.Errorf("serveProcs(%d, %q, %d) = %d, %q; want %d", c.flag, c.env, c.preferred, got, why, c.want)
		}
	}
}

// TestGNUFlags checks GNU-style parsing: bundled letters, attached values,
// --flag=value, and the single-dash long flags Go's flag package took.
func TestGNUFlags(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"-ua"}, []string{"-ua"}},
		{[]string{"-addr", "x", "-ctl=/p"}, []string{"--addr", "x", "--ctl=/p"}},
		{[]string{"-ieth0", "-i", "eth0"}, []string{"-ieth0", "-i", "eth0"}}, // a value attached to -i
		{[]string{"--", "-addr"}, []string{"--", "-addr"}},
		{[]string{"-nosuch"}, []string{"-nosuch"}},
	} {
		fs := flagSet("t", "")
		fs.StringP("interface", "i", "", "")
		fs.String("addr", "", "")
		fs.String("ctl", "", "")
		if got := longCompat(fs, tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("longCompat(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, args := range [][]string{
		{"-i", "eth1", "--addr", "198.18.0.1/24", "--queues", "2"},
		{"-ieth1", "--addr=198.18.0.1/24", "--queues=2"},
		{"--interface", "eth1", "-addr", "198.18.0.1/24", "-queues", "2"}, // Go flag's spelling
	} {
		o, err := parseServe(args, io.Discard)
		if err != nil || o.cfg.Interface != "eth1" || len(o.cfg.Addrs) != 1 || o.cfg.Queues != 2 {
			t.Errorf("parseServe(%q) = %+v, %v", args, o, err)
		}
	}
	// Bundled booleans (ss -tua) and one help listing per flag.
	var out, errb bytes.Buffer
	if code := run([]string{"ss", "-tulaH", "--ctl", "/nonexistent/engine.sock"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "give -a or -l") {
		t.Errorf("ss -tulaH: exit %d, stderr %q; want the -a/-l conflict, so every letter parsed", code, errb.String())
	}
	out.Reset()
	run([]string{"serve", "--help"}, &out, &errb)
	if n := strings.Count(out.String(), "--interface"); n != 1 || !strings.Contains(out.String(), "-i, --interface") {
		t.Errorf("serve --help lists --interface %d times, want once as -i, --interface:\n%s", n, out.String())
	}
}

func TestWithHint(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("attach: %w", syscall.EPERM), "run as root (sudo)"},
		{fmt.Errorf("--metrics 127.0.0.1:9090: %w", syscall.EADDRINUSE), "pick another port"},
		{fmt.Errorf("x: %w", afxdp.ErrNoInterface), "ip -br link"},
	} {
		got := withHint(tc.err)
		if !errors.Is(got, tc.err) || !strings.Contains(got.Error(), tc.want) {
			t.Errorf("withHint(%v) = %v, want it to wrap the error and say %q", tc.err, got, tc.want)
		}
	}
	plain := errors.New("x")
	if withHint(plain) != plain {
		t.Error("withHint changed an error it has no hint for")
	}
}

func sampleStats() engine.Stats {
	w0 := engine.WorkerStats{Queue: 0, RxPackets: 10, RxBytes: 1500, TxPackets: 9, TxBytes: 1400, DropNoSocket: 1}
	w0.Reasm.ReasmOKs = 1
	w0.ICMP.OutDestUnreachs = 1
	w0.TCP.PassiveOpens, w0.TCP.CurrEstab, w0.TCP.InSegs = 4, 2, 12
	// Engine-wide memory figures come from queue 0 only; orphans per queue.
	w0.TCP.MemBytes, w0.TCP.MemPeakBytes, w0.TCP.PoolBytes, w0.TCP.MemGrows = 1<<20, 3<<20, 65536, 300
	w0.TCP.CurrOrphans = 1
	w0.IPv6.InReceives, w0.IPv6.InDelivers, w0.IPv6.OutRequests = 6, 5, 4
	w0.IPv6.ICMP.InMsgs, w0.IPv6.ICMP.InEchos, w0.IPv6.ICMP.OutMsgs, w0.IPv6.ICMP.OutEchoReplies = 3, 2, 2, 2
	w0.IPv6.NDP.Entries, w0.IPv6.NDP.DADProbes, w0.IPv6.NDP.DADUnique = 1, 1, 1
	w0.Naps, w0.Sleeps = 40, 3
	w1 := engine.WorkerStats{Queue: 1, RxPackets: 123456789, RxBytes: 7, DropChecksum: 3}
	w1.Reasm.ReasmOverlaps = 2
	w1.TCP.CurrOrphans, w1.TCP.MemRefused = 2, 5
	st := engine.Stats{Workers: []engine.WorkerStats{w0, w1}}
	st.Total = w0
	st.Total.Queue = 0
	st.Total.RxPackets += w1.RxPackets
	st.Total.RxBytes += w1.RxBytes
	st.Total.DropChecksum += w1.DropChecksum
	st.Total.Reasm.ReasmOverlaps += w1.Reasm.ReasmOverlaps
	st.Total.TCP.CurrOrphans += w1.TCP.CurrOrphans
	st.Total.TCP.MemRefused += w1.TCP.MemRefused
	return st
}

func TestStatsTable(t *testing.T) {
	var b bytes.Buffer
	if err := writeStatsTable(&b, sampleStats(), false); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	golden := filepath.Join("testdata", "stats-table.golden")
	if *update {
		os.WriteFile(golden, b.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("engine stats table: got\n%s\nwant (%s)\n%s", got, golden, want)
	}
	// The total column sums the queues itself.
	st := sampleStats()
	st.Total = engine.WorkerStats{}
	b.Reset()
	writeStatsTable(&b, st, false)
	if b.String() != got {
		t.Errorf("the total column depends on Stats.Total:\n%s", b.String())
	}
	for _, hidden := range []string{"timeouts", "in echo_reply", "steered in"} {
		if strings.Contains(got, hidden) {
			t.Errorf("zero row %q shown without -a:\n%s", hidden, got)
		}
	}
	b.Reset()
	writeStatsTable(&b, sampleStats(), true)
	if n := strings.Count(b.String(), "\n"); n != len(counters)+1+14 {
		t.Errorf("-a: %d lines, want %d (header, 14 sections, every counter):\n%s", n, len(counters)+15, b.String())
	}
	// One queue: no total column.
	st = sampleStats()
	st.Workers = st.Workers[:1]
	b.Reset()
	writeStatsTable(&b, st, false)
	if strings.Contains(b.String(), "total") {
		t.Errorf("one queue: a total column:\n%s", b.String())
	}
}

func TestWriteSSNetid(t *testing.T) {
	var b bytes.Buffer
	err := writeSSNetid(&b, []socktab.Entry{
		{Proto: socktab.UDP, Local: netip.MustParseAddrPort("0.0.0.0:7")},
		{Proto: socktab.UDP, Local: netip.MustParseAddrPort("198.18.0.1:40000"), Peer: netip.MustParseAddrPort("198.18.0.2:53"), RecvQ: 512},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port\n" +
		"udp   UNCONN 0      0      0.0.0.0:7          0.0.0.0:*\n" +
		"udp   ESTAB  512    0      198.18.0.1:40000   198.18.0.2:53\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestHTTPPageOnly: --http without --http-expose-status serves a page that
// tells nothing of the engine, and neither /stats.json nor /metrics.
func TestHTTPPageOnly(t *testing.T) {
	h := &httpService{srv: &server{opts: &serveOptions{}}}
	mux := h.mux(false)
	for path, want := range map[string]int{"/": 200, "/stats.json": 404, "/metrics": 404, "/debug/pprof/": 404} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s: %d, want %d", path, rec.Code, want)
		}
		if path == "/" && rec.Body.String() != httpPlainPage {
			t.Errorf("GET /: %q, want only %q", rec.Body.String(), httpPlainPage)
		}
	}
	if _, err := parseServe([]string{"-i", "eth1", "--addr", "198.18.0.1/24", "--http-expose-status"}, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "needs --http PORT") {
		t.Errorf("--http-expose-status without --http: %v, want a usage error", err)
	}
	o, err := parseServe([]string{"-i", "eth1", "--addr", "198.18.0.1/24", "--http", "80", "--http-expose-status"}, io.Discard)
	if err != nil || !o.httpExpose || o.httpPort != 80 {
		t.Errorf("--http 80 --http-expose-status: %+v, %v", o, err)
	}
}
