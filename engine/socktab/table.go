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
	"github.com/xdpengine/engine/portalloc"
)

// Proto is a transport protocol number.
type Proto uint8

// Protocols the table handles.
const (
	TCP Proto = 6
	UDP Proto = 17
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
// Established (UDP connect); the engine's TCP moves the rest with SetState.
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
	UnprivilegedPortStart int
	// NonlocalBind is net.ipv4.ip_nonlocal_bind: Freebind for every socket.
	NonlocalBind bool
	// DenyWildcard makes a bind to 0.0.0.0 or :: fail instead of warning.
	DenyWildcard bool
	// Logger receives the wildcard-bind warning (nil: slog.Default()).
	Logger *slog.Logger
	// Ports configures the TCP and UDP port allocators (one each, the same
	// range, reserved set and steering).
	Ports portalloc.Config
	// Queues fills Recv-Q/Send-Q in listings (nil: zeros).
	Queues QueueReporter
	// ReuseportSeed seeds the hash that spreads packets over a
	// SO_REUSEPORT group.
	ReuseportSeed uint64
	// Exact holds connected sockets by 5-tuple (nil: a copy-on-write map).
	Exact ExactTable
}

// Socket is one socket of the table. ID and Endpoint are immutable and may be
// read by any goroutine; the rest is read through Table methods.
type Socket struct {
	id       uint64
	proto    Proto
	family   Family
	endpoint any

	// Guarded by Table.mu.
	opts     Options
	state    State
	local    netip.AddrPort // bound or connected local address; port 0: none
	remote   netip.AddrPort // valid when connected
	held     bool           // the port is held in the allocator (a bind took it)
	inBucket bool
	tuple    flowtable.Key // arrival-order key, when connected
	closed   bool
}

// ID returns the socket's table-unique id.
func (s *Socket) ID() uint64 { return s.id }

// Endpoint returns the value given to Open (the engine's endpoint).
func (s *Socket) Endpoint() any { return s.endpoint }

// Table is the socket table. Control-plane methods (Open, Bind, Listen,
// Connect, Close, SetState) serialize on one mutex and publish immutable
// snapshots; Lookup reads them without locks or allocations.
type Table struct {
	cfg    Config
	log    *slog.Logger
	unpriv int

	mu      sync.Mutex // guards everything below and every Socket's mutable fields
	nextID  uint64
	buckets map[bucketKey][]*Socket
	alloc   map[Proto]*portalloc.Allocator

	// snap is the listener snapshot. Stored under mu by publish; loaded by
	// Lookup without a lock (the release/acquire pair of atomic.Pointer
	// makes the snapshot's contents, written before Store, visible).
	snap  atomic.Pointer[snapshot]
	exact ExactTable
}

type bucketKey struct {
	proto Proto
	port  uint16
}

// New builds a Table.
func New(cfg Config) (*Table, error) {
	t := &Table{cfg: cfg, log: cfg.Logger, buckets: map[bucketKey][]*Socket{}, alloc: map[Proto]*portalloc.Allocator{}}
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
		a, err := portalloc.New(cfg.Ports)
		if err != nil {
			return nil, fmt.Errorf("socktab: %w", err)
		}
		t.alloc[p] = a
	}
	t.exact = cfg.Exact
	if t.exact == nil {
		t.exact = newCOWExact()
	}
	t.snap.Store(&snapshot{m: map[listenKey]*group{}})
	return t, nil
}

// Allocator returns the port allocator of proto.
func (t *Table) Allocator(p Proto) *portalloc.Allocator { return t.alloc[p] }

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
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextID++
	return &Socket{id: t.nextID, proto: proto, family: family, opts: opts, endpoint: endpoint}, nil
}

// owns reports whether a (IPv4 unmapped, or IPv6) is an address of the engine,
// or one Linux lets any socket bind (multicast, broadcast).
func (t *Table) owns(a netip.Addr) bool {
	if a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return true
	}
	for _, p := range t.cfg.Addrs {
		if p.Addr() == a {
			return true
		}
		if a.Is4() && p.Addr().Is4() && p.Bits() < 31 && a == broadcast(p) {
			return true
		}
	}
	return false
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Bind is bind(2): it reserves addr (address and port; port 0 picks one)
// for s, following Linux's rules. IPv6 sockets take IPv4 addresses in
// v4-mapped form (::ffff:a.b.c.d).
func (t *Table) Bind(s *Socket, addr netip.AddrPort) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.bind(s, addr)
}

