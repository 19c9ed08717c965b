package portalloc

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sync"
	"syscall"

	"github.com/xdpengine/engine/flowtable"
)

// Shard is one worker's share of the port space.
type Shard struct {
	a   *Allocator
	id  int
	mu  sync.Mutex // guards rnd, dests and count
	rnd rand.Source
	// dests holds the connections this shard owns (those whose replies
	// steer to it), grouped by destination: the key is the arrival-order key
	// with DstPort 0, the set holds the local ports in use toward it.
	dests map[flowtable.Key]*portSet
	count int
	// TCP connects choose as Linux's __inet_hash_connect does (RFC 6056
	// Algorithm 4, double-hash): a destination's walk starts at a keyed
	// hash of it (secret) plus perturb[its bucket], and each success
	// moves that bucket on past the port taken. Successive connections
	// to one destination take successive ports, so a port released a
	// moment ago comes back only after the range has gone round: the
	// peer's TIME-WAIT of the last connection (a server that closes
	// first) is not met again at once with a sequence number and a
	// timestamp it must refuse (a RST, then a SYN resent a second later).
	secret  uint64
	perturb [perturbSize]uint32
}

// perturbSize is the number of buckets of Shard.perturb (Linux has 65536
// per host; a shard serves its worker's connects).
const perturbSize = 256

// hint returns where a TCP connect toward k's destination starts its walk,
// as an offset into a range of n ports, and the bucket to move on.
func (s *Shard) hint(k *flowtable.Key, n int) (start, bucket int) {
	d := *k
	d.DstPort = 0
	h := d.Hash(s.secret)
	bucket = int(h>>32) & (perturbSize - 1)
	return int((uint32(h) + s.perturb[bucket]) % uint32(n)), bucket
}

// advance moves bucket on after a connect took the port walked steps
// offsets past its start: by the walk plus a little randomness, as Linux
// does (max(i, random(8)*2) + 2: maximal randomness under low contention,
// none under high).
func (s *Shard) advance(bucket, walked int) {
	s.perturb[bucket] += uint32(max(walked, 2*int(s.rnd.Uint64()%8)) + 2)
}

// ID returns the shard's index.
func (s *Shard) ID() int { return s.id }

// Connect chooses a local port for a connection and records its tuple,
// trying shard prefer first and then the others in turn (prefer+1, ...,
// wrapping), and returns the port and the shard it belongs to: replies to
// that port steer to that shard's worker, which must own the connection.
// k is as for Shard.Connect. When every shard is used up for k's
// destination the error matches ErrExhausted and, as Linux's connect(2)
// reports it, syscall.EADDRNOTAVAIL for TCP and syscall.EAGAIN for UDP.
// Safe for concurrent use; it takes one shard mutex at a time. A failure
// costs a walk of the range per shard.
func (a *Allocator) Connect(k flowtable.Key, prefer int) (port uint16, shard int, err error) {
	return a.connectAny(k, prefer, false)
}

// ConnectExclusive is Allocator.Connect restricted to ports no tuple uses
// at all, the way Linux autobinds a UDP socket on connect.
func (a *Allocator) ConnectExclusive(k flowtable.Key, prefer int) (port uint16, shard int, err error) {
	return a.connectAny(k, prefer, true)
}

func (a *Allocator) connectAny(k flowtable.Key, prefer int, excl bool) (uint16, int, error) {
	ns := len(a.shards)
	if prefer < 0 || prefer >= ns {
		return 0, -1, fmt.Errorf("portalloc: shard %d out of range [0, %d): pass the calling worker's index: %w", prefer, ns, syscall.EINVAL)
	}
	// Linux's order over the whole range: for TCP every port of the
	// preferred parity before any of the other, trying each parity on
	// the preferred shard first, then on the others.
	_, np := a.passes()
	for pass := range np {
		only := pass
		if np == 1 {
			only = -1
		}
		for i := range ns {
			s := a.shards[(prefer+i)%ns]
			p, err := s.connectPass(k, excl, only)
			if err == nil {
				return p, s.id, nil
			}
			if !errors.Is(err, ErrExhausted) {
				return 0, -1, err
			}
		}
	}
	return 0, -1, a.exhausted()
}

// Connect chooses a local port for a connection and records its tuple. k is
// the arriving-packet key of the future connection (Src: remote address and
// port, Dst: local address; DstPort is ignored). The chosen port lies in the
// ephemeral range, steers k's replies to this shard, is outside the
// reserved set and held ports, and makes a tuple no other connection has.
// When the shard's share of the range for this destination is used up the
// error matches ErrExhausted (EADDRNOTAVAIL for TCP, EAGAIN for UDP);
// Allocator.Connect then tries the other shards.
func (s *Shard) Connect(k flowtable.Key) (uint16, error) { return s.connect(k, false) }

