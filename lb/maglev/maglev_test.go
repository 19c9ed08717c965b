package maglev

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/xdpengine/engine/internal/siphash"
)

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name     string
		backends []Backend
		size     uint32
		want     error
		msg      string // a substring of the error
	}{
		{"not prime", addrs(3), 65536, ErrSize, "65536 is not prime; the next prime is 65537"},
		{"one", addrs(1), 1, ErrSize, "1 is not prime; the next prime is 2"},
		{"even", addrs(1), 1000, ErrSize, "the next prime is 1009"},
		{"too big", addrs(1), MaxSize + 1, ErrSize, "the largest prime allowed is 16777213"},
		{"max not prime", addrs(1), MaxSize, ErrSize, "the largest prime allowed is 16777213"},
		{"below backends", addrs(20), 13, ErrSize, "13 is smaller than the number of backends, 20"},
		{"duplicate", []Backend{{"a", 1}, {"b", 1}, {"a", 2}}, 13, ErrDuplicateKey, `"a"`},
		{"too many", addrs(MaxBackends + 1), 16777213, ErrTooManyBackends, "65537 backends"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := Build(tt.backends, tt.size, 1)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Build: got (%v, %v), want error %v", tab, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestBuildLimits(t *testing.T) {
	for _, tt := range []struct {
		n    int
		size uint32
	}{{1, 2}, {2, 2}, {13, 13}, {0, 0}, {MaxBackends, DefaultSize}} {
		tab, err := Build(addrs(tt.n), tt.size, 7)
		if err != nil {
			t.Fatalf("%d backends, size %d: %v", tt.n, tt.size, err)
		}
		want := tt.size
		if want == 0 {
			want = DefaultSize
		}
		if tab.Size() != want || tab.Len() != tt.n {
			t.Fatalf("size %d len %d, want %d %d", tab.Size(), tab.Len(), want, tt.n)
		}
		if tt.n > 0 && !slices.Equal(tally(tab), tab.Counts()) {
			t.Fatalf("%d backends, size %d: counts %v do not match the table", tt.n, tt.size, tab.Counts())
		}
	}
}

func TestPrimes(t *testing.T) {
	const n = 200000
	composite := make([]bool, n)
	for i := 2; i < n; i++ {
		for j := 2 * i; j < n && !composite[i]; j += i {
			composite[j] = true
		}
	}
	next := uint32(0)
	for i := n - 1; i >= 0; i-- {
		prime := i >= 2 && !composite[i]
		if got := isPrime(uint32(i)); got != prime {
			t.Fatalf("isPrime(%d) = %v", i, got)
		}
		if prime {
			next = uint32(i)
		}
		if next != 0 && i >= 2 {
			if got := NextPrime(uint32(i)); got != next {
				t.Fatalf("NextPrime(%d) = %d, want %d", i, got, next)
			}
		}
	}
	for _, tt := range []struct{ in, want uint32 }{
		{0, 2}, {1, 2}, {65536, 65537}, {655370, 655373}, {16777213, 16777213}, {16777214, 0},
	} {
		if got := NextPrime(tt.in); got != tt.want {
			t.Errorf("NextPrime(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
	if got := prevPrime(MaxSize); got != 16777213 {
		t.Errorf("prevPrime(MaxSize) = %d", got)
	}
}

func TestEmpty(t *testing.T) {
	for _, bs := range [][]Backend{nil, {{"a", 0}, {"b", 0}}} {
		tab, err := Build(bs, 13, 1)
		if err != nil {
			t.Fatal(err)
		}
		for h := range uint64(30) {
			if got := tab.Lookup(h); got != -1 {
				t.Fatalf("%v: Lookup(%d) = %d, want -1", bs, h, got)
			}
		}
		if tab.Size() != 13 || slices.ContainsFunc(tab.Counts(), func(c uint32) bool { return c != 0 }) {
			t.Fatalf("%v: size %d counts %v", bs, tab.Size(), tab.Counts())
		}
	}
}

func TestLookup(t *testing.T) {
	tab, err := Build(addrs(5), 101, 3)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		h := r.Uint64()
		if r.IntN(2) == 0 {
			h = uint64(r.Uint32()) // a 32-bit hash
		}
		if got, want := tab.Lookup(h), int(tab.entries[h%101]); got != want {
			t.Fatalf("Lookup(%#x) = %d, want entry %d = %d", h, got, h%101, want)
		}
	}
	if a := testing.AllocsPerRun(100, func() { sinkInt += tab.Lookup(12345) }); a != 0 {
		t.Errorf("Lookup allocates %v times", a)
	}
}

var sinkInt int

func TestAccessors(t *testing.T) {
	in := []Backend{{"c", 1}, {"a", 2}, {"b", 0}}
	orig := slices.Clone(in)
	tab, err := Build(in, 7, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(in, orig) {
		t.Errorf("Build changed its input: %v", in)
	}
	want := []Backend{{"a", 2}, {"b", 0}, {"c", 1}}
	if got := tab.Backends(); !slices.Equal(got, want) {
		t.Errorf("Backends() = %v, want %v", got, want)
	}
	for i, b := range want {
		if tab.Backend(i) != b {
			t.Errorf("Backend(%d) = %v, want %v", i, tab.Backend(i), b)
		}
	}
	tab.Backends()[0].Key = "x"
	tab.Counts()[0] = 99
	if tab.Backend(0).Key != "a" || tab.Counts()[0] == 99 {
		t.Error("the slices returned share the table's memory")
	}
	// 7 entries: shares 14/3 and 7/3, so 5 and 2 (largest remainder to a).
	if got := tab.Counts(); !slices.Equal(got, []uint32{5, 0, 2}) {
		t.Errorf("Counts() = %v, want [5 0 2]", got)
	}
}

// reference is the paper's population (Eisenbud et al., NSDI 2016, section
// 3.4, pseudocode 1), written out plainly: a full permutation table per
// backend, then rounds over the backends in order until the table is full.
// Offsets and skips are SipHash-2-4 of the key under (seed, "maglev.1") and
// (seed, "maglev.2"), as doc.go specifies.
func reference(keys []string, m int, seed uint64) []int {
	k1 := siphash.Key{K0: seed, K1: binary.BigEndian.Uint64([]byte("maglev.1"))}
	k2 := siphash.Key{K0: seed, K1: binary.BigEndian.Uint64([]byte("maglev.2"))}
	n := len(keys)
	permutation := make([][]int, n)
	for i, k := range keys {
		offset := int(siphash.Sum64(k1, []byte(k)) % uint64(m))
		skip := int(siphash.Sum64(k2, []byte(k))%uint64(m-1)) + 1
		permutation[i] = make([]int, m)
		for j := range m {
			permutation[i][j] = (offset + j*skip) % m
		}
	}
	next := make([]int, n)
	entry := make([]int, m)
	for j := range entry {
		entry[j] = -1
	}
	filled := 0
	for {
		for i := range n {
			c := permutation[i][next[i]]
			for entry[c] >= 0 {
				next[i]++
				c = permutation[i][next[i]]
			}
			entry[c] = i
			next[i]++
			filled++
			if filled == m {
				return entry
			}
		}
	}
}

// TestReference checks that with equal weights the table is exactly the
// paper's, on both of populate's paths.
func TestReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tt := range []struct {
		n int
		m uint32
	}{{1, 2}, {2, 2}, {3, 7}, {7, 7}, {5, 13}, {10, 251}, {33, 4099}, {100, 65537}, {10, 65537}} {
		for _, w := range []uint32{1, 1000} {
			seed := r.Uint64()
			bs := addrs(tt.n)
			for i := range bs {
				bs[i].Weight = w
			}
			tab, err := Build(shuffled(r, bs), tt.m, seed)
			if err != nil {
				t.Fatal(err)
			}
			keys := make([]string, tt.n)
			for i, b := range tab.Backends() {
				keys[i] = b.Key
			}
			want := reference(keys, int(tt.m), seed)
			for j, e := range tab.entries {
				if int(e) != want[j] {
					t.Fatalf("%d backends, size %d, seed %#x: entry %d is %d, the paper's loop gives %d", tt.n, tt.m, seed, j, e, want[j])
				}
			}
			if got := turnOrder(tab.backends, tab.counts, tt.m, seed); !slices.Equal(got, tab.entries) {
				t.Fatalf("%d backends, size %d: the order of turns as specified differs from round robin", tt.n, tt.m)
			}
		}
	}
}

// TestDeterminism checks that a table depends on the configuration only:
// not on the order of the backends, and not on the machine (golden
// digests of the entries, little-endian uint16s).
func TestDeterminism(t *testing.T) {
	weighted := addrs(50)
	for i := range weighted {
		weighted[i].Weight = uint32(i%7) * 100
	}
	for _, tt := range []struct {
		name string
		bs   []Backend
		seed uint64
		want string
	}{
		{"equal", addrs(100), 0x5eed, goldenEqual},
		{"weighted", weighted, 42, goldenWeighted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, 6))
			first, err := Build(tt.bs, DefaultSize, tt.seed)
			if err != nil {
				t.Fatal(err)
			}
			for range 5 {
				again, err := Build(shuffled(r, tt.bs), DefaultSize, tt.seed)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(first.entries, again.entries) || !slices.Equal(first.backends, again.backends) {
					t.Fatal("a shuffled input builds a different table")
				}
			}
			b := make([]byte, 2*len(first.entries))
			for i, e := range first.entries {
				binary.LittleEndian.PutUint16(b[2*i:], e)
			}
			sum := sha256.Sum256(b)
			if got := hex.EncodeToString(sum[:]); got != tt.want {
				t.Errorf("table digest %s, want %s: the population changed, so tables differ from earlier builds", got, tt.want)
			}
			other, err := Build(tt.bs, DefaultSize, tt.seed+1)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Equal(first.entries, other.entries) {
				t.Error("another seed builds the same table")
			}
		})
	}
}

