package header

import (
	"math/rand/v2"
	"testing"
)

var sinkU16 uint16
var sinkU32 uint32

// parseUDPFrame is the worker's per-packet parse: Ethernet, IPv4 (header
// checksum verified), then UDP ports.
func parseUDPFrame(b []byte) (uint32, error) {
	e, err := ParseEthernet(b)
	if err != nil {
		return 0, err
	}
	ip, err := ParseIPv4(e.Payload())
	if err != nil {
		return 0, err
	}
	u, err := ParseUDP(ip.Payload())
	if err != nil {
		return 0, err
	}
	return uint32(u.SrcPort())<<16 | uint32(u.DstPort()), nil
}

func parseTCPFrame(b []byte, o *TCPOptions) (uint32, error) {
	e, err := ParseEthernet(b)
	if err != nil {
		return 0, err
	}
	ip, err := ParseIPv4(e.Payload())
	if err != nil {
		return 0, err
	}
	t, err := ParseTCP(ip.Payload())
	if err != nil {
		return 0, err
	}
	if o != nil {
		if err := o.Parse(t.Options()); err != nil {
			return 0, err
		}
	}
	return t.Seq(), nil
}

// BenchmarkParse measures one packet's header parse (Ethernet + IPv4 with
// header checksum + UDP or TCP) on Linux-captured frames.
func BenchmarkParse(b *testing.B) {
	udp := frame(b, "udp-dns-5-bytes")
	syn := frame(b, "tcp-syn")
	b.Run("Eth+IPv4+UDP", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := parseUDPFrame(udp)
			if err != nil {
				b.Fatal(err)
			}
			sinkU32 = v
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/pkt")
	})
	b.Run("Eth+IPv4+TCP", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := parseTCPFrame(syn, nil)
			if err != nil {
				b.Fatal(err)
			}
			sinkU32 = v
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/pkt")
	})
	b.Run("Eth+IPv4+TCP+options", func(b *testing.B) {
		b.ReportAllocs()
		var o TCPOptions
		for b.Loop() {
			v, err := parseTCPFrame(syn, &o)
			if err != nil {
				b.Fatal(err)
			}
			sinkU32 = v
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/pkt")
	})
}

// BenchmarkChecksum compares the word-at-a-time Checksum with the
// byte-at-a-time reference, side by side in one run.
func BenchmarkChecksum(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{20, 64, 1500, 9000} {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
		b.Run("fast/"+itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				sinkU16 = Checksum(buf, 0)
			}
		})
		b.Run("reference/"+itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				sinkU16 = checksumReference(buf, 0)
			}
		})
	}
}

// BenchmarkRewrite measures a load balancer's destination NAT: address
// and port rewritten with incremental IP and TCP checksum updates.
func BenchmarkRewrite(b *testing.B) {
	syn := append([]byte(nil), frame(b, "tcp-syn")...)
	ip := IPv4(syn[14 : 54+20])
	addrs := [2][4]byte{{198, 18, 0, 1}, {198, 18, 0, 2}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ip.RewriteDst(addrs[i&1])
		ip.RewriteDstPort(uint16(i))
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/pkt")
}

func itoa(n int) string {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(d[i:])
		}
	}
}
