package tcpload

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var kernelDial = (&net.Dialer{}).DialContext

// listen opens a loopback listener closed when t ends.
func listen(t testing.TB) (net.Listener, netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, ln.Addr().(*net.TCPAddr).AddrPort()
}

// httpServer serves fn on a loopback port and counts requests and new
// connections.
type httpServer struct {
	addr            netip.AddrPort
	requests, conns atomic.Uint64
	srv             *http.Server
}

func startHTTP(t *testing.T, fn http.HandlerFunc) *httpServer {
	t.Helper()
	ln, addr := listen(t)
	s := &httpServer{addr: addr}
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.requests.Add(1)
			fn(w, r)
		}),
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

func hello(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello, world\n") }

func mustRun(t *testing.T, cfg Config) Result {
	t.Helper()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestHTTPClosedLoop(t *testing.T) {
	s := startHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length: chunked
		}
		hello(w, r)
	})
	for _, path := range []string{"/", "/chunked"} {
		s.requests.Store(0)
		s.conns.Store(0)
		var snaps atomic.Int32
		res := mustRun(t, Config{Dial: kernelDial, Target: s.addr, Path: path, Conns: 4, Duration: 300 * time.Millisecond,
			Interval: 100 * time.Millisecond, Progress: func(Snapshot) { snaps.Add(1) }})
		if res.Errors.Total != 0 {
			t.Errorf("%s: errors %+v", path, res.Errors)
		}
		if res.Requests == 0 || res.Requests != s.requests.Load() {
			t.Errorf("%s: %d requests answered, the server saw %d", path, res.Requests, s.requests.Load())
		}
		if res.Connects != 4 || s.conns.Load() != 4 || res.PeakConns != 4 {
			t.Errorf("%s: %d connects (peak %d), the server saw %d; want 4", path, res.Connects, res.PeakConns, s.conns.Load())
		}
		if res.Latency.Count != res.Requests || res.LatencyNs.P50 <= 0 || res.LatencyNs.Max < res.LatencyNs.P99 {
			t.Errorf("%s: latency %+v for %d requests", path, res.LatencyNs, res.Requests)
		}
		if snaps.Load() < 2 || len(res.Intervals) < 2 {
			t.Errorf("%s: %d progress calls, %d intervals", path, snaps.Load(), len(res.Intervals))
		}
	}
}

// The open loop keeps its rate: the answered requests per second are
// within 2% of the rate asked for, and none is lost.
func TestOpenLoopRate(t *testing.T) {
	s := startHTTP(t, hello)
	const rate = 2000
	res := mustRun(t, Config{Dial: kernelDial, Target: s.addr, Conns: 8, Rate: rate, Duration: time.Second})
	if got := res.RequestsPerS; got < rate*0.98 || got > rate*1.02 {
		t.Errorf("%.0f requests/s, want %d ±2%%", got, rate)
	}
	t.Logf("send lag %+v\nlatency %+v", *res.SendLagNs, res.LatencyNs)
	if res.SendLagNs == nil || res.SendLagNs.Count != res.Requests || res.SendLagNs.P50 > res.LatencyNs.P50 {
		t.Errorf("send lag %+v, latency %+v", res.SendLagNs, res.LatencyNs)
	}
	if res.Requests != rate || s.requests.Load() != rate || res.Errors.Total != 0 {
		t.Errorf("%d requests (server %d), errors %+v; want %d", res.Requests, s.requests.Load(), res.Errors, rate)
	}
}

// A stall of the server shows in the latency of the requests that were
// due during it (coordinated omission corrected), not only in the one
// that met it.
func TestOpenLoopCountsStalls(t *testing.T) {
	var n atomic.Int32
	s := startHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 50 {
			time.Sleep(200 * time.Millisecond)
		}
		hello(w, r)
	})
	res := mustRun(t, Config{Dial: kernelDial, Target: s.addr, Conns: 1, Rate: 500, Duration: time.Second})
	// 200 ms at 500/s: about 100 requests were due during the stall, so
	// at least 5% of 500 waited 100 ms or more.
	if res.Latency.P90 < 50*time.Millisecond || res.Latency.Max < 190*time.Millisecond {
		t.Errorf("latency %v: the stall is hidden", res.Latency)
	}
	closed := mustRun(t, Config{Dial: kernelDial, Target: s.addr, Conns: 1, Duration: 300 * time.Millisecond})
	if closed.Latency.P90 > 50*time.Millisecond {
		t.Errorf("closed loop without a stall: %v", closed.Latency)
	}
}

