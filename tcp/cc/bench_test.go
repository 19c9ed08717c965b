package cc

import "testing"

// BenchmarkOnAck measures one ACK in congestion avoidance and in slow
// start for each algorithm.
func BenchmarkOnAck(b *testing.B) {
	const mss = 1448
	for _, mk := range algorithms() {
		a := mk()
		b.Run("ca/"+algName(a), func(b *testing.B) {
			a.Init(mss, 0)
			a.EnterRecovery(1<<30, 0) // a large window in congestion avoidance
			a.ExitRecovery(0)
			now := int64(sec)
			b.ReportAllocs()
			for b.Loop() {
				now += 10_000
				a.OnAck(Ack{Acked: mss, Inflight: a.Cwnd(), RTT: 20 * ms, MinRTT: 20 * ms, Now: now})
				if a.Cwnd() > 1<<30+1<<28 { // keep the window in range
					a.EnterRecovery(1<<31, now)
					a.ExitRecovery(now)
				}
			}
		})
		b.Run("ss/"+algName(a), func(b *testing.B) {
			a.Init(mss, 0)
			now := int64(0)
			b.ReportAllocs()
			for b.Loop() {
				now += 10_000
				a.OnAck(Ack{Acked: mss, Inflight: a.Cwnd(), RTT: 20 * ms, MinRTT: 20 * ms, Now: now})
				if a.Cwnd() > 1<<30 {
					a.Init(mss, now)
				}
			}
		})
	}
}

func TestOnAckDoesNotAllocate(t *testing.T) {
	for _, mk := range algorithms() {
		a := mk()
		a.Init(1448, 0)
		now := int64(0)
		allocs := testing.AllocsPerRun(1000, func() {
			now += ms
			a.OnAck(Ack{Acked: 1448, Inflight: a.Cwnd(), RTT: 20 * ms, MinRTT: 20 * ms, Now: now})
			if now%(50*ms) == 0 {
				a.EnterRecovery(a.Cwnd(), now)
				a.ExitRecovery(now)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per ACK", algName(a), allocs)
		}
	}
}