// The SHA-256 of the two tables of TestDeterminism, as first built.
const (
	goldenEqual    = "a159de8772d0fef2075c481f61957ea6a073b0d9b69eea32f8c1166370227d67"
	goldenWeighted = "2481db53d8a71e4ed18a8f3dc63ad19a2aec1ea48e173a03193caf49c343d4d1"
)

// turnOrder is populate written plainly: every backend on one binary heap
// ordered by the time of its next turn, (2k+1)/(2w), then the heavier
// weight, then the lower index.
func turnOrder(bs []Backend, q []uint32, m uint32, seed uint64) []uint16 {
	type backend struct {
		cursor
		next, w uint64
	}
	before := func(a, b *backend) bool {
		x, y := a.next*b.w, b.next*a.w
		return x < y || x == y && (a.w > b.w || a.w == b.w && a.idx < b.idx)
	}
	var h []backend
	for i, b := range bs {
		if q[i] > 0 {
			off, skip := permutation(b.Key, seed, m)
			h = append(h, backend{cursor{off, skip, q[i], uint32(i)}, 1, uint64(b.Weight)})
		}
	}
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			s := l
			if r := l + 1; r < len(h) && before(&h[r], &h[l]) {
				s = r
			}
			if !before(&h[s], &h[i]) {
				return
			}
			h[i], h[s] = h[s], h[i]
			i = s
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		down(i)
	}
	entries, filled := make([]uint16, m), make([]uint64, (m+63)/64)
	for len(h) > 0 {
		c := &h[0]
		c.pos = claim(entries, filled, c.idx, c.pos, c.skip)
		if c.left--; c.left > 0 {
			c.next += 2
		} else {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		down(0)
	}
	return entries
}

