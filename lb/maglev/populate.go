package maglev

import (
	"cmp"
	"container/heap"
	"slices"

	"github.com/xdpengine/engine/internal/siphash"
)

// The two SipHash keys of a seed: k0 is the seed, k1 one of these tweaks
// (the ASCII of "maglev.1" and "maglev.2", big-endian), so the offset and
// the skip come from two independent keyed hashes of the backend's Key.
const (
	offsetTweak = 0x6d61676c65762e31 // "maglev.1"
	skipTweak   = 0x6d61676c65762e32 // "maglev.2"
)

// permutation returns the offset and skip of a backend key for a table of
// prime size m (section 3.4 of the paper): offset = h1(key) mod m and
// skip = h2(key) mod (m-1) + 1, so that entry j of the backend's
// permutation, (offset + j*skip) mod m, visits every entry once as j runs
// over [0, m).
func permutation(key string, seed uint64, m uint32) (offset, skip uint32) {
	h1 := siphash.Sum64(siphash.Key{K0: seed, K1: offsetTweak}, []byte(key))
	h2 := siphash.Sum64(siphash.Key{K0: seed, K1: skipTweak}, []byte(key))
	return uint32(h1 % uint64(m)), uint32(h2%uint64(m-1)) + 1
}

// quotas returns the number of entries of each backend of a table of m
// entries: with W the sum of the weights and s_i = m*w_i/W the exact share,
//
//   - a backend of weight 0 gets 0;
//   - every other backend gets floor(s_i) or ceil(s_i), and at least 1;
//     the floors leave R = m - sum(floor(s_i)) entries, which go first to
//     the backends whose floor is 0, then by largest remainder
//     (m*w_i mod W, ties to the lower index);
//   - unless more backends have a floor of 0 than R, when no assignment
//     meets both rules: then each of them gets 1, and the excess is taken
//     one entry at a time from the backend with the most entries (ties to
//     the lower index), never below 1.
//
// The quotas sum to m when some weight is nonzero (m >= len(bs)).
func quotas(bs []Backend, m uint32) []uint32 {
	q := make([]uint32, len(bs))
	var total uint64
	for _, b := range bs {
		total += uint64(b.Weight)
	}
	if total == 0 {
		return q
	}
	rem := make([]uint64, len(bs))
	var small, cand []int // floor 0; floor > 0 with a remainder
	left := uint64(m)
	for i, b := range bs {
		if b.Weight == 0 {
			continue
		}
		x := uint64(m) * uint64(b.Weight) // < 2^56
		q[i], rem[i] = uint32(x/total), x%total
		left -= uint64(q[i])
		switch {
		case q[i] == 0:
			small = append(small, i)
		case rem[i] > 0:
			cand = append(cand, i)
		}
	}
	for _, i := range small {
		q[i] = 1
	}
	if n := uint64(len(small)); n <= left {
		// The remainders sum to left*total and each is below total,
		// so cand holds at least left-n backends.
		left -= n
		slices.SortFunc(cand, func(a, b int) int {
			if c := cmp.Compare(rem[b], rem[a]); c != 0 {
				return c
			}
			return a - b
		})
		for _, i := range cand[:left] {
			q[i]++
		}
		return q
	}
	// Too many tiny weights: take the excess from the largest counts.
	// The counts' parts above 1 sum to m-left+len(small)-P for P backends
	// of a weight, at least the excess len(small)-left as m >= P.
	h := &byCount{q: q}
	for i := range q {
		if q[i] > 1 {
			h.idx = append(h.idx, i)
		}
	}
	heap.Init(h)
	for excess := uint64(len(small)) - left; excess > 0; excess-- {
		i := h.idx[0]
		q[i]--
		if q[i] == 1 {
			heap.Pop(h)
		} else {
			heap.Fix(h, 0)
		}
	}
	return q
}

// byCount is a heap of backend indices, the most entries first, ties to
// the lower index.
type byCount struct {
	idx []int
	q   []uint32
}

func (h *byCount) Len() int { return len(h.idx) }
func (h *byCount) Less(a, b int) bool {
	x, y := h.idx[a], h.idx[b]
	return h.q[x] > h.q[y] || h.q[x] == h.q[y] && x < y
}
func (h *byCount) Swap(a, b int) { h.idx[a], h.idx[b] = h.idx[b], h.idx[a] }
func (h *byCount) Push(x any)    { h.idx = append(h.idx, x.(int)) }
func (h *byCount) Pop() any {
	x := h.idx[len(h.idx)-1]
	h.idx = h.idx[:len(h.idx)-1]
	return x
}

// cursor is a backend's state in the population loop.
type cursor struct {
	pos  uint32 // the next entry of its permutation to try
	skip uint32
	left uint32 // entries still to take
	idx  uint32 // index into the sorted backends
}

// class is the backends of one weight, which share their turns: the k-th
// turn of each is at time (2k+1)/(2w).
type class struct {
	w    uint64
	next uint64   // 2k+1 for the next turn
	bs   []cursor // the backends still taking entries, in index order

	// The calendar bucket of the next turn, floor(next*width/w), kept as
	// quotient and remainder and advanced by a constant per turn
	// (2*width = dq*w + dr), which spares a division per turn.
	bucket, rem, dq, dr uint64
}

// before reports whether a's turn comes before b's: a.next/a.w <
// b.next/b.w, compared exactly (the products are below 2^57), ties to the
// heavier weight.
func (a *class) before(b *class) bool {
	x, y := a.next*b.w, b.next*a.w
	return x < y || x == y && a.w > b.w
}

