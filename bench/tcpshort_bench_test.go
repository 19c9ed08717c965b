package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/bench/cputime"
	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// shortServer answers each connection's 64-byte request with 64 bytes and
// closes once the client has closed: the same code on both stacks.
func shortServer(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var req [64]byte
			if _, err := io.ReadFull(c, req[:]); err != nil {
				return
			}
			if _, err := c.Write(req[:]); err != nil {
				return
			}
			c.Read(req[:1]) // wait for the client's FIN
		}()
	}
}

// child is a load generator (or a peer server) running in a process of
// its own inside a namespace of the bed: the test binary re-executed in
// the role childEnv names (see TestMain), so its goroutines share no Go
// scheduler with the engine, as with any load tool. It reads one request
// a line and answers each with one line, "ok ..." or "error TEXT".
type child struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

// startChild starts cmd as role with start (testbed.Cmd.Start, or a
// namespace's Do of cmd.Start) and stops it when tb ends.
func startChild(tb testing.TB, cmd *exec.Cmd, start func() error, role string) *child {
	tb.Helper()
	cmd.Env = append(os.Environ(), childEnv+"="+role)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			tb.Errorf("%s: %v", role, err)
		}
	})
	return &child{in: in, out: bufio.NewScanner(out)}
}

// ask sends one request and returns the answer after "ok ".
func (c *child) ask(format string, args ...any) (string, error) {
	if _, err := fmt.Fprintf(c.in, format+"\n", args...); err != nil {
		return "", err
	}
	if !c.out.Scan() {
		return "", fmt.Errorf("load generator exited: %v", c.out.Err())
	}
	line := c.out.Text()
	if rest, ok := strings.CutPrefix(line, "ok"); ok {
		return strings.TrimSpace(rest), nil
	}
	return "", fmt.Errorf("load generator: %s", line)
}

// shortClient is BenchmarkTCPShortConn's load generator (shortConnChild).
type shortClient struct{ *child }

// startShortClient starts the generator in bed's peer namespace (on the
// peers' CPUs when s splits them; s may be nil).
func startShortClient(tb testing.TB, bed *testbed.Bed, s *scaledBed) *shortClient {
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	cmd := bed.Command(ctx, os.Args[0])
	if s != nil {
		cmd = s.peerCommand(ctx, os.Args[0])
	}
	return &shortClient{startChild(tb, cmd.Cmd, cmd.Start, "shortconn")}
}

// round makes n connections to to, split among clients concurrent
// clients, and returns the time they took.
func (c *shortClient) round(to netip.AddrPort, n, clients int) (time.Duration, error) {
	ans, err := c.ask("%s %d %d", to, n, clients)
	if err != nil {
		return 0, err
	}
	ns, err := strconv.ParseInt(ans, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("load generator: %q", ans)
	}
	return time.Duration(ns), nil
}

// shortConnChild is the load generator's main: each input line
// "ADDR:PORT N CLIENTS" runs one round, answered by "ok NANOSECONDS" or
// "error TEXT".
func shortConnChild(in io.Reader, out io.Writer) int {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var to string
		var n, clients int
		if _, err := fmt.Sscanf(sc.Text(), "%s %d %d", &to, &n, &clients); err != nil || clients < 1 {
			fmt.Fprintf(out, "error bad request %q\n", sc.Text())
			continue
		}
		start := time.Now()
		if err := concurrently(n, clients, func(k int) error { return shortConns(kernelDial(to), k) }); err != nil {
			fmt.Fprintf(out, "error %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
			continue
		}
		fmt.Fprintf(out, "ok %d\n", time.Since(start).Nanoseconds())
	}
	return 0
}

// concurrently splits n among clients goroutines, each running fn with
// its share, and returns their errors joined.
func concurrently(n, clients int, fn func(n int) error) error {
	return concurrentlyOn(n, clients, func(_, share int) error { return fn(share) })
}

// concurrentlyOn is concurrently with each goroutine's index.
func concurrentlyOn(n, clients int, fn func(i, n int) error) error {
	errs := make(chan error, clients)
	for i := range clients {
		share := n / clients
		if i < n%clients {
			share++
		}
		go func() { errs <- fn(i, share) }()
	}
	var err error
	for range clients {
		err = errors.Join(err, <-errs)
	}
	return err
}

