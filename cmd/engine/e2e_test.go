package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/ctl"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// engineBinary builds the engine command once per test binary.
func engineBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "engine-cli-test")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "engine")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// syncBuffer collects a child's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveChild is a running `engine serve`.
type serveChild struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error // of Wait, once done is closed
}

// startServe starts engine serve; ctlPath is its control socket, removed
// at cleanup if a killed child left it behind.
func startServe(t *testing.T, ctlPath string, args ...string) *serveChild {
	t.Helper()
	c := &serveChild{cmd: exec.Command(engineBinary(t), append([]string{"serve"}, args...)...),
		stderr: &syncBuffer{}, done: make(chan struct{})}
	c.cmd.Stdout, c.cmd.Stderr = c.stderr, c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			c.cmd.Process.Kill()
			<-c.done
			os.Remove(ctlPath) // a killed engine cannot remove it
		}
		if t.Failed() {
			t.Logf("engine serve output:\n%s", c.stderr.String())
		}
	})
	return c
}

// waitControl waits until the child's control socket says it runs.
func (c *serveChild) waitControl(t *testing.T, path string) serveInfo {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-c.done:
			t.Fatalf("engine serve exited before serving: %v\n%s", c.err, c.stderr.String())
		default:
		}
		if cl, err := ctl.Dial(path); err == nil {
			var info serveInfo
			err := cl.Call("config", nil, &info)
			cl.Close()
			if err == nil && info.Running {
				return info
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("control socket %s did not answer in time\n%s", path, c.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// engineCmd runs the engine binary and returns its stdout, stderr and exit
// status.
func engineCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(engineBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// echoOnce sends msg on c and checks that the echo comes back within 5 s,
// byte-identical.
func echoOnce(t *testing.T, c *net.UDPConn, msg []byte) {
	t.Helper()
	if got := enginetest.Exchange(t, c, msg); !bytes.Equal(got, msg) {
		t.Fatalf("echo of %d bytes: got %d bytes back, different", len(msg), len(got))
	}
}

// row returns the values of a row of `engine stats` (by its name).
func row(t *testing.T, table, name string) []uint64 {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		rest, ok := strings.CutPrefix(line, "  "+name+" ")
		if !ok {
			continue
		}
		var vals []uint64
		for _, f := range strings.Fields(rest) {
			v, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				t.Fatalf("row %q: %q is not a number:\n%s", name, f, table)
			}
			vals = append(vals, v)
		}
		return vals
	}
	t.Fatalf("no row %q in:\n%s", name, table)
	return nil
}

// checkProcs checks that serve set GOMAXPROCS to one per worker (want),
// or left the environment's when it inherited GOMAXPROCS.
func checkProcs(t *testing.T, info serveInfo, want int) {
	t.Helper()
	if env := os.Getenv("GOMAXPROCS"); env != "" {
		want, _ = strconv.Atoi(env)
	}
	if info.Procs != want {
		t.Errorf("serve runs with GOMAXPROCS %d, want %d", info.Procs, want)
	}
	if loops := min(info.Queues, info.Procs); info.Loops != loops {
		t.Errorf("%d loops run the %d workers at GOMAXPROCS %d, want %d", info.Loops, info.Queues, info.Procs, loops)
	}
}

func TestServeEndToEnd(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	sock := ctl.SocketPath(bed.HostIf)
	srv := startServe(t, sock, "-i", bed.HostIf, "--addr", netip.PrefixFrom(bed.EngineAddr, 24).String(),
		"--echo", "udp:7", "--echo", "udp:"+bed.EngineAddr.String()+":9000", "--metrics", "127.0.0.1:0", "--queues", "1")
	info := srv.waitControl(t, sock)
	if info.Interface != bed.HostIf || info.Queues != 1 || len(info.Echo) != 2 || info.Metrics == "" || info.Pid != srv.cmd.Process.Pid {
		t.Fatalf("config: %+v", info)
	}
	checkProcs(t, info, 1)
	if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("control socket %s: %v, mode %v", sock, err, st.Mode())
	}

	// A second engine on the same interface is refused before it touches
	// the link, and the first one keeps serving.
	if _, stderr, code := engineCmd(t, "serve", "-i", bed.HostIf, "--addr", netip.PrefixFrom(bed.EngineAddr, 24).String()); code != 1 ||
		!strings.Contains(stderr, "in use by a running engine") {
		t.Errorf("second engine on %s: exit %d, stderr %q", bed.HostIf, code, stderr)
	}

	if out, err := bed.Command(context.Background(), "ping", "-c", "1", "-W", "2", bed.EngineAddr.String()).CombinedOutput(); err != nil {
		t.Fatalf("ping the engine: %v\n%s", err, out)
	}
	c7 := enginetest.PeerUDP(t, bed, 7)
	echoOnce(t, c7, []byte("hello engine"))
	echoOnce(t, c7, bytes.Repeat([]byte("0123456789"), 6000)) // fragmented both ways
	echoOnce(t, enginetest.PeerUDP(t, bed, 9000), []byte("on 9000"))
	closed := enginetest.PeerUDP(t, bed, 9)
	closed.Write([]byte("anyone?"))
	closed.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := closed.Read(make([]byte, 16)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("closed port: got %v, want ECONNREFUSED", err)
	}

	// engine stats through the real control socket.
	out, stderr, code := engineCmd(t, "stats", "-i", bed.HostIf)
	if code != 0 {
		t.Fatalf("engine stats: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "engine on "+bed.HostIf+" (veth)") || !strings.Contains(out, "queue 0") ||
		!strings.Contains(out, "rx checksums partial trusted (auto)") {
		t.Errorf("engine stats header:\n%s", out)
	}
	t.Logf("engine stats -i %s:\n%s", bed.HostIf, out)
	for name, atLeast := range map[string]uint64{
		"rx packets": 40, "tx packets": 40, "datagrams reassembled": 1, "fragments created": 41,
		"no socket": 1, "out dest_unreach": 1, "in echo": 1,
	} {
		if v := row(t, out, name); len(v) != 1 || v[0] < atLeast {
			t.Errorf("engine stats row %q = %v, want one value >= %d\n%s", name, v, atLeast, out)
		}
	}
	out, _, code = engineCmd(t, "stats", "--json", "--ctl", sock)
	var st engine.Stats
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil {
		t.Fatalf("engine stats --json: exit %d, %v:\n%s", code, err, out)
	}
	if len(st.Workers) != 1 || st.Total.Reasm.ReasmOKs < 1 || st.Total.DropNoSocket < 1 || st.Total.RxPackets < 40 {
		t.Errorf("engine stats --json: %+v", st.Total)
	}

	// engine stats -w: rates, two intervals; engine status, text and JSON.
	out, stderr, code = engineCmd(t, "stats", "-w", "200ms", "-c", "2", "-i", bed.HostIf)
	if code != 0 || strings.Count(out, "per second") != 2 || !strings.Contains(out, "rx packets") {
		t.Errorf("engine stats -w 200ms -c 2: exit %d, stderr %q:\n%s", code, stderr, out)
	}
	out, _, code = engineCmd(t, "stats", "-w", "100ms", "-c", "1", "--json", "-i", bed.HostIf)
	var rates statsRates
	if err := json.Unmarshal([]byte(out), &rates); code != 0 || err != nil || rates.Interval <= 0 || len(rates.Queues) != 1 {
		t.Errorf("engine stats -w --json: exit %d, %v:\n%s", code, err, out)
	} else if _, ok := rates.Total["packets_rx"]; !ok {
		t.Errorf("engine stats -w --json: no packets_rx rate:\n%s", out)
	}
	out, stderr, code = engineCmd(t, "status", "-w", "200ms", "-i", bed.HostIf)
	t.Logf("engine status:\n%s", out)
	if code != 0 || !strings.Contains(out, "on "+bed.HostIf+" (veth)") || !strings.Contains(out, "pps") ||
		!strings.Contains(out, "2 sockets") || !strings.Contains(out, bed.EngineAddr.String()) {
		t.Errorf("engine status: exit %d, stderr %q:\n%s", code, stderr, out)
	}
	out, _, code = engineCmd(t, "status", "--json", "-w", "0", "-i", bed.HostIf)
	var es engineStatus
	if err := json.Unmarshal([]byte(out), &es); code != 0 || err != nil || es.Interface != bed.HostIf || es.UDPSockets != 2 ||
		es.Rates != nil || !es.Running || es.Drops < 1 {
		t.Errorf("engine status --json -w 0: exit %d, %v: %+v\n%s", code, err, es, out)
	}

	// engine ss.
	out, stderr, code = engineCmd(t, "ss", "-ua", "-i", bed.HostIf)
	t.Logf("engine ss -ua -i %s:\n%s", bed.HostIf, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "State") ||
		!strings.Contains(lines[1], "UNCONN") || !strings.Contains(lines[1], "0.0.0.0:7 ") ||
		!strings.Contains(lines[2], bed.EngineAddr.String()+":9000 ") || !strings.Contains(lines[2], "0.0.0.0:*") {
		t.Errorf("engine ss -ua: exit %d, stderr %q, output:\n%s", code, stderr, out)
	}
	if out, _, code = engineCmd(t, "ss", "-u", "-i", bed.HostIf); code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("engine ss -u (connected only): exit %d:\n%s", code, out)
	}
	if out, _, code = engineCmd(t, "ss", "-tan", "-H", "-i", bed.HostIf); code != 0 || out != "" {
		t.Errorf("engine ss -tanH: exit %d: %q", code, out)
	}
	if out, _, code = engineCmd(t, "ss", "-al", "-i", bed.HostIf); code != 2 {
		t.Errorf("engine ss -al: exit %d, want 2: %q", code, out)
	}

	// engine neigh: the peer, learned from its ARP request.
	out, stderr, code = engineCmd(t, "neigh", "-i", bed.HostIf)
	t.Logf("engine neigh -i %s:\n%s", bed.HostIf, out)
	if want := bed.PeerAddr.String() + " lladdr " + bed.PeerMAC.String() + " "; code != 0 ||
		!strings.HasPrefix(out, want) || !strings.Contains(out, " queue 0") {
		t.Errorf("engine neigh: exit %d, stderr %q, output %q, want a line starting %q", code, stderr, out, want)
	}
	out, _, code = engineCmd(t, "neigh", "--json", "--ctl", sock)
	var ns []neighJSON
	if err := json.Unmarshal([]byte(out), &ns); code != 0 || err != nil || len(ns) != 1 || ns[0].Addr != bed.PeerAddr ||
		ns[0].LLAddr != bed.PeerMAC.String() {
		t.Errorf("engine neigh --json: exit %d, %v: %s", code, err, out)
	}

	// Metrics over HTTP.
	resp, err := http.Get("http://" + info.Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("metrics content type %q", ct)
	}
	metricsText := string(body)
	for _, want := range []string{
		"# TYPE engine_packets_total counter",
		`engine_drops_total{queue="0",reason="no_socket"} 1`,
		`engine_drops_total{queue="0",reason="malformed"} 0`,
		`engine_ipv4_reasm_ok_total{queue="0"} 1`,
		`engine_echo_datagrams_total{service="udp:7"} 2`,
		`engine_sockets{proto="udp",state="UNCONN"} 2`,
		`engine_info{go_version="`, // labels sorted by name, as client_golang writes them
		`",interface="` + bed.HostIf + `",mode="`,
	} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if v := metricValue(metricsText, `engine_packets_total{direction="rx",queue="0"}`); v < 40 {
		t.Errorf("engine_packets_total{direction=\"rx\"} = %v, want >= 40", v)
	}

	// SIGTERM: a clean exit, nothing left on the link.
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("engine serve did not exit after SIGTERM\n%s", srv.stderr.String())
	}
	if srv.err != nil {
		t.Errorf("engine serve after SIGTERM: %v, want exit 0\n%s", srv.err, srv.stderr.String())
	}
	logs := srv.stderr.String()
	for _, want := range []string{"engine started", "serving", "signal=terminated", "final counters", "stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("engine serve log lacks %q:\n%s", want, logs)
		}
	}
	if id, name, err := afxdp.AttachedProgram(bed.HostIf); err != nil || id != 0 {
		t.Errorf("after SIGTERM: XDP program %d %q on %s (%v)", id, name, bed.HostIf, err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket left behind: %v", err)
	}
	if _, stderr, code := engineCmd(t, "stats", "-i", bed.HostIf); code != 1 || !strings.Contains(stderr, "no engine is running on "+bed.HostIf) {
		t.Errorf("engine stats after stop: exit %d, %q", code, stderr)
	}
}

func metricValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, _ := strconv.ParseFloat(rest, 64)
			return v
		}
	}
	return -1
}