func (t *Table) bind(s *Socket, addr netip.AddrPort) error {
	if s.closed {
		return s.opErr("bind", addr, syscall.EBADF, "the socket is closed")
	}
	a := addr.Addr()
	if !a.IsValid() {
		return s.opErr("bind", addr, syscall.EINVAL, "no address given")
	}
	port := addr.Port()
	if s.family == IPv4 && !a.Is4() {
		if a.Is4In6() {
			return s.opErr("bind", addr, syscall.EAFNOSUPPORT, "an IPv4 socket takes a plain IPv4 address, not ::ffff:a.b.c.d")
		}
		return s.opErr("bind", addr, syscall.EAFNOSUPPORT, "an IPv4 socket cannot bind an IPv6 address; open an IPv6 socket")
	}
	if s.family == IPv6 && a.Is4() {
		return s.opErr("bind", addr, syscall.EINVAL, "an IPv6 socket takes IPv4 addresses in v4-mapped form (::ffff:a.b.c.d)")
	}
	free := s.opts.Freebind || t.cfg.NonlocalBind
	privErr := func() error {
		if port != 0 && int(port) < t.unpriv && !t.cfg.BindService {
			return s.opErr("bind", addr, syscall.EACCES, fmt.Sprintf("port %d is privileged (below %d): set Config.BindService (like CAP_NET_BIND_SERVICE) or use a higher port", port, t.unpriv))
		}
		return nil
	}
	notLocal := func() error {
		return s.opErr("bind", addr, syscall.EADDRNOTAVAIL, "the engine does not own this address: add it to Config.Addrs, or set Options.Freebind (IP_FREEBIND)")
	}
	if s.family == IPv4 {
		// __inet_bind: the address, then the privilege.
		if !a.IsUnspecified() && !free && !t.owns(a) {
			return notLocal()
		}
		if err := privErr(); err != nil {
			return err
		}
	} else {
		// __inet6_bind: the privilege, then the address.
		if err := privErr(); err != nil {
			return err
		}
		if a.Is4In6() {
			if s.opts.V6Only {
				return s.opErr("bind", addr, syscall.EINVAL, "an IPV6_V6ONLY socket cannot bind a v4-mapped address; clear V6Only or open an IPv4 socket")
			}
			if u := a.Unmap(); !u.IsUnspecified() && !free && !t.owns(u) {
				return notLocal()
			}
		} else if !a.IsUnspecified() && !free && !t.owns(a) {
			return notLocal()
		}
	}
	if s.local.Port() != 0 || s.remote.IsValid() || s.local.Addr().IsValid() {
		return s.opErr("bind", addr, syscall.EINVAL, "the socket is already bound; open a new socket to bind again")
	}
	wild := a.IsUnspecified()
	if wild && t.cfg.DenyWildcard {
		return s.opErrS("bind", addr, syscall.EACCES, "wildcard binds are disabled by Config.DenyWildcard: bind one of the engine's addresses", ErrWildcardDenied)
	}
	s.local = netip.AddrPortFrom(a, 0)
	if port == 0 && s.opts.BindAddressNoPort {
		t.warnWildcard(s, addr)
		return nil // the port is chosen at connect
	}
	if port == 0 {
		p, err := t.alloc[s.proto].PickBind(func(p uint16) bool { return !t.conflicts(s, p) })
		if err != nil {
			s.local = netip.AddrPort{}
			return s.opErr("bind", addr, syscall.EADDRINUSE, "no free port in the ephemeral range: widen Config.Ports.Range or close sockets")
		}
		port = p
	} else if t.conflicts(s, port) {
		s.local = netip.AddrPort{}
		return s.opErr("bind", addr, syscall.EADDRINUSE, "another socket holds this address and port: close it, or set SO_REUSEADDR/SO_REUSEPORT on both sockets as Linux requires")
	}
	s.local = netip.AddrPortFrom(a, port)
	t.alloc[s.proto].Hold(port)
	s.held = true
	t.addBucket(s)
	t.warnWildcard(s, s.local)
	if s.proto == UDP {
		t.publish()
	}
	return nil
}

