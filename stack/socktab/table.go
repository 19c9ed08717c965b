package socktab

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/portalloc"
)

// Proto is a transport protocol number.
type Proto uint8

// Protocols the table handles.
const (
	TCP Proto = header.ProtocolTCP
	UDP Proto = header.ProtocolUDP
)

// Family is a socket's address family (not a packet's).
type Family uint8

// Socket families. An IPv6 socket may carry IPv4 traffic (v4-mapped)
// unless Options.V6Only is set.
const (
	IPv4 Family = flowtable.FamilyIPv4
	IPv6 Family = flowtable.FamilyIPv6
)

// State is a socket's state as ss(8) names it.
type State uint8

// States. The table sets Closed, Listen, SynSent (TCP connect) and
// Established (UDP connect, TCP Accept); the engine's TCP moves the rest
// with SetState. StateTimeWait also changes the port rules (see SetState).
const (
	StateClosed State = iota
	StateListen
	StateSynSent
	StateSynRecv
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
)

// Options are the socket options that bind and connect read, set at Open.
type Options struct {
	ReuseAddr bool   // SO_REUSEADDR
	ReusePort bool   // SO_REUSEPORT: sockets with the same Owner share a port
	Owner     uint32 // the owner, as Linux compares uids for SO_REUSEPORT
	V6Only    bool   // IPV6_V6ONLY; false by default, like net.ipv6.bindv6only=0
	Freebind  bool   // IP_FREEBIND: bind to addresses the engine does not own
	// BindAddressNoPort is IP_BIND_ADDRESS_NO_PORT: bind(addr, 0) takes no
	// port; connect chooses one that only needs a unique 4-tuple.
	BindAddressNoPort bool
}

// QueueReporter fills Recv-Q and Send-Q for listings. For a listener, ss
// shows the accept queue length and its limit.
type QueueReporter interface {
	Queues(s *Socket) (recvQ, sendQ uint64)
}

// Config configures a Table.
type Config struct {
	// Addrs are the addresses the engine owns, with their prefixes (the
	// prefix gives the subnet broadcast address and the default source).
	Addrs []netip.Prefix
	// BindService allows ports below UnprivilegedPortStart, like
	// CAP_NET_BIND_SERVICE.
	BindService bool
	// UnprivilegedPortStart is net.ipv4.ip_unprivileged_port_start: zero
	// means Linux's 1024; a negative value makes every port unprivileged.
	// It also bounds the ephemeral range (it replaces
	// Ports.UnprivilegedPortStart): a range starting below it is refused,
	// as Linux refuses it.
	UnprivilegedPortStart int
	// NonlocalBind is net.ipv4.ip_nonlocal_bind: Freebind for every socket.
	NonlocalBind bool
	// DenyWildcard makes a bind to a wildcard address (0.0.0.0, ::, or
	// ::ffff:0.0.0.0, the IPv4 wildcard of an IPv6 socket) fail instead of
	// warning.
	DenyWildcard bool
	// Logger receives the wildcard-bind warning (nil: slog.Default()).
	Logger *slog.Logger
	// Ports configures the TCP and UDP port allocators (one each, the same
	// range, reserved set and steering; Proto is set by the table). The
	// range and reserved set can change at run time: SetPortRange,
	// SetReservedPorts.
	Ports portalloc.Config
	// Queues fills Recv-Q/Send-Q in listings (nil: zeros).
	Queues QueueReporter
	// ReuseportSeed seeds the hash that spreads packets over a
	// SO_REUSEPORT group.
	ReuseportSeed uint64
	// Exact holds connected sockets by 5-tuple (nil: copy-on-write shards).
	Exact ExactTable
}

