package bench

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// Scaling over queues (issue 18). The side-by-side benchmarks run once per
// queue count of -queues (sub-benchmarks queues=N): a bed whose veth has N
// queues and an engine with N queues, so N workers, beside the kernel on
// the same link; the load generators spread their flows over the queues
// and each benchmark reports each queue's share of the packets the engine
// received and sent (q0-share, q1-share, ...: from engine.Stats().Workers'
// RxPackets and TxPackets over its engine rounds) and steered/pkt, the
// packets a worker handed to the worker that owns their flow, per packet
// received.
//
// Spreading. A veth has no RSS: a frame arrives on the receive queue
// whose number is the transmit queue the sender's kernel picked, for a
// local socket a random hash per socket (sk_txhash). With -rss (the
// default) the bed emulates a NIC's RSS instead (testbed.Bed.EmulateRSS:
// the peer's egress picks the queue from the Toeplitz hash of the 4-tuple)
// and the engine is told the same key and table (engine.Config.RSS), as
// on a NIC that reports them: a connect's replies and a passive
// connection's segments land on the worker that owns them, and the
// generators choose source ports that spread evenly (peerPorts). With
// -rss=false flows land where veth's per-socket hash puts them and the
// engine steers in software (go-metro), handing what lands on the wrong
// worker to its owner (Steered in the per-queue counters).
//
// Cores. With at least twice as many CPUs as the largest queue count of
// -queues, the CPUs are split in two halves: the benchmark process (the
// engine's N workers, the application goroutines they wake, and the kernel
// side's servers, so both stacks get the same N cores) is confined to the
// first N CPUs of the lower half (GOMAXPROCS N), and the load generators,
// processes of their own in the peer namespace, to the upper half
// (taskset), the same for every queue count. On a veth the receive
// processing of what a peer sends (veth NAPI, XDP, the AF_XDP copy, the
// kernel's IP and TCP receive) runs on the sending CPU, so both stacks'
// receive costs land on the peers' half. With fewer CPUs (this 2-core
// machine with -queues=1,2) no thread is confined to a CPU: workers,
// generators and the kernel share every CPU, and a second queue competes
// with the peers for the same two cores. GOMAXPROCS is N there too, the
// engine's preference (engine.Engine.PreferredProcs; the kernel side's
// client process in BenchmarkTCPDial gets the same). These benchmarks kept
// Go's default there, 2, until 2026-12-06, which cost the one-queue
// engine the most: with a P more than it has workers, every round's
// wakeups make the Go runtime wake a second thread for the idle P. UDP
// echo at 64 B, one queue: 173k-188k echoes/s at GOMAXPROCS 2, 280k-290k
// at 1 (the kernel side 245k-262k either way); two queues: 235k-252k at
// 2, 272k-285k at 1 (two workers on one P; separate runs from the
// scaling table's in the README). -procs sets another count for every
// queue count.
//
// -pin also pins worker i to the i-th engine CPU
// (engine.Config.CPUs; a pinned worker keeps a thread of its own, holding
// a P while it polls, and wakes the application through a waker goroutine
// instead of running it to completion), with GOMAXPROCS 2N, as with
// -poll=busy: with N, the polling workers left the application goroutines
// no P (one queue on 2 cores: 53k echoes/s pinned, 244k with 2N).

var (
	queuesFlag = flag.String("queues", "1", "comma-separated queue (worker) counts the side-by-side benchmarks run with, e.g. 1,2,4,8")
	rssFlag    = flag.Bool("rss", true, "emulate a NIC's RSS on the bed's veth and give the engine its key (see queues_test.go)")
	procsFlag  = flag.Int("procs", 0, "GOMAXPROCS of each side (0: the queue count; see queues_test.go); pinned or busy-polling workers get twice as many")
	pinFlag    = flag.Bool("pin", false, "pin the engine's workers to the engine's CPUs (engine.Config.CPUs) when the CPUs are split")
)

// queueCounts returns the -queues flag's counts.
func queueCounts(tb testing.TB) []int {
	var qs []int
	for f := range strings.SplitSeq(*queuesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 64 {
			tb.Fatalf("-queues=%q: want a comma-separated list of counts from 1 to 64", *queuesFlag)
		}
		qs = append(qs, n)
	}
	return qs
}

// forQueues runs fn as sub-benchmark queues=N for each count of -queues.
func forQueues(b *testing.B, fn func(b *testing.B, queues int)) {
	for _, q := range queueCounts(b) {
		b.Run(fmt.Sprintf("queues=%d", q), func(b *testing.B) { fn(b, q) })
	}
}

