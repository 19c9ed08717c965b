package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpengine/engine/bench/measure"
	"github.com/xdpengine/engine/bench/tcpload"
	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// benchTCPServer is an HTTP server that counts what it saw.
type benchTCPServer struct {
	addr            netip.AddrPort
	requests, conns atomic.Uint64
	srv             *http.Server
}

// serveBenchTCP serves fn (hello when nil) on ln until the test ends.
func serveBenchTCP(t *testing.T, ln net.Listener, fn http.HandlerFunc) *benchTCPServer {
	t.Helper()
	s := &benchTCPServer{addr: ln.Addr().(*net.TCPAddr).AddrPort()}
	if fn == nil {
		fn = func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello from the bed\n") }
	}
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.requests.Add(1); fn(w, r) }),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.conns.Add(1)
			}
		},
	}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// benchTCP runs `engine bench tcp` in this process from bed's engine side
// with args, and returns its --json document.
func benchTCP(t *testing.T, bed *testbed.Bed, args ...string) benchTCPJSON {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bench.json")
	full := append([]string{"bench", "tcp", "-i", bed.HostIf,
		"--addr", netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits()).String(), "--json", path}, args...)
	var stdout, stderr bytes.Buffer
	if code := run(full, &stdout, &stderr); code != 0 {
		t.Fatalf("engine %s: exit %d\n%s%s", strings.Join(full, " "), code, stdout.String(), stderr.String())
	}
	t.Logf("%s", stdout.String())
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc benchTCPJSON
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	// The keys scripts rely on.
	for _, k := range []string{`"requests"`, `"requests_per_s"`, `"errors"`, `"latency_ns"`, `"p999"`, `"bytes"`, `"cpu"`, `"process_us_per_request"`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Errorf("--json has no %s key", k)
		}
	}
	return doc
}

func peerURL(bed *testbed.Bed, port uint16, path string) string {
	return "http://" + netip.AddrPortFrom(bed.PeerAddr, port).String() + path
}

// Against Go's net/http in the peer namespace (the peer kernel's TCP),
// through the engine and then through the kernel's sockets on the same
// link: both runs answer every request the server saw; the report is
// written.
func TestBenchTCPKernelServer(t *testing.T) {
	bed := testbed.New(t, testbed.Config{HostKernelAddr: true})
	s := serveBenchTCP(t, enginetest.PeerListenTCP(t, bed, 8080), nil)
	reportPath := filepath.Join(t.TempDir(), "report.html")
	doc := benchTCP(t, bed, "--url", peerURL(bed, 8080, "/index.html"), "-c", "4", "--duration", "1s",
		"--compare", "kernel", "--report", reportPath)
	if doc.Stack != "engine" || doc.Kernel == nil || doc.Ratio == nil {
		t.Fatalf("no comparison in %+v", doc)
	}
	if doc.Poll != "adaptive" || doc.NapUS != 0 {
		t.Errorf("4 connections on one worker: poll %q, nap %vµs; want adaptive, no nap", doc.Poll, doc.NapUS)
	}
	for _, r := range []struct {
		stack string
		res   *benchTCPStackJSON
	}{{"engine", &benchTCPStackJSON{Stack: doc.Stack, Result: doc.Result}}, {"kernel", doc.Kernel}} {
		res := &r.res.Result
		if res.Requests == 0 || res.Errors.Total != 0 || res.Connects != 4 || res.LatencyNs.P50 <= 0 ||
			res.LatencyNs.Count != res.Requests || len(res.Intervals) == 0 {
			t.Errorf("%s: %d requests, %d connects, errors %+v, latency %+v", r.stack, res.Requests, res.Connects, res.Errors, res.LatencyNs)
		}
		if c := res.CPU; c.ProcessSeconds <= 0 || c.MachineSeconds <= 0 || c.ProcessUsPerRequest <= 0 || c.MachineUsPerRequest <= 0 {
			t.Errorf("%s: CPU %+v: a 1 s run that took none", r.stack, c)
		}
	}
	if got, want := s.requests.Load(), doc.Requests+doc.Kernel.Requests; got != want {
		t.Errorf("the server answered %d requests, the two runs counted %d", got, want)
	}
	if s.conns.Load() != 8 {
		t.Errorf("the server saw %d connections, want 4 per run", s.conns.Load())
	}
	if r := doc.Ratio; r.RequestsPerS <= 0 || r.ProcessUsPerRequest <= 0 || r.MachineUsPerRequest <= 0 {
		t.Errorf("ratios %+v", r)
	}
	html, err := os.ReadFile(reportPath)
	if err != nil || !bytes.Contains(html, []byte("<svg")) || !bytes.Contains(html, []byte("kernel")) {
		t.Errorf("report: %v, %d bytes", err, len(html))
	}
}