// populate fills entries (len m, prime) for the backends bs, each taking
// q[i] entries. Backends take turns; at its turn a backend walks its
// permutation from where it stopped to the first free entry and takes it
// (the paper's loop). The k-th turn (k = 0, 1, ...) of backend i is at
// time (2k+1)/(2*w_i); turns run in time order, ties to the heavier
// weight, then to the lower index; a backend stops when it has its quota.
// So each backend's turns come at the rate of its weight, evenly spread,
// at times that do not depend on the other backends; with equal weights
// the order is the paper's round robin in index order.
func populate(entries []uint16, bs []Backend, q []uint32, seed uint64) {
	m := uint32(len(entries))
	filled := make([]uint64, (m+63)/64)
	var order []int
	var total uint64
	for i, b := range bs {
		total += uint64(b.Weight)
		if q[i] > 0 {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(bs[a].Weight, bs[b].Weight) })
	cs := make([]cursor, len(order))
	var cls []class
	for j, i := range order {
		off, skip := permutation(bs[i].Key, seed, m)
		cs[j] = cursor{pos: off, skip: skip, left: q[i], idx: uint32(i)}
		if w := uint64(bs[i].Weight); len(cls) == 0 || cls[len(cls)-1].w != w {
			cls = append(cls, class{w: w, next: 1, bs: cs[j : j+1]})
		} else {
			cls[len(cls)-1].bs = cs[j-len(cls[len(cls)-1].bs) : j+1]
		}
	}
	if len(cls) == 1 {
		for c := &cls[0]; len(c.bs) > 0; {
			c.turn(entries, filled)
		}
		return
	}
	weighted(entries, filled, cls, total)
}

// turn runs a turn of the class: each of its backends, in index order,
// takes an entry; those with their quota leave.
func (c *class) turn(entries []uint16, filled []uint64) {
	k := 0
	for _, b := range c.bs {
		b.pos = claim(entries, filled, b.idx, b.pos, b.skip)
		if b.left--; b.left > 0 {
			c.bs[k] = b
			k++
		}
	}
	c.bs = c.bs[:k]
	c.next += 2
}

// claim gives the first free entry at or after pos on the permutation with
// the given skip to backend idx, and returns the permutation's next entry.
// The caller guarantees a free entry exists.
func claim(entries []uint16, filled []uint64, idx uint32, pos, skip uint32) uint32 {
	m := uint32(len(entries))
	for filled[pos/64]&(1<<(pos%64)) != 0 {
		if pos += skip; pos >= m {
			pos -= m
		}
	}
	filled[pos/64] |= 1 << (pos % 64)
	entries[pos] = uint16(idx)
	if pos += skip; pos >= m {
		pos -= m
	}
	return pos
}

// weighted runs the turns of the classes (total is the sum of the weights)
// in time order with a calendar queue, which costs little more than the
// plain round robin, where one binary heap over all classes costs up to
// three times more. Time is cut into buckets of 1/(2*width); width =
// total/4+1 puts the about m turns, which end near time m/total, into about
// m/2 buckets, and any turn beyond bucket nb-1 goes into that last one.
// Each class is on the list of the bucket of its next turn. The buckets
// run in order, each through a binary heap ordered by before (a bucket
// holds about two turns), so the order is exactly that of before: the
// bucket is a nondecreasing function of the exact time.
func weighted(entries []uint16, filled []uint64, cls []class, total uint64) {
	width := total/4 + 1
	nb := uint64(len(entries))/2 + 2
	head := make([]int32, nb)
	for b := range head {
		head[b] = -1
	}
	link := make([]int32, len(cls))
	add := func(i int32) {
		b := min(cls[i].bucket, nb-1)
		link[i] = head[b]
		head[b] = i
	}
	for i := range cls {
		c := &cls[i]
		// next = 1: bucket = floor(width/w). Below 2^64 at every turn:
		// bucket <= (2*q+1)*width/w <= m/2 + 3*width, as q <= m*w/total + 1.
		c.bucket, c.rem = width/c.w, width%c.w
		c.dq, c.dr = 2*width/c.w, 2*width%c.w
		add(int32(i))
	}
	h := make([]int32, 0, len(cls))
	for cur := range nb {
		for i := head[cur]; i >= 0; i = link[i] {
			h = append(h, i)
		}
		for i := len(h)/2 - 1; i >= 0; i-- {
			siftDown(h, cls, i)
		}
		for len(h) > 0 {
			i := h[0]
			c := &cls[i]
			c.turn(entries, filled)
			if len(c.bs) > 0 {
				c.bucket, c.rem = c.bucket+c.dq, c.rem+c.dr
				if c.rem >= c.w {
					c.bucket, c.rem = c.bucket+1, c.rem-c.w
				}
				if min(c.bucket, nb-1) == cur {
					siftDown(h, cls, 0)
					continue
				}
				add(i)
			}
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
			siftDown(h, cls, 0)
		}
	}
}

// siftDown restores the order of the heap h of indices into cls below i.
func siftDown(h []int32, cls []class, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		s := l
		if r := l + 1; r < len(h) && cls[h[r]].before(&cls[h[l]]) {
			s = r
		}
		if !cls[h[s]].before(&cls[h[i]]) {
			return
		}
		h[i], h[s] = h[s], h[i]
		i = s
	}
}
