package siphash

import (
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// golden are the 64 SipHash-2-4 test vectors of the reference
// implementation (vectors.h): key 00 01 .. 0f, message 00 01 .. (i-1) for
// i = 0..63, output as little-endian bytes.
var golden = [64]string{
	"310e0edd47db6f72", "fd67dc93c539f874", "5a4fa9d909806c0d", "2d7efbd796666785",
	"b7877127e09427cf", "8da699cd64557618", "cee3fe586e46c9cb", "37d1018bf50002ab",
	"6224939a79f5f593", "b0e4a90bdf82009e", "f3b9dd94c5bb5d7a", "a7ad6b22462fb3f4",
	"fbe50e86bc8f1e75", "903d84c02756ea14", "eef27a8e90ca23f7", "e545be4961ca29a1",
	"db9bc2577fcc2a3f", "9447be2cf5e99a69", "9cd38d96f0b3c14b", "bd6179a71dc96dbb",
	"98eea21af25cd6be", "c7673b2eb0cbf2d0", "883ea3e395675393", "c8ce5ccd8c030ca8",
	"94af49f6c650adb8", "eab8858ade92e1bc", "f315bb5bb835d817", "adcf6b0763612e2f",
	"a5c91da7acaa4dde", "716595876650a2a6", "28ef495c53a387ad", "42c341d8fa92d832",
	"ce7cf2722f512771", "e37859f94623f3a7", "381205bb1ab0e012", "ae97a10fd434e015",
	"b4a31508beff4d31", "81396229f0907902", "4d0cf49ee5d4dcca", "5c73336a76d8bf9a",
	"d0a704536ba93e0e", "925958fcd6420cad", "a915c29bc8067318", "952b79f3bc0aa6d4",
	"f21df2e41d4535f9", "87577519048f53a9", "10a56cf5dfcd9adb", "eb75095ccd986cd0",
	"51a9cb9ecba312e6", "96afadfc2ce666c7", "72fe52975a4364ee", "5a1645b276d592a1",
	"b274cb8ebf87870a", "6f9bb4203de7b381", "eaecb2a30b22a87f", "9924a43cc1315724",
	"bd838d3aafbf8db7", "0b1a2a3265d51aea", "135079a3231ce660", "932b2846e4d70666",
	"e1915f5cb1eca46c", "f325965ca16d629f", "575ff28e60381be5", "724506eb4c328a95",
}

func goldenKey() Key {
	var b [16]byte
	for i := range b {
		b[i] = byte(i)
	}
	return KeyFromBytes(b)
}

func TestGoldenVectors(t *testing.T) {
	k := goldenKey()
	if k.K0 != 0x0706050403020100 || k.K1 != 0x0f0e0d0c0b0a0908 {
		t.Fatalf("KeyFromBytes: %#x %#x", k.K0, k.K1)
	}
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = byte(i)
	}
	for i, want := range golden {
		wb, err := hex.DecodeString(want)
		if err != nil {
			t.Fatal(err)
		}
		got := Sum64(k, msg[:i])
		if got != binary.LittleEndian.Uint64(wb) {
			t.Errorf("vector %d: got %016x, want little-endian bytes %s", i, got, want)
		}
	}
}

func TestFixedSizeMatchesGolden(t *testing.T) {
	// The 8-, 16-, 24-, 32- and 40-byte vectors through the fast path.
	k := goldenKey()
	w := func(i int) uint64 {
		var b [8]byte
		for j := range b {
			b[j] = byte(8*i + j)
		}
		return binary.LittleEndian.Uint64(b[:])
	}
	want := func(n int) uint64 {
		b, _ := hex.DecodeString(golden[n])
		return binary.LittleEndian.Uint64(b)
	}
	for _, tc := range []struct {
		n   int
		got uint64
	}{
		{8, Hash1(k, w(0))},
		{16, Hash2(k, w(0), w(1))},
		{24, Hash3(k, w(0), w(1), w(2))},
		{32, Hash4(k, w(0), w(1), w(2), w(3))},
		{40, Hash5(k, w(0), w(1), w(2), w(3), w(4))},
	} {
		if tc.got != want(tc.n) {
			t.Errorf("%d-byte fast path: %016x, want %016x", tc.n, tc.got, want(tc.n))
		}
	}
}

func TestNoAllocation(t *testing.T) {
	k := goldenKey()
	p := make([]byte, 37)
	if n := testing.AllocsPerRun(100, func() { _ = Sum64(k, p); _ = Hash2(k, 1, 2) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func words(p []byte) []uint64 {
	w := make([]uint64, len(p)/8)
	for i := range w {
		w[i] = binary.LittleEndian.Uint64(p[8*i:])
	}
	return w
}

// FuzzFixedSize checks the fast path against Sum64 for any key and words.
func FuzzFixedSize(f *testing.F) {
	f.Add(uint64(0), uint64(0), make([]byte, 40))
	f.Add(uint64(0x0706050403020100), uint64(0x0f0e0d0c0b0a0908), []byte("0123456789abcdef0123456789abcdef01234567"))
	f.Fuzz(func(t *testing.T, k0, k1 uint64, p []byte) {
		k := Key{k0, k1}
		if len(p) < 40 {
			p = append(p, make([]byte, 40-len(p))...)
		}
		w := words(p[:40])
		for n, got := range []uint64{
			Hash1(k, w[0]),
			Hash2(k, w[0], w[1]),
			Hash3(k, w[0], w[1], w[2]),
			Hash4(k, w[0], w[1], w[2], w[3]),
			Hash5(k, w[0], w[1], w[2], w[3], w[4]),
		} {
			if want := Sum64(k, p[:8*(n+1)]); got != want {
				t.Fatalf("Hash%d = %016x, Sum64 = %016x", n+1, got, want)
			}
		}
		_ = Sum64(k, p) // any length
	})
}
