package bench

import (
	"flag"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// Address families (issue 16). BenchmarkUDPEcho and BenchmarkTCPShortConn
// run once per family of -families, as their innermost sub-benchmarks
// (ipv4, ipv6), each with the engine and the kernel side by side, so that
// the engine/kernel ratio over IPv6 can be set beside the IPv4 one of the
// same run. When -families names ipv6, the bed is dual-stack for both
// families (startScaledBed): the engine owns .1 and ::1 of the bed's /24
// and /64 (no DAD), the caller's kernel .3 and ::3 (testbed.Bed.AddHostAddr6,
// which the engine's XDP program passes to it), the peer kernel .2 and ::2;
// with -families=ipv4 it is the IPv4-only bed the benchmarks had before.
// With more than one queue the bed's emulated RSS (the default) hashes
// IPv6 flows as it does IPv4 ones; with -rss=false flows of either family
// land on veth's per-socket hash and the engine steers in software.

var familiesFlag = flag.String("families", "ipv4,ipv6",
	"comma-separated address families (ipv4, ipv6) BenchmarkUDPEcho and BenchmarkTCPShortConn run over")

// family is one address family of the side-by-side benchmarks.
type family struct {
	name string // "ipv4" or "ipv6": the sub-benchmark's name
	v6   bool
}

// families returns -families' families.
func families(tb testing.TB) []family {
	var fs []family
	for f := range strings.SplitSeq(*familiesFlag, ",") {
		switch strings.TrimSpace(f) {
		case "ipv4":
			fs = append(fs, family{name: "ipv4"})
		case "ipv6":
			fs = append(fs, family{name: "ipv6", v6: true})
		default:
			tb.Fatalf("-families=%q: want a comma-separated list of ipv4 and ipv6", *familiesFlag)
		}
	}
	return fs
}

// dualStack reports whether -families names IPv6, so that the beds need it.
func dualStack(tb testing.TB) bool {
	for _, f := range families(tb) {
		if f.v6 {
			return true
		}
	}
	return false
}

// forFamilies runs fn as a sub-benchmark per family of -families.
func forFamilies(b *testing.B, fn func(b *testing.B, f family)) {
	for _, f := range families(b) {
		b.Run(f.name, func(b *testing.B) { fn(b, f) })
	}
}

func (f family) udp() string {
	if f.v6 {
		return "udp6"
	}
	return "udp4"
}

func (f family) tcp() string {
	if f.v6 {
		return "tcp6"
	}
	return "tcp4"
}

// addrs returns the engine's, the caller's kernel's and the peer's
// addresses of family f on s.
func (s *scaledBed) addrs(tb testing.TB, f family) (eng, kernel, peer netip.Addr) {
	if !f.v6 {
		return s.bed.EngineAddr, s.bed.HostAddr, s.bed.PeerAddr
	}
	if !s.host6.IsValid() {
		tb.Fatal("an IPv6 benchmark on a bed without IPv6")
	}
	return s.bed.EngineAddr6, s.host6, s.bed.PeerAddr6
}

// udpNet and tcpNet are the network names for a socket on a.
func udpNet(a netip.Addr) string {
	if a.Is4() {
		return "udp4"
	}
	return "udp6"
}

func tcpNet(a netip.Addr) string {
	if a.Is4() {
		return "tcp4"
	}
	return "tcp6"
}

// allocCounter counts the heap allocations of this process (every
// goroutine: the engine's workers, the servers' loops, the harness) between
// start and stop, as testing's allocs/op does (runtime.ReadMemStats), over
// the engine's rounds of a benchmark, less what the harness itself
// allocates per round (its request and the parse of the answer), measured
// by calibrate on empty rounds.
type allocCounter struct {
	ms       runtime.MemStats
	before   uint64
	n        uint64 // allocations between start and stop, every round
	rounds   uint64
	perRound uint64 // the harness's, per round
}

func (c *allocCounter) start() {
	runtime.ReadMemStats(&c.ms)
	c.before = c.ms.Mallocs
}

func (c *allocCounter) stop() {
	runtime.ReadMemStats(&c.ms)
	c.n += c.ms.Mallocs - c.before
	c.rounds++
}

// calibrate sets the harness's allocations per round to the fewest of
// three runs of empty, a round of the same request with nothing to send.
func (c *allocCounter) calibrate(empty func()) {
	n, rounds := c.n, c.rounds
	least := ^uint64(0)
	for range 3 {
		c.n = 0
		c.start()
		empty()
		c.stop()
		least = min(least, c.n)
	}
	c.n, c.rounds, c.perRound = n, rounds, least
}

// per returns the allocations counted, less the harness's, per unit (an
// echo, a connection).
func (c *allocCounter) per(units int) float64 {
	return (float64(c.n) - float64(c.rounds*c.perRound)) / float64(units)
}

// dualStackBed is a one-queue dual-stack bed with an engine, as
// startScaledBed makes it for the benchmarks but without confining this
// process to some CPUs: for the harness's tests.
func dualStackBed(tb testing.TB) *scaledBed {
	tb.Helper()
	bed := testbed.New(tb, testbed.Config{HostKernelAddr: true, IPv6: true})
	host6, err := bed.AddHostAddr6()
	if err != nil {
		tb.Fatal(err)
	}
	eng := enginetest.Start(tb, bed, engine.Config{IPv6NoDAD: true, Addrs: []netip.Prefix{
		netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits()), netip.PrefixFrom(bed.EngineAddr6, bed.Prefix6.Bits())}})
	return &scaledBed{bed: bed, eng: eng, queues: 1, host6: host6}
}

