package maglev

import (
	"fmt"
	"math/rand/v2"
)

// addrs returns n backends "10.0.x.y:80" of weight 1.
func addrs(n int) []Backend {
	bs := make([]Backend, n)
	for i := range bs {
		bs[i] = Backend{Key: fmt.Sprintf("10.%d.%d.%d:80", i>>16, i>>8&0xff, i&0xff), Weight: 1}
	}
	return bs
}

// without returns bs without element r.
func without(bs []Backend, r int) []Backend {
	return append(append([]Backend(nil), bs[:r]...), bs[r+1:]...)
}

// moved counts the entries whose backend (by Key) differs between a and b,
// two tables of the same size: the paper's measure of disruption.
func moved(a, b *Table) int {
	n := 0
	for i := range a.entries {
		if a.backends[a.entries[i]].Key != b.backends[b.entries[i]].Key {
			n++
		}
	}
	return n
}

// tally counts the entries of each backend by walking the table.
func tally(t *Table) []uint32 {
	c := make([]uint32, t.Len())
	for _, e := range t.entries {
		c[e]++
	}
	return c
}

// shuffled returns a shuffled copy of bs.
func shuffled(r *rand.Rand, bs []Backend) []Backend {
	s := append([]Backend(nil), bs...)
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

// withinShare reports whether c entries of a table of m are floor or ceil of
// the exact share m*w/total.
func withinShare(c uint32, m uint32, w, total uint64) bool {
	x := uint64(m) * w
	f := x / total
	return uint64(c) == f || x%total != 0 && uint64(c) == f+1
}
