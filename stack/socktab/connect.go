package socktab

import (
	"errors"
	"net/netip"
	"syscall"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/portalloc"
)

// Connect is connect(2): it fixes the peer, chooses the local address
// (the bound one, else an owned address of the peer's family, preferring one
// whose prefix holds the peer) and the local port, and makes the 5-tuple
// unique. shard is the caller's worker: an automatically chosen port is
// taken from its portalloc shard when it has one, so that the replies
// steer to it, else from another worker's shard (see ConnectShard).
//
// Ports: a socket bound to a port keeps it (EADDRNOTAVAIL if that exact
// tuple exists); otherwise TCP takes a port that may be shared with
// connections to other destinations (Linux's __inet_hash_connect, and
// IP_BIND_ADDRESS_NO_PORT after bind(addr, 0)), and UDP takes a port no
// other socket uses, as Linux's autobind does. When the range is used up,
// TCP fails with EADDRNOTAVAIL and UDP with EAGAIN, as Linux does.
func (t *Table) Connect(s *Socket, shard int, remote netip.AddrPort) (netip.AddrPort, error) {
	local, _, err := t.ConnectShard(s, shard, remote)
	return local, err
}

// ConnectShard is Connect that also returns the shard (worker) that owns
// the connection: the one its replies steer to. For an automatically chosen
// port it is shard unless that worker's share toward the peer was used up
// and another worker's had room; for a bound port it is wherever the tuple
// steers. The caller must make the connection owned by that worker.
func (t *Table) ConnectShard(s *Socket, shard int, remote netip.AddrPort) (netip.AddrPort, int, error) {
	return t.connectShard(s, shard, remote, true)
}

// ConnectUnlisted is ConnectShard for a transport that demultiplexes its
// connections itself (the engine's TCP workers find them in their own
// flow tables), as HoldAccepted is Accept for it: the socket holds its
// port and its 5-tuple against bind, listen and connect exactly as with
// Connect, but Lookup does not return it. That saves the copy-on-write
// update of the exact table at connect and at close (an allocation of 80
// bytes or more at each: with a million connections open, memory fresh
// from the operating system; and with a million dialed, a copy of a shard
// of some 250 entries).
func (t *Table) ConnectUnlisted(s *Socket, shard int, remote netip.AddrPort) (netip.AddrPort, int, error) {
	return t.connectShard(s, shard, remote, false)
}

func (t *Table) connectShard(s *Socket, shard int, remote netip.AddrPort, lookup bool) (netip.AddrPort, int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.unlisted = !lookup
	local, err := t.connect(s, shard, remote)
	if err != nil {
		return netip.AddrPort{}, -1, err
	}
	return local, int(s.shard), nil
}