func (t *Table) warnWildcard(s *Socket, addr netip.AddrPort) {
	if addr.Addr().IsUnspecified() {
		t.log.Warn("socktab: wildcard bind: the socket accepts traffic on every address the engine owns; bind a specific address to limit the exposure, or set Config.DenyWildcard to forbid this",
			"net", s.netName(), "addr", addr.String(), "socket", s.id)
	}
}

// conflicts reports whether s may not take port under Linux's rules.
func (t *Table) conflicts(s *Socket, port uint16) bool {
	v := s.view()
	for _, o := range t.buckets[bucketKey{s.proto, port}] {
		if o == s {
			continue
		}
		if s.proto == TCP && tcpConflict(v, o.view()) || s.proto == UDP && udpConflict(v, o.view()) {
			return true
		}
	}
	return false
}

func (t *Table) addBucket(s *Socket) {
	if s.inBucket {
		return
	}
	k := bucketKey{s.proto, s.local.Port()}
	t.buckets[k] = append(t.buckets[k], s)
	s.inBucket = true
}

func (t *Table) delBucket(s *Socket) {
	if !s.inBucket {
		return
	}
	k := bucketKey{s.proto, s.local.Port()}
	b := slices.DeleteFunc(t.buckets[k], func(o *Socket) bool { return o == s })
	if len(b) == 0 {
		delete(t.buckets, k)
	} else {
		t.buckets[k] = b
	}
	s.inBucket = false
}

// Listen is listen(2) for a TCP socket. An unbound socket is bound to the
// wildcard address and an ephemeral port first, as Linux does. Listening
// re-checks the bind rules: two SO_REUSEADDR sockets may share a port while
// neither listens, but only one of them may listen (unless SO_REUSEPORT).
func (t *Table) Listen(s *Socket) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.closed {
		return s.opErr("listen", s.local, syscall.EBADF, "the socket is closed")
	}
	if s.proto != TCP {
		return s.opErr("listen", s.local, syscall.EOPNOTSUPP, "only TCP sockets listen; a bound UDP socket already receives")
	}
	if s.state == StateListen {
		return nil
	}
	if s.state != StateClosed || s.remote.IsValid() {
		return s.opErr("listen", s.local, syscall.EINVAL, "the socket is connected; open a new socket to listen")
	}
	if s.local.Port() == 0 {
		a := s.local.Addr()
		if !a.IsValid() {
			a = netip.IPv4Unspecified()
			if s.family == IPv6 {
				a = netip.IPv6Unspecified()
			}
		}
		s.local = netip.AddrPort{}
		saved := s.opts.BindAddressNoPort
		s.opts.BindAddressNoPort = false
		err := t.bind(s, netip.AddrPortFrom(a, 0))
		s.opts.BindAddressNoPort = saved
		if err != nil {
			return err
		}
	}
	s.state = StateListen
	if t.conflicts(s, s.local.Port()) {
		s.state = StateClosed
		return s.opErr("listen", s.local, syscall.EADDRINUSE, "another socket already listens on this address and port (SO_REUSEADDR does not share a listening port): close it, or set SO_REUSEPORT on both")
	}
	t.publish()
	return nil
}

// SetState records a TCP state change made by the engine (for listings).
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

// Close removes s from the table and releases its port and tuple.
func (t *Table) Close(s *Socket) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.closed {
		return s.opErr("close", s.local, syscall.EBADF, "the socket is already closed")
	}
	wasReceiver := s.receiver()
	s.closed = true
	t.delBucket(s)
	a := t.alloc[s.proto]
	if s.held {
		a.Unhold(s.local.Port())
		s.held = false
	}
	if s.remote.IsValid() {
		a.Release(s.tuple)
		t.exact.Delete(s.tuple)
	}
	if wasReceiver {
		t.publish()
	}
	return nil
}
