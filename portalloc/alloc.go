package portalloc

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/xdpengine/engine/flowtable"
)

// Range is an inclusive port range.
type Range struct{ First, Last uint16 }

// DefaultRange is Linux's default net.ipv4.ip_local_port_range.
var DefaultRange = Range{32768, 60999}

// Config configures an Allocator. The zero value is Linux's defaults with one
// shard.
type Config struct {
	// Range is the ephemeral range (zero: DefaultRange).
	Range Range
	// Reserved ports are skipped by automatic choice but may still be bound
	// explicitly, like net.ipv4.ip_local_reserved_ports.
	Reserved []Range
	// Steering maps a reply to its worker; nil means one shard.
	Steering Steering
	// NewRand returns the random source of shard i (shard -1: the source of
	// bind(0) choices). nil: PCG sources seeded from crypto/rand.
	NewRand func(shard int) rand.Source
	// Probes bounds the random probes of a connect before the linear walk
	// (zero: 256 per shard, at most 8192). The first sixteenth of them, at
	// least one, try only the preferred (even) parity.
	Probes int
}

// ErrExhausted is returned when a shard has no port left for a destination,
// or bind(0) finds none. It matches syscall.EADDRNOTAVAIL.
var ErrExhausted = &exhaustedError{}

type exhaustedError struct{}

func (*exhaustedError) Error() string {
	return "portalloc: no free local port (EADDRNOTAVAIL): widen the ephemeral range, " +
		"add a local address, or close connections to this destination"
}
func (*exhaustedError) Is(target error) bool { return target == syscall.EADDRNOTAVAIL }

// ErrTupleInUse is returned by Reserve when the 4-tuple is already taken. It
// matches syscall.EADDRNOTAVAIL, as connect(2) from a bound port does.
var ErrTupleInUse = &tupleInUseError{}

type tupleInUseError struct{}

func (*tupleInUseError) Error() string {
	return "portalloc: this local address:port is already connected to that destination " +
		"(EADDRNOTAVAIL): bind another port or let connect choose one"
}
func (*tupleInUseError) Is(target error) bool { return target == syscall.EADDRNOTAVAIL }

// Allocator is one protocol's port space. It is safe for concurrent use.
type Allocator struct {
	first, last uint16
	n           uint32 // ports in the range
	probes      int
	reserved    [1024]uint64 // bitmap, immutable after New
	steer       Steering
	tz          *Toeplitz // steer, when it is Toeplitz (incremental hashing)
	shards      []*Shard

	mu       sync.Mutex // guards holdRefs, bindRand; writers of held
	holdRefs map[uint16]int
	bindRand rand.Source

	// held is a bitmap of ports held by bind(). Written (atomic Or/And) under
	// mu; read with atomic Load by any shard. The caller (the socket table)
	// orders Hold before a racing Connect through its own lock; on its own,
	// a Connect concurrent with Hold may still take the port.
	held [1024]atomic.Uint64
	// uses counts the tuples using each port. Written with atomic Add under
	// the owning shard's mutex (shards may share a port, so the add must be
	// atomic); read with atomic Load by exclusive choice and InUse.
	uses [65536]atomic.Uint32
}

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
}

// New builds an Allocator.
func New(cfg Config) (*Allocator, error) {
	r := cfg.Range
	if r == (Range{}) {
		r = DefaultRange
	}
	if r.First == 0 || r.First > r.Last {
		return nil, fmt.Errorf("%w: ephemeral range %d-%d: need 1 <= first <= last", ErrConfig, r.First, r.Last)
	}
	st := cfg.Steering
	if st == nil {
		st = Metro{Workers: 1}
	}
	ns := st.Shards()
	if ns <= 0 {
		return nil, fmt.Errorf("%w: steering has %d shards", ErrConfig, ns)
	}
	newRand := cfg.NewRand
	if newRand == nil {
		newRand = func(int) rand.Source {
			var seed [16]byte
			_, _ = crand.Read(seed[:]) // never fails on Linux (Go 1.24+)
			return rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:]))
		}
	}
	probes := cfg.Probes
	if probes <= 0 {
		probes = min(256*ns, 8192)
	}
	a := &Allocator{
		first: r.First, last: r.Last, n: uint32(r.Last-r.First) + 1,
		probes: probes, steer: st, holdRefs: map[uint16]int{}, bindRand: newRand(-1),
	}
	a.tz, _ = st.(*Toeplitz)
	for _, rr := range cfg.Reserved {
		if rr.First > rr.Last {
			return nil, fmt.Errorf("%w: reserved range %d-%d", ErrConfig, rr.First, rr.Last)
		}
		for p := uint32(rr.First); p <= uint32(rr.Last); p++ {
			a.reserved[p/64] |= 1 << (p % 64)
		}
	}
	for i := range ns {
		a.shards = append(a.shards, &Shard{a: a, id: i, rnd: newRand(i), dests: map[flowtable.Key]*portSet{}})
	}
	return a, nil
}

