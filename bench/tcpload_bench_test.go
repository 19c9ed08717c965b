package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpengine/engine/bench/tcpload"
	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// The HTTP server of the tcpload benchmarks is Go's net/http on the peer
// kernel, in a process of its own in the bed's peer namespace (a child,
// see startChild), so that it shares no Go scheduler with the engine that
// loads it, as wrk shares none. The child's role is told apart here,
// before TestMain runs, so that TestMain stays as it is. Its requests:
// "listen ADDR:PORT N" (ports PORT to PORT+N-1), answered "ok"; "count",
// answered "ok REQUESTS CONNECTIONS" (since the start). It exits at the
// end of its input.
func init() {
	if os.Getenv(childEnv) == "tcpload-httpd" {
		os.Exit(tcploadServerChild(os.Stdin, os.Stdout))
	}
}

func tcploadServerChild(in io.Reader, out io.Writer) int {
	var requests, conns atomic.Uint64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			requests.Add(1)
			io.WriteString(w, "hello from the peer\n")
		}),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		},
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var addr string
		var n int
		switch line := sc.Text(); {
		case line == "count":
			fmt.Fprintf(out, "ok %d %d\n", requests.Load(), conns.Load())
		case func() bool { _, err := fmt.Sscanf(line, "listen %s %d", &addr, &n); return err == nil }():
			ap, err := netip.ParseAddrPort(addr)
			for i := range n {
				var ln net.Listener
				if err == nil {
					ln, err = net.Listen("tcp4", netip.AddrPortFrom(ap.Addr(), ap.Port()+uint16(i)).String())
				}
				if err == nil {
					go srv.Serve(ln)
				}
			}
			if err != nil {
				fmt.Fprintf(out, "error %v\n", err)
				continue
			}
			fmt.Fprintln(out, "ok")
		default:
			fmt.Fprintf(out, "error bad request %q\n", line)
		}
	}
	return 0
}

// tcploadServer is the running server child.
type tcploadServer struct {
	*child
	url string
}

// startTCPLoadServer starts the server child with cmd (in the bed's peer
// namespace) on ports port to port+n-1 of the peer's address. A process
// holds at most 20,000 descriptors here (RLIMIT_NOFILE, and no
// CAP_SYS_RESOURCE to raise it): more connections need more children.
func startTCPLoadServer(tb testing.TB, bed *testbed.Bed, cmd *testbed.Cmd, port uint16, n int) *tcploadServer {
	tb.Helper()
	s := &tcploadServer{child: startChild(tb, cmd.Cmd, cmd.Start, "tcpload-httpd"),
		url: fmt.Sprintf("http://%s/", netip.AddrPortFrom(bed.PeerAddr, port))}
	if _, err := s.ask("listen %s %d", netip.AddrPortFrom(bed.PeerAddr, port), n); err != nil {
		tb.Fatalf("server: %v", err)
	}
	return s
}

// peerServer starts a server child in bed's peer namespace, on any CPU.
func peerServer(tb testing.TB, bed *testbed.Bed, port uint16, n int) *tcploadServer {
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	return startTCPLoadServer(tb, bed, bed.Command(ctx, os.Args[0]), port, n)
}

// counts returns the requests and connections the server has seen.
func (s *tcploadServer) counts(tb testing.TB) (requests, conns uint64) {
	tb.Helper()
	line, err := s.ask("count")
	if err == nil {
		_, err = fmt.Sscanf(line, "%d %d", &requests, &conns)
	}
	if err != nil {
		tb.Fatalf("server: %v", err)
	}
	return requests, conns
}

// tcploadRound is one run's figures, with the machine's CPU time spent
// during it (machineCPU: every process, softirq included) and, for an
// in-process run, the allocations of this process per request.
type tcploadRound struct {
	perSec, allocs float64
	cpu            time.Duration
	count          uint64 // requests or connections
	p50, p99       time.Duration
}

