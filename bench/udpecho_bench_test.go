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
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// echoRound sends n datagrams of size bytes from c, keeping up to window
// outstanding, and waits for n answers. Lost datagrams are not resent: the
// round ends after a quiet second and reports how many came back.
func echoRound(c *net.UDPConn, n, size, window int, buf []byte) (answered int, err error) {
	msg := make([]byte, size)
	sent := 0
	for sent < window && sent < n {
		if _, err := c.Write(msg); err != nil {
			return answered, err
		}
		sent++
	}
	for answered < n {
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return answered, nil
			}
			return answered, err
		}
		answered++
		if sent < n {
			if _, err := c.Write(msg); err != nil && !errors.Is(err, syscall.ENOBUFS) {
				return answered, err
			}
			sent++
		}
	}
	return answered, nil
}

// BenchmarkUDPEcho measures UDP echo through the engine against the kernel's
// own UDP stack, side by side in one run: the same bed, the same client in
// the peer namespace, the same echo loop (a Go net.PacketConn), rounds
// alternating between the two. The kernel's server listens on the bed's .3
// address, which the engine does not own, so the engine's XDP program passes
// that traffic to the kernel. Reported: echoes per second for each, their
// ratio (engine/kernel, medians over rounds) and the share of datagrams lost.
// allocs/op counts the benchmark process (both servers) per echo;
// engine-allocs/echo the same process during the engine's rounds only, per
// echo answered, less the harness's own allocations per round (measured
// on empty rounds: allocCounter).
//
// The innermost sub-benchmarks are the address families of -families
// (ipv4, ipv6; see family_test.go): over IPv6 the engine's socket is a
// "udp6" one on ::1, the kernel's on the bed's ::3, the client's on ::2.
//
// queues=N runs the engine with N workers on a bed of N queues (see
// queues_test.go for how flows spread and how the CPUs are split). Each
// stack serves the port with N sockets, a SO_REUSEPORT group (the engine's
// member i homed on queue i, as SO_INCOMING_CPU does), each with its own
// echo loop. The client is a process of its own in the peer namespace
// (udpEchoChild) with udpClientsPerQueue sockets per queue, each keeping
// udpWindow datagrams in flight, from source ports chosen to spread over
// the queues (peerPorts); q0-share... are each queue's share of the packets
// the engine received and sent.
//
//	go test ./bench -run '^$' -bench 'UDPEcho/queues=.*/adaptive' -benchtime=20000x -count=3 [-args -queues=1,2 -families=ipv4,ipv6]
func BenchmarkUDPEcho(b *testing.B) {
	forQueues(b, func(b *testing.B, queues int) {
		for _, mode := range []engine.PollMode{engine.PollAdaptive, engine.PollInterrupt, engine.PollBusy} {
			for _, size := range []int{64, 1400} {
				b.Run(mode.String()+"/"+sizeName(size), func(b *testing.B) {
					forFamilies(b, func(b *testing.B, f family) { benchUDPEcho(b, queues, size, mode, f) })
				})
			}
		}
	})
}

// The UDP echo client: sockets per queue and datagrams in flight on each
// (32 per queue in all, as the single socket of the one-queue benchmark
// kept before it scaled).
const (
	udpClientsPerQueue = 4
	udpWindow          = 8
)

func sizeName(n int) string {
	if n >= 1000 {
		return "1400B"
	}
	return "64B"
}

func benchUDPEcho(b *testing.B, queues, size int, mode engine.PollMode, f family) {
	s := startScaledBed(b, queues, engine.Config{Poll: mode}, dualStack(b))
	eng := s.eng
	engAddr, kerAddr, peerAddr := s.addrs(b, f)
	b.Logf("queues=%d %s: %v; steering %s", queues, f.name, s.split, eng.Steering())
	// Both servers run the same echo loop: only the stack under it differs.
	for _, c := range s.engineUDP(b, f.udp(), 7007) {
		go enginetest.ServeUDPEcho(c)
	}
	for _, c := range s.kernelUDP(b, netip.AddrPortFrom(kerAddr, 7007)) {
		go enginetest.ServeUDPEcho(c)
	}
	toEngine := netip.AddrPortFrom(engAddr, 7007)
	toKernel := netip.AddrPortFrom(kerAddr, 7007)
	clients := udpClientsPerQueue * queues
	engPorts := s.peerPorts(peerAddr, toEngine, 20000, clients)
	kerPorts := s.peerPorts(peerAddr, toKernel, 30000, clients)
	gen := startUDPEchoClient(b, s)
	// Warm up: neighbor resolution (ARP, NDP) on both sides, caches, every
	// client socket. A first datagram may wait out a resolution: one each,
	// up to three times, before the counted warm-up.
	for _, side := range []struct {
		to    netip.AddrPort
		ports []uint16
	}{{toEngine, engPorts}, {toKernel, kerPorts}} {
		for try := 0; try < 3; try++ {
			if _, got, err := gen.round(side.to, side.ports[:1], 1, size, 1); err == nil && got == 1 {
				break
			}
		}
		n := 50 * clients
		if _, got, err := gen.round(side.to, side.ports, n, size, 1); err != nil || got < n {
			b.Fatalf("warm-up echo to %v: %d of %d answered, %v", side.to, got, n, err)
		}
	}

	round := 2000 * queues
	b.ReportAllocs()
	var engRate, kerRate []float64
	var sent, lost, engEchoes int
	shares := newQueueShares(eng)
	var allocs allocCounter
	allocs.calibrate(func() { gen.round(toEngine, engPorts, 0, size, udpWindow) })
	b.ResetTimer()
	for done := 0; done < b.N; done += round {
		n := min(round, b.N-done)
		for _, side := range []struct {
			to    netip.AddrPort
			ports []uint16
			rates *[]float64
		}{{toEngine, engPorts, &engRate}, {toKernel, kerPorts, &kerRate}} {
			if side.to == toEngine {
				shares.start()
				allocs.start()
			}
			el, got, err := gen.round(side.to, side.ports, n, size, udpWindow)
			if err != nil {
				b.Fatal(err)
			}
			if side.to == toEngine {
				allocs.stop()
				shares.stop()
				engEchoes += got
			}
			sent += n
			lost += n - got
			*side.rates = append(*side.rates, float64(got)/el.Seconds())
		}
	}
	b.StopTimer()
	e, k := median(engRate), median(kerRate)
	b.ReportMetric(e, "engine-echo/s")
	b.ReportMetric(k, "kernel-echo/s")
	b.ReportMetric(e/k, "engine/kernel")
	b.ReportMetric(100*float64(lost)/float64(sent), "%lost")
	if engEchoes > 0 {
		b.ReportMetric(allocs.per(engEchoes), "engine-allocs/echo")
	}
	shares.report(b)
	b.ReportMetric(0, "ns/op")
}