// kernelDial connects to to (IPv4, or IPv6 in brackets) through the
// kernel's stack.
func kernelDial(to string) func() (net.Conn, error) {
	network := "tcp4"
	if ap, err := netip.ParseAddrPort(to); err == nil && !ap.Addr().Is4() {
		network = "tcp6"
	}
	return func() (net.Conn, error) { return net.DialTimeout(network, to, 5*time.Second) }
}

// shortConns makes n connections one after another: connect, send 64
// bytes, read 64 bytes, close.
func shortConns(dial func() (net.Conn, error), n int) error {
	var req, resp [64]byte
	for range n {
		c, err := dial()
		if err != nil {
			return err
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(req[:]); err != nil {
			c.Close()
			return err
		}
		if _, err := io.ReadFull(c, resp[:]); err != nil {
			c.Close()
			return err
		}
		c.Close()
	}
	return nil
}

// BenchmarkTCPShortConn measures short connections per second (connect,
// 64-byte request, 64-byte reply, close; the client closes first, so
// TIME-WAIT stays with the client) against the engine's TCP and against the
// host kernel's (the bed's .3 address, passed to the kernel by the XDP
// program), from the same load generator (a process of its own in the peer
// namespace), rounds alternating. One op is one connection to each server.
// clients=1 is one connection at a time (a chain of wakeups between
// threads: latency-bound); clients=16 and 64 keep that many in flight, as a
// load tool does. engine-allocs/conn counts this process's allocations
// during the engine's rounds (its servers' goroutines included) per
// connection, less the harness's own per round (allocCounter).
//
// The innermost sub-benchmarks are the address families of -families
// (ipv4, ipv6; see family_test.go), on one dual-stack bed: over IPv6 the
// engine's listeners are "tcp6" ones, the kernel's on the bed's ::3, the
// generator's connections from ::2.
//
// queues=N runs the engine with N workers on a bed of N queues (see
// queues_test.go for how flows spread and how the CPUs are split). Each
// stack then serves the port with N listeners, a SO_REUSEPORT group (the
// engine's member i homed on queue i, as SO_INCOMING_CPU does), each with
// its own accept loop; with one queue, one listener. The generator's
// connections come from the peer kernel's ephemeral ports, so they spread
// over the queues by their hash; q0-share... are each queue's share of the
// packets the engine received and sent, steered/pkt the share handed to
// another worker.
//
//	go test ./bench -run '^$' -bench TCPShortConn -benchtime=3000x -count=5 [-args -poll=busy -queues=1,2 -families=ipv4,ipv6]
func BenchmarkTCPShortConn(b *testing.B) {
	forQueues(b, benchTCPShortConn)
}

// shortSides are the engine's and the kernel's servers of one family.
type shortSides struct{ toEngine, toKernel netip.AddrPort }

func benchTCPShortConn(b *testing.B, queues int) {
	s := startScaledBed(b, queues, engine.Config{Poll: pollFlag(b)}, dualStack(b))
	bed, eng := s.bed, s.eng
	b.Logf("queues=%d: %v; steering %s", queues, s.split, eng.Steering())
	// Tens of thousands of connections leave TIME-WAITs at the client: let
	// it reuse them (RFC 7323 timestamps make that safe) from a wider range.
	if err := bed.Do(wideClientPorts); err != nil {
		b.Fatal(err)
	}
	gen := startShortClient(b, bed, s)
	sides := map[string]shortSides{}
	for i, f := range families(b) {
		engAddr, kerAddr, _ := s.addrs(b, f)
		port := 5301 + 2*uint16(i) // 5301/5302 for the first family, 5303/5304 for the second
		for _, ln := range s.engineListenersOn(b, f.tcp(), port) {
			go shortServer(ln)
		}
		for _, ln := range s.kernelListenersOn(b, netip.AddrPortFrom(kerAddr, port+1)) {
			go shortServer(ln)
		}
		side := shortSides{netip.AddrPortFrom(engAddr, port), netip.AddrPortFrom(kerAddr, port+1)}
		for _, to := range []netip.AddrPort{side.toEngine, side.toKernel} { // warm up: ARP or NDP, caches
			if _, err := gen.round(to, 20, 1); err != nil {
				b.Fatalf("warm-up to %v: %v", to, err)
			}
		}
		sides[f.name] = side
	}
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			forFamilies(b, func(b *testing.B, f family) { shortConnRounds(b, eng, gen, sides[f.name], clients) })
		})
	}
}