func (t *Table) connect(s *Socket, shard int, remote netip.AddrPort) (netip.AddrPort, error) {
	if s.closed {
		return netip.AddrPort{}, s.opErr("connect", remote, syscall.EBADF, "the socket is closed")
	}
	if s.remote.IsValid() || s.state == StateListen {
		return netip.AddrPort{}, s.opErr("connect", remote, syscall.EISCONN, "the socket is already connected or listening; open a new socket")
	}
	ra := remote.Addr()
	switch {
	case !ra.IsValid() || ra.IsUnspecified() || remote.Port() == 0:
		return netip.AddrPort{}, s.opErr("connect", remote, syscall.EINVAL, "the peer needs an address and a non-zero port")
	case s.family == IPv4 && !ra.Is4():
		return netip.AddrPort{}, s.opErr("connect", remote, syscall.EAFNOSUPPORT, "an IPv4 socket connects to IPv4 peers; open an IPv6 socket")
	case s.family == IPv6 && ra.Is4():
		return netip.AddrPort{}, s.opErr("connect", remote, syscall.EAFNOSUPPORT, "an IPv6 socket takes IPv4 peers in v4-mapped form (::ffff:a.b.c.d)")
	case s.family == IPv6 && ra.Is4In6() && s.opts.V6Only:
		return netip.AddrPort{}, s.opErr("connect", remote, syscall.ENETUNREACH, "an IPV6_V6ONLY socket cannot reach an IPv4 peer; clear V6Only")
	}
	if shard < 0 || shard >= t.alloc[s.proto].Shards() {
		return netip.AddrPort{}, s.opErr("connect", remote, syscall.EINVAL, "shard out of range: pass the calling worker's index")
	}
	peer := ra.Unmap()
	local := s.local.Addr()
	if !local.IsValid() || isWildcard(local) {
		src, ok := t.source(peer)
		if !ok {
			return netip.AddrPort{}, s.opErr("connect", remote, syscall.ENETUNREACH, "the engine owns no address of the peer's family: add one to Config.Addrs")
		}
		local = src
	} else {
		local = local.Unmap()
	}
	if local.Is4() != peer.Is4() {
		return netip.AddrPort{}, s.opErr("connect", remote, syscall.EAFNOSUPPORT, "the bound address and the peer are of different families")
	}
	k := flowtable.KeyFrom(netip.AddrPortFrom(peer, remote.Port()), netip.AddrPortFrom(local, 0), uint8(s.proto))
	a := t.alloc[s.proto]
	if s.held {
		k.DstPort = s.local.Port()
		sh, err := a.Reserve(k)
		if err != nil {
			return netip.AddrPort{}, s.opErr("connect", remote, syscall.EADDRNOTAVAIL, "this local address:port is already connected to that peer: bind another port or let connect choose")
		}
		s.shard = int32(sh)
	} else {
		var p uint16
		var sh int
		var err error
		if s.proto == UDP {
			p, sh, err = a.ConnectExclusive(k, shard)
		} else {
			p, sh, err = a.Connect(k, shard)
		}
		switch {
		case err == nil:
		case errors.Is(err, portalloc.ErrExhausted) && s.proto == UDP:
			return netip.AddrPort{}, s.opErr("connect", remote, syscall.EAGAIN, "every port of the ephemeral range is taken by a UDP socket: widen it (Config.Ports.Range, SetPortRange) or close sockets")
		case errors.Is(err, portalloc.ErrExhausted):
			return netip.AddrPort{}, s.opErr("connect", remote, syscall.EADDRNOTAVAIL, "every port of the ephemeral range is connected to that peer: widen the range (Config.Ports.Range, SetPortRange), add a local address, or close connections to that peer")
		default:
			return netip.AddrPort{}, err
		}
		k.DstPort = p
		s.shard = int32(sh)
	}
	republish := s.receiver() || t.fanoutMember(s)
	la := local
	if s.family == IPv6 && local.Is4() {
		la = netip.AddrFrom16(local.As16())
	}
	s.local = netip.AddrPortFrom(la, k.DstPort)
	s.remote = remote
	s.tuple = k
	s.hasTuple = true
	if s.proto == TCP {
		s.state = StateSynSent
	} else {
		s.state = StateEstablished
	}
	t.addBucket(s)
	if t.fanoutMember(s) {
		// A connected UDP socket bound to a broadcast or multicast address
		// stays (or, after an IP_BIND_ADDRESS_NO_PORT bind, comes in): it
		// still takes broadcasts and multicasts from its peer.
		t.bound[s] = struct{}{}
		republish = true
	} else {
		delete(t.bound, s)
	}
	if !s.unlisted {
		t.exact.Put(k, s)
	}
	if republish {
		t.publish()
	}
	return s.local, nil
}

// source picks the local address for a peer: an owned address of its
// family whose prefix holds it, else the first of its family.
func (t *Table) source(peer netip.Addr) (netip.Addr, bool) {
	var first netip.Addr
	for _, p := range t.cfg.Addrs {
		a := p.Addr()
		if a.Is4() != peer.Is4() {
			continue
		}
		if p.Contains(peer) {
			return a, true
		}
		if !first.IsValid() {
			first = a
		}
	}
	return first, first.IsValid()
}