// udpEchoClient is BenchmarkUDPEcho's client (udpEchoChild).
type udpEchoClient struct{ *child }

// startUDPEchoClient starts the client in s's peer namespace, on the
// peers' CPUs when s splits them.
func startUDPEchoClient(tb testing.TB, s *scaledBed) *udpEchoClient {
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	cmd := s.peerCommand(ctx, os.Args[0])
	return &udpEchoClient{startChild(tb, cmd.Cmd, cmd.Start, "udpecho")}
}

// round echoes n datagrams of size bytes to to, split among one socket
// per source port, each keeping window in flight; it returns the time it
// took and the answers.
func (c *udpEchoClient) round(to netip.AddrPort, ports []uint16, n, size, window int) (time.Duration, int, error) {
	list := make([]string, len(ports))
	for i, p := range ports {
		list[i] = strconv.Itoa(int(p))
	}
	ans, err := c.ask("%s %d %d %d %s", to, n, size, window, strings.Join(list, ","))
	if err != nil {
		return 0, 0, err
	}
	var ns int64
	var got int
	if _, err := fmt.Sscanf(ans, "%d %d", &ns, &got); err != nil {
		return 0, 0, fmt.Errorf("udp echo client: %q", ans)
	}
	return time.Duration(ns), got, nil
}

// udpEchoChild is the UDP echo client's main: each input line
// "ADDR:PORT N SIZE WINDOW SRCPORT,SRCPORT,..." (ADDR IPv4, or IPv6 in
// brackets) runs one round (echoRound
// on every socket at once, N split among them), answered by
// "ok NANOSECONDS ANSWERED" or "error TEXT". Sockets, one connected socket
// per destination and source port, are kept for the next rounds.
func udpEchoChild(in io.Reader, out io.Writer) int {
	socks := map[string]*net.UDPConn{}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var to, list string
		var n, size, window int
		if _, err := fmt.Sscanf(sc.Text(), "%s %d %d %d %s", &to, &n, &size, &window, &list); err != nil {
			fmt.Fprintf(out, "error bad request %q\n", sc.Text())
			continue
		}
		ap, err := netip.ParseAddrPort(to)
		if err != nil {
			fmt.Fprintf(out, "error %v\n", err)
			continue
		}
		raddr := net.UDPAddrFromAddrPort(ap)
		var cs []*net.UDPConn
		for p := range strings.SplitSeq(list, ",") {
			c := socks[to+"/"+p]
			if c == nil {
				port, _ := strconv.Atoi(p)
				if c, err = net.DialUDP(udpNet(ap.Addr()), &net.UDPAddr{Port: port}, raddr); err != nil {
					break
				}
				socks[to+"/"+p] = c
			}
			cs = append(cs, c)
		}
		if err != nil {
			fmt.Fprintf(out, "error %v\n", err)
			continue
		}
		var answered atomic.Int64
		start := time.Now()
		err = concurrentlyOn(n, len(cs), func(i, share int) error {
			got, err := echoRound(cs[i], share, size, window, make([]byte, 65536))
			answered.Add(int64(got))
			return err
		})
		if err != nil {
			fmt.Fprintf(out, "error %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
			continue
		}
		fmt.Fprintf(out, "ok %d %d\n", time.Since(start).Nanoseconds(), answered.Load())
	}
	return 0
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkIdleCPU measures the CPU an idle engine uses in adaptive mode
// (the default): workers that have seen no traffic for SpinTime sleep in
// poll(2) and wake to tick ten times a second. Reported as a percentage of
// one core over the measured wall time (the process's user+system time,
// read with getrusage, so it includes the Go runtime's own threads). Each
// iteration is 10 ms of wall time: run it with a time, e.g. -benchtime=2s.
func BenchmarkIdleCPU(b *testing.B) {
	for _, mode := range []engine.PollMode{engine.PollAdaptive, engine.PollInterrupt} {
		b.Run(mode.String(), func(b *testing.B) {
			bed := testbed.New(b, testbed.Config{})
			enginetest.Start(b, bed, engine.Config{Poll: mode})
			time.Sleep(100 * time.Millisecond) // past the start-up spin
			var before, after syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			start := time.Now()
			b.ResetTimer()
			for range b.N {
				time.Sleep(10 * time.Millisecond)
			}
			b.StopTimer()
			wall := time.Since(start)
			syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := time.Duration(after.Utime.Nano()-before.Utime.Nano()) + time.Duration(after.Stime.Nano()-before.Stime.Nano())
			b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "%cpu")
		})
	}
}