// Socket is one socket of the table. ID and Endpoint are immutable and may be
// read by any goroutine; the rest is read through Table methods.
type Socket struct {
	id       uint64
	endpoint any

	// Guarded by Table.mu. The fields are ordered by size so that a
	// Socket takes 160 bytes, not 192: a dial makes one, memory that with
	// a million connections open comes fresh from the operating system.
	local     netip.AddrPort // bound or connected local address; port 0: none
	remote    netip.AddrPort // valid when connected
	tuple     flowtable.Key  // arrival-order key, when connected
	opts      Options
	bucketIdx int32 // index in its port's bucket; -1: in none
	shard     int32 // the shard (worker) owning tuple, when connected
	home      int32 // 1 + the home worker (SetHome); 0: none
	state     State
	held      bool // the port is held in the allocator (a bind, or an accept on the listener's port)
	hasTuple  bool // tuple is recorded in the allocator and the exact table
	closed    bool
	unlisted  bool // connected with ConnectUnlisted: not in the exact table

	proto  Proto // immutable, as id and endpoint
	family Family
}

// ID returns the socket's table-unique id.
func (s *Socket) ID() uint64 { return s.id }

// Endpoint returns the value given to Open (the engine's endpoint).
func (s *Socket) Endpoint() any { return s.endpoint }

// Table is the socket table. Control-plane methods (Open, Bind, Listen,
// Connect, Accept, SetState, ReleaseTuple, Close, SetPortRange) serialize on
// one mutex and publish immutable snapshots; Lookup reads them without locks
// or allocations.
type Table struct {
	cfg    Config
	log    *slog.Logger
	unpriv int

	mu      sync.Mutex // guards everything below and every Socket's mutable fields
	nextID  uint64
	buckets map[bucketKey][]*Socket // every socket holding a port, by protocol and port
	spare   [][]*Socket             // emptied buckets kept for new ports (spareBuckets)
	alloc   map[Proto]*portalloc.Allocator
	// bound holds the sockets that took their port by bind (held) and are
	// not connected, plus the connected UDP sockets whose local address is
	// a broadcast or multicast address (fanoutMember): the only ones that
	// can be receivers or fan-out members, so publish reads them and not
	// the connections (accepted ones included) that fill the buckets.
	bound map[*Socket]struct{}

	// snap is the listener snapshot. Stored under mu by publish; loaded by
	// Lookup without a lock (the release/acquire pair of atomic.Pointer
	// makes the snapshot's contents, written before Store, visible).
	snap  atomic.Pointer[snapshot]
	exact ExactTable
	// bcast4 holds the directed broadcast addresses of Config.Addrs
	// (IPv4 prefixes shorter than /31). Immutable after New.
	bcast4 [][4]byte
}

type bucketKey struct {
	proto Proto
	port  uint16
}

// New builds a Table.
func New(cfg Config) (*Table, error) {
	t := &Table{cfg: cfg, log: cfg.Logger, buckets: map[bucketKey][]*Socket{},
		alloc: map[Proto]*portalloc.Allocator{}, bound: map[*Socket]struct{}{}}
	if t.log == nil {
		t.log = slog.Default()
	}
	switch {
	case cfg.UnprivilegedPortStart == 0:
		t.unpriv = 1024
	case cfg.UnprivilegedPortStart > 0:
		t.unpriv = cfg.UnprivilegedPortStart
	}
	for _, p := range []Proto{TCP, UDP} {
		pc := cfg.Ports
		pc.Proto = uint8(p)
		pc.UnprivilegedPortStart = cfg.UnprivilegedPortStart
		a, err := portalloc.New(pc)
		if err != nil {
			return nil, fmt.Errorf("socktab: %w", err)
		}
		t.alloc[p] = a
	}
	t.exact = cfg.Exact
	if t.exact == nil {
		t.exact = newCOWExact()
	}
	for _, p := range cfg.Addrs {
		if p.Addr().Is4() && p.Bits() < 31 {
			b := broadcast(p).As4()
			if !slices.Contains(t.bcast4, b) {
				t.bcast4 = append(t.bcast4, b)
			}
		}
	}
	t.snap.Store(&snapshot{m: map[listenKey]*group{}})
	return t, nil
}