// TestServeTwoQueues serves both queues of a bed: the table gets a column
// per queue and a total, the metrics a series per queue.
func TestServeTwoQueues(t *testing.T) {
	bed := testbed.New(t, testbed.Config{Queues: 2})
	sock := filepath.Join(t.TempDir(), "engine.sock")
	second := bed.Prefix.Addr().Next().Next().Next().Next() // .4
	srv := startServe(t, sock, "-i", bed.HostIf, "--addr", netip.PrefixFrom(bed.EngineAddr, 24).String(),
		"--addr", netip.PrefixFrom(second, 24).String(),
		"--echo", "udp:7", "--ctl", sock, "--metrics", "127.0.0.1:0", "--poll", "interrupt")
	info := srv.waitControl(t, sock)
	if info.Queues != 2 || info.Poll != "interrupt" || info.Control != sock {
		t.Fatalf("config: %+v", info)
	}
	checkProcs(t, info, 2)
	echoOnce(t, enginetest.PeerUDP(t, bed, 7), []byte("two queues"))
	// The wildcard echo answers from the address it was asked on
	// (IP_PKTINFO): the kernel's connected socket to the second address
	// accepts only a reply from it.
	echoOnce(t, enginetest.PeerDialUDP(t, bed, netip.AddrPortFrom(second, 7)), []byte("second address"))
	out, stderr, code := engineCmd(t, "stats", "--ctl", sock)
	if code != 0 || !strings.Contains(out, "2 queues") || !strings.Contains(out, "queue 0  queue 1  total\n") {
		t.Errorf("engine stats: exit %d, %s:\n%s", code, stderr, out)
	}
	if v := row(t, out, "rx packets"); len(v) != 3 || v[2] != v[0]+v[1] || v[2] < 2 {
		t.Errorf("rx packets row %v: want two queues and their sum", v)
	}
	resp, err := http.Get("http://" + info.Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, series := range []string{`engine_packets_total{direction="rx",queue="0"}`, `engine_packets_total{direction="rx",queue="1"}`} {
		if metricValue(string(body), series) < 0 {
			t.Errorf("metrics lack %s", series)
		}
	}
	srv.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-srv.done:
	case <-time.After(15 * time.Second):
		t.Fatal("engine serve did not exit after SIGINT")
	}
	if srv.err != nil || !strings.Contains(srv.stderr.String(), "signal=interrupt") {
		t.Errorf("engine serve after SIGINT: %v\n%s", srv.err, srv.stderr.String())
	}
	if id, _, _ := afxdp.AttachedProgram(bed.HostIf); id != 0 {
		t.Errorf("XDP program %d left on %s", id, bed.HostIf)
	}
}

