package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/bench/stream"
	"github.com/xdpengine/engine/bench/xdpgen"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/testbed"
)

// BenchmarkGenerator compares the AF_XDP traffic generator (bench/xdpgen,
// one worker) with trafgen (netsniff-ng: AF_PACKET with a TX_RING and the
// qdisc bypassed, one process, -P 1), side by side in one run: the same
// bed, the same 64-byte frames (60 bytes on the veth: Ethernet, IPv4, UDP
// and 18 bytes of data), each generator in turn sending as fast as it can.
// Frames go to a MAC address nobody on the link owns, so the peer's kernel
// drops them at once (its receive work runs on the sending CPU, inside the
// generator's system calls, for both alike).
//
// What counts is what the peer's end of the link received (its rx_packets
// counter), per second of the generator's run and per second of its CPU
// time (xdpgen: its worker thread's; trafgen: its process and children's).
// Metrics: xdpgen-pps, trafgen-pps, their ratio x-pps, the same per core
// (xdpgen-pps/core, trafgen-pps/core, x-core), and allocs/pkt of the
// generator. The target is x-core >= 2. The receive work of the
// peer runs in the sender's system calls until the kernel defers it to
// ksoftirqd (under load, or after a long burst), where neither
// generator's CPU time counts it: the ksoftirqd threads' CPU during each
// generator's run is reported beside (xdpgen-ksoftirqd-cores and
// trafgen-ksoftirqd-cores: CPU seconds per second of the run, the
// machine's other work included), to tell a real gain from work that
// moved out of the generator's account.
//
// Two sub-benchmarks: tx-ring, xdpgen's default (frames written into the
// AF_XDP transmit ring, which a copy-mode driver such as veth's sends
// inside sendto, a socket buffer and a copy each), and live, its live
// mode (the kernel runs the port's XDP program on the frame with
// BPF_PROG_RUN and sends each run's frame with XDP_TX: no socket buffer,
// no copy from user space; bench/xdpgen/live.go).
//
// trafgen is not installed by .ci/run (benchmarks do not run in CI):
//
//	apt-get install netsniff-ng
//	go test ./bench -run '^$' -bench Generator -benchtime=3x
func BenchmarkGenerator(b *testing.B) {
	path, err := exec.LookPath("trafgen")
	if err != nil {
		b.Fatalf("trafgen is not installed (apt-get install netsniff-ng): %v", err)
	}
	b.Run("tx-ring", func(b *testing.B) { benchGenerator(b, path, false) })
	b.Run("live", func(b *testing.B) { benchGenerator(b, path, true) })
}

// benchGenerator is BenchmarkGenerator with xdpgen's live mode or not.
// Live mode needs the peer's end to have an XDP program (veth hands XDP_TX
// frames only to a peer with NAPI): it has one for both generators then,
// so that the peer receives alike.
func benchGenerator(b *testing.B, path string, live bool) {
	bed := testbed.New(b, testbed.Config{})
	if live {
		detach, err := bed.AttachPeerPassXDP()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { detach() })
	}
	p := genPortConfig(b, xdpgen.Config{Interface: bed.HostIf, Addr: netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits()), Live: live})
	sp := stream.Spec{
		Kind: stream.UDP, SrcMAC: p.MAC(), DstMAC: header.MAC{0x02, 0, 0, 0, 0, 0x99},
		Src: stream.AddrRange{First: bed.EngineAddr}, Dst: stream.AddrRange{First: bed.PeerAddr},
		SrcPort: stream.PortRange{First: 10000}, DstPort: stream.PortRange{First: 9},
		Size: stream.Fixed(64), Sign: stream.SignOn,
	}
	cfg := filepath.Join(b.TempDir(), "frame.cfg")
	if err := os.WriteFile(cfg, []byte(trafgenConfig(b, sp)), 0o644); err != nil {
		b.Fatal(err)
	}
	const n = 1_000_000
	var xpps, xcore, tpps, tcore, xsoft, tsoft []float64
	soft := ksoftirqds(b)
	var allocs uint64
	b.ReportAllocs()
	for b.Loop() {
		before := genPeerRx(b, bed)
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		s0 := soft()
		r, err := p.Run(context.Background(), xdpgen.Traffic{Streams: []xdpgen.Stream{{Spec: sp}}, Count: n, Drain: -1})
		runtime.ReadMemStats(&m1)
		xsoft = append(xsoft, (soft()-s0).Seconds()/r.Duration.Seconds())
		if err != nil {
			b.Fatal(err)
		}
		allocs += m1.Mallocs - m0.Mallocs
		time.Sleep(100 * time.Millisecond) // the last frames reach the counter
		got := float64(genPeerRx(b, bed) - before)
		xpps = append(xpps, got/r.Duration.Seconds())
		xcore = append(xcore, got/r.CPU.Seconds())

		before = genPeerRx(b, bed)
		s0 = soft()
		wall, cpu, out := runTrafgen(b, path, bed.HostIf, cfg, n)
		tsoft = append(tsoft, (soft()-s0).Seconds()/wall.Seconds())
		time.Sleep(100 * time.Millisecond)
		got = float64(genPeerRx(b, bed) - before)
		if got < n/2 {
			b.Fatalf("trafgen: the peer received %.0f of %d frames\n%s", got, n, out)
		}
		tpps = append(tpps, got/wall.Seconds())
		tcore = append(tcore, got/cpu.Seconds())
	}
	x, t, xc, tc := median(xpps), median(tpps), median(xcore), median(tcore)
	b.ReportMetric(x, "xdpgen-pps")
	b.ReportMetric(t, "trafgen-pps")
	b.ReportMetric(x/t, "x-pps")
	b.ReportMetric(xc, "xdpgen-pps/core")
	b.ReportMetric(tc, "trafgen-pps/core")
	b.ReportMetric(xc/tc, "x-core")
	b.ReportMetric(float64(allocs)/float64(n*len(xpps)), "allocs/pkt")
	b.ReportMetric(median(xsoft), "xdpgen-ksoftirqd-cores")
	b.ReportMetric(median(tsoft), "trafgen-ksoftirqd-cores")
	b.Logf("xdpgen %s: %.0f pps, %.0f pps/core; trafgen: %.0f pps, %.0f pps/core", p.Mode(), x, xc, t, tc)
}

