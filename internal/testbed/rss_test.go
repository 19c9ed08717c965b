package testbed

import (
	"net/netip"
	"testing"
)

// TestRSSHash checks the emulation's Toeplitz hash against the IPv4 with
// TCP vectors of Microsoft's "Verifying the RSS Hash Calculation", and that
// txHash selects each queue through the kernel's reciprocal_scale.
func TestRSSHash(t *testing.T) {
	vectors := []struct {
		dst, src string
		hash     uint32
	}{
		{"161.142.100.80:1766", "66.9.149.187:2794", 0x51ccc178},
		{"65.69.140.83:4739", "199.92.111.2:14230", 0xc626b0ea},
		{"12.22.207.184:38024", "24.19.198.95:12898", 0x5c2b394a},
		{"209.142.163.6:2217", "38.27.205.30:48228", 0xafc7327f},
		{"202.188.127.2:1303", "153.39.163.191:44251", 0x10e828a2},
	}
	r := DefaultRSS(4)
	for _, v := range vectors {
		src, dst := netip.MustParseAddrPort(v.src), netip.MustParseAddrPort(v.dst)
		if got := r.Hash(src, dst); got != v.hash {
			t.Errorf("Hash(%v, %v) = %#x, want %#x", src, dst, got, v.hash)
		}
		if got, want := r.Queue(src, dst), int(v.hash&127)%4; got != want {
			t.Errorf("Queue(%v, %v) = %d, want %d", src, dst, got, want)
		}
	}
	for _, n := range []int{2, 3, 4, 8, 16} {
		for q := range n {
			if got := int(uint64(txHash(q, n)) * uint64(n) >> 32); got != q {
				t.Errorf("txHash(%d, %d) selects queue %d", q, n, got)
			}
		}
	}
	if err := (RSS{Indirection: []uint16{0, 1, 2}}).check(4); err == nil {
		t.Error("a table of 3 entries passed the check")
	}
	if err := DefaultRSS(4).check(2); err == nil {
		t.Error("a table naming queue 3 passed the check for 2 queues")
	}
}
