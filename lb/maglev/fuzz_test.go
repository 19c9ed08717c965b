package maglev

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// FuzzBuild builds tables from random backend sets, weights, sizes and
// seeds. Build never panics; it fails only with its sentinels; a table it
// builds has Counts that match its entries and sum to the size, no entry
// for a weight of 0, at least one for any other weight, floor or ceil of
// the exact share wherever that is possible together with the previous
// rule, equals the plain one-heap population (turnOrder), and is the same
// for a shuffled input.
//
// data is read three bytes a backend: a key byte (from a small alphabet,
// so that duplicates occur) and a weight code (a power of two times a
// small factor, to mix weights from 0 to near 2^32).
func FuzzBuild(f *testing.F) {
	f.Add([]byte("a\x01\x01b\x01\x01c\x00\x01"), uint32(13), uint64(1))
	f.Add([]byte("a\x1f\x01b\x00\x01c\x00\x01d\x00\x00"), uint32(7), uint64(2))
	f.Add([]byte("abcdefghijklmnopqrstuvwxyz0123456789"), uint32(65537), uint64(3))
	f.Add([]byte("a\x01\x01a\x01\x01"), uint32(65536), uint64(4))
	f.Fuzz(func(t *testing.T, data []byte, size uint32, seed uint64) {
		var bs []Backend
		for ; len(data) >= 3; data = data[3:] {
			w := uint64(data[2]%16) << (data[1] % 32)
			bs = append(bs, Backend{Key: string(rune('!' + data[0]%90)), Weight: uint32(min(w, 1<<32-1))})
		}
		// Mostly valid sizes, kept small enough for a quick run; the
		// rest as given.
		if size%4 != 0 {
			size = NextPrime(max(uint32(len(bs)), size%70000))
		}
		tab, err := Build(bs, size, seed)
		if err != nil {
			if !errors.Is(err, ErrSize) && !errors.Is(err, ErrDuplicateKey) && !errors.Is(err, ErrTooManyBackends) {
				t.Fatalf("Build: unexpected error %v", err)
			}
			return
		}
		if size == 0 {
			size = DefaultSize
		}
		if tab.Size() != size {
			t.Fatalf("Size() = %d, want %d", tab.Size(), size)
		}
		counts := tab.Counts()
		var total, sum uint64
		for _, b := range bs {
			total += uint64(b.Weight)
		}
		if total == 0 {
			if tab.Lookup(seed) != -1 || slices.ContainsFunc(counts, func(c uint32) bool { return c != 0 }) {
				t.Fatalf("no weight, yet Lookup %d, counts %v", tab.Lookup(seed), counts)
			}
			return
		}
		if got := tally(tab); !slices.Equal(got, counts) {
			t.Fatalf("Counts %v, the table holds %v", counts, got)
		}
		exact := feasible(tab.backends, size)
		for i, b := range tab.Backends() {
			c := counts[i]
			sum += uint64(c)
			if b.Weight == 0 && c != 0 || b.Weight > 0 && c == 0 {
				t.Fatalf("backend %d of weight %d has %d entries", i, b.Weight, c)
			}
			if exact && !withinShare(c, size, uint64(b.Weight), total) {
				t.Fatalf("backend %d, weight %d of %d, has %d of %d entries", i, b.Weight, total, c, size)
			}
		}
		if sum != uint64(size) {
			t.Fatalf("counts sum to %d, want %d", sum, size)
		}
		if i := tab.Lookup(seed); i < 0 || i >= tab.Len() || tab.Backend(i).Weight == 0 {
			t.Fatalf("Lookup(%d) = %d", seed, i)
		}
		if want := turnOrder(tab.backends, tab.counts, size, seed); !slices.Equal(tab.entries, want) {
			t.Fatal("populate's order of turns differs from turnOrder's")
		}
		again, err := Build(shuffled(rand.New(rand.NewPCG(seed, 0)), bs), size, seed)
		if err != nil || !slices.Equal(again.entries, tab.entries) {
			t.Fatalf("a shuffled input builds another table (%v)", err)
		}
	})
}