// Range returns the ephemeral range.
func (a *Allocator) Range() Range { return Range{a.first, a.last} }

// Shards returns the number of shards.
func (a *Allocator) Shards() int { return len(a.shards) }

// Shard returns shard i.
func (a *Allocator) Shard(i int) *Shard { return a.shards[i] }

// Steering returns the steering function.
func (a *Allocator) Steering() Steering { return a.steer }

// Reserved reports whether automatic choice skips port.
func (a *Allocator) Reserved(port uint16) bool { return a.reserved[port/64]&(1<<(port%64)) != 0 }

// Held reports whether a bind holds port.
func (a *Allocator) Held(port uint16) bool {
	return a.held[port/64].Load()&(1<<(port%64)) != 0 // pairs with Or/And in Hold/Unhold
}

// InUse reports whether port is held or used by any tuple.
func (a *Allocator) InUse(port uint16) bool {
	return a.Held(port) || a.uses[port].Load() > 0 // pairs with Add in insert/Release
}

// Hold marks port as taken by a bind(): connects never choose it
// automatically until every Hold is matched by an Unhold.
func (a *Allocator) Hold(port uint16) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.holdRefs[port]++
	a.held[port/64].Or(1 << (port % 64)) // pairs with Load in Held
}

// Unhold releases one Hold of port.
func (a *Allocator) Unhold(port uint16) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch a.holdRefs[port] {
	case 0:
		return
	case 1:
		delete(a.holdRefs, port)
		a.held[port/64].And(^uint64(1 << (port % 64))) // pairs with Load in Held
	default:
		a.holdRefs[port]--
	}
}

// ShardOf returns the shard that owns k (arrival order).
func (a *Allocator) ShardOf(k flowtable.Key) int { return a.steer.Steer(k) }

// Reserve records an explicit tuple (a connect from a bound port) in the
// shard that owns it, and returns that shard. ErrTupleInUse if it exists.
func (a *Allocator) Reserve(k flowtable.Key) (int, error) {
	s := a.shards[a.steer.Steer(k)]
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.dest(k)
	if set.has(k.DstPort) {
		return s.id, ErrTupleInUse
	}
	s.insert(set, k.DstPort)
	return s.id, nil
}

// Release forgets the tuple k (arrival order). Unknown tuples are ignored.
func (a *Allocator) Release(k flowtable.Key) {
	s := a.shards[a.steer.Steer(k)]
	s.mu.Lock()
	defer s.mu.Unlock()
	p := k.DstPort
	k.DstPort = 0
	set := s.dests[k]
	if set == nil || !set.del(p) {
		return
	}
	s.count--
	if set.n == 0 {
		delete(s.dests, k)
	}
	a.uses[p].Add(^uint32(0)) // pairs with Load in InUse
}

// Connections returns the number of tuples recorded in all shards.
func (a *Allocator) Connections() int {
	n := 0
	for _, s := range a.shards {
		s.mu.Lock()
		n += s.count
		s.mu.Unlock()
	}
	return n
}

