package socktab

import (
	"cmp"
	"slices"

	"github.com/xdpengine/engine/flowtable"
)

// This file is Linux's __udp4_lib_mcast_deliver: a UDP datagram to a
// multicast group, to 255.255.255.255 or to the directed broadcast of a
// local subnet goes to every socket on the destination port that
// __udp_is_mcast_sock accepts, SO_REUSEPORT groups included, instead of
// the one socket the unicast lookup picks; and __udp6_lib_mcast_deliver,
// its IPv6 sibling for a datagram to an IPv6 group, with
// __udp_v6_is_mcast_sock's rules.

// fanEntry is one UDP socket that may take a copy of a broadcast or
// multicast datagram: its IPv4 receive address (inet_rcv_saddr; zero for
// the wildcard) and, when connected, its peer.
type fanEntry struct {
	s      *Socket
	local  [4]byte
	remote [4]byte
	rport  uint16 // the peer's port; 0: not connected
}

// fanEntry6 is one IPv6 UDP socket that may take a copy of an IPv6
// multicast datagram: its receive address (sk_v6_rcv_saddr: zero for ::,
// else a group) and, when connected, its peer.
type fanEntry6 struct {
	s      *Socket
	local  [16]byte
	remote [16]byte
	rport  uint16 // the peer's port; 0: not connected
}

// fanoutMember reports whether s takes broadcast or multicast datagrams
// through LookupAll: a UDP socket with a port, not IPV6_V6ONLY, whose
// IPv4 receive address is the wildcard, a multicast group or a broadcast
// address of the table. A socket on a unicast address never does (its
// receive address cannot equal a broadcast or multicast destination), nor
// one on a native IPv6 address (Linux gives it the receive address
// 127.0.0.6). Connecting a wildcard-bound socket gives it the unicast
// source address, so it stops taking them, as on Linux. Called with t.mu
// held.
func (t *Table) fanoutMember(s *Socket) bool {
	_, ok := t.fanEntry(s)
	_, ok6 := fanEntry6Of(s)
	return ok || ok6
}

func (t *Table) fanEntry(s *Socket) (fanEntry, bool) {
	if s.closed || s.proto != UDP || s.local.Port() == 0 {
		return fanEntry{}, false
	}
	v := s.view()
	if v.family == IPv6 && (v.v6only || v.type6() == v6Other) {
		return fanEntry{}, false
	}
	a := v.rcvSaddr4()
	e := fanEntry{s: s, local: a.As4()}
	if !a.IsUnspecified() && !a.IsMulticast() && !t.isBroadcast(e.local) {
		return fanEntry{}, false
	}
	if r := s.remote; r.IsValid() {
		ra := r.Addr().Unmap()
		if !ra.Is4() {
			return fanEntry{}, false
		}
		e.remote, e.rport = ra.As4(), r.Port()
	}
	return e, true
}

// fanEntry6Of is __udp_v6_is_mcast_sock's socket side: an IPv6 UDP
// socket with a port (IPV6_V6ONLY or not: it concerns IPv4) whose receive
// address is :: or an IPv6 group. A socket on a unicast or v4-mapped
// address (::ffff:0.0.0.0 included) takes no IPv6 group's datagrams, nor
// one connected from a wildcard bind (connect gave it the unicast source
// address), nor one connected to an IPv4 peer.
func fanEntry6Of(s *Socket) (fanEntry6, bool) {
	if s.closed || s.proto != UDP || s.family != IPv6 || s.local.Port() == 0 {
		return fanEntry6{}, false
	}
	a := s.local.Addr()
	if a.Is4In6() || !a.IsUnspecified() && !a.IsMulticast() {
		return fanEntry6{}, false
	}
	e := fanEntry6{s: s}
	if a.IsMulticast() {
		e.local = a.As16()
	}
	if r := s.remote; r.IsValid() {
		ra := r.Addr()
		if ra.Is4() || ra.Is4In6() {
			return fanEntry6{}, false
		}
		e.remote, e.rport = ra.As16(), r.Port()
	}
	return e, true
}

// isBroadcast reports whether a is 255.255.255.255 or the directed
// broadcast address of one of the table's prefixes.
func (t *Table) isBroadcast(a [4]byte) bool {
	return a == [4]byte{255, 255, 255, 255} || slices.Contains(t.bcast4, a)
}