// cpuSplit is how a benchmark's CPUs are shared (see the comment at the
// top): engine and peers nil when nothing is confined.
type cpuSplit struct {
	engine, peers []int
}

// splitCPUs returns the split for queues queues, given the largest count
// of the run.
func splitCPUs(queues, largest int) cpuSplit {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return cpuSplit{}
	}
	var cpus []int
	for i := 0; len(cpus) < set.Count(); i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	if len(cpus) < 2*largest || queues > largest {
		return cpuSplit{}
	}
	half := len(cpus) / 2
	return cpuSplit{engine: cpus[:queues], peers: cpus[half:]}
}

func (s cpuSplit) String() string {
	if s.engine == nil {
		return "not split: workers, peers and the kernel share every CPU"
	}
	return fmt.Sprintf("engine and kernel servers on CPUs %v, peers on CPUs %v", s.engine, s.peers)
}

// confine moves every thread of this process onto cpus (none: no thread is
// moved) and sets GOMAXPROCS to procs, until tb ends; new threads inherit
// the mask of the thread that makes them.
func confine(tb testing.TB, cpus []int, procs int) {
	var set, all unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		tb.Fatal(err)
	}
	apply := func(s *unix.CPUSet) error {
		if cpus == nil {
			return nil
		}
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, _ := strconv.Atoi(t.Name())
			if err := unix.SchedSetaffinity(tid, s); err != nil && err != unix.ESRCH {
				return fmt.Errorf("thread %d: %w", tid, err)
			}
		}
		return nil
	}
	confinedProcs.Store(int32(procs))
	procs = runtime.GOMAXPROCS(procs)
	if err := apply(&set); err != nil {
		tb.Fatalf("confine to CPUs %v: %v", cpus, err)
	}
	tb.Cleanup(func() {
		confinedProcs.Store(0)
		runtime.GOMAXPROCS(procs)
		if err := apply(&all); err != nil {
			tb.Errorf("restore the CPU mask: %v", err)
		}
	})
}

// confinedProcs is the GOMAXPROCS of the confinement in force (0: none).
var confinedProcs atomic.Int32

// reconfine sets GOMAXPROCS back to the confinement's. The testing package
// sets it to the -cpu value (by default the machine's count) before each
// -count run of a sub-benchmark but the first: without this, a bed made
// once for its sub-benchmarks ran its first round of each with the
// confinement's GOMAXPROCS (1 on this 2-core machine) and the others with
// 2 Ps on one CPU, whose threads the kernel then time-sliced (TCPLoadVsWrk
// at 64 connections: p99 8-12 ms instead of 2.7, ×0.83-0.95 wrk instead
// of ×1.23-1.27).
func reconfine() {
	if p := int(confinedProcs.Load()); p > 0 {
		runtime.GOMAXPROCS(p)
	}
}

// scaledBed is a bed of N queues with an engine of N workers beside the
// kernel (the bed's .3 address), set up for the scaling benchmarks.
type scaledBed struct {
	bed    *testbed.Bed
	eng    *engine.Engine
	queues int
	rss    *testbed.RSS // nil: veth's own queue choice
	split  cpuSplit
	procs  int        // GOMAXPROCS of the kernel side, and of the engine unless its workers are pinned or busy (twice then)
	host6  netip.Addr // the caller's kernel's IPv6 address (::3) on a dual-stack bed, else invalid
}

// startScaled builds the bed and starts the engine with cfg (its Queues,
// RSS and CPUs are set here), confining this process when the CPUs are
// split.
func startScaled(tb testing.TB, queues int, cfg engine.Config) *scaledBed {
	return startScaledBed(tb, queues, cfg, false)
}

// startScaledBed is startScaled; with dual the bed and the engine have
// IPv6 as well (see family_test.go): the engine owns EngineAddr6/64 too
// (without DAD) and the caller's kernel ::3 (s.host6).
func startScaledBed(tb testing.TB, queues int, cfg engine.Config, dual bool) *scaledBed {
	tb.Helper()
	s := &scaledBed{queues: queues, split: splitCPUs(queues, largestQueues(tb))}
	s.bed = testbed.New(tb, testbed.Config{HostKernelAddr: true, Queues: queues, IPv6: dual})
	if dual {
		var err error
		if s.host6, err = s.bed.AddHostAddr6(); err != nil {
			tb.Fatal(err)
		}
		cfg.IPv6NoDAD = true
		cfg.Addrs = []netip.Prefix{netip.PrefixFrom(s.bed.EngineAddr, s.bed.Prefix.Bits()),
			netip.PrefixFrom(s.bed.EngineAddr6, s.bed.Prefix6.Bits())}
	}
	if *rssFlag && queues > 1 {
		r := testbed.DefaultRSS(queues)
		if err := s.bed.EmulateRSS(r); err != nil {
			tb.Fatal(err)
		}
		s.rss = &r
		cfg.RSS = &afxdp.RSSConfig{Key: r.Key[:], Indirection: r.Indirection, HashFunc: "toeplitz"}
	}
	cfg.Queues = queues
	if cfg.Nap == 0 {
		withNap(tb, &cfg)
	}
	cfg.TxChecksum = txChecksumFlag(tb)
	// A worker with a thread of its own (pinned, or busy-polling) holds
	// a P while it polls: the application goroutines and the waker need
	// as many more.
	s.procs = queues
	if *procsFlag > 0 {
		s.procs = *procsFlag
	}
	procs := s.procs
	pin := *pinFlag && s.split.engine != nil
	if pin {
		cfg.CPUs = s.split.engine
	}
	if pin || cfg.Poll == engine.PollBusy {
		procs = 2 * s.procs
	}
	confine(tb, s.split.engine, procs)
	s.eng = enginetest.Start(tb, s.bed, cfg)
	return s
}

