package portalloc

import (
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/flowtable"
)

// The IPv4 vectors of Microsoft's "Verifying the RSS Hash Calculation"
// (also the 82599 datasheet's RSS verification suite), with the key above.
var rssVectors = []struct {
	dst, src     string
	hash2, hash4 uint32
}{
	{"161.142.100.80:1766", "66.9.149.187:2794", 0x323e8fc2, 0x51ccc178},
	{"65.69.140.83:4739", "199.92.111.2:14230", 0xd718262a, 0xc626b0ea},
	{"12.22.207.184:38024", "24.19.198.95:12898", 0xd2d0a5de, 0x5c2b394a},
	{"209.142.163.6:2217", "38.27.205.30:48228", 0x82989176, 0xafc7327f},
	{"202.188.127.2:1303", "153.39.163.191:44251", 0x5d1809c5, 0x10e828a2},
}

func TestToeplitzMicrosoftVectors(t *testing.T) {
	tz, err := NewToeplitz(MicrosoftKey[:], DefaultIndirection(4), 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range rssVectors {
		k := flowtable.KeyFrom(netip.MustParseAddrPort(v.src), netip.MustParseAddrPort(v.dst), 6)
		if got := tz.Hash2(&k); got != v.hash2 {
			t.Errorf("%s -> %s: IPv4 hash %#08x, want %#08x", v.src, v.dst, got, v.hash2)
		}
		if got := tz.Hash(&k); got != v.hash4 {
			t.Errorf("%s -> %s: IPv4/TCP hash %#08x, want %#08x", v.src, v.dst, got, v.hash4)
		}
		if got, want := tz.Steer(k), int(v.hash4&127)%4; got != want {
			t.Errorf("%s -> %s: queue %d, want %d", v.src, v.dst, got, want)
		}
	}
}

// The spec's IPv6 vectors: the same key over 36 bytes of input.
func TestToeplitzMicrosoftVectorsIPv6(t *testing.T) {
	tz, err := NewToeplitz(MicrosoftKey[:], DefaultIndirection(1), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		dst, src string
		hash4    uint32
	}{
		{"[3ffe:2501:200:3::1]:1766", "[3ffe:2501:200:1fff::7]:2794", 0x40207d3d},
		{"[ff02::1]:4739", "[3ffe:501:8::260:97ff:fe40:efab]:14230", 0xdde51bbf},
		{"[fe80::200:f8ff:fe21:67cf]:38024", "[3ffe:1900:4545:3:200:f8ff:fe21:67cf]:44251", 0x02d1feef},
	} {
		k := flowtable.KeyFrom(netip.MustParseAddrPort(v.src), netip.MustParseAddrPort(v.dst), 6)
		if got := tz.Hash(&k); got != v.hash4 {
			t.Errorf("%s -> %s: IPv6/TCP hash %#08x, want %#08x", v.src, v.dst, got, v.hash4)
		}
	}
}

func TestToeplitzConfigErrors(t *testing.T) {
	for name, f := range map[string]func() error{
		"short key":      func() error { _, err := NewToeplitz(make([]byte, 39), DefaultIndirection(2), 2); return err },
		"table not pow2": func() error { _, err := NewToeplitz(MicrosoftKey[:], make([]uint16, 100), 2); return err },
		"queue too big":  func() error { _, err := NewToeplitz(MicrosoftKey[:], []uint16{0, 3}, 2); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestMetroSteerRangeAndAllocs(t *testing.T) {
	m := Metro{Seed: 7, Workers: 3}
	seen := map[int]int{}
	for p := range 3000 {
		k := flowtable.KeyFrom4([4]byte{198, 18, 0, 2}, [4]byte{198, 18, 0, 1}, 80, uint16(p), 6)
		w := m.Steer(k)
		if w < 0 || w >= 3 {
			t.Fatalf("worker %d out of range", w)
		}
		seen[w]++
	}
	for w := range 3 {
		if seen[w] < 800 {
			t.Errorf("worker %d got %d of 3000 keys: spread is uneven", w, seen[w])
		}
	}
	k := flowtable.KeyFrom4([4]byte{1, 2, 3, 4}, [4]byte{5, 6, 7, 8}, 1, 2, 17)
	if n := testing.AllocsPerRun(100, func() { m.Steer(k) }); n != 0 {
		t.Errorf("Metro.Steer allocates %v", n)
	}
}
