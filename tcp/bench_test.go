package tcp

import (
	"testing"

	"github.com/xdpengine/engine/header"
)

type nullSink struct{ n int }

func (s *nullSink) Emit(h *header.TCPFields, p1, p2 []byte) bool { s.n++; return true }

func benchPair(b *testing.B) (a, c *Endpoint) {
	t := &testing.T{}
	ca, cb := baseConfig(1000), baseConfig(5000)
	ca.RecvBufMax, ca.RecvBufMin, cb.RecvBufMax, cb.RecvBufMin = 1<<20, 1<<20, 1<<20, 1<<20
	ca.SendBuf, cb.SendBuf = 1<<20, 1<<20
	a, c, _ = pair(t, ca, cb)
	if t.Failed() {
		b.Fatal("pair")
	}
	return a, c
}

// BenchmarkInputData is the receive fast path: one in-order full-sized
// data segment into ESTABLISHED, the application draining the ring, and
// an Output (ACK every second segment).
func BenchmarkInputData(b *testing.B) {
	for _, ts := range []bool{false, true} {
		name := "ts=off"
		if ts {
			name = "ts=on"
		}
		b.Run(name, func(b *testing.B) {
			_, e := benchPair(b)
			e.tsOK = ts
			payload := make([]byte, 1448)
			seg := Segment{Seq: e.rcvNxt, Ack: e.sndNxt, Flags: FlagACK, Window: 65535, Payload: payload}
			seg.Options.HasTimestamp = ts
			buf := make([]byte, 4096)
			var sink nullSink
			now := int64(0)
			base := e.tsRecent
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				now += 1000
				seg.Seq = e.rcvNxt
				seg.Options.TSVal = base + uint32(now/ms)
				e.Input(now, &seg)
				e.RecvRing().Read(buf)
				e.Output(now, &sink)
			}
			if st := e.Stats(); st.BytesIn != uint64(b.N)*uint64(len(payload)) {
				b.Fatalf("delivered %d bytes of %d: %+v", st.BytesIn, b.N*len(payload), st)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/seg")
		})
	}
}

// BenchmarkInputAck is the send fast path: an ACK acknowledging one
// segment, the ring refilled by the application, and an Output that sends
// the next segment(s).
func BenchmarkInputAck(b *testing.B) {
	a, _ := benchPair(b)
	a.SetNoDelay(true)
	chunk := make([]byte, a.mss())
	for a.SendRing().Write(chunk) > 0 {
	}
	var sink nullSink
	a.Output(0, &sink)
	seg := Segment{Seq: a.rcvNxt, Flags: FlagACK, Window: 65535}
	now := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		now += 1000
		seg.Ack = a.sndUna.Add(uint32(a.mss()))
		if seg.Ack.GreaterThan(a.sndNxt) {
			seg.Ack = a.sndNxt
		}
		a.Input(now, &seg)
		a.SendRing().Write(chunk)
		a.Output(now, &sink)
	}
	if st := a.Stats(); st.SegsOut < uint64(b.N) || st.Retrans != 0 {
		b.Fatalf("stats %+v", st)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/ack")
}

// BenchmarkTransfer moves 16 MiB one way through the simulated wire (1
// Gbit/s, 1 ms delay, no loss) and reports the CPU throughput of both
// endpoints plus the simulator (MB/s of payload per CPU-second).
func BenchmarkTransfer(b *testing.B) {
	for _, sack := range []bool{false, true} {
		name := "sack=off"
		if sack {
			name = "sack=on"
		}
		b.Run(name, func(b *testing.B) {
			const size = 16 << 20
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				s := newSim(b, simOpts{seed: 1, bytes: size, sack: sack, ts: true, delay: ms, bw: 0.125, maxQueue: 10 * ms,
					recvBufMin: 64 << 10, recvBufM: 4 << 20})
				s.run(600_000 * ms)
				s.verify()
			}
		})
	}
}