// tcploadRun runs cfg in this process.
func tcploadRun(tb testing.TB, cfg tcpload.Config) tcploadRound {
	tb.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu := machineCPU()
	res, err := tcpload.Run(context.Background(), cfg)
	r := tcploadRound{cpu: machineCPU() - cpu}
	runtime.ReadMemStats(&after)
	if err != nil {
		tb.Fatal(err)
	}
	if res.Errors.Total != 0 || res.Requests == 0 {
		tb.Fatalf("%d requests, errors %+v", res.Requests, res.Errors)
	}
	r.count, r.perSec = res.Requests, res.RequestsPerS
	r.allocs = float64(after.Mallocs-before.Mallocs) / float64(res.Requests)
	r.p50, r.p99 = res.Latency.P50, res.Latency.P99
	return r
}

var (
	wrkRate    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkCount   = regexp.MustCompile(`([0-9]+) requests in`)
	wrkErrors  = regexp.MustCompile(`Socket errors|Non-2xx`)
	wrkLatency = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
)

// wrkRun runs wrk (the host kernel's sockets, from the bed's .3 address)
// against url with conns connections for d (whole seconds: wrk takes no
// finer duration), on cpus (nil: any CPU) with a thread per CPU.
func wrkRun(tb testing.TB, url string, cpus []int, conns int, d time.Duration) tcploadRound {
	tb.Helper()
	threads := len(cpus)
	if cpus == nil {
		threads = runtime.NumCPU()
	}
	args := []string{"wrk", "-t", strconv.Itoa(min(threads, conns)), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", max(1, int(d.Round(time.Second).Seconds()))), "--latency", url}
	if cpus != nil {
		args = append([]string{"taskset", "-c", cpuList(cpus)}, args...)
	}
	cpu := machineCPU()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	r := tcploadRound{cpu: machineCPU() - cpu}
	m, c := wrkRate.FindSubmatch(out), wrkCount.FindSubmatch(out)
	if err != nil || m == nil || c == nil || wrkErrors.Match(out) {
		tb.Fatalf("wrk: %v\n%s", err, out)
	}
	r.perSec, _ = strconv.ParseFloat(string(m[1]), 64)
	r.count, _ = strconv.ParseUint(string(c[1]), 10, 64)
	for _, l := range wrkLatency.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(l[2]), 64)
		d := time.Duration(v * float64(map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(l[3])]))
		if string(l[1]) == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	return r
}

// tcploadBed is a bed of queues queues with an engine beside the host
// kernel (.3, for wrk and the kernel-socket runs; see startScaled) and the
// server child in the peer, on the peers' CPUs when the CPUs are split.
// The engine's workers nap for nap (engine.Config.Nap; 0: they spin).
func tcploadBed(tb testing.TB, queues int, nap time.Duration) (*scaledBed, *tcploadServer) {
	tb.Helper()
	enginetest.NeedTool(tb, "wrk")
	// The engine's rings sized as `engine bench tcp` sizes them.
	s := startScaled(tb, queues, engine.Config{Poll: pollFlag(tb), Nap: nap, TCPRecvBuffer: 64 << 10, TCPSendBuffer: 16 << 10})
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	return s, startTCPLoadServer(tb, s.bed, s.peerCommand(ctx, os.Args[0]), 8080, 1)
}

