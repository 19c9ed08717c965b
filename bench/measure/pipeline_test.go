package measure

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpengine/engine/bench/pacer"
	"github.com/xdpengine/engine/bench/stream"
)

// TestPipelineSimulated wires the harness's parts on a simulated clock:
// two streams paced at their own rates, a link that loses 1% of the
// frames, delays them by 10 to 60 µs (which reorders) and duplicates
// 0.5%, and a tracker on the far end. What the tracker reports must match
// what the link did.
func TestPipelineSimulated(t *testing.T) {
	mk := func(id uint16, size stream.Sizes) *stream.Stream {
		s, err := stream.New(stream.Spec{
			ID: id, Src: stream.AddrRange{First: netip.MustParseAddr("198.18.0.1")},
			Dst:     stream.AddrRange{First: netip.MustParseAddr("198.18.1.1"), Last: netip.MustParseAddr("198.18.1.100")},
			DstPort: stream.PortRange{First: 9}, Size: size,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	streams := []*stream.Stream{mk(0, stream.Fixed(64)), mk(1, stream.IMIX())}
	var mux pacer.Mux
	mux.Add(streams[0], pacer.Rate{Value: 2e6}, 64, 0)
	mux.Add(streams[1], pacer.Rate{Value: 1e9, Unit: pacer.BitsL1}, 1518, 0)
	tr := newTracker(t, 2)

	type inflight struct {
		at  int64
		buf []byte
	}
	r := rand.New(rand.NewPCG(11, 12))
	var link []inflight // kept sorted by arrival
	var lost, dup [2]uint64
	deliver := func(now int64) {
		n := 0
		for _, f := range link {
			if f.at <= now {
				tr.ObserveFrame(f.buf, f.at)
			} else {
				link[n] = f
				n++
			}
		}
		link = link[:n]
	}
	end := int64(100 * time.Millisecond)
	for now := int64(0); now < end; now += int64(time.Microsecond) {
		for {
			i, ok := mux.Next(now)
			if !ok {
				break
			}
			s := streams[i]
			buf := make([]byte, s.MaxLen())
			buf = buf[:s.Next(buf, now)]
			if r.IntN(100) == 0 {
				lost[i]++
				continue
			}
			copies := 1
			if r.IntN(200) == 0 {
				copies, dup[i] = 2, dup[i]+1
			}
			for range copies {
				link = append(link, inflight{at: now + int64(10+r.IntN(51))*int64(time.Microsecond), buf: buf})
			}
		}
		deliver(now)
	}
	deliver(end + int64(time.Millisecond))

	for i, s := range streams {
		res := tr.Result(uint16(i), s.Count())
		if res.Lost != lost[i] || res.Duplicates != dup[i] || res.Reordered == 0 {
			t.Errorf("stream %d: lost %d (link lost %d), duplicates %d (link %d), reordered %d",
				i, res.Lost, lost[i], res.Duplicates, dup[i], res.Reordered)
		}
		if l := res.Latency; l.Min < 10*time.Microsecond || l.Max > 60*time.Microsecond || l.P50 < 30*time.Microsecond || l.P50 > 40*time.Microsecond {
			t.Errorf("stream %d: latency %v", i, l)
		}
		t.Logf("stream %d: sent %d received %d lost %d dup %d reordered %d (max %d) latency %v",
			i, res.Sent, res.Received, res.Lost, res.Duplicates, res.Reordered, res.MaxReorder, res.Latency)
	}
	if pps := float64(streams[0].Count()) / 0.1; pps < 1.98e6 || pps > 2.02e6 {
		t.Errorf("stream 0 at %.0f pps, asked 2e6", pps)
	}
}