// ConnectExclusive is Connect restricted to ports no tuple uses at all, the
// way Linux autobinds a UDP socket on connect.
func (s *Shard) ConnectExclusive(k flowtable.Key) (uint16, error) { return s.connect(k, true) }

// passes returns the offset parities (from the range's first port) that a
// connect tries in order, and how many: TCP even then odd
// (__inet_hash_connect), UDP one pass of any parity (-1).
func (a *Allocator) passes() ([2]int, int) {
	if a.proto == UDP {
		return [2]int{-1, -1}, 1
	}
	return [2]int{0, 1}, 2
}

func (s *Shard) connect(k flowtable.Key, excl bool) (uint16, error) {
	return s.connectPass(k, excl, -1)
}

// connectPass is connect restricted to one parity pass (0: the preferred
// parity, 1: the other; -1: both in order).
func (s *Shard) connectPass(k flowtable.Key, excl bool, only int) (uint16, error) {
	a := s.a
	r := a.cur.Load() // pairs with Store in publish
	s.mu.Lock()
	defer s.mu.Unlock()
	k.DstPort = 0
	var base uint32
	if a.tz != nil {
		base = a.tz.Hash(&k) // the port 0 contributes nothing
	}
	set := s.dests[k]
	if set == nil {
		set = &portSet{dest: k}
	}
	if set.bits != nil {
		if set.mine == nil || set.gen != r.gen {
			s.computeMine(set, r)
		}
		start, bucket := -1, 0
		if a.proto != UDP {
			start, bucket = s.hint(&k, int(r.n))
		}
		if p, found := s.scan(set, r, excl, only, start); found {
			if start >= 0 {
				s.advance(bucket, (int(p-r.first)-start+int(r.n))%int(r.n))
			}
			s.insert(set, p, r)
			return p, nil
		}
		return 0, a.exhausted()
	}
	ok := func(p uint16) bool { return s.candidate(&k, set, p, base, excl, r) }
	take := func(p uint16) (uint16, error) {
		if set.n == 0 {
			k.DstPort = 0
			s.dests[k] = set
		}
		s.insert(set, p, r)
		return p, nil
	}

	n := int(r.n)
	pars, np := a.passes()
	if np == 2 {
		// TCP: Linux's walk from the destination's hint, the preferred
		// parity first.
		start, bucket := s.hint(&k, n)
		for pi, par := range pars[:np] {
			if only >= 0 && pi != only {
				continue
			}
			for i := range n {
				off := (start + i) % n
				if off&1 != par {
					continue
				}
				if p := r.first + uint16(off); ok(p) {
					s.advance(bucket, i)
					return take(p)
				}
			}
		}
		return 0, a.exhausted()
	}
	budget := max(a.probes/np, 1)
	for pi, par := range pars[:np] {
		if only >= 0 && pi != only {
			continue
		}
		// Random probes on this parity, then a linear walk from a random
		// start: the walk makes the parity order strict and exhaustion
		// exact, and is reached only when the share is nearly used up.
		for i := 0; i < budget; i += 2 {
			rnd := s.rnd.Uint64()
			for _, h := range [2]uint32{uint32(rnd), uint32(rnd >> 32)} {
				off := reduce(h, n)
				if par >= 0 {
					off = off&^1 | par
					if off >= n {
						continue // an odd offset past the end of an odd-sized range
					}
				}
				if p := r.first + uint16(off); ok(p) {
					return take(p)
				}
			}
		}
		start := reduce(uint32(s.rnd.Uint64()), n)
		for i := range n {
			off := (start + i) % n
			if par >= 0 && off&1 != par {
				continue
			}
			if p := r.first + uint16(off); ok(p) {
				return take(p)
			}
		}
	}
	return 0, a.exhausted()
}

// dest returns the port set of k's destination, creating it.
func (s *Shard) dest(k flowtable.Key) *portSet {
	k.DstPort = 0
	set := s.dests[k]
	if set == nil {
		set = &portSet{dest: k}
		s.dests[k] = set
	}
	return set
}

func (s *Shard) insert(set *portSet, p uint16, r *ranges) {
	set.add(p)
	if set.bits != nil && (set.mine == nil || set.gen != r.gen) {
		s.computeMine(set, r)
	}
	s.count++
	s.a.uses[p].Add(1) // pairs with Load in InUse and candidate
}

