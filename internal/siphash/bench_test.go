package siphash

import (
	"fmt"
	"testing"
)

func BenchmarkSum64(b *testing.B) {
	k := goldenKey()
	for _, n := range []int{8, 16, 36, 64, 1500} {
		p := make([]byte, n)
		b.Run(fmt.Sprintf("bytes=%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var s uint64
			for b.Loop() {
				s += Sum64(k, p)
			}
			sink = s
		})
	}
}

var sink uint64

func BenchmarkFixed(b *testing.B) {
	k := goldenKey()
	b.Run("Hash2", func(b *testing.B) {
		b.ReportAllocs()
		var s uint64
		for b.Loop() {
			s += Hash2(k, s, 2)
		}
		sink = s
	})
	b.Run("Sum64-16", func(b *testing.B) { // the same input through the generic path
		b.ReportAllocs()
		var p [16]byte
		var s uint64
		for b.Loop() {
			p[0] = byte(s)
			s += Sum64(k, p[:])
		}
		sink = s
	})
	b.Run("Hash5", func(b *testing.B) {
		b.ReportAllocs()
		var s uint64
		for b.Loop() {
			s += Hash5(k, s, 2, 3, 4, 5)
		}
		sink = s
	})
}
