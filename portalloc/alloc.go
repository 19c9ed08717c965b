package portalloc

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
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
	// (zero: 64 per shard, at most 4096). A quarter of them, at least one,
	// try the preferred (even) parity first.
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
	mu  sync.Mutex // guards rnd and tuples
	rnd rand.Source
	// tuples holds the keys (arrival order: remote -> local) of the
	// connections this shard owns, i.e. whose replies steer to it.
	tuples map[flowtable.Key]struct{}
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
		probes = min(64*ns, 4096)
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
		a.shards = append(a.shards, &Shard{a: a, id: i, rnd: newRand(i), tuples: map[flowtable.Key]struct{}{}})
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
func (a *Allocator) ShardOf(k *flowtable.Key) int { return a.steer.Steer(k) }

// Reserve records an explicit tuple (a connect from a bound port) in the
// shard that owns it, and returns that shard. ErrTupleInUse if it exists.
func (a *Allocator) Reserve(k flowtable.Key) (int, error) {
	s := a.shards[a.steer.Steer(&k)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tuples[k]; ok {
		return s.id, ErrTupleInUse
	}
	s.insert(&k)
	return s.id, nil
}

// Release forgets the tuple k (arrival order). Unknown tuples are ignored.
func (a *Allocator) Release(k flowtable.Key) {
	s := a.shards[a.steer.Steer(&k)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tuples[k]; ok {
		delete(s.tuples, k)
		a.uses[k.DstPort].Add(^uint32(0)) // pairs with Load in InUse
	}
}

// Connections returns the number of tuples recorded in all shards.
func (a *Allocator) Connections() int {
	n := 0
	for _, s := range a.shards {
		s.mu.Lock()
		n += len(s.tuples)
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

func (s *Shard) insert(k *flowtable.Key) {
	s.tuples[*k] = struct{}{}
	s.a.uses[k.DstPort].Add(1) // pairs with Load in InUse and candidate
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
	var base uint32
	if a.tz != nil {
		k.DstPort = 0
		base = a.tz.Hash(&k) // includes the port of 0, whose contribution is 0
	}
	ok := func(p uint16) bool { return s.candidate(&k, p, base, excl) }

	n := int(a.n)
	pref := max(a.probes/4, 1)
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
				s.insert(&k)
				return p, nil
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
				s.insert(&k)
				return p, nil
			}
		}
	}
	return 0, ErrExhausted
}

// candidate reports whether p is free for k in this shard; on success k's
// DstPort is p.
func (s *Shard) candidate(k *flowtable.Key, p uint16, base uint32, excl bool) bool {
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
		w = a.steer.Steer(k)
	}
	if w != s.id {
		return false
	}
	_, used := s.tuples[*k]
	return !used
}

// Available counts the ports this shard could still give a connection k
// (DstPort ignored). It walks the whole range: for tests and diagnostics.
func (s *Shard) Available(k flowtable.Key) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var base uint32
	if s.a.tz != nil {
		k.DstPort = 0
		base = s.a.tz.Hash(&k)
	}
	n := 0
	for p := uint32(s.a.first); p <= uint32(s.a.last); p++ {
		if s.candidate(&k, uint16(p), base, false) {
			n++
		}
	}
	return n
}