// TestServeOneLoop serves the two queues of a bed with one P: one loop
// runs both workers (engine.Engine.Loops), and each answers the flows the
// peer's emulated RSS sends to its queue.
func TestServeOneLoop(t *testing.T) {
	bed := testbed.New(t, testbed.Config{Queues: 2})
	rss := testbed.DefaultRSS(2)
	if err := bed.EmulateRSS(rss); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "engine.sock")
	srv := startServe(t, sock, "-i", bed.HostIf, "--addr", netip.PrefixFrom(bed.EngineAddr, 24).String(),
		"--echo", "udp:7", "--ctl", sock, "--gomaxprocs", "1")
	info := srv.waitControl(t, sock)
	if info.Queues != 2 || info.Procs != 1 || info.Loops != 1 {
		t.Fatalf("queues %d, GOMAXPROCS %d, loops %d: want 2, 1, 1", info.Queues, info.Procs, info.Loops)
	}
	dst := netip.AddrPortFrom(bed.EngineAddr, 7)
	var perQueue [2]int
	for port := uint16(41000); port < 41032; port++ {
		src := netip.AddrPortFrom(bed.PeerAddr, port)
		perQueue[rss.Queue(src, dst)]++
		var c *net.UDPConn
		if err := bed.Do(func() error {
			var err error
			c, err = net.DialUDP("udp4", net.UDPAddrFromAddrPort(src), net.UDPAddrFromAddrPort(dst))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		echoOnce(t, c, []byte(fmt.Sprintf("one loop, port %d", port)))
		c.Close()
	}
	if perQueue[0] == 0 || perQueue[1] == 0 {
		t.Fatalf("the peer's flows went %v to the queues: want both", perQueue)
	}
	out, stderr, code := engineCmd(t, "stats", "--ctl", sock)
	if code != 0 {
		t.Fatalf("engine stats: exit %d, %s", code, stderr)
	}
	if v := row(t, out, "rx packets"); len(v) != 3 || v[0] < uint64(perQueue[0]) || v[1] < uint64(perQueue[1]) {
		t.Errorf("rx packets row %v: want at least %v on the queues", v, perQueue)
	}
	if out, _, _ := engineCmd(t, "status", "--ctl", sock); !strings.Contains(out, "gomaxprocs 1, loops 1") {
		t.Errorf("engine status does not show one loop:\n%s", out)
	}
}

// TestServePortInUse: a metrics port that is taken fails the start with a
// hint, before anything is attached to the link.
func TestServePortInUse(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sock := filepath.Join(t.TempDir(), "engine.sock")
	_, stderr, code := engineCmd(t, "serve", "-i", bed.HostIf, "--addr", netip.PrefixFrom(bed.EngineAddr, 24).String(),
		"--ctl", sock, "--metrics", ln.Addr().String())
	if code != 1 || !strings.Contains(stderr, "address already in use") || !strings.Contains(stderr, "pick another port") {
		t.Errorf("metrics port in use: exit %d, stderr %q", code, stderr)
	}
	if id, _, _ := afxdp.AttachedProgram(bed.HostIf); id != 0 {
		t.Errorf("XDP program %d attached although the start failed", id)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket left after a failed start: %v", err)
	}
}

// TestServeTCPServices: --echo tcp, --discard tcp and --http, used from the
// kernel peer (Go's net and net/http, and curl).
func TestServeTCPServices(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	enginetest.NeedTool(t, "curl")
	sock := filepath.Join(t.TempDir(), "engine.sock")
	srv := startServe(t, sock, "-i", bed.HostIf, "--addr", netip.PrefixFrom(bed.EngineAddr, 24).String(),
		"--echo", "tcp:7", "--discard", "tcp:9", "--echo", "udp:7", "--http", "8080", "--http-expose-status", "--ctl", sock)
	info := srv.waitControl(t, sock)
	if !slices.Contains(info.Echo, "tcp:7") || !slices.Contains(info.Echo, "discard tcp:9") || info.HTTP != 8080 {
		t.Fatalf("config: %+v", info)
	}
	eng := bed.EngineAddr.String()
	var echoed []byte
	msg := bytes.Repeat([]byte("tcp echo "), 20000)
	if err := bed.Do(func() error {
		c, err := net.Dial("tcp4", eng+":7")
		if err != nil {
			return err
		}
		defer c.Close()
		go func() { c.Write(msg); c.(*net.TCPConn).CloseWrite() }()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		echoed, err = io.ReadAll(c)
		return err
	}); err != nil {
		t.Fatalf("tcp echo: %v", err)
	}
	if !bytes.Equal(echoed, msg) {
		t.Errorf("tcp echo: %d bytes back of %d", len(echoed), len(msg))
	}
	if err := bed.Do(func() error {
		c, err := net.Dial("tcp4", eng+":9")
		if err != nil {
			return err
		}
		if _, err := c.Write(make([]byte, 1<<20)); err != nil {
			return err
		}
		return c.Close()
	}); err != nil {
		t.Fatalf("tcp discard: %v", err)
	}
	// The HTTP client's connections are the peer kernel's, one per request.
	cl := enginetest.PeerHTTPClient(bed)
	cl.Transport.(*http.Transport).DisableKeepAlives = true
	get := func(path string) string {
		t.Helper()
		resp, err := cl.Get("http://" + eng + ":8080" + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return string(b)
	}
	page := get("/")
	if !strings.Contains(page, "rx packets") || !strings.Contains(page, "tcp sockets") || !strings.Contains(page, "LISTEN") {
		t.Errorf("status page lacks the stats table or the sockets:\n%s", page)
	}
	met := get("/metrics")
	for deadline := time.Now().Add(5 * time.Second); metricValue(met, `engine_service_bytes_total{service="discard tcp:9"}`) < 1<<20 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		met = get("/metrics")
	}
	if v := metricValue(met, `engine_service_bytes_total{service="discard tcp:9"}`); v < 1<<20 {
		t.Errorf("discard service counted %v bytes, want %d", v, 1<<20)
	}
	// An open connection shows in engine ss -t, with its internals on --info.
	if _, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7)); err != nil {
		t.Fatal(err)
	}
	ssOut, _, code := engineCmd(t, "ss", "-t", "--info", "--ctl", sock)
	if code != 0 || !strings.Contains(ssOut, "ESTAB") || !strings.Contains(ssOut, "cwnd:") {
		t.Errorf("engine ss -t --info: exit %d:\n%s", code, ssOut)
	}
	if plain, _, _ := engineCmd(t, "ss", "-ta", "--ctl", sock); !strings.Contains(plain, "LISTEN") || strings.Contains(plain, "cwnd:") {
		t.Errorf("engine ss -ta: want listeners and no internals without --info:\n%s", plain)
	}
	out, err := bed.Command(context.Background(), "curl", "-sS", "--max-time", "10", "http://"+eng+":8080/stats.json").Output()
	if err != nil {
		t.Fatalf("curl the status page from the peer: %v", err)
	}
	var st engine.Stats
	if err := json.Unmarshal(out, &st); err != nil || st.Total.TCP.PassiveOpens < 4 {
		t.Errorf("stats.json from curl: %v, passive opens %d (want >= 4)", err, st.Total.TCP.PassiveOpens)
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-srv.done:
	case <-time.After(15 * time.Second):
		t.Fatal("engine serve did not exit after SIGTERM")
	}
	if srv.err != nil {
		t.Errorf("engine serve: %v\n%s", srv.err, srv.stderr.String())
	}
}