// PickBind chooses a port for bind(port 0): Linux's inet_csk_find_open_port
// order, odd ports first from a random start, then even, skipping reserved
// and held ports and asking free (the caller's bind-conflict check) about the
// rest. ErrExhausted when none is free. It does not Hold the port.
func (a *Allocator) PickBind(free func(port uint16) bool) (uint16, error) {
	a.mu.Lock()
	r := a.bindRand.Uint64()
	a.mu.Unlock()
	start := reduce(uint32(r), int(a.n))
	for _, parity := range [2]uint16{1, 0} {
		for i := range int(a.n) {
			p := a.first + uint16((start+i)%int(a.n))
			if p&1 != parity || a.Reserved(p) || a.Held(p) {
				continue
			}
			if free(p) {
				return p, nil
			}
		}
	}
	return 0, ErrExhausted
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

func (s *Shard) insert(set *portSet, p uint16) {
	set.add(p)
	if set.bits != nil && set.mine == nil {
		s.computeMine(set)
	}
	s.count++
	s.a.uses[p].Add(1) // pairs with Load in InUse and candidate
}

// ID returns the shard's index.
func (s *Shard) ID() int { return s.id }

// Connect chooses a local port for a connection and records its tuple. k is
// the arriving-packet key of the future connection (Src: remote address and
// port, Dst: local address; DstPort is ignored). The chosen port steers
// k's replies to this shard, is outside the reserved set and held ports,
// and makes a tuple no other connection has. ErrExhausted when the shard's
// share of the range for this destination is used up.
func (s *Shard) Connect(k flowtable.Key) (uint16, error) { return s.connect(k, false) }

// ConnectExclusive is Connect restricted to ports no tuple uses at all, the
// way Linux autobinds a UDP socket on connect.
func (s *Shard) ConnectExclusive(k flowtable.Key) (uint16, error) { return s.connect(k, true) }

func (s *Shard) connect(k flowtable.Key, excl bool) (uint16, error) {
	a := s.a
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
	if set.mine != nil {
		if p, found := s.scan(set, excl); found {
			s.insert(set, p)
			return p, nil
		}
		return 0, ErrExhausted
	}
	ok := func(p uint16) bool { return s.candidate(&k, set, p, base, excl) }
	take := func(p uint16) (uint16, error) {
		if set.n == 0 {
			k.DstPort = 0
			s.dests[k] = set
		}
		s.insert(set, p)
		return p, nil
	}

	n := int(a.n)
	pref := max(a.probes/16, 1)
	for i := 0; i < a.probes; i += 2 {
		r := s.rnd.Uint64()
		for _, h := range [2]uint32{uint32(r), uint32(r >> 32)} {
			p := a.first + uint16(reduce(h, n))
			if i < pref { // even first, as Linux's __inet_hash_connect
				if q := p &^ 1; q >= a.first {
					p = q
				}
			}
			if ok(p) {
				return take(p)
			}
		}
	}
	// Linear walk from a random start: even ports, then odd. Reached only
	// when the share is nearly used up; it makes exhaustion exact.
	start := reduce(uint32(s.rnd.Uint64()), n)
	for _, parity := range [2]uint16{0, 1} {
		for i := range n {
			p := a.first + uint16((start+i)%n)
			if p&1 == parity && ok(p) {
				return take(p)
			}
		}
	}
	return 0, ErrExhausted
}

// candidate reports whether p is free for k in this shard; on success k's
// DstPort is p.
func (s *Shard) candidate(k *flowtable.Key, set *portSet, p uint16, base uint32, excl bool) bool {
	a := s.a
	if a.Reserved(p) || a.Held(p) {
		return false
	}
	if excl && a.uses[p].Load() > 0 { // pairs with Add in insert/Release
		return false
	}
	k.DstPort = p
	var w int
	if a.tz != nil {
		w = int(a.tz.table[(base^a.tz.dstPortHash(k.Family, p))&a.tz.mask])
	} else {
		w = a.steer.Steer(*k)
	}
	return w == s.id && !set.has(p)
}

// Available counts the ports this shard could still give a connection k
// (DstPort ignored). It walks the whole range: for tests and diagnostics.
func (s *Shard) Available(k flowtable.Key) int {
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
	for p := uint32(s.a.first); p <= uint32(s.a.last); p++ {
		if s.candidate(&k, set, uint16(p), base, false) {
			n++
		}
	}
	return n
}

// computeMine fills set.mine, the ports of the range, not reserved, whose
// replies from set's destination steer to this shard. It costs one Steer
// per port of the range, once per destination that reaches smallMax
// connections on this shard; after that a choice is a word scan.
func (s *Shard) computeMine(set *portSet) {
	a := s.a
	set.mine = new([1024]uint64)
	k := set.dest
	var base uint32
	if a.tz != nil {
		base = a.tz.Hash(&k)
	}
	for p := uint32(a.first); p <= uint32(a.last); p++ {
		if a.Reserved(uint16(p)) {
			continue
		}
		var w int
		if a.tz != nil {
			w = int(a.tz.table[(base^a.tz.dstPortHash(k.Family, uint16(p)))&a.tz.mask])
		} else {
			k.DstPort = uint16(p)
			w = a.steer.Steer(k)
		}
		if w == s.id {
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

// scan chooses a port for a busy destination from its bitmaps: a random
// start, then the first free port of even parity walking forward (wrapping),
// then of odd parity, Linux's __inet_hash_connect order. Each word tests 64
// ports at once.
func (s *Shard) scan(set *portSet, excl bool) (uint16, bool) {
	a := s.a
	start := uint32(a.first) + uint32(reduce(uint32(s.rnd.Uint64()), int(a.n)))
	w0, b0 := start/64, start%64
	for parity, mask := range [2]uint64{evenBits, oddBits} {
		if set.free[parity] == 0 {
			continue // every port of this parity is taken: skip the walk
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