// echo serves a byte-for-byte echo until ln closes, counting bytes read.
func echo(ln net.Listener, bytes *atomic.Uint64) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 65536)
			for {
				n, err := c.Read(buf)
				bytes.Add(uint64(n))
				if _, werr := c.Write(buf[:n]); err != nil || werr != nil {
					return
				}
			}
		}()
	}
}

func TestRawAndConnect(t *testing.T) {
	ln, addr := listen(t)
	var got atomic.Uint64
	go echo(ln, &got)
	res := mustRun(t, Config{Dial: kernelDial, Target: addr, Mode: Raw, Conns: 3, RequestSize: 100, ResponseSize: 100,
		Duration: 200 * time.Millisecond})
	if res.Errors.Total != 0 || res.Requests == 0 || res.BytesSent != 100*res.Requests ||
		res.BytesReceived != res.BytesSent || got.Load() != res.BytesSent {
		t.Errorf("raw: %+v; the server read %d bytes", res, got.Load())
	}
	got.Store(0)
	res = mustRun(t, Config{Dial: kernelDial, Target: addr, Mode: Connect, Conns: 2, Duration: 200 * time.Millisecond})
	if res.Errors.Total != 0 || res.Requests == 0 || res.Connects != res.Requests || got.Load() != 64*res.Requests {
		t.Errorf("raw connect: %+v; the server read %d bytes", res, got.Load())
	}

	s := startHTTP(t, hello)
	res = mustRun(t, Config{Dial: kernelDial, Target: s.addr, Mode: Connect, Path: "/", Conns: 2, Rate: 500,
		Duration: 400 * time.Millisecond})
	if res.Errors.Total != 0 || res.Requests != 200 || res.Connects != 200 || s.conns.Load() != 200 || s.requests.Load() != 200 {
		t.Errorf("http connect: %d requests, %d connects, errors %+v; the server saw %d connections, %d requests; want 200",
			res.Requests, res.Connects, res.Errors, s.conns.Load(), s.requests.Load())
	}
}

// Connections are spread over the target's consecutive ports.
func TestPorts(t *testing.T) {
	base := 0
	var lns []net.Listener
	var counts [3]atomic.Uint64
	for base == 0 {
		lns = lns[:0]
		_, a := listen(t)
		base = int(a.Port()) + 1
		for i := range 3 {
			ln, err := net.Listen("tcp4", netip.AddrPortFrom(a.Addr(), uint16(base+i)).String())
			if err != nil {
				for _, l := range lns {
					l.Close()
				}
				base = 0
				break
			}
			lns = append(lns, ln)
			t.Cleanup(func() { ln.Close() })
			go echo(ln, &counts[i])
		}
	}
	res := mustRun(t, Config{Dial: kernelDial, Target: netip.MustParseAddrPort("127.0.0.1:" + strconv.Itoa(base)), Ports: 3,
		Mode: Raw, Conns: 6, Duration: 100 * time.Millisecond})
	for i := range counts {
		if counts[i].Load() == 0 {
			t.Errorf("port %d got nothing (%+v)", base+i, res)
		}
	}
}

func TestBulk(t *testing.T) {
	ln, addr := listen(t)
	var up, down atomic.Uint64
	src := make([]byte, 65536)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var first [1]byte
				if _, err := io.ReadFull(c, first[:]); err != nil {
					return
				}
				if first[0] == 'd' { // a download: send until the client goes
					for {
						n, err := c.Write(src)
						down.Add(uint64(n))
						if err != nil {
							return
						}
					}
				}
				n, _ := io.Copy(io.Discard, c)
				up.Add(uint64(n) + 1)
			}()
		}
	}()
	res := mustRun(t, Config{Dial: kernelDial, Target: addr, Mode: Bulk, Conns: 2, Duration: 200 * time.Millisecond})
	if res.Errors.Total != 0 || res.BytesSent == 0 || res.BytesSent != up.Load() {
		t.Errorf("up: sent %d, the server read %d; errors %+v", res.BytesSent, up.Load(), res.Errors)
	}
	// Down: a 1-byte request first (a Raw exchange of one byte that the
	// server does not answer would not do), so use a dialer that sends it.
	dialDown := func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := kernelDial(ctx, network, address)
		if err == nil {
			_, err = c.Write([]byte{'d'})
		}
		return c, err
	}
	res = mustRun(t, Config{Dial: dialDown, Target: addr, Mode: Bulk, Direction: Down, Conns: 2, Duration: 200 * time.Millisecond})
	if res.Errors.Total != 0 || res.BytesReceived == 0 || res.BytesReceived > down.Load() || res.BytesSent != 0 {
		t.Errorf("down: received %d, the server wrote %d; errors %+v", res.BytesReceived, down.Load(), res.Errors)
	}
	eln, eaddr := listen(t)
	var echoed atomic.Uint64
	go echo(eln, &echoed)
	res = mustRun(t, Config{Dial: kernelDial, Target: eaddr, Mode: Bulk, Direction: Both, Duration: 200 * time.Millisecond})
	if res.Errors.Total != 0 || res.BytesSent == 0 || res.BytesReceived != res.BytesSent || echoed.Load() != res.BytesSent {
		t.Errorf("both: sent %d, received %d, the server echoed %d; errors %+v", res.BytesSent, res.BytesReceived, echoed.Load(), res.Errors)
	}
}

