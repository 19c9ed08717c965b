package socktab

import (
	"cmp"
	"slices"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/portalloc"
)

// Match says which rule of the lookup order found a socket.
type Match uint8

// Lookup results, in the order they are tried.
const (
	MatchNone     Match = iota // nothing: answer with a TCP RST or ICMP port unreachable
	MatchExact                 // a connected socket, by exact 5-tuple
	MatchSpecific              // a listener or bound socket on the destination address
	MatchWildcard              // a listener or bound socket on the wildcard address
)

func (m Match) String() string {
	return [...]string{"none", "exact", "specific", "wildcard"}[m]
}

// listenKey indexes receivers (TCP listeners, bound unconnected UDP
// sockets) by the traffic they take: the packet family (4 or 6), the local
// address in 16-byte form (all zero for the wildcard) and the port.
type listenKey struct {
	addr   [16]byte
	port   uint16
	proto  Proto
	family uint8
}

// group is the sockets one listenKey reaches, best first; the first n form
// a SO_REUSEPORT group that packets are spread over by 4-tuple hash.
// homes[w] lists the members homed on worker w (SetHome), in group order;
// nil when no member has a home.
type group struct {
	socks []*Socket
	n     int
	homes [][]*Socket
}

// snapshot is immutable once published.
type snapshot struct {
	m map[listenKey]*group
	// fan holds, by UDP port, the sockets that may take a copy of a
	// broadcast or multicast datagram (see LookupAll), fan6 those that
	// may take an IPv6 group's; maxFan is the longest list.
	fan    map[uint16][]fanEntry
	fan6   map[uint16][]fanEntry6
	maxFan int
}

// receiver reports whether s takes packets through the listener map.
func (s *Socket) receiver() bool {
	if s.closed || s.local.Port() == 0 || !s.held {
		return false
	}
	if s.proto == TCP {
		return s.state == StateListen
	}
	return !s.remote.IsValid()
}

// listenKeys returns the keys a receiver answers to, with a tier (0: the
// socket's native family, 1: an IPv6 socket taking IPv4 traffic).
func (s *Socket) listenKeys() (keys []listenKey, tiers []int) {
	a := s.local.Addr()
	port := s.local.Port()
	add := func(fam uint8, addr [16]byte, tier int) {
		keys = append(keys, listenKey{addr: addr, port: port, proto: s.proto, family: fam})
		tiers = append(tiers, tier)
	}
	var zero [16]byte
	switch {
	case s.family == IPv4 && a.IsUnspecified():
		add(flowtable.FamilyIPv4, zero, 0)
	case s.family == IPv4:
		add(flowtable.FamilyIPv4, a.As16(), 0)
	case a == v4MappedAny: // the IPv4 wildcard of an IPv6 socket
		add(flowtable.FamilyIPv4, zero, 1)
	case a.Is4In6():
		add(flowtable.FamilyIPv4, a.As16(), 1)
	case a.IsUnspecified():
		add(flowtable.FamilyIPv6, zero, 0)
		if !s.opts.V6Only {
			add(flowtable.FamilyIPv4, zero, 1)
		}
	default:
		add(flowtable.FamilyIPv6, a.As16(), 0)
	}
	return keys, tiers
}

