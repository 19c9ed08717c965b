package tcp

import (
	"fmt"
	"testing"
)

// BenchmarkLossRecovery moves 16 MiB one way (SACK and timestamps on)
// through a 10 Gbit/s bottleneck with a 100 µs round trip, the shape of
// a veth pair, under seeded random loss (both directions) with and
// without reordering. It reports figures of the simulated transfer, not
// of the CPU: sim-MB/s (payload over simulated time), and per transfer
// the sender's RTOs, retransmitted segments, tail loss probes and D-SACKs
// it received (spurious retransmissions). Run it with -benchtime=1x: the
// simulation is deterministic, so every iteration gives the same figures.
func BenchmarkLossRecovery(b *testing.B) {
	const size = 16 << 20
	for _, reorder := range []bool{false, true} {
		for _, loss := range []float64{0.01, 0.05, 0.10} {
			name := fmt.Sprintf("loss=%g%%/reorder=%v", loss*100, reorder)
			b.Run(name, func(b *testing.B) {
				o := simOpts{seed: 3, bytes: size, sack: true, ts: true, loss: loss,
					delay: 50_000, bw: 1.25, maxQueue: 100_000,
					recvBufMin: 64 << 10, recvBufM: 4 << 20}
				if reorder {
					o.reorder, o.jitter = 0.02, 50_000
				}
				var s *sim
				b.ReportAllocs()
				for b.Loop() {
					s = newSim(b, o)
					s.run(3_600_000 * ms)
					s.verify()
				}
				st := s.eps[0].Stats()
				b.ReportMetric(float64(size)/(float64(s.now)/1e9)/1e6, "sim-MB/s")
				b.ReportMetric(float64(st.RTOs), "RTOs")
				b.ReportMetric(float64(st.Retrans), "retrans")
				b.ReportMetric(float64(st.DSACKs), "spurious")
				b.ReportMetric(float64(st.TLPs), "TLPs")
				b.ReportMetric(float64(st.Undos), "undos")
			})
		}
	}
}
