package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/testbed"
)

// BenchmarkTCPDial measures the engine as a client, the traffic-harness
// side: short connections per second (connect, 64-byte request, 64-byte
// reply, close; the client closes first, so TIME-WAIT is the client's)
// made by the engine's DialContext and by a kernel's net.Dial, to the same
// server in the peer namespace (Go on the peer kernel, a process of its
// own: shortServeChild), rounds alternating; clients dial concurrently, one
// connection after another. One op is one connection from each client
// stack.
//
// The kernel's client is a process of its own (shortConnChild) in a
// namespace of its own, a testbed Far host whose veth goes straight to the
// peer namespace (it dials the peer's address on that link), so that its
// TIME-WAIT rules are its namespace's, set as BenchmarkTCPShortConn sets
// its client's (wideClientPorts: tcp_tw_reuse=1, ports 1024-65535), and
// it never runs out of ports whatever the machine's speed; the host's own
// settings are left alone. The engine reuses a TIME-WAIT port after 1 s.
//
// queues=N runs the engine with N workers on a bed of N queues (see
// queues_test.go). The server listens with N SO_REUSEPORT listeners; the
// kernel's client runs on the engine's CPUs when they are split (both
// client stacks on the same cores), the server on the peers'. Each
// connect picks its port in the shard of a worker so that the replies land
// there; q0-share... are each queue's share of the packets the engine
// received and sent, steered/pkt the share handed to another worker.
//
//	go test ./bench -run '^$' -bench TCPDial -benchtime=2000x -count=3 [-args -queues=1,2]
func BenchmarkTCPDial(b *testing.B) {
	forQueues(b, benchTCPDial)
}

func benchTCPDial(b *testing.B, queues int) {
	s := startScaled(b, queues, engine.Config{Poll: pollFlag(b)})
	bed, eng := s.bed, s.eng
	b.Logf("queues=%d: %v; steering %s", queues, s.split, eng.Steering())
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	cmd := s.peerCommand(ctx, os.Args[0])
	srv := startChild(b, cmd.Cmd, cmd.Start, "shortserve")
	if _, err := srv.ask("%d %d", 5401, queues); err != nil {
		b.Fatal(err)
	}
	far, err := bed.AddFar(testbed.FarConfig{})
	if err != nil {
		b.Fatal(err)
	}
	if err := far.Do(wideClientPorts); err != nil {
		b.Fatal(err)
	}
	kcmd := exec.CommandContext(ctx, os.Args[0])
	if s.split.engine != nil {
		kcmd = exec.CommandContext(ctx, "taskset", "-c", cpuList(s.split.engine), os.Args[0])
	}
	kcmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", s.procs)) // the kernel side's Ps, s.procs (queues_test.go)
	kernel := &shortClient{startChild(b, kcmd, func() error { return far.Do(kcmd.Start) }, "shortconn")}
	toServer := netip.AddrPortFrom(bed.PeerAddr, 5401).String()
	toServerFar := netip.AddrPortFrom(far.RouterAddr, 5401)
	engineDial := func() (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return eng.DialContext(ctx, "tcp4", toServer)
	}
	engineRound := func(n, clients int) (time.Duration, error) {
		start := time.Now()
		err := concurrently(n, clients, func(k int) error { return shortConns(engineDial, k) })
		return time.Since(start), err
	}
	// Warm up: ARP, caches.
	if _, err := engineRound(20, 1); err != nil {
		b.Fatal(err)
	}
	if _, err := kernel.round(toServerFar, 20, 1); err != nil {
		b.Fatal(err)
	}
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			const per = 500
			var engRate, kerRate []float64
			shares := newQueueShares(eng)
			b.ReportAllocs()
			for done := 0; done < b.N; done += per {
				n := min(per, b.N-done)
				shares.start()
				el, err := engineRound(n, clients)
				if err != nil {
					b.Fatal(err)
				}
				shares.stop()
				engRate = append(engRate, float64(n)/el.Seconds())
				if el, err = kernel.round(toServerFar, n, clients); err != nil {
					b.Fatal(err)
				}
				kerRate = append(kerRate, float64(n)/el.Seconds())
			}
			b.StopTimer()
			e, k := median(engRate), median(kerRate)
			b.ReportMetric(e, "engine-conn/s")
			b.ReportMetric(k, "kernel-conn/s")
			b.ReportMetric(e/k, "engine/kernel")
			shares.report(b)
		})
	}
}

// shortServeChild is BenchmarkTCPDial's server: the first input line
// "PORT LISTENERS" opens that many SO_REUSEPORT listeners on every address
// of the namespace and answers "ok"; each runs shortServer until the input
// ends.
func shortServeChild(in io.Reader, out io.Writer) int {
	sc := bufio.NewScanner(in)
	if !sc.Scan() {
		return 1
	}
	var port, n int
	if _, err := fmt.Sscanf(sc.Text(), "%d %d", &port, &n); err != nil || n < 1 {
		fmt.Fprintf(out, "error bad request %q\n", sc.Text())
		return 1
	}
	lc := reusePortConfig(n > 1)
	for range n {
		ln, err := lc.Listen(context.Background(), "tcp4", fmt.Sprintf(":%d", port))
		if err != nil {
			fmt.Fprintf(out, "error %v\n", err)
			return 1
		}
		defer ln.Close()
		go shortServer(ln)
	}
	fmt.Fprintln(out, "ok")
	for sc.Scan() {
	}
	return 0
}