func largestQueues(tb testing.TB) int {
	n := 0
	for _, q := range queueCounts(tb) {
		n = max(n, q)
	}
	return n
}

// peerCommand prepares name to run in the peer namespace, on the peers'
// CPUs when the CPUs are split.
func (s *scaledBed) peerCommand(ctx context.Context, name string, arg ...string) *testbed.Cmd {
	if s.split.peers != nil {
		arg = append([]string{"-c", cpuList(s.split.peers), name}, arg...)
		name = "taskset"
	}
	return s.bed.Command(ctx, name, arg...)
}

// cpuList is cpus as taskset -c takes them.
func cpuList(cpus []int) string {
	list := make([]string, len(cpus))
	for i, c := range cpus {
		list[i] = strconv.Itoa(c)
	}
	return strings.Join(list, ",")
}

// peerPorts returns n source ports from first on for flows from the peer
// (src) to dst, chosen so that they spread round robin over the queues:
// with RSS emulated, port i is one that lands on queue i mod N; without,
// consecutive ports (veth's hash decides).
func (s *scaledBed) peerPorts(src netip.Addr, dst netip.AddrPort, first uint16, n int) []uint16 {
	ports := make([]uint16, 0, n)
	p := first
	for len(ports) < n {
		if s.rss == nil || s.rss.Queue(netip.AddrPortFrom(src, p), dst) == len(ports)%s.queues {
			ports = append(ports, p)
		}
		p++
	}
	return ports
}

// enginePorts returns n local ports from first on for the engine's
// connections to peer whose replies spread round robin over the queues
// (with RSS emulated; consecutive ports without). A connection bound to
// one is owned by the worker its replies steer to.
func (s *scaledBed) enginePorts(peer netip.AddrPort, first uint16, n int) []uint16 {
	ports := make([]uint16, 0, n)
	for p := first; len(ports) < n; p++ {
		if s.rss == nil || s.rss.Queue(peer, netip.AddrPortFrom(s.bed.EngineAddr, p)) == len(ports)%s.queues {
			ports = append(ports, p)
		}
	}
	return ports
}

// rxByQueue returns the packets each of the engine's workers received.
func rxByQueue(eng *engine.Engine) []uint64 {
	rx, _ := byQueue(eng)
	return rx
}

// byQueue returns the packets each of the engine's workers received, and
// those it received and sent.
func byQueue(eng *engine.Engine) (rx, rxtx []uint64) {
	st := eng.Stats()
	for _, w := range st.Workers {
		rx = append(rx, w.RxPackets)
		rxtx = append(rxtx, w.RxPackets+w.TxPackets)
	}
	return rx, rxtx
}

// queueShares accumulates the packets each queue's worker received and
// sent during the engine's rounds of a benchmark (both directions, so that
// a sender's share counts its data rather than the ACKs it gets), and the
// packets handed between workers.
type queueShares struct {
	eng               *engine.Engine
	pkts, rx          []uint64
	before, rxBefore  []uint64
	steered, stBefore uint64
}

// newQueueShares starts the counts for eng. It also re-applies the CPU
// confinement's GOMAXPROCS (reconfine): every side-by-side benchmark body
// calls it first, at each -count run.
func newQueueShares(eng *engine.Engine) *queueShares {
	reconfine()
	n := len(eng.Stats().Workers)
	return &queueShares{eng: eng, pkts: make([]uint64, n), rx: make([]uint64, n)}
}

// start and stop bracket one engine round.
func (q *queueShares) start() {
	q.rxBefore, q.before = byQueue(q.eng)
	q.stBefore = q.eng.Stats().Total.Steered
}

