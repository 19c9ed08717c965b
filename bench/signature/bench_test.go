package signature

import (
	"testing"

	"github.com/xdpengine/engine/header"
)

var sink Signature

func BenchmarkPut(b *testing.B) {
	buf := make([]byte, Len)
	b.ReportAllocs()
	var i int64
	for b.Loop() {
		i++
		Signature{Stream: 1, Seq: uint32(i), TxNs: i}.Put(buf)
	}
}

func BenchmarkDecode(b *testing.B) {
	buf := make([]byte, Len)
	Signature{Stream: 1, Seq: 2, TxNs: 3}.Put(buf)
	b.ReportAllocs()
	for b.Loop() {
		Decode(buf, &sink)
	}
}

// BenchmarkFromFrame: the receive side's parse of a 64-byte UDP frame
// (Ethernet, IPv4 with its header checksum, UDP) and the decode.
func BenchmarkFromFrame(b *testing.B) {
	sig := make([]byte, Len)
	Signature{Stream: 1, Seq: 2, TxNs: 3}.Put(sig)
	f := frame(false, header.ProtocolUDP, append(make([]byte, 8), sig...), 0)
	b.ReportAllocs()
	for b.Loop() {
		if !FromFrame(f, &sink) {
			b.Fatal("no signature")
		}
	}
}