// shortConnRounds is one sub-benchmark of BenchmarkTCPShortConn: b.N
// connections to each of the engine's and the kernel's servers, in rounds
// that alternate between them.
func shortConnRounds(b *testing.B, eng *engine.Engine, gen *shortClient, srv shortSides, clients int) {
	const round = 500
	toEngine, toKernel := srv.toEngine, srv.toKernel
	var engRate, kerRate []float64
	var engCPU, kerCPU time.Duration // machine CPU (all processes, softirq) during the rounds
	var engN, kerN int
	shares := newQueueShares(eng)
	var allocs allocCounter
	allocs.calibrate(func() { gen.round(toEngine, 0, clients) })
	b.ReportAllocs()
	for done := 0; done < b.N; done += round {
		n := min(round, b.N-done)
		for _, side := range []struct {
			to    netip.AddrPort
			rates *[]float64
			cpu   *time.Duration
			conns *int
		}{{toEngine, &engRate, &engCPU, &engN}, {toKernel, &kerRate, &kerCPU, &kerN}} {
			if side.to == toEngine {
				shares.start()
				allocs.start()
			}
			before := machineCPU()
			el, err := gen.round(side.to, n, clients)
			if err != nil {
				b.Fatalf("to %v: %v", side.to, err)
			}
			*side.cpu += machineCPU() - before
			if side.to == toEngine {
				allocs.stop()
				shares.stop()
			}
			*side.conns += n
			*side.rates = append(*side.rates, float64(n)/el.Seconds())
		}
	}
	b.StopTimer()
	e, k := median(engRate), median(kerRate)
	b.ReportMetric(e, "engine-conn/s")
	b.ReportMetric(k, "kernel-conn/s")
	if engN > 0 && kerN > 0 {
		b.ReportMetric(float64(engCPU.Microseconds())/float64(engN), "engine-cpu-µs/conn")
		b.ReportMetric(float64(kerCPU.Microseconds())/float64(kerN), "kernel-cpu-µs/conn")
		b.ReportMetric(allocs.per(engN), "engine-allocs/conn")
	}
	b.ReportMetric(e/k, "engine/kernel")
	shares.report(b)
}

// wideClientPorts lets the clients of the namespace it runs in reuse
// TIME-WAIT ports (tcp_tw_reuse=1; RFC 7323 timestamps make that safe)
// from a wide range (ip_local_port_range 1024-65535): tens of thousands
// of short connections leave TIME-WAITs at the side that closes first.
// Both are the namespace's own settings.
func wideClientPorts() error {
	return errors.Join(
		os.WriteFile("/proc/sys/net/ipv4/tcp_tw_reuse", []byte("1"), 0),
		os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte("1024 65535"), 0))
}

// machineCPU is the machine's busy time, every CPU together
// (cputime.Machine: exact idle residencies, not /proc/stat's busy ticks,
// which miss short bursts and so undercount the burstier side).
func machineCPU() time.Duration { return cputime.Machine() }

// TestShortConnGenerator runs the load generator of BenchmarkTCPShortConn
// for a few connections against both servers, so the harness itself is
// tested with everything else (benchmarks do not run in `make test`).
func TestShortConnGenerator(t *testing.T) {
	bed, eng := enginetest.StartBesideKernel(t, engine.Config{})
	eln, err := eng.Listen("tcp4", ":5301")
	if err != nil {
		t.Fatal(err)
	}
	defer eln.Close()
	kln, err := net.Listen("tcp4", netip.AddrPortFrom(bed.HostAddr, 5302).String())
	if err != nil {
		t.Fatal(err)
	}
	defer kln.Close()
	go shortServer(eln)
	go shortServer(kln)
	gen := startShortClient(t, bed, nil)
	for _, to := range []netip.AddrPort{netip.AddrPortFrom(bed.EngineAddr, 5301), netip.AddrPortFrom(bed.HostAddr, 5302)} {
		if _, err := gen.round(to, 40, 4); err != nil {
			t.Fatalf("to %v: %v", to, err)
		}
	}
	if st := eng.Stats().Total.TCP; st.PassiveOpens != 40 {
		t.Errorf("the engine saw %d connections, want 40", st.PassiveOpens)
	}
	// A bad request is answered with an error, not a hang.
	if _, err := gen.round(netip.AddrPortFrom(bed.EngineAddr, 5399), 1, 1); err == nil {
		t.Error("a round to a closed port succeeded")
	}
}
