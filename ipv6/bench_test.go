package ipv6

import (
	"math/rand/v2"
	"testing"

	"github.com/xdpengine/engine/header"
)

// BenchmarkReassemble: one packet per iteration from fragments of 1232
// bytes of data (a 1280 MTU), in a fresh random order each time (drawn from
// a precomputed set), in order, and a 3-fragment 4 KiB packet.
func BenchmarkReassemble(b *testing.B) {
	for _, c := range []struct {
		name    string
		size    int
		shuffle bool
	}{
		{"64KiB-54frags-random", 65535 - 16, true},
		{"64KiB-54frags-inorder", 65535 - 16, false},
		{"4KiB-4frags-random", 4000, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			pkts := split(udpPacket(nil, testPayload(c.size, 1)), 40, 6, 1232, 7)
			fs := parseAll(b, pkts)
			const orders = 64
			perms := make([][]Fragment, orders)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range perms {
				perms[i] = append([]Fragment(nil), fs...)
				if c.shuffle {
					rng.Shuffle(len(fs), func(x, y int) { perms[i][x], perms[i][y] = perms[i][y], perms[i][x] })
				}
			}
			r := NewReassembler(Config{})
			b.SetBytes(int64(c.size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				p := perms[i%orders]
				i++
				for j := range p {
					if d, ok, err := r.Add(&p[j], 0); ok {
						d.Release()
					} else if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/packet")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*len(fs)), "ns/frag")
		})
	}
}

// BenchmarkAtomic: an atomic fragment (hop-by-hop, fragment header, 108
// bytes of UDP) copied into a frame, parsed and rewritten in place.
func BenchmarkAtomic(b *testing.B) {
	pkt := split(udpPacket([]ext{hopByHop()}, testPayload(100, 1)), 48, 40, 4096, 7)[0]
	work := make([]byte, len(pkt))
	r := NewReassembler(Config{})
	var e header.IPv6Ext
	b.ReportAllocs()
	for b.Loop() {
		copy(work, pkt)
		f, err := ParseFragment(work, &e)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok, err := r.Add(&f, 0); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkFragment: a 64 KiB and a 4 KiB packet fragmented for a 1500 MTU
// into reused buffers.
func BenchmarkFragment(b *testing.B) {
	for _, c := range []struct {
		name string
		size int
	}{{"64KiB", 65535 - 16}, {"4KiB", 4000}} {
		b.Run(c.name, func(b *testing.B) {
			pkt := udpPacket([]ext{hopByHop()}, testPayload(c.size, 1))
			var fr Fragmenter
			n, err := fr.Count(pkt, 1500)
			if err != nil {
				b.Fatal(err)
			}
			out, bufs := make([][]byte, n), outBufs(n, 1500)
			ids := NewIDGenerator(nil)
			b.SetBytes(int64(c.size))
			b.ReportAllocs()
			for b.Loop() {
				copy(out, bufs)
				if _, err := fr.Fragment(pkt, 1500, ids.Next(), out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
