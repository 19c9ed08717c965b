package measure

import (
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/bench/signature"
	"github.com/xdpengine/engine/bench/stream"
)

// BenchmarkObserve: one signature counted, in order and with every other
// pair swapped (the reordering path), over 4 streams.
func BenchmarkObserve(b *testing.B) {
	for _, c := range []struct {
		name string
		swap bool
	}{{"in-order", false}, {"reordered", true}} {
		b.Run(c.name, func(b *testing.B) {
			tr := newTracker(b, 4)
			b.ReportAllocs()
			var i uint32
			for b.Loop() {
				i++
				q := i / 4
				if c.swap && q&2 != 0 {
					q ^= 1
				}
				tr.Observe(signature.Signature{Stream: uint16(i % 4), Seq: q, TxNs: int64(i)}, int64(i)+int64(i%1000)*100)
			}
		})
	}
}

// BenchmarkObserveFrame: the receive path per 64-byte frame, parse and
// decode included.
func BenchmarkObserveFrame(b *testing.B) {
	s, err := stream.New(stream.Spec{
		Src: stream.AddrRange{First: netip.MustParseAddr("198.18.0.1")}, Dst: stream.AddrRange{First: netip.MustParseAddr("198.18.0.2")},
		DstPort: stream.PortRange{First: 9},
	})
	if err != nil {
		b.Fatal(err)
	}
	const n = 1024
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = make([]byte, s.MaxLen())
		s.Next(frames[i], int64(i))
	}
	tr := newTracker(b, 1)
	b.ReportAllocs()
	var i int
	for b.Loop() {
		// The same frames again and again: duplicates after the first
		// round, which costs what a new packet costs, but for the
		// histogram.
		tr.ObserveFrame(frames[i%n], int64(i)+5000)
		i++
	}
}