// Against the engine's own HTTP server: net/http on a listener of a
// second engine on the bed's segment.
func TestBenchTCPEngineServer(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	link, err := bed.AddSegmentLink()
	if err != nil {
		t.Fatal(err)
	}
	server, err := engine.New(engine.Config{Interface: link.Ifname, Addrs: []netip.Prefix{netip.PrefixFrom(link.Addr, bed.Prefix.Bits())},
		Logger: enginetest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	ln, err := server.Listen("tcp4", ":8081")
	if err != nil {
		t.Fatal(err)
	}
	s := serveBenchTCP(t, ln, nil)
	doc := benchTCP(t, bed, "--url", "http://"+netip.AddrPortFrom(link.Addr, 8081).String()+"/", "-c", "4", "--duration", "1s")
	if doc.Requests == 0 || doc.Errors.Total != 0 || doc.Requests != s.requests.Load() || s.conns.Load() != 4 {
		t.Errorf("%d requests, errors %+v; the engine's server answered %d on %d connections",
			doc.Requests, doc.Errors, s.requests.Load(), s.conns.Load())
	}
}

// --nap auto naps the workers for a closed loop of 16 connections or more
// per worker (the bed has one queue) unless a nap lasts too long here, and
// every request is answered; an explicit --nap wins.
func TestBenchTCPNap(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	s := serveBenchTCP(t, enginetest.PeerListenTCP(t, bed, 8080), nil)
	for _, tc := range []struct {
		args []string
		nap  float64
	}{
		{[]string{"-c", "32"}, float64(tcpload.Nap / time.Microsecond)},
		{[]string{"-c", "32", "--nap", "0"}, 0},
		{[]string{"-c", "2", "--nap", "25us"}, 25},
		{[]string{"-c", "32", "--rate", "2000"}, 0}, // open loop: latency is the measurement
	} {
		before := s.requests.Load()
		doc := benchTCP(t, bed, append([]string{"--url", peerURL(bed, 8080, "/"), "--duration", "1s"}, tc.args...)...)
		if doc.NapTookUS > float64(benchTCPNapSlow/time.Microsecond) {
			tc.nap = 0 // auto spins where a nap lasts too long (a loaded machine)
		}
		if doc.NapUS != tc.nap || doc.Poll != "adaptive" {
			t.Errorf("%v: poll %q, nap %vµs; want adaptive, %vµs", tc.args, doc.Poll, doc.NapUS, tc.nap)
		}
		if doc.Requests == 0 || doc.Errors.Total != 0 || s.requests.Load()-before != doc.Requests {
			t.Errorf("%v: %d requests (the server saw %d), errors %+v", tc.args, doc.Requests, s.requests.Load()-before, doc.Errors)
		}
	}
}

// The open loop holds its rate within 2%, with every request answered.
func TestBenchTCPOpenLoopRate(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	s := serveBenchTCP(t, enginetest.PeerListenTCP(t, bed, 8080), nil)
	const rate = 1000
	doc := benchTCP(t, bed, "--url", peerURL(bed, 8080, "/"), "-c", "8", "--rate", strconv.Itoa(rate), "--duration", "3s")
	if doc.RequestsPerS < rate*0.98 || doc.RequestsPerS > rate*1.02 {
		t.Errorf("%.1f requests/s, want %d ±2%%", doc.RequestsPerS, rate)
	}
	if doc.Errors.Total != 0 || doc.Requests != s.requests.Load() || doc.Rate != rate {
		t.Errorf("%d requests (server %d), errors %+v", doc.Requests, s.requests.Load(), doc.Errors)
	}
}

// Connection rate: a connection per request, HTTP (the server closes
// first) and raw (the engine closes first and keeps the TIME-WAIT).
func TestBenchTCPConnect(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	s := serveBenchTCP(t, enginetest.PeerListenTCP(t, bed, 8080), nil)
	doc := benchTCP(t, bed, "--url", peerURL(bed, 8080, "/"), "--mode", "connect", "-c", "4", "--duration", "1s")
	if doc.Requests == 0 || doc.Errors.Total != 0 || doc.Connects != doc.Requests ||
		s.conns.Load() != doc.Connects || s.requests.Load() != doc.Requests {
		t.Errorf("%d requests, %d connects, errors %+v; the server saw %d connections, %d requests",
			doc.Requests, doc.Connects, doc.Errors, s.conns.Load(), s.requests.Load())
	}
	enginetest.PeerEchoTCP(t, bed, 7)
	doc = benchTCP(t, bed, "--url", "tcp://"+netip.AddrPortFrom(bed.PeerAddr, 7).String(), "--mode", "connect",
		"-c", "2", "--rate", "500", "--duration", "1s")
	if doc.Requests != 500 || doc.Connects != 500 || doc.Errors.Total != 0 || doc.BytesReceived != 64*500 {
		t.Errorf("raw connect at 500/s: %d requests, %d connects, %d bytes back, errors %+v",
			doc.Requests, doc.Connects, doc.BytesReceived, doc.Errors)
	}
}

// More connections to one server address than the engine's ephemeral
// range has ports, spread over three server ports (a connection is its
// 5-tuple): a 1,000-port range holds 2,500 connections at once, which
// carry requests at 1,000/s (open loop: a closed loop keeps every
// connection busy, and 2,500 busy connections overflow the engine
// worker's command ring under the race detector's slowdown). The full
// scale (more than the default range's 28,232 ports) is in bench/'s
// BenchmarkTCPLoadManyConns; the race detector, which `make test` runs
// under, allows only 8,128 goroutines.
func TestBenchTCPManyConns(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	var servers []*benchTCPServer
	for p := range uint16(3) {
		servers = append(servers, serveBenchTCP(t, enginetest.PeerListenTCP(t, bed, 8090+p), nil))
	}
	doc := benchTCP(t, bed, "--url", peerURL(bed, 8090, "/"), "--dst-ports", "3", "-c", "2500", "--rate", "1000", "--duration", "2s",
		"--ports", "40000-40999", "--tcp-rcvbuf", "4096", "--tcp-sndbuf", "4096", "--timeout", "10s")
	var conns uint64
	for _, s := range servers {
		conns += s.conns.Load()
	}
	if doc.PeakConns != 2500 || doc.Connects != 2500 || conns != 2500 || doc.Errors.Total != 0 || doc.Requests != 2000 {
		t.Errorf("peak %d open, %d connects (the servers saw %d), %d requests, errors %+v; want 2,500 at once",
			doc.PeakConns, doc.Connects, conns, doc.Requests, doc.Errors)
	}
}

// Bulk moves the bytes it reports: up, the peer's discard server read
// exactly what the engine counts as sent; down, the engine read no more
// than the peer's source wrote.
func TestBenchTCPBulk(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	var read, written atomic.Uint64
	serve := func(ln net.Listener, fn func(c net.Conn)) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); fn(c) }()
		}
	}
	go serve(enginetest.PeerListenTCP(t, bed, 9), func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		read.Add(uint64(n))
	})
	go serve(enginetest.PeerListenTCP(t, bed, 19), func(c net.Conn) {
		buf := make([]byte, 65536)
		for {
			n, err := c.Write(buf)
			written.Add(uint64(n))
			if err != nil {
				return
			}
		}
	})
	doc := benchTCP(t, bed, "--url", "tcp://"+netip.AddrPortFrom(bed.PeerAddr, 9).String(), "--mode", "bulk", "-c", "2", "--duration", "1s")
	if doc.BytesSent == 0 || doc.BytesSent != read.Load() || doc.Errors.Total != 0 || doc.BitsPerS <= 0 {
		t.Errorf("up: sent %d, the server read %d, errors %+v", doc.BytesSent, read.Load(), doc.Errors)
	}
	doc = benchTCP(t, bed, "--url", "tcp://"+netip.AddrPortFrom(bed.PeerAddr, 19).String(), "--mode", "bulk", "--direction", "down",
		"-c", "2", "--duration", "1s")
	time.Sleep(100 * time.Millisecond) // the source's last writes fail once the engine has closed
	if doc.BytesReceived == 0 || doc.BytesReceived > written.Load() || doc.Errors.Total != 0 {
		t.Errorf("down: received %d, the server wrote %d, errors %+v", doc.BytesReceived, written.Load(), doc.Errors)
	}
}

