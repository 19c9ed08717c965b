package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
)

// BenchmarkTCPDial measures the engine as a client, the traffic-harness
// side: short connections per second (connect, 64-byte request, 64-byte
// reply, close; the client closes first, so TIME-WAIT is the client's)
// made by the engine's DialContext and by the host kernel's net.Dial, to
// the same server in the peer namespace (Go on the peer kernel), rounds
// alternating; clients dial concurrently, one connection after another.
// One op is one connection from each client stack. The host kernel keeps
// its TIME-WAITs 60 s without reuse (tcp_tw_reuse=2 reuses on loopback
// only, and the benchmark leaves the host's settings alone), so keep the
// kernel's connections under its ~28,000 ephemeral ports per minute; the
// engine reuses a TIME-WAIT port after 1 s.
//
//	go test ./bench -run '^$' -bench TCPDial -benchtime=2000x -count=3
func BenchmarkTCPDial(b *testing.B) {
	bed, eng := enginetest.StartBesideKernel(b, engine.Config{Poll: pollFlag(b)})
	go shortServer(enginetest.PeerListenTCP(b, bed, 5401))
	to := netip.AddrPortFrom(bed.PeerAddr, 5401).String()
	engineDial := func() (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return eng.DialContext(ctx, "tcp4", to)
	}
	round := func(dial func() (net.Conn, error), n, clients int) (time.Duration, error) {
		start := time.Now()
		err := concurrently(n, clients, func(k int) error { return shortConns(dial, k) })
		return time.Since(start), err
	}
	for _, dial := range []func() (net.Conn, error){engineDial, kernelDial(to)} { // warm up
		if _, err := round(dial, 20, 1); err != nil {
			b.Fatal(err)
		}
	}
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			const per = 500
			var engRate, kerRate []float64
			b.ReportAllocs()
			for done := 0; done < b.N; done += per {
				n := min(per, b.N-done)
				for _, side := range []struct {
					dial  func() (net.Conn, error)
					rates *[]float64
				}{{engineDial, &engRate}, {kernelDial(to), &kerRate}} {
					el, err := round(side.dial, n, clients)
					if err != nil {
						b.Fatal(err)
					}
					*side.rates = append(*side.rates, float64(n)/el.Seconds())
				}
			}
			b.StopTimer()
			e, k := median(engRate), median(kerRate)
			b.ReportMetric(e, "engine-conn/s")
			b.ReportMetric(k, "kernel-conn/s")
			b.ReportMetric(e/k, "engine/kernel")
		})
	}
}