// TestTurnOrder checks that populate's calendar of weight classes runs the
// turns in the order turnOrder specifies, for random weights, few distinct
// weights, tiny weights among large ones, and drained backends.
func TestTurnOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for trial := range 100 {
		m := NextPrime(2 + r.Uint32N(30000))
		n := 1 + r.IntN(min(int(m), 300))
		bs := addrs(n)
		var total uint64
		for i := range bs {
			switch trial % 5 {
			case 0:
				bs[i].Weight = 1 + r.Uint32N(5)
			case 1:
				bs[i].Weight = r.Uint32()
			case 2:
				bs[i].Weight = uint32(1) << r.UintN(32)
			case 3:
				bs[i].Weight = r.Uint32N(3) * 1000
			case 4:
				bs[i].Weight = 1 + r.Uint32N(1000)
			}
			total += uint64(bs[i].Weight)
		}
		if total == 0 {
			continue
		}
		seed := r.Uint64()
		tab, err := Build(bs, m, seed)
		if err != nil {
			t.Fatal(err)
		}
		if want := turnOrder(tab.backends, tab.counts, m, seed); !slices.Equal(tab.entries, want) {
			t.Fatalf("trial %d: size %d, %d backends: populate's order differs from turnOrder's", trial, m, n)
		}
	}
}