// BenchmarkTCPLoadVsWrk loads the same net/http server in the peer
// namespace with the engine's HTTP load generator (package tcpload over
// the engine's TCP, in this process) and with wrk (the host kernel's
// sockets on the same link, a thread per CPU the engine may use), rounds
// alternating, and reports both request rates, their ratio, the machine's
// CPU per request (server included, the same for both) and latency
// p50/p99. engine-allocs/req is this process's allocations per request
// during an engine round (load generator and engine); the load
// generator's own is 0 (bench/tcpload's TestAllocsPerRequest). One op is
// one round of each. queues=N: see queues_test.go; q0-share... are the
// engine's packets per queue. Each connection count has a bed of its own,
// whose engine's workers nap as `engine bench tcp --nap auto` makes them
// (tcpload.Config.WorkerNap: 10 µs at 16 connections or more per worker;
// -nap=0 makes them spin, -nap=DURATION nap that long).
//
//	go test ./bench -run '^$' -bench TCPLoadVsWrk -benchtime=5x [-args -queues=1,2 -nap=0]
func BenchmarkTCPLoadVsWrk(b *testing.B) {
	forQueues(b, func(b *testing.B, queues int) {
		for _, conns := range []int{16, 64} {
			b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
				cfg := tcpload.Config{Conns: conns, Duration: 2 * time.Second}
				nap := loadNap(b, cfg, queues)
				s, srv := tcploadBed(b, queues, nap)
				b.Logf("queues=%d: %v; nap %v", queues, s.split, nap)
				cfg.Dial, cfg.Target = (&engine.Dialer{Engine: s.eng}).DialContext, netip.AddrPortFrom(s.bed.PeerAddr, 8080)
				var e, w []tcploadRound
				shares := newQueueShares(s.eng)
				b.ReportAllocs()
				for b.Loop() {
					shares.start()
					e = append(e, tcploadRun(b, cfg))
					shares.stop()
					w = append(w, wrkRun(b, srv.url, s.split.engine, conns, cfg.Duration))
				}
				tcploadReport(b, "engine", "wrk", "req", e, w)
				shares.report(b)
			})
		}
	})
}

// BenchmarkTCPLoadConnRate measures connections per second (connect, an
// HTTP GET with "Connection: close", close) made by package tcpload
// through the engine's TCP and through the host kernel's sockets on the
// same link, against the same server, rounds alternating. The server
// closes first, so the TIME-WAITs are its own and the client's ephemeral
// ports never run out. One op is one round of each.
//
//	go test ./bench -run '^$' -bench TCPLoadConnRate -benchtime=5x [-args -queues=1,2]
func BenchmarkTCPLoadConnRate(b *testing.B) {
	forQueues(b, func(b *testing.B, queues int) {
		s, _ := tcploadBed(b, queues, 0)
		for _, conns := range []int{1, 16} {
			b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
				cfg := tcpload.Config{Target: netip.AddrPortFrom(s.bed.PeerAddr, 8080), Mode: tcpload.Connect, Path: "/",
					Conns: conns, Duration: time.Second}
				ecfg, kcfg := cfg, cfg
				ecfg.Dial, kcfg.Dial = (&engine.Dialer{Engine: s.eng}).DialContext, (&net.Dialer{}).DialContext
				var e, k []tcploadRound
				shares := newQueueShares(s.eng)
				b.ReportAllocs()
				for b.Loop() {
					shares.start()
					e = append(e, tcploadRun(b, ecfg))
					shares.stop()
					k = append(k, tcploadRun(b, kcfg))
				}
				tcploadReport(b, "engine", "kernel", "conn", e, k)
				shares.report(b)
			})
		}
	})
}

