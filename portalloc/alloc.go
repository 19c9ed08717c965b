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
	"github.com/xdpengine/engine/header"
)

// Range is an inclusive port range.
type Range struct{ First, Last uint16 }

// DefaultRange is Linux's default net.ipv4.ip_local_port_range.
var DefaultRange = Range{32768, 60999}

// Protocol numbers an Allocator serves (header's, named here for the
// callers of this package).
const (
	TCP = header.ProtocolTCP
	UDP = header.ProtocolUDP
)

// Config configures an Allocator. The zero value is Linux's defaults for
// TCP with one shard.
type Config struct {
	// Proto is the protocol whose ports the allocator chooses: TCP (zero
	// means TCP) or UDP. It decides the order of automatic choice (TCP
	// prefers a parity, UDP does not) and the errno of exhaustion.
	Proto uint8
	// Range is the ephemeral range (zero: DefaultRange). Its first port may
	// not lie below UnprivilegedPortStart, as Linux refuses it.
	Range Range
	// UnprivilegedPortStart is net.ipv4.ip_unprivileged_port_start, the
	// lowest port the ephemeral range may start at: zero means Linux's
	// 1024, a negative value means no limit.
	UnprivilegedPortStart int
	// Reserved ports are skipped by automatic choice but may still be bound
	// explicitly, like net.ipv4.ip_local_reserved_ports.
	Reserved []Range
	// Steering maps a reply to its worker; nil means one shard.
	Steering Steering
	// NewRand returns the random source of shard i (shard -1: the source of
	// bind(0) choices). nil: PCG sources seeded from crypto/rand.
	NewRand func(shard int) rand.Source
	// Probes bounds the random probes of a UDP connect before the linear
	// walk (zero: 256 per shard, at most 8192). A TCP connect walks from
	// its destination's hint instead (see the package documentation).
	Probes int
}

// ranges is the part of the configuration that can change at run time:
// the ephemeral range and the reserved ports. Immutable once published.
type ranges struct {
	first, last uint16
	n           uint32 // ports in the range
	gen         uint64 // bumped by each publication; cached bitmaps compare it
	reserved    [1024]uint64
}

func (r *ranges) isReserved(p uint16) bool { return r.reserved[p/64]&(1<<(p%64)) != 0 }

// pref is the parity (0 even, 1 odd) of the ports whose offset from the
// range's first port is even: connect's first choice, bind(0)'s second.
func (r *ranges) pref() uint16 { return r.first & 1 }

// Allocator is one protocol's port space. It is safe for concurrent use.
type Allocator struct {
	proto  uint8
	unpriv int
	probes int
	steer  Steering
	tz     *Toeplitz // steer, when it is Toeplitz (incremental hashing)
	shards []*Shard

	// cur is the ephemeral range and reserved set. Stored under mu by
	// SetRange and SetReserved; loaded without a lock by every choice,
	// once per call (the release/acquire pair of atomic.Pointer makes the
	// contents written before Store visible).
	cur atomic.Pointer[ranges]

	mu       sync.Mutex // guards holdRefs, bindRand, gen; writers of held and cur
	holdRefs map[uint16]int
	bindRand rand.Source
	gen      uint64

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

// New builds an Allocator.
func New(cfg Config) (*Allocator, error) {
	proto := cfg.Proto
	if proto == 0 {
		proto = TCP
	}
	if proto != TCP && proto != UDP {
		return nil, fmt.Errorf("%w: protocol %d: the allocator serves TCP (6) and UDP (17)", ErrConfig, proto)
	}
	unpriv := 1024
	switch {
	case cfg.UnprivilegedPortStart > 0:
		unpriv = cfg.UnprivilegedPortStart
	case cfg.UnprivilegedPortStart < 0:
		unpriv = 0
	}
	r := cfg.Range
	if r == (Range{}) {
		r = DefaultRange
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
		proto: proto, unpriv: unpriv, probes: probes, steer: st,
		holdRefs: map[uint16]int{}, bindRand: newRand(-1),
	}
	a.tz, _ = st.(*Toeplitz)
	if err := a.checkRange(r); err != nil {
		return nil, err
	}
	rs, err := newRanges(r, cfg.Reserved)
	if err != nil {
		return nil, err
	}
	a.cur.Store(rs)
	for i := range ns {
		rnd := newRand(i)
		a.shards = append(a.shards, &Shard{a: a, id: i, rnd: rnd, secret: rnd.Uint64(), dests: map[flowtable.Key]*portSet{}})
	}
	return a, nil
}

// checkRange applies Linux's checks of net.ipv4.ip_local_port_range
// (ipv4_local_port_range): 1 <= first <= last, and first not below
// ip_unprivileged_port_start.
func (a *Allocator) checkRange(r Range) error {
	if r.First == 0 || r.First > r.Last {
		return fmt.Errorf("%w: ephemeral range %d-%d: need 1 <= first <= last, e.g. 32768-60999: %w",
			ErrConfig, r.First, r.Last, syscall.EINVAL)
	}
	if int(r.First) < a.unpriv {
		return fmt.Errorf("%w: ephemeral range %d-%d starts below %d, the first unprivileged port "+
			"(net.ipv4.ip_unprivileged_port_start): start it at %d or above, or lower UnprivilegedPortStart; "+
			"Linux refuses such a range too: %w", ErrConfig, r.First, r.Last, a.unpriv, a.unpriv, syscall.EINVAL)
	}
	return nil
}

func newRanges(r Range, reserved []Range) (*ranges, error) {
	rs := &ranges{first: r.First, last: r.Last, n: uint32(r.Last-r.First) + 1}
	for _, rr := range reserved {
		if rr.First > rr.Last {
			return nil, fmt.Errorf("%w: reserved range %d-%d: need first <= last: %w", ErrConfig, rr.First, rr.Last, syscall.EINVAL)
		}
		for p := uint32(rr.First); p <= uint32(rr.Last); p++ {
			rs.reserved[p/64] |= 1 << (p % 64)
		}
	}
	return rs, nil
}

// SetRange changes the ephemeral range at run time, as writing
// net.ipv4.ip_local_port_range does. Connections and binds holding ports
// outside the new range stay valid until released; every choice that
// starts after SetRange returns comes from the new range. A choice running
// concurrently uses the range it started with. Safe to call while the shards
// are in use; each busy destination's bitmap is recomputed, lazily, at its
// next connect. Errors match ErrConfig and syscall.EINVAL.
func (a *Allocator) SetRange(r Range) error {
	if err := a.checkRange(r); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.cur.Load()
	n := *old
	n.first, n.last, n.n = r.First, r.Last, uint32(r.Last-r.First)+1
	a.publish(&n)
	return nil
}

// SetReserved replaces the reserved ports at run time, as writing
// net.ipv4.ip_local_reserved_ports does (nil: none). Ports already taken
// stay taken. Safe to call while the shards are in use.
func (a *Allocator) SetReserved(reserved []Range) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.cur.Load()
	n, err := newRanges(Range{old.first, old.last}, reserved)
	if err != nil {
		return err
	}
	a.publish(n)
	return nil
}

