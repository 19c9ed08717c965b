package ipv4

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkReassemble64K: one 65,535-byte datagram from 45 fragments of
// 1480 bytes per iteration, in a fresh random order each time (the order
// is drawn from a precomputed set so shuffling stays out of the timing).
// Also: in order, and a 3-fragment 4 KiB datagram (a fragmented EDNS
// answer), the common small case.
func BenchmarkReassemble(b *testing.B) {
	for _, c := range []struct {
		name    string
		size    int
		shuffle bool
	}{
		{"64KiB-45frags-random", 65535 - 20, true},
		{"64KiB-45frags-inorder", 65535 - 20, false},
		{"4KiB-3frags-random", 4000, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			fs := split(testKey, testPayload(c.size, 1), 1480)
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
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/datagram")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*len(fs)), "ns/frag")
		})
	}
}

// BenchmarkFragment64K: one 65,535-byte datagram into 45 fragments at MTU
// 1500, written into caller buffers.
func BenchmarkFragment(b *testing.B) {
	for _, mtu := range []int{1500, 9000} {
		b.Run("64KiB-mtu"+itoa(mtu), func(b *testing.B) {
			pkt := datagram(testKey, nil, testPayload(65535-20, 2), false)
			var fr Fragmenter
			n, _ := fr.Count(pkt, mtu)
			out := outBufs(n, mtu)
			bufs := make([][]byte, n)
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			for b.Loop() {
				copy(bufs, out)
				if _, err := fr.Fragment(pkt, mtu, bufs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/datagram")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/frag")
		})
	}
}

func itoa(v int) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; v > 0; v /= 10 {
		i--
		b[i] = byte('0' + v%10)
	}
	return string(b[i:])
}
