package bench

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
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
// allocs/op counts the whole process (both servers, the client) per echo.
func BenchmarkUDPEcho(b *testing.B) {
	for _, mode := range []engine.PollMode{engine.PollAdaptive, engine.PollInterrupt, engine.PollBusy} {
		for _, size := range []int{64, 1400} {
			b.Run(mode.String()+"/"+sizeName(size), func(b *testing.B) { benchUDPEcho(b, size, mode) })
		}
	}
}

func sizeName(n int) string {
	if n >= 1000 {
		return "1400B"
	}
	return "64B"
}

func benchUDPEcho(b *testing.B, size int, mode engine.PollMode) {
	bed, eng := enginetest.StartBesideKernel(b, engine.Config{Poll: mode})
	es, err := eng.ListenPacket("udp4", ":7007")
	if err != nil {
		b.Fatal(err)
	}
	// Both servers run the same echo loop: only the stack under it differs.
	go enginetest.ServeUDPEcho(es)
	ks, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.HostAddr, 7007)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ks.Close() })
	go enginetest.ServeUDPEcho(ks)

	toEngine := enginetest.PeerUDP(b, bed, 7007)
	toKernel := enginetest.PeerDialUDP(b, bed, netip.AddrPortFrom(bed.HostAddr, 7007))
	buf := make([]byte, 65536)
	// Warm up: ARP on both sides, caches.
	for _, c := range []*net.UDPConn{toEngine, toKernel} {
		if got, err := echoRound(c, 100, size, 1, buf); err != nil || got < 100 {
			b.Fatalf("warm-up echo: %d of 100 answered, %v", got, err)
		}
	}

	const round, window = 2000, 32
	b.ReportAllocs()
	var engRate, kerRate []float64
	var sent, lost int
	b.ResetTimer()
	for done := 0; done < b.N; done += round {
		n := min(round, b.N-done)
		for _, side := range []struct {
			c     *net.UDPConn
			rates *[]float64
		}{{toEngine, &engRate}, {toKernel, &kerRate}} {
			start := time.Now()
			got, err := echoRound(side.c, n, size, window, buf)
			el := time.Since(start)
			if err != nil {
				b.Fatal(err)
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
	b.ReportMetric(0, "ns/op")
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