// Errors are counted by kind: resets, a server that stops, one that does
// not answer, and one that answers 500.
func TestErrors(t *testing.T) {
	var resets atomic.Uint64
	var n atomic.Uint64
	s := startHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		switch k := n.Add(1); {
		case k%10 == 0: // reset the connection instead of answering
			c, _, _ := w.(http.Hijacker).Hijack()
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			resets.Add(1)
		case k%10 == 5:
			w.WriteHeader(http.StatusInternalServerError)
		default:
			hello(w, r)
		}
	})
	res := mustRun(t, Config{Dial: kernelDial, Target: s.addr, Conns: 2, Duration: 200 * time.Millisecond})
	if res.Errors.Reset != resets.Load() || resets.Load() == 0 || res.Errors.Status == 0 ||
		res.Errors.Total != res.Errors.Reset+res.Errors.Status || res.Requests+res.Errors.Reset != s.requests.Load() {
		t.Errorf("errors %+v, %d requests; the server reset %d of %d", res.Errors, res.Requests, resets.Load(), s.requests.Load())
	}

	silent := startHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			<-r.Context().Done()
			return
		}
		hello(w, r)
	})
	start := time.Now()
	res = mustRun(t, Config{Dial: kernelDial, Target: silent.addr, Path: "/hang", Conns: 2, Timeout: 100 * time.Millisecond,
		Duration: 250 * time.Millisecond})
	if res.Requests != 0 || res.Errors.Timeout < 2 || res.Errors.Total != res.Errors.Timeout || time.Since(start) > time.Second {
		t.Errorf("a silent server: %d requests, errors %+v, after %v", res.Requests, res.Errors, time.Since(start))
	}

	// A server that stops: answered requests, then closed connections
	// and refused connects.
	stop := startHTTP(t, hello)
	var once sync.Once
	res = mustRun(t, Config{Dial: kernelDial, Target: stop.addr, Conns: 2, Duration: 400 * time.Millisecond,
		Interval: 100 * time.Millisecond, Progress: func(Snapshot) { once.Do(func() { stop.srv.Close() }) }})
	// A request the server took when it stopped may have lost its answer.
	if seen := stop.requests.Load(); res.Requests == 0 || res.Errors.Connect == 0 || res.Requests > seen ||
		seen > res.Requests+res.Errors.Reset+res.Errors.Closed {
		t.Errorf("a server that stops: %d requests (server %d), errors %+v", res.Requests, stop.requests.Load(), res.Errors)
	}
}

// Run returns soon after its context ends, with what was done.
func TestCancel(t *testing.T) {
	s := startHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			<-r.Context().Done()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := Run(ctx, Config{Dial: kernelDial, Target: s.addr, Path: "/hang", Conns: 3, Rate: 100, Duration: time.Minute})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second || res.Errors.Total != 0 {
		t.Errorf("got %v after %v, errors %+v", err, time.Since(start), res.Errors)
	}
}

func TestConfigErrors(t *testing.T) {
	ok := Config{Dial: kernelDial, Target: netip.MustParseAddrPort("127.0.0.1:80")}
	for _, c := range []func(*Config){
		func(c *Config) { c.Dial = nil },
		func(c *Config) { c.Target = netip.AddrPort{} },
		func(c *Config) { c.Ports = 65500 },
		func(c *Config) { c.Mode = Bulk; c.Rate = 10 },
		func(c *Config) { c.Path = "x" },
		func(c *Config) { c.Header = []string{"X: a\r\nY: b"} },
		func(c *Config) { c.BufferSize = 10 },
	} {
		cfg := ok
		c(&cfg)
		if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: got %v, want ErrConfig", cfg, err)
		}
	}
	if _, err := ParseMode("nope"); !errors.Is(err, ErrConfig) {
		t.Error(err)
	}
	if m, err := ParseMode("connect"); err != nil || m != Connect || m.String() != "connect" {
		t.Error(m, err)
	}
	if d, err := ParseDirection("both"); err != nil || d != Both || !strings.Contains(d.String(), "both") {
		t.Error(d, err)
	}
}