// genPortConfig opens an xdpgen port (in the calling thread's namespace)
// and closes it when b ends.
func genPortConfig(b *testing.B, cfg xdpgen.Config) *xdpgen.Port {
	p, err := xdpgen.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

// genPeerRx returns the frames the peer's end of the bed's link received.
func genPeerRx(b *testing.B, bed *testbed.Bed) uint64 {
	var n uint64
	err := bed.Do(func() error {
		l, err := netlink.LinkByName(bed.PeerIf)
		if err == nil && l.Attrs().Statistics != nil {
			n = l.Attrs().Statistics.RxPackets
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// trafgenConfig writes sp's first frame as a trafgen packet.
func trafgenConfig(b *testing.B, sp stream.Spec) string {
	s, err := stream.New(sp)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, s.MaxLen())
	k := s.Next(buf, 0)
	hex := make([]string, k)
	for i, c := range buf[:k] {
		hex[i] = fmt.Sprintf("0x%02x", c)
	}
	return "{ " + strings.Join(hex, ", ") + " }\n"
}

// runTrafgen sends n frames with trafgen on one CPU and returns its wall
// and CPU time (its own and its children's) and its output.
func runTrafgen(b *testing.B, path, ifname, cfg string, n int) (wall, cpu time.Duration, out []byte) {
	var r0, r1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_CHILDREN, &r0)
	cmd := exec.Command(path, "--dev", ifname, "--conf", cfg, "--num", fmt.Sprint(n), "--cpus", "1", "--no-sock-mem", "--notouch-irq")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall = time.Since(start)
	if err != nil {
		b.Fatalf("trafgen: %v\n%s", err, out)
	}
	unix.Getrusage(unix.RUSAGE_CHILDREN, &r1)
	cpu = time.Duration(r1.Utime.Nano()+r1.Stime.Nano()) - time.Duration(r0.Utime.Nano()+r0.Stime.Nano())
	return wall, cpu, out
}

// ksoftirqds returns a function that reads the CPU time the kernel's
// ksoftirqd threads have used so far (USER_HZ ticks, 10 ms).
func ksoftirqds(b *testing.B) func() time.Duration {
	var stats []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if c, err := os.ReadFile(d + "/comm"); err == nil && strings.HasPrefix(string(c), "ksoftirqd/") {
			stats = append(stats, d+"/stat")
		}
	}
	if len(stats) == 0 {
		b.Logf("no ksoftirqd threads found")
	}
	return func() time.Duration {
		var ticks int64
		for _, p := range stats {
			st, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			// After "(comm)": state is field 3; utime and stime are 14 and 15.
			f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
			if len(f) > 12 {
				u, _ := strconv.ParseInt(f[11], 10, 64)
				k, _ := strconv.ParseInt(f[12], 10, 64)
				ticks += u + k
			}
		}
		return time.Duration(ticks) * 10 * time.Millisecond
	}
}
