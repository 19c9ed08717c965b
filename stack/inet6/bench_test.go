package inet6

import (
	"testing"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/icmp"
)

// BenchmarkReceive measures the receive path per packet: an echo
// answered in place, and a UDP datagram to a closed port (checksum
// verified, port unreachable built and sent when the rate limit allows,
// or refused by it).
func BenchmarkReceive(b *testing.B) {
	cfg := testConfig()
	cfg.Neighbors = []StaticNeighbor{{Addr: peerIP, MAC: peerMAC}}
	b.Run("echo-in-place", func(b *testing.B) {
		l := newTestLayer(b, cfg, false)
		req := frameOf(ourMAC, peerMAC, echoRequest(peerIP, ourIP, 1, 1, make([]byte, 56)))
		f := make([]byte, len(req))
		b.ReportAllocs()
		for b.Loop() {
			copy(f, req)
			if l.Frame(f) == 0 {
				b.Fatal("no reply")
			}
		}
	})
	udp := frameOf(ourMAC, peerMAC, packet6(peerIP, ourIP, header.ProtocolUDP, 64, udp6(peerIP, ourIP, 40000, 9, make([]byte, 64))))
	b.Run("udp-closed-port-ratelimited", func(b *testing.B) {
		l := newTestLayer(b, cfg, false)
		b.ReportAllocs()
		for b.Loop() {
			l.Frame(udp)
		}
	})
	b.Run("udp-closed-port-unreachable-sent", func(b *testing.B) {
		l := newTestLayer(b, cfg, false)
		l.limiter = icmp.NewLimiter(icmp.LimiterConfig{RateMask: 0xffff, RatelimitNs: -1, MsgsPerSec: -1})
		b.ReportAllocs()
		for b.Loop() {
			l.Frame(udp)
		}
		if l.st.IPv6.ICMP.OutDestUnreachs < uint64(b.N) {
			b.Fatalf("%d errors sent for %d datagrams", l.st.IPv6.ICMP.OutDestUnreachs, b.N)
		}
	})
	b.Run("neighbor-solicitation", func(b *testing.B) {
		l := newTestLayer(b, cfg, false)
		var m [32]byte
		n, _ := header.PutNeighborSolicitation(m[:], ourIP.As16(), peerMAC)
		dst := header.SolicitedNodeMulticast(ourIP.As16())
		f := frameOf(header.MulticastMAC6(dst), peerMAC, packet6(peerIP, addrFrom16(dst), header.ProtocolICMPv6, 255, ndpMsg(peerIP, addrFrom16(dst), m[:n])))
		b.ReportAllocs()
		for b.Loop() {
			l.Frame(f)
		}
	})
}
