package bench

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpengine/engine/bench/pacer"
	"github.com/xdpengine/engine/bench/reflector"
	"github.com/xdpengine/engine/bench/stream"
	"github.com/xdpengine/engine/bench/xdpgen"
	"github.com/xdpengine/engine/internal/testbed"
)

// BenchmarkSelfLatency measures the harness's own round-trip latency: the
// generator (bench/xdpgen, one worker) on the bed's engine side sends
// 64-byte signed UDP frames to a reflector on the peer's end of the same
// veth, which turns every frame around, and the generator reads the
// signature back. Each run first finds the highest rate that comes back
// (1 s as fast as the generator goes), then sends 3 s at half of it,
// evenly spaced (the pacer's smallest burst: a catch-up burst after a
// stall would measure queueing in the rings), and reports p50, p99 and
// p99.9 of the round trip from the run's histogram (medians over the
// runs, in nanoseconds) and the lost frames. The target is p99
// under 100 µs at half the maximum rate.
//
// Reflectors:
//   - xdp: reflector.AttachXDP on the peer's end, an XDP program that
//     sends the frame back (XDP_TX) in the softirq the generator's
//     transmit raises: no second thread, so the figure is the
//     generator's own (its transmit, the veth, its receive and clock).
//   - afxdp: xdpgen's Reflect (what `engine bench reflect` runs), its own
//     AF_XDP port and worker on the peer's end: a second polling thread
//     that needs a CPU for every frame.
//
// Generator modes: adaptive (the default: the worker naps in ppoll(2)
// when nothing is due for a while) and busypoll (Config.BusyPoll: it
// spins, and a frame is read as soon as it is in the ring).
//
//	go test ./bench -run '^$' -bench SelfLatency -benchtime=3x
func BenchmarkSelfLatency(b *testing.B) {
	for _, refl := range []string{"xdp", "afxdp"} {
		for _, mode := range []string{"adaptive", "busypoll"} {
			b.Run("reflector="+refl+"/gen="+mode, func(b *testing.B) {
				selfLatency(b, refl == "xdp", mode)
			})
		}
	}
}

func selfLatency(b *testing.B, xdp bool, mode string) {
	bed := testbed.New(b, testbed.Config{})
	var target netip.Addr
	if xdp {
		// The peer kernel owns its address and answers ARP for it; the
		// program reflects the UDP frames sent to it.
		target = bed.PeerAddr
		var x *reflector.XDP
		if err := bed.Do(func() (err error) {
			x, err = reflector.AttachXDP(bed.PeerIf, target)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { x.Close() })
	} else {
		ra := bed.Prefix.Addr().As4()
		ra[3] = 5
		target = netip.AddrFrom4(ra)
		var refl *xdpgen.Port
		if err := bed.Do(func() (err error) {
			refl, err = xdpgen.Open(xdpgen.Config{Interface: bed.PeerIf, Addr: netip.PrefixFrom(target, bed.Prefix.Bits()),
				BusyPoll: mode != "adaptive"})
			return err
		}); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { refl.Close() })
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); refl.Reflect(ctx, 0, nil) }()
		b.Cleanup(func() { cancel(); <-done })
	}
	p := genPortConfig(b, xdpgen.Config{Interface: bed.HostIf, Queues: 1, BusyPoll: mode != "adaptive",
		Addr: netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits())})
	mac, err := p.Resolve(context.Background(), target)
	if err != nil {
		b.Fatal(err)
	}
	sp := stream.Spec{
		Kind: stream.UDP, SrcMAC: p.MAC(), DstMAC: mac,
		Src: stream.AddrRange{First: bed.EngineAddr}, Dst: stream.AddrRange{First: target},
		SrcPort: stream.PortRange{First: 10000}, DstPort: stream.PortRange{First: 7},
		Size: stream.Fixed(64), Sign: stream.SignOn,
	}
	var p50, p99, p999, rates, lost []float64
	b.ReportAllocs()
	for b.Loop() {
		full, err := p.Run(context.Background(), xdpgen.Traffic{Streams: []xdpgen.Stream{{Spec: sp}}, Duration: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		rate := full.ReceivedPPS() / 2
		r, err := p.Run(context.Background(), xdpgen.Traffic{
			Streams:  []xdpgen.Stream{{Spec: sp, Rate: pacer.Rate{Value: rate, Burst: uint64(rate/20000) + 1}}},
			Duration: 3 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("max %.0f pps; at %.0f pps: p50 %v p99 %v p99.9 %v max %v, %d of %d lost", full.ReceivedPPS(), rate,
			r.Latency.P50, r.Latency.P99, r.Latency.P999, r.Latency.Max, r.Lost, r.Sent)
		rates = append(rates, rate)
		lost = append(lost, float64(r.Lost))
		p50 = append(p50, float64(r.Latency.P50))
		p99 = append(p99, float64(r.Latency.P99))
		p999 = append(p999, float64(r.Latency.P999))
	}
	b.ReportMetric(median(rates), "pps")
	b.ReportMetric(median(p50), "p50-ns")
	b.ReportMetric(median(p99), "p99-ns")
	b.ReportMetric(median(p999), "p99.9-ns")
	b.ReportMetric(median(lost), "lost")
}
