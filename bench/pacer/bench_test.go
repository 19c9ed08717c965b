package pacer

import (
	"testing"
)

// BenchmarkMuxNext: one pacing decision, with 1 and 8 flows, every flow
// allowed (the cost of a send decision) and none allowed (the cost of an
// idle poll).
func BenchmarkMuxNext(b *testing.B) {
	for _, n := range []int{1, 8} {
		for _, busy := range []bool{true, false} {
			name := map[bool]string{true: "allowed", false: "idle"}[busy]
			b.Run(name+"-"+string(rune('0'+n))+"flows", func(b *testing.B) {
				var m Mux
				rate := 1.0
				if busy {
					rate = 1e12 // tokens every ns
				}
				for range n {
					m.Add(fixedFlow(64), Rate{Value: rate, Burst: 1e6}, 64, 0)
				}
				b.ReportAllocs()
				now := int64(1e9)
				for b.Loop() {
					now++
					m.Next(now)
				}
			})
		}
	}
}

func BenchmarkBucketTake(b *testing.B) {
	bk, _ := NewBucket(1e8, 5000, 0)
	b.ReportAllocs()
	now := int64(0)
	for b.Loop() {
		now += 10
		bk.Take(now, 1)
	}
}
