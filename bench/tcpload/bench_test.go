package tcpload

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"
)

var cannedResponse = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nhello, world\n")

// cannedHTTP answers every request header block ("\r\n\r\n") on ln's
// connections with the same response, allocating nothing per request, so
// that a process-wide allocation count is the client's.
func cannedHTTP(ln net.Listener, chunked bool) {
	resp := cannedResponse
	if chunked {
		resp = []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello,\r\n7\r\n world\n\r\n0\r\n\r\n")
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 4096)
			const end = "\r\n\r\n"
			matched := 0
			for {
				n, err := c.Read(buf)
				for _, b := range buf[:n] {
					switch {
					case b == end[matched]:
						matched++
					case b == '\r':
						matched = 1
					default:
						matched = 0
					}
					if matched == len(end) {
						matched = 0
						if _, err := c.Write(resp); err != nil {
							return
						}
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// allocsPerRequest runs cfg and returns the mallocs of the whole process
// per answered request, and the result.
func allocsPerRequest(tb testing.TB, cfg Config) (float64, Result) {
	tb.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := Run(context.Background(), cfg)
	runtime.ReadMemStats(&after)
	if err != nil {
		tb.Fatal(err)
	}
	if res.Requests == 0 || res.Errors.Total != 0 {
		tb.Fatalf("%d requests, errors %+v", res.Requests, res.Errors)
	}
	return float64(after.Mallocs-before.Mallocs) / float64(res.Requests), res
}

// The request loop allocates nothing per request: what a run allocates is
// its setup (histograms, buffers, connections, the progress series). The
// marginal cost is taken from two runs of different lengths, so the setup
// cancels out. Loopback, kernel sockets, a server that allocates nothing
// either.
func TestAllocsPerRequest(t *testing.T) {
	ln, addr := listen(t)
	go cannedHTTP(ln, false)
	for _, cfg := range []Config{
		{Mode: HTTP, Conns: 4},
		{Mode: HTTP, Conns: 4, Rate: 4000},
		{Mode: Raw, Conns: 4, Payload: []byte("\r\n\r\n"), ResponseSize: len(cannedResponse)},
	} {
		cfg.Dial, cfg.Target = kernelDial, addr
		var allocs, reqs [2]float64
		for i, d := range []time.Duration{200 * time.Millisecond, 600 * time.Millisecond} {
			cfg.Duration = d
			a, res := allocsPerRequest(t, cfg)
			allocs[i], reqs[i] = a*float64(res.Requests), float64(res.Requests)
		}
		// 0.02 leaves room for the runtime's own (timers, scheduling).
		a := (allocs[1] - allocs[0]) / (reqs[1] - reqs[0])
		t.Logf("%v rate %v: %.4f allocations per request", cfg.Mode, cfg.Rate, a)
		if a > 0.02 {
			t.Errorf("%v rate %v: %.3f allocations per request (%v requests)", cfg.Mode, cfg.Rate, a, reqs)
		}
	}
}

// BenchmarkRequests reports the client's cost per request over loopback
// kernel sockets: allocations (allocs/req) and requests per second, for
// keep-alive HTTP (Content-Length and chunked), raw, and connection per
// request. One op is one run of 200 ms.
//
//	go test ./bench/tcpload -run '^$' -bench Requests -count 3
func BenchmarkRequests(b *testing.B) {
	ln, addr := listen(b)
	go cannedHTTP(ln, false)
	cln, caddr := listen(b)
	go cannedHTTP(cln, true)
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"http", Config{Mode: HTTP, Target: addr}},
		{"http-chunked", Config{Mode: HTTP, Target: caddr}},
		{"http-open-loop", Config{Mode: HTTP, Target: addr, Rate: 20000}},
		{"raw", Config{Mode: Raw, Target: addr, Payload: []byte("\r\n\r\n"), ResponseSize: len(cannedResponse)}},
		{"connect", Config{Mode: Connect, Target: addr, Path: "/"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := bc.cfg
			cfg.Dial, cfg.Conns, cfg.Duration = kernelDial, 8, 200*time.Millisecond
			var allocs, reqs, secs float64
			b.ReportAllocs()
			for b.Loop() {
				a, res := allocsPerRequest(b, cfg)
				allocs += a * float64(res.Requests)
				reqs += float64(res.Requests)
				secs += res.Elapsed.Seconds()
			}
			b.ReportMetric(allocs/reqs, "allocs/req")
			b.ReportMetric(reqs/secs, "req/s")
		})
	}
}