// Errors are counted when the server resets connections and when it
// stops.
func TestBenchTCPErrors(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	var n, resets atomic.Uint64
	s := serveBenchTCP(t, enginetest.PeerListenTCP(t, bed, 8080), func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%10 == 0 {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.(*net.TCPConn).SetLinger(0) // RST
			c.Close()
			resets.Add(1)
			return
		}
		io.WriteString(w, "ok\n")
	})
	doc := benchTCP(t, bed, "--url", peerURL(bed, 8080, "/"), "-c", "2", "--duration", "1s")
	if resets.Load() == 0 || doc.Errors.Reset != resets.Load() || doc.Errors.Total != doc.Errors.Reset ||
		doc.Requests+doc.Errors.Reset != s.requests.Load() {
		t.Errorf("errors %+v, %d requests; the server reset %d of %d", doc.Errors, doc.Requests, resets.Load(), s.requests.Load())
	}

	stopping := serveBenchTCP(t, enginetest.PeerListenTCP(t, bed, 8082), nil)
	var once sync.Once
	time.AfterFunc(500*time.Millisecond, func() { once.Do(func() { stopping.srv.Close() }) })
	doc = benchTCP(t, bed, "--url", peerURL(bed, 8082, "/"), "-c", "2", "--duration", "1500ms", "--timeout", "1s")
	if seen := stopping.requests.Load(); doc.Requests == 0 || doc.Errors.Connect == 0 || doc.Requests > seen ||
		seen > doc.Requests+doc.Errors.Reset+doc.Errors.Closed {
		t.Errorf("a server that stops: %d requests (server %d), errors %+v", doc.Requests, seen, doc.Errors)
	}
}

