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
	// The suite's IPv6 with TCP vectors: the same key over 36 bytes.
	for _, v := range []struct {
		dst, src string
		hash     uint32
	}{
		{"[3ffe:2501:200:3::1]:1766", "[3ffe:2501:200:1fff::7]:2794", 0x40207d3d},
		{"[ff02::1]:4739", "[3ffe:501:8::260:97ff:fe40:efab]:14230", 0xdde51bbf},
		{"[fe80::200:f8ff:fe21:67cf]:38024", "[3ffe:1900:4545:3:200:f8ff:fe21:67cf]:44251", 0x02d1feef},
	} {
		src, dst := netip.MustParseAddrPort(v.src), netip.MustParseAddrPort(v.dst)
		if got := r.Hash(src, dst); got != v.hash {
			t.Errorf("Hash(%v, %v) = %#x, want %#x", src, dst, got, v.hash)
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

// TestRSSTables checks the classifier's tables against Hash: the XOR of
// one table word per input byte, IPv4's addresses from the first tables
// and its ports from their own, IPv6's 36 bytes from the first 36.
func TestRSSTables(t *testing.T) {
	r := DefaultRSS(4)
	lut := r.lut()
	for i := range 200 {
		sport, dport := uint16(1000+i*313), uint16(80+i*7)
		a4 := [4]byte{198, 18, byte(i), byte(i * 3)}
		b4 := [4]byte{198, 19, byte(i * 5), 1}
		src4, dst4 := netip.AddrPortFrom(netip.AddrFrom4(a4), sport), netip.AddrPortFrom(netip.AddrFrom4(b4), dport)
		var h uint32
		for j, v := range append(a4[:], b4[:]...) {
			h ^= lut[j][v]
		}
		for j, v := range []byte{byte(sport >> 8), byte(sport), byte(dport >> 8), byte(dport)} {
			h ^= lut[lutIPv4Ports+j][v]
		}
		if want := r.Hash(src4, dst4); h != want {
			t.Fatalf("IPv4 %v -> %v: tables give %#x, Hash %#x", src4, dst4, h, want)
		}
		a16 := [16]byte{0x20, 0x01, 0, 2, 15: byte(i)}
		b16 := [16]byte{0x20, 0x01, 0, 2, 8: byte(i * 7), 15: 1}
		src6, dst6 := netip.AddrPortFrom(netip.AddrFrom16(a16), sport), netip.AddrPortFrom(netip.AddrFrom16(b16), dport)
		h = 0
		in := append(append(a16[:], b16[:]...), byte(sport>>8), byte(sport), byte(dport>>8), byte(dport))
		for j, v := range in {
			h ^= lut[j][v]
		}
		if want := r.Hash(src6, dst6); h != want {
			t.Fatalf("IPv6 %v -> %v: tables give %#x, Hash %#x", src6, dst6, h, want)
		}
	}
}