// candidate reports whether p is free for k in this shard; on success k's
// DstPort is p.
func (s *Shard) candidate(k *flowtable.Key, set *portSet, p uint16, base uint32, excl bool, r *ranges) bool {
	a := s.a
	if r.isReserved(p) || a.Held(p) {
		return false
	}
	if excl && a.uses[p].Load() > 0 { // pairs with Add in insert/Release
		return false
	}
	k.DstPort = p
	return s.steers(k, p, base) && !set.has(p)
}

// steers reports whether a reply from k's remote end to local port p steers
// to this shard. k.DstPort must be p (Metro hashes the whole key).
func (s *Shard) steers(k *flowtable.Key, p uint16, base uint32) bool {
	a := s.a
	if a.tz != nil {
		return int(a.tz.table[(base^a.tz.dstPortHash(k.Family, p))&a.tz.mask]) == s.id
	}
	return a.steer.Steer(*k) == s.id
}

// Available counts the ports this shard could still give a connection k
// (DstPort ignored). It walks the whole range: for tests and diagnostics.
func (s *Shard) Available(k flowtable.Key) int {
	r := s.a.cur.Load() // pairs with Store in publish
	s.mu.Lock()
	defer s.mu.Unlock()
	k.DstPort = 0
	var base uint32
	if s.a.tz != nil {
		base = s.a.tz.Hash(&k)
	}
	set := s.dests[k]
	if set == nil {
		set = &portSet{}
	}
	n := 0
	for p := uint32(r.first); p <= uint32(r.last); p++ {
		if s.candidate(&k, set, uint16(p), base, false, r) {
			n++
		}
	}
	return n
}

// computeMine fills set.mine, the ports of r's range, not reserved, whose
// replies from set's destination steer to this shard, and counts the free
// ones by parity. It costs one Steer per port of the range, once per
// destination that reaches smallMax connections on this shard and again
// after each SetRange or SetReserved; after that a choice is a word scan.
func (s *Shard) computeMine(set *portSet, r *ranges) {
	if set.mine == nil {
		set.mine = new([1024]uint64)
	} else {
		*set.mine = [1024]uint64{}
	}
	set.free = [2]int{}
	set.gen = r.gen
	k := set.dest
	var base uint32
	if s.a.tz != nil {
		base = s.a.tz.Hash(&k)
	}
	for p := uint32(r.first); p <= uint32(r.last); p++ {
		if r.isReserved(uint16(p)) {
			continue
		}
		k.DstPort = uint16(p)
		if s.steers(&k, uint16(p), base) {
			set.mine[p/64] |= 1 << (p % 64)
			if !set.has(uint16(p)) {
				set.free[p&1]++
			}
		}
	}
}

// Parity masks over a bitmap word: bit i is port 64w+i.
const (
	evenBits = 0x5555555555555555
	oddBits  = 0xaaaaaaaaaaaaaaaa
)

// scan chooses a port for a busy destination from its bitmaps: from the
// offset off (TCP: the destination's hint) or a random one (off < 0), the
// first free port walking forward (wrapping); for TCP of the preferred
// parity first (offset from the range's first port even), then the other,
// Linux's __inet_hash_connect order. Each word tests 64 ports at once.
func (s *Shard) scan(set *portSet, r *ranges, excl bool, only, off int) (uint16, bool) {
	a := s.a
	if off < 0 {
		off = reduce(uint32(s.rnd.Uint64()), int(r.n))
	}
	start := uint32(r.first) + uint32(off)
	w0, b0 := start/64, start%64
	masks := [2]uint64{evenBits, oddBits}
	par := [2]uint16{r.pref(), r.pref() ^ 1} // absolute parities, in order
	np := 2
	if a.proto == UDP {
		masks[0], np = ^uint64(0), 1
	}
	for i, mask := range masks[:np] {
		if only >= 0 && np == 2 && i != only {
			continue
		}
		if np == 2 {
			mask = masks[par[i]]
			if set.free[par[i]] == 0 {
				continue // every port of this parity is taken: skip the walk
			}
		} else if set.free[0]+set.free[1] == 0 {
			continue
		}
		for j := uint32(0); j <= 1024; j++ {
			w := (w0 + j) % 1024
			free := set.mine[w] &^ set.bits[w] &^ a.held[w].Load() & mask // pairs with Or/And in Hold/Unhold
			switch j {
			case 0:
				free &= ^uint64(0) << b0
			case 1024:
				free &= 1<<b0 - 1
			}
			for free != 0 {
				p := uint16(w*64 + uint32(bits.TrailingZeros64(free)))
				if !excl || a.uses[p].Load() == 0 { // pairs with Add in insert/Release
					return p, true
				}
				free &= free - 1
			}
		}
	}
	return 0, false
}