// The progress line rewrites itself: carriage return, clear, figures.
func TestBenchTCPProgressLine(t *testing.T) {
	var b bytes.Buffer
	benchTCPProgress(&b, "engine", tcpload.HTTP)(tcpload.Snapshot{Elapsed: 3 * time.Second, Interval: time.Second,
		Requests: 12345, Open: 16, TotalErr: 2, Latency: measure.Latency{Count: 1, P50: 80 * time.Microsecond, P99: 300 * time.Microsecond}})
	if got, want := b.String(), "\r\033[Kengine   3.0s  12345 req/s  p50 80µs  p99 300µs  errors 2  open 16"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// A server nobody listens on: the figures, then exit status 1 with a hint.
func TestBenchTCPNoServer(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "tcp", "-i", bed.HostIf, "--addr", netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits()).String(),
		"--url", peerURL(bed, 8099, "/"), "-c", "1", "--duration", "300ms"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "no connection") || !strings.Contains(stdout.String(), "connect") {
		t.Errorf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
}

// Usage errors exit with status 2 and say what to do.
func TestBenchTCPUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "198.18.0.1/24", "--url", "http://198.18.0.2/"}, "no interface"},
		{[]string{"-i", "x", "--url", "http://198.18.0.2/"}, "no address"},
		{[]string{"-i", "x", "--addr", "198.18.0.1/24"}, "no server"},
		{[]string{"-i", "x", "--addr", "198.18.0.1/24", "--url", "http://example.com/"}, "IPv4 address"},
		{[]string{"-i", "x", "--addr", "198.18.0.1/24", "--url", "tcp://198.18.0.2:7"}, "wants an http:// URL"},
		{[]string{"-i", "x", "--addr", "198.18.0.1/24", "--url", "http://198.18.0.2/", "--mode", "udp"}, "--mode"},
		{[]string{"-i", "x", "--addr", "198.18.0.1/24", "--url", "tcp://198.18.0.2:9", "--mode", "bulk", "--rate", "5"}, "--rate"},
		{[]string{"-i", "x", "--addr", "198.18.0.1/24", "--url", "http://198.18.0.2/", "--compare", "dpdk"}, "--compare kernel"},
		{[]string{"-i", "x", "--addr", "198.18.0.1/24", "--url", "http://198.18.0.2:65535/", "--dst-ports", "2"}, "65535"},
		{[]string{"-i", "x", "--addr", "198.18.0.1/24", "--url", "http://198.18.0.2/", "--nap", "soon"}, "--nap \"soon\": want auto"},
		{[]string{"-i", "x", "--addr", "198.18.0.1/24", "--url", "http://198.18.0.2/", "--nap", "2ms"}, "up to 100µs"},
		{[]string{"-i", "x", "--addr", "198.18.0.1/24", "--url", "http://198.18.0.2/", "--nap", "10us", "--poll", "busy"}, "--poll adaptive"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(append([]string{"bench", "tcp"}, tc.args...), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
	var stdout bytes.Buffer
	if code := run([]string{"bench", "tcp", "-h"}, &stdout, io.Discard); code != 0 || !strings.Contains(stdout.String(), "--compare kernel") {
		t.Errorf("help: exit %d\n%s", code, stdout.String())
	}
}
