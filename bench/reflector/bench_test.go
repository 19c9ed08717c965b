package reflector

import (
	"testing"

	"github.com/xdpengine/engine/header"
)

// BenchmarkReflect: one 64-byte UDP frame turned around (parse, IPv4
// header checksum verified, swaps).
func BenchmarkReflect(b *testing.B) {
	f := frame(header.ProtocolUDP, false, 0, udp(1, 2, "0123456789abcdef01"))
	b.ReportAllocs()
	for b.Loop() {
		if err := Reflect(f); err != nil {
			b.Fatal(err)
		}
	}
}