// TestFamilyHarness runs the clients of BenchmarkUDPEcho and
// BenchmarkTCPShortConn for a few echoes and connections against both
// servers of each family on one dual-stack bed, as the benchmarks set them
// up, so the harness is tested with everything else (benchmarks do not
// run in `make test`).
func TestFamilyHarness(t *testing.T) {
	s := dualStackBed(t)
	udp := startUDPEchoClient(t, s)
	tcp := startShortClient(t, s.bed, s)
	for i, f := range []family{{name: "ipv4"}, {name: "ipv6", v6: true}} {
		t.Run(f.name, func(t *testing.T) {
			engAddr, kerAddr, peerAddr := s.addrs(t, f)
			port := 7100 + 10*uint16(i)
			for _, c := range s.engineUDP(t, f.udp(), port) {
				go enginetest.ServeUDPEcho(c)
			}
			for _, c := range s.kernelUDP(t, netip.AddrPortFrom(kerAddr, port)) {
				go enginetest.ServeUDPEcho(c)
			}
			for _, ln := range s.engineListenersOn(t, f.tcp(), port+1) {
				go shortServer(ln)
			}
			for _, ln := range s.kernelListenersOn(t, netip.AddrPortFrom(kerAddr, port+1)) {
				go shortServer(ln)
			}
			before := s.eng.Stats().Total.TCP.PassiveOpens
			for j, to := range []netip.AddrPort{netip.AddrPortFrom(engAddr, port), netip.AddrPortFrom(kerAddr, port)} {
				ports := s.peerPorts(peerAddr, to, 20000+100*uint16(i)+10*uint16(j), 2)
				got, err := 0, error(nil)
				for try := 0; try < 3 && err == nil && got < 20; try++ { // the first datagram may wait for NDP
					_, got, err = udp.round(to, ports, 20, 64, 1)
				}
				if got < 20 || err != nil {
					t.Errorf("UDP echo to %v: %d of 20 answered, %v", to, got, err)
				}
				tcpTo := netip.AddrPortFrom(to.Addr(), port+1)
				if _, err := tcp.round(tcpTo, 20, 2); err != nil {
					t.Errorf("short connections to %v: %v", tcpTo, err)
				}
			}
			if n := s.eng.Stats().Total.TCP.PassiveOpens - before; n != 20 {
				t.Errorf("the engine saw %d connections, want 20", n)
			}
		})
	}
}
