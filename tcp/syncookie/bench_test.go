package syncookie

import "testing"

func BenchmarkJar(b *testing.B) {
	j := NewFromSecret(testSecret)
	tup := testTuple()
	b.Run("Make", func(b *testing.B) {
		b.ReportAllocs()
		var s uint32
		for b.Loop() {
			c, _ := j.Make(tup, s, 1460, 1e12)
			s += c
		}
		sinkU32 = s
	})
	b.Run("Check/valid", func(b *testing.B) {
		c, _ := j.Make(tup, 99, 1460, 1e12)
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := j.Check(tup, 99, c+1, 1e12); !ok {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("Check/forged", func(b *testing.B) {
		b.ReportAllocs()
		var a uint32
		for b.Loop() {
			a += 0x9e3779b9
			j.Check(tup, 99, a, 1e12)
		}
	})
	b.Run("ISN", func(b *testing.B) {
		b.ReportAllocs()
		var s uint32
		for b.Loop() {
			s += j.ISN(tup, int64(s))
		}
		sinkU32 = s
	})
	b.Run("MakeTS+CheckTS", func(b *testing.B) {
		b.ReportAllocs()
		var s uint32
		for b.Loop() {
			ts := MakeTS(Options{WScaleOK: true, WScale: 7, SACKOK: true}, s)
			o, _ := CheckTS(ts, s)
			s += uint32(o.WScale) + 1
		}
		sinkU32 = s
	})
}

var sinkU32 uint32