// Open creates an unbound socket. endpoint is returned by Lookup.
func (t *Table) Open(proto Proto, family Family, opts Options, endpoint any) (*Socket, error) {
	if proto != TCP && proto != UDP {
		return nil, &Error{Errno: syscall.EPROTONOSUPPORT, Hint: fmt.Sprintf("protocol %d: the table holds TCP (6) and UDP (17) sockets", proto)}
	}
	if family != IPv4 && family != IPv6 {
		return nil, &Error{Errno: syscall.EAFNOSUPPORT, Hint: fmt.Sprintf("family %d: use socktab.IPv4 or socktab.IPv6", family)}
	}
	if family == IPv4 {
		opts.V6Only = false
	}
	// Made before the lock is taken: memory fresh from the operating
	// system can cost a page fault of 10 µs or more (with a million
	// connections open, on a VM), which under the table's mutex every
	// other open, connect and close would wait for.
	s := &Socket{proto: proto, family: family, opts: opts, endpoint: endpoint, bucketIdx: -1}
	t.mu.Lock()
	t.nextID++
	s.id = t.nextID
	t.mu.Unlock()
	return s, nil
}

func (t *Table) addBucket(s *Socket) {
	if s.bucketIdx >= 0 {
		return
	}
	k := bucketKey{s.proto, s.local.Port()}
	bk, ok := t.buckets[k]
	if !ok && len(t.spare) > 0 {
		bk = t.spare[len(t.spare)-1]
		t.spare[len(t.spare)-1] = nil
		t.spare = t.spare[:len(t.spare)-1]
	}
	s.bucketIdx = int32(len(bk))
	t.buckets[k] = append(bk, s)
}

// spareBuckets is how many emptied port buckets the table keeps for new
// ports: a connect to a fresh ephemeral port then allocates no bucket
// under the table's mutex (see Open on page faults under it).
const spareBuckets = 64

// delBucket removes s from its bucket in O(1) (the order of a bucket does
// not matter: a listener's port holds every accepted connection).
func (t *Table) delBucket(s *Socket) {
	if s.bucketIdx < 0 {
		return
	}
	k := bucketKey{s.proto, s.local.Port()}
	b := t.buckets[k]
	last := b[len(b)-1]
	b[s.bucketIdx] = last
	last.bucketIdx = s.bucketIdx
	b[len(b)-1] = nil
	b = b[:len(b)-1]
	if len(b) == 0 {
		delete(t.buckets, k)
		if cap(b) <= 8 && len(t.spare) < spareBuckets {
			t.spare = append(t.spare, b)
		}
	} else {
		t.buckets[k] = b
	}
	s.bucketIdx = -1
}

// SetState records a TCP state change made by the engine (the engine's
// connection listings come from its workers, not from here). It matters
// for the port rules in one case: a socket in
// StateTimeWait keeps its port (against bind and listen, as Linux's
// TIME-WAIT sockets stay in their bind bucket) but shares it with a
// SO_REUSEPORT socket of any owner (inet_bind_conflict skips the uid check
// for TIME-WAIT). A listener's state is not changed.
func (t *Table) SetState(s *Socket, st State) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !s.closed && s.state != StateListen {
		s.state = st
	}
}

// Local returns the socket's bound (or, once connected, chosen) local
// address; the zero AddrPort when it has none.
func (t *Table) Local(s *Socket) netip.AddrPort {
	t.mu.Lock()
	defer t.mu.Unlock()
	return s.local
}

// Close removes s from the table and releases its port and tuple. Closing
// a listener leaves the connections it accepted in the table: they hold
// the port until they are closed, as in Linux.
func (t *Table) Close(s *Socket) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.closed {
		return s.opErr("close", s.local, syscall.EBADF, "the socket is already closed")
	}
	republish := s.receiver() || t.fanoutMember(s)
	s.closed = true
	t.delBucket(s)
	delete(t.bound, s)
	a := t.alloc[s.proto]
	if s.held {
		a.Unhold(s.local.Port())
		s.held = false
	}
	t.dropTuple(s)
	if republish {
		t.publish()
	}
	return nil
}

// dropTuple forgets s's 4-tuple in the allocator and the exact table.
func (t *Table) dropTuple(s *Socket) {
	if !s.hasTuple {
		return
	}
	t.alloc[s.proto].Release(s.tuple)
	t.exact.Delete(s.tuple)
	s.hasTuple = false
}