// fanout builds the per-port fan-out lists from the bound sockets (IPv4
// destinations, IPv6 groups), oldest socket first, and the longest list's
// length. Called with t.mu held, from publish.
func (t *Table) fanout() (map[uint16][]fanEntry, map[uint16][]fanEntry6, int) {
	fan := map[uint16][]fanEntry{}
	fan6 := map[uint16][]fanEntry6{}
	for s := range t.bound {
		p := s.local.Port()
		if e, ok := t.fanEntry(s); ok {
			fan[p] = append(fan[p], e)
		}
		if e, ok := fanEntry6Of(s); ok {
			fan6[p] = append(fan6[p], e)
		}
	}
	longest := 0
	for _, es := range fan {
		slices.SortFunc(es, func(x, y fanEntry) int { return cmp.Compare(x.s.id, y.s.id) })
		longest = max(longest, len(es))
	}
	for _, es := range fan6 {
		slices.SortFunc(es, func(x, y fanEntry6) int { return cmp.Compare(x.s.id, y.s.id) })
		longest = max(longest, len(es))
	}
	return fan, fan6, longest
}

// IsFanout reports whether a datagram with key k (arrival order) goes to
// every matching socket rather than one: UDP over IPv4 to a multicast
// group (224.0.0.0/4), to 255.255.255.255, or to the directed broadcast
// address of one of Config.Addrs' IPv4 prefixes shorter than /31 (the
// kernel's RTCF_MULTICAST and RTCF_BROADCAST); UDP over IPv6 to a
// multicast group (ff00::/8). The network address is not a broadcast
// address: Linux stopped adding a broadcast route for it. Lock-free and
// allocation-free.
func (t *Table) IsFanout(k *flowtable.Key) bool {
	if Proto(k.Proto) != UDP {
		return false
	}
	if k.Family == flowtable.FamilyIPv6 {
		return k.Dst[0] == 0xff
	}
	if k.Family != flowtable.FamilyIPv4 {
		return false
	}
	d := [4]byte(k.Dst[12:])
	return d[0]&0xf0 == 0xe0 || t.isBroadcast(d)
}

// LookupAll appends to out every socket that takes a copy of the UDP
// datagram with key k (arrival order: Src is the sender) and reports true,
// when IsFanout(k); otherwise it returns out unchanged and false, and the
// caller uses Lookup. As Linux's __udp4_lib_mcast_deliver, a socket takes
// a copy when it is a UDP socket on port k.DstPort whose receive address
// is the wildcard (0.0.0.0, a dual-stack ::, ::ffff:0.0.0.0) or equals the
// destination, and which, if connected, is connected to k's source
// address and port. Every member of a SO_REUSEPORT group takes a copy; a
// socket bound to a unicast address, an IPV6_V6ONLY socket and a socket
// connected from a wildcard bind (its receive address became the unicast
// source) take none. An empty result is a silent drop: Linux sends no ICMP
// port unreachable for a broadcast or multicast.
//
// For an IPv6 group (__udp6_lib_mcast_deliver), a socket takes a copy
// when it is an IPv6 UDP socket on port k.DstPort whose receive address is
// :: or the group, and which, if connected, is connected to k's source
// address and port; IPv4 sockets, and IPv6 ones on a unicast or v4-mapped
// address, take none.
//
// Multicast group membership is not checked here: Linux delivers a group's
// datagram to such a socket when the host joined the group on the
// receiving interface and the socket's own filter allows the source
// (ip_mc_sf_allow: with IP_MULTICAST_ALL, the default, a socket that
// joined nothing takes every group the host joined). The caller applies
// that filter per socket.
//
// Bound: it appends at most MaxFanout() sockets (the largest number of
// UDP sockets on one port with a wildcard, broadcast or multicast receive
// address, per family). It allocates only when out lacks the capacity: a worker that
// keeps its slice across packets (out[:0]) allocates only when a port's
// fan-out exceeds every earlier one. Sockets come oldest first. Lock-free:
// it reads the published snapshot; safe for concurrent use.
func (t *Table) LookupAll(k *flowtable.Key, out []*Socket) ([]*Socket, bool) {
	if !t.IsFanout(k) {
		return out, false
	}
	snap := t.snap.Load() // pairs with Store in publish
	if k.Family == flowtable.FamilyIPv6 {
		for i, es := 0, snap.fan6[k.DstPort]; i < len(es); i++ {
			e := &es[i]
			if e.local != ([16]byte{}) && e.local != k.Dst {
				continue
			}
			if e.rport != 0 && (e.rport != k.SrcPort || e.remote != k.Src) {
				continue
			}
			out = append(out, e.s)
		}
		return out, true
	}
	d, src := [4]byte(k.Dst[12:]), [4]byte(k.Src[12:])
	es := snap.fan[k.DstPort]
	for i := range es {
		e := &es[i]
		if e.local != ([4]byte{}) && e.local != d {
			continue
		}
		if e.rport != 0 && (e.rport != k.SrcPort || e.remote != src) {
			continue
		}
		out = append(out, e.s)
	}
	return out, true
}

// MaxFanout returns the most sockets LookupAll can append for one
// datagram with the current sockets (0 when none takes broadcasts or
// multicasts, IPv4 or IPv6). It grows as sockets bind; a worker may size its slice by it.
func (t *Table) MaxFanout() int { return t.snap.Load().maxFan }