// publish stores rs as the current ranges. Called with a.mu held.
func (a *Allocator) publish(rs *ranges) {
	a.gen++
	rs.gen = a.gen
	a.cur.Store(rs) // pairs with Load in every choice
}

// Proto returns the protocol the allocator serves (TCP or UDP).
func (a *Allocator) Proto() uint8 { return a.proto }

// Range returns the ephemeral range.
func (a *Allocator) Range() Range {
	r := a.cur.Load() // pairs with Store in publish
	return Range{r.first, r.last}
}

// Shards returns the number of shards.
func (a *Allocator) Shards() int { return len(a.shards) }

// Shard returns shard i.
func (a *Allocator) Shard(i int) *Shard { return a.shards[i] }

// Steering returns the steering function.
func (a *Allocator) Steering() Steering { return a.steer }

// Reserved reports whether automatic choice skips port.
func (a *Allocator) Reserved(port uint16) bool {
	return a.cur.Load().isReserved(port) // pairs with Store in publish
}

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

// Reserve records an explicit tuple (a connect from a bound port, or an
// accepted connection) in the shard that owns it, and returns that shard.
// The port may lie outside the ephemeral range. ErrTupleInUse if the tuple
// exists.
func (a *Allocator) Reserve(k flowtable.Key) (int, error) {
	s := a.shards[a.steer.Steer(k)]
	r := a.cur.Load() // pairs with Store in publish
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.dest(k)
	if set.has(k.DstPort) {
		return s.id, ErrTupleInUse
	}
	s.insert(set, k.DstPort, r)
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

// PickBind chooses a port for bind(port 0) (and listen's automatic bind),
// skipping reserved and held ports and asking free (the caller's
// bind-conflict check) about the rest. The order is Linux's: TCP walks the
// ports whose offset from the range's first port is odd, from a random
// start, then the even ones (inet_csk_find_open_port: the opposite of
// connect's preference); UDP walks every port from a random start
// (udp_lib_get_port). When none is free the error matches ErrExhausted and
// syscall.EADDRINUSE, as bind(2) reports it. It does not Hold the port.
func (a *Allocator) PickBind(free func(port uint16) bool) (uint16, error) {
	r := a.cur.Load() // pairs with Store in publish
	a.mu.Lock()
	rnd := a.bindRand.Uint64()
	a.mu.Unlock()
	n := int(r.n)
	start := reduce(uint32(rnd), n)
	passes := [2]int{1, 0} // offset parity: odd first
	np := 2
	if a.proto == UDP {
		passes[0], np = -1, 1 // any parity
	}
	for _, par := range passes[:np] {
		for i := range n {
			off := (start + i) % n
			if par >= 0 && off&1 != par {
				continue
			}
			p := r.first + uint16(off)
			if r.isReserved(p) || a.Held(p) {
				continue
			}
			if free(p) {
				return p, nil
			}
		}
	}
	return 0, errExhaustedBind
}

// exhausted returns the exhaustion error of a connect for a.proto.
func (a *Allocator) exhausted() error {
	if a.proto == UDP {
		return errExhaustedUDP
	}
	return ErrExhausted
}