// publish rebuilds the listener snapshot from the bound sockets and stores
// it. Called with t.mu held. Cost: O(bound sockets), connections excluded;
// binds are control plane.
func (t *Table) publish() {
	type cand struct {
		s    *Socket
		tier int
	}
	all := map[listenKey][]cand{}
	for s := range t.bound {
		if !s.receiver() {
			continue
		}
		keys, tiers := s.listenKeys()
		for i, k := range keys {
			all[k] = append(all[k], cand{s, tiers[i]})
		}
	}
	m := make(map[listenKey]*group, len(all))
	for k, cs := range all {
		// Best first: native family, then the most recently opened socket
		// (Linux adds sockets at the head of its hash chains).
		slices.SortFunc(cs, func(x, y cand) int {
			if c := cmp.Compare(x.tier, y.tier); c != 0 {
				return c
			}
			return cmp.Compare(y.s.id, x.s.id)
		})
		g := &group{n: 1}
		for _, c := range cs {
			g.socks = append(g.socks, c.s)
		}
		if top := cs[0].s; top.opts.ReusePort {
			// The reuseport group: same tier, family, owner, all reuseport;
			// ordered by age so the spread is stable.
			var members []*Socket
			var rest []*Socket
			for _, c := range cs {
				o := c.s
				if c.tier == cs[0].tier && o.opts.ReusePort && o.opts.Owner == top.opts.Owner && o.family == top.family {
					members = append(members, o)
				} else {
					rest = append(rest, o)
				}
			}
			slices.SortFunc(members, func(x, y *Socket) int { return cmp.Compare(x.id, y.id) })
			g.socks = append(members, rest...)
			g.n = len(members)
			g.homes = homesOf(members)
		}
		m[k] = g
	}
	fan, fan6, maxFan := t.fanout()
	t.snap.Store(&snapshot{m: m, fan: fan, fan6: fan6, maxFan: maxFan}) // pairs with Load in Lookup, LookupOn, LookupAll, MaxFanout
}

// Lookup finds the socket for an arriving packet (k in arrival order: Src is
// the remote end). The order is Linux's: a connected socket by exact
// 5-tuple; a receiver bound to the destination address; one bound to the
// wildcard address; nothing. Within a SO_REUSEPORT group the socket is
// chosen by a hash of the 4-tuple. An IPv4 packet also reaches IPv6 sockets
// bound to :: (unless V6Only) or to its v4-mapped address, after IPv4
// sockets. Lock-free and allocation-free; safe for concurrent use.
//
// A UDP datagram to a broadcast or multicast address goes to every
// matching socket instead: see LookupAll.
func (t *Table) Lookup(k *flowtable.Key) (*Socket, Match) {
	return t.LookupOn(k, -1)
}

// LookupOn is Lookup for a packet that arrived on worker: within a
// SO_REUSEPORT group it hashes among the members homed on worker (SetHome)
// when there are any, else among all members, as Linux prefers the member
// whose SO_INCOMING_CPU is the receiving CPU. A negative worker is Lookup.
// The same flow on the same worker gets the same socket while the group
// and its homes do not change. Lock-free and allocation-free.
func (t *Table) LookupOn(k *flowtable.Key, worker int) (*Socket, Match) {
	if s := t.exact.Get(*k); s != nil {
		return s, MatchExact
	}
	snap := t.snap.Load() // pairs with Store in publish
	lk := listenKey{addr: k.Dst, port: k.DstPort, proto: Proto(k.Proto), family: k.Family}
	if g := snap.m[lk]; g != nil {
		return t.pick(g, k, worker), MatchSpecific
	}
	lk.addr = [16]byte{}
	if g := snap.m[lk]; g != nil {
		return t.pick(g, k, worker), MatchWildcard
	}
	return nil, MatchNone
}

func (t *Table) pick(g *group, k *flowtable.Key, worker int) *Socket {
	if g.n <= 1 {
		return g.socks[0]
	}
	h := uint64(uint32(portalloc.HashKey(k, t.cfg.ReuseportSeed)))
	if worker >= 0 && worker < len(g.homes) {
		if sub := g.homes[worker]; len(sub) > 0 {
			return sub[(h*uint64(len(sub)))>>32]
		}
	}
	return g.socks[(h*uint64(g.n))>>32]
}

// ExactTable holds connected sockets by arrival-order 5-tuple. Get must be
// lock-free, allocation-free and safe concurrently with Put and Delete; Put
// and Delete are serialized by the Table's mutex. The engine's lock-free
// flow table is meant to implement it.
type ExactTable interface {
	Get(k flowtable.Key) *Socket
	Put(k flowtable.Key, s *Socket)
	Delete(k flowtable.Key)
}

// Holder returns the connected socket that holds the 5-tuple k (arrival
// order: Src is the peer), listed in the exact table or not
// (ConnectUnlisted, HoldAccepted); nil when none. Control plane: it takes
// the table's lock and walks the sockets holding k's local port.
func (t *Table) Holder(k flowtable.Key) *Socket {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.buckets[bucketKey{Proto(k.Proto), k.DstPort}] {
		if s.hasTuple && s.tuple == k {
			return s
		}
	}
	return nil
}