func (q *queueShares) stop() {
	rx, pkts := byQueue(q.eng)
	for i := range pkts {
		q.pkts[i] += pkts[i] - q.before[i]
		q.rx[i] += rx[i] - q.rxBefore[i]
	}
	q.steered += q.eng.Stats().Total.Steered - q.stBefore
}

// shares returns each queue's fraction of the packets.
func (q *queueShares) shares() []float64 {
	var total uint64
	for _, n := range q.pkts {
		total += n
	}
	s := make([]float64, len(q.pkts))
	for i, n := range q.pkts {
		if total > 0 {
			s[i] = float64(n) / float64(total)
		}
	}
	return s
}

// report adds q0-share, q1-share, ... and steered/pkt (the packets the
// workers handed to another worker, per packet received) to b's metrics.
func (q *queueShares) report(b *testing.B) {
	for i, s := range q.shares() {
		b.ReportMetric(s, fmt.Sprintf("q%d-share", i))
	}
	var rx uint64
	for _, n := range q.rx {
		rx += n
	}
	if rx > 0 {
		b.ReportMetric(float64(q.steered)/float64(rx), "steered/pkt")
	}
}

// engineListeners opens the engine's TCP listeners on port: one per queue,
// a SO_REUSEPORT group whose member i is homed on queue i (each queue's
// connections are accepted from its own member, as with SO_INCOMING_CPU),
// or a single one with one queue. They close when tb ends.
func (s *scaledBed) engineListeners(tb testing.TB, port uint16) []net.Listener {
	tb.Helper()
	return s.engineListenersOn(tb, "tcp4", port)
}

// engineListenersOn is engineListeners on network ("tcp4", "tcp6").
func (s *scaledBed) engineListenersOn(tb testing.TB, network string, port uint16) []net.Listener {
	tb.Helper()
	var lns []net.Listener
	for q := range s.queues {
		ln, err := s.eng.ListenTCP(network, fmt.Sprintf(":%d", port),
			engine.TCPListenConfig{SocketOptions: engine.SocketOptions{ReusePort: s.queues > 1}})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { ln.Close() })
		if s.queues > 1 {
			if err := ln.SetIncomingQueue(q); err != nil {
				tb.Fatal(err)
			}
		}
		lns = append(lns, ln)
	}
	return lns
}

// kernelListeners opens as many kernel TCP listeners on the bed's .3
// address and port, a SO_REUSEPORT group when more than one.
func (s *scaledBed) kernelListeners(tb testing.TB, port uint16) []net.Listener {
	tb.Helper()
	return s.kernelListenersOn(tb, netip.AddrPortFrom(s.bed.HostAddr, port))
}

// kernelListenersOn is kernelListeners on addr (the bed's .3 or, on a
// dual-stack bed, s.host6).
func (s *scaledBed) kernelListenersOn(tb testing.TB, addr netip.AddrPort) []net.Listener {
	tb.Helper()
	lc := reusePortConfig(s.queues > 1)
	var lns []net.Listener
	for range s.queues {
		ln, err := lc.Listen(context.Background(), tcpNet(addr.Addr()), addr.String())
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { ln.Close() })
		lns = append(lns, ln)
	}
	return lns
}

// engineUDP and kernelUDP are engineListenersOn and kernelListenersOn for
// UDP: engineUDP's network is "udp4" or "udp6", kernelUDP's address the
// bed's .3 or, on a dual-stack bed, s.host6.
func (s *scaledBed) engineUDP(tb testing.TB, network string, port uint16) []*engine.UDPConn {
	tb.Helper()
	var cs []*engine.UDPConn
	for q := range s.queues {
		c, err := s.eng.ListenUDP(network, fmt.Sprintf(":%d", port), engine.SocketOptions{ReusePort: s.queues > 1})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close() })
		if s.queues > 1 {
			if err := c.SetIncomingQueue(q); err != nil {
				tb.Fatal(err)
			}
		}
		cs = append(cs, c)
	}
	return cs
}

func (s *scaledBed) kernelUDP(tb testing.TB, addr netip.AddrPort) []*net.UDPConn {
	tb.Helper()
	lc := reusePortConfig(s.queues > 1)
	var cs []*net.UDPConn
	for range s.queues {
		c, err := lc.ListenPacket(context.Background(), udpNet(addr.Addr()), addr.String())
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close() })
		cs = append(cs, c.(*net.UDPConn))
	}
	return cs
}

// reusePortConfig sets SO_REUSEPORT on the sockets it opens when on.
func reusePortConfig(on bool) *net.ListenConfig {
	if !on {
		return &net.ListenConfig{}
	}
	return &net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
}
