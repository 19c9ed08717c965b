package flowtable

import (
	"testing"
	"unsafe"

	metro "github.com/dgryski/go-metro"
)

var sinkU64 uint64

// BenchmarkHash compares the table's hash of a key (keyWords.set plus the
// metro64 written out for 38 bytes) with go-metro's Hash64 over the key's
// bytes: the CPU cost of hashing, apart from any memory access.
//
//	go test -run '^$' -bench Hash -benchtime 200ms -count 5 ./flowtable
func BenchmarkHash(b *testing.B) {
	k := KeyFrom4([4]byte{198, 18, 0, 1}, [4]byte{198, 19, 0, 1}, 1, 443, 6)
	b.Run("inline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k.SrcPort++
			var w keyWords
			w.set(&k)
			sinkU64 += w.hash(7)
		}
	})
	b.Run("go-metro", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k.SrcPort++
			sinkU64 += metro.Hash64(unsafe.Slice((*byte)(unsafe.Pointer(&k)), keySize), 7)
		}
	})
}