// BenchmarkTCPLoadManyConns opens 30,000 connections from the engine's
// one address to one server address, more than the default ephemeral
// range's 28,232 ports, spread over two server ports (a connection is its
// 5-tuple), then sends HTTP requests over them at 3,000/s (open loop) for
// 3 s. Each port has a server process of its own: a process may hold only
// 20,000 descriptors here. Reported: the connections open at once, the
// time to open them, the request rate and latency.
//
//	go test ./bench -run '^$' -bench TCPLoadManyConns -benchtime=1x
func BenchmarkTCPLoadManyConns(b *testing.B) {
	bed := testbed.New(b, testbed.Config{})
	const conns = 30000
	eng := enginetest.Start(b, bed, engine.Config{Poll: pollFlag(b), TCPRecvBuffer: 4096, TCPSendBuffer: 4096,
		TCPMaxConnections: 2 * conns})
	srv := []*tcploadServer{peerServer(b, bed, 8080, 1), peerServer(b, bed, 8081, 1)}
	cfg := tcpload.Config{Dial: (&engine.Dialer{Engine: eng}).DialContext, Target: netip.AddrPortFrom(bed.PeerAddr, 8080),
		Ports: 2, Conns: conns, Rate: 3000, Duration: 3 * time.Second, Timeout: 30 * time.Second}
	for b.Loop() {
		res, err := tcpload.Run(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		var seen uint64
		for _, s := range srv {
			_, c := s.counts(b)
			seen += c
		}
		if res.PeakConns != conns || seen != conns || res.Errors.Total != 0 {
			b.Fatalf("peak %d open (the servers saw %d connections), errors %+v", res.PeakConns, seen, res.Errors)
		}
		b.ReportMetric(float64(res.PeakConns), "open-conns")
		b.ReportMetric(res.OpenSeconds, "s-to-open")
		b.ReportMetric(res.RequestsPerS, "req/s")
		b.ReportMetric(float64(res.Latency.P99.Microseconds()), "p99-µs")
	}
}

// tcploadReport reports two sides' medians and their ratio.
func tcploadReport(b *testing.B, a, o, unit string, x, y []tcploadRound) {
	b.StopTimer()
	med := func(rs []tcploadRound, f func(r tcploadRound) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return median(v)
	}
	rate := func(r tcploadRound) float64 { return r.perSec }
	cpu := func(r tcploadRound) float64 { return float64(r.cpu.Nanoseconds()) / 1e3 / float64(r.count) }
	b.ReportMetric(med(x, rate), a+"-"+unit+"/s")
	b.ReportMetric(med(y, rate), o+"-"+unit+"/s")
	b.ReportMetric(med(x, rate)/med(y, rate), a+"/"+o)
	b.ReportMetric(med(x, cpu), a+"-cpu-µs/"+unit)
	b.ReportMetric(med(y, cpu), o+"-cpu-µs/"+unit)
	b.ReportMetric(med(x, func(r tcploadRound) float64 { return float64(r.p50.Microseconds()) }), a+"-p50-µs")
	b.ReportMetric(med(y, func(r tcploadRound) float64 { return float64(r.p50.Microseconds()) }), o+"-p50-µs")
	b.ReportMetric(med(x, func(r tcploadRound) float64 { return float64(r.p99.Microseconds()) }), a+"-p99-µs")
	b.ReportMetric(med(y, func(r tcploadRound) float64 { return float64(r.p99.Microseconds()) }), o+"-p99-µs")
	b.ReportMetric(med(x, func(r tcploadRound) float64 { return r.allocs }), a+"-allocs/"+unit)
}

// TestTCPLoadHarness runs the benchmarks' machinery briefly (benchmarks
// do not run in `make test`): wrk and the engine's load generator against
// the server child, whose counts match theirs, and a connection-rate round
// through both stacks.
func TestTCPLoadHarness(t *testing.T) {
	enginetest.NeedTool(t, "wrk")
	bed, eng := enginetest.StartBesideKernel(t, engine.Config{})
	srv := peerServer(t, bed, 8080, 1)
	cfg := tcpload.Config{Dial: (&engine.Dialer{Engine: eng}).DialContext, Target: netip.AddrPortFrom(bed.PeerAddr, 8080),
		Conns: 4, Duration: 300 * time.Millisecond}
	e := tcploadRun(t, cfg)
	if req, conns := srv.counts(t); req != e.count || conns != 4 {
		t.Errorf("engine: %d requests; the server saw %d on %d connections", e.count, req, conns)
	}
	w := wrkRun(t, srv.url, nil, 4, time.Second)
	if req, _ := srv.counts(t); w.count == 0 || w.perSec <= 0 || w.p50 <= 0 || req < e.count+w.count {
		t.Errorf("wrk: %d requests (%.0f/s, p50 %v); the server saw %d in all", w.count, w.perSec, w.p50, req)
	}
	cfg.Mode, cfg.Path = tcpload.Connect, "/"
	for _, dial := range []tcpload.DialFunc{cfg.Dial, (&net.Dialer{}).DialContext} {
		before, beforeConns := srv.counts(t)
		cfg.Dial = dial
		r := tcploadRun(t, cfg)
		if req, conns := srv.counts(t); req-before != r.count || conns-beforeConns != r.count {
			t.Errorf("connect: %d; the server saw %d requests on %d connections", r.count, req-before, conns-beforeConns)
		}
	}
}
