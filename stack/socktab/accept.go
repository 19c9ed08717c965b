package socktab

import (
	"net/netip"
	"syscall"

	"github.com/xdpengine/engine/flowtable"
)

// Accept registers a connection that the TCP listener ln accepted (Linux
// creates the child socket when the handshake completes). k is its
// arrival-order key: Src the peer, Dst the local address and ln's port.
//
// The child is what Linux's is: it shares the listener's port (the bind
// bucket) and copies its options (SO_REUSEADDR, SO_REUSEPORT and its Owner,
// V6Only), so the port stays taken while it lives, also after ln is
// closed: a new bind or listen on that address and port gets EADDRINUSE
// unless both sockets set SO_REUSEADDR (the child never listens) or
// SO_REUSEPORT with the same owner. It is ESTABLISHED; SetState moves it
// on, and StateTimeWait relaxes the SO_REUSEPORT owner check. Lookup finds
// it by exact 5-tuple. Close it when the connection is gone (after
// TIME-WAIT); ReleaseTuple lets a new connection take its tuple earlier.
//
// The engine registers its accepted connections when their listener
// closes (before the listener's own entry goes), with HoldAccepted; a
// child outlives ln, as in Linux. ln may have been closed since: its child
// is still taken.
//
// Errors: ln never listened, or does not take k (EINVAL); the 5-tuple
// already registered (EADDRINUSE: close the old connection, e.g. a
// TIME-WAIT being reused, first).
func (t *Table) Accept(ln *Socket, k flowtable.Key, endpoint any) (*Socket, error) {
	return t.accept(ln, k, endpoint, true)
}

// HoldAccepted is Accept for a transport that demultiplexes its
// connections itself (the engine's TCP workers find them in their own flow
// tables): the child holds its port and its 5-tuple against bind, listen
// and connect exactly as with Accept, but Lookup does not return it. That
// saves the copy-on-write update of the lookup table twice per connection
// (here and at Close), which is most of what registering costs.
func (t *Table) HoldAccepted(ln *Socket, k flowtable.Key, endpoint any) (*Socket, error) {
	return t.accept(ln, k, endpoint, false)
}

func (t *Table) accept(ln *Socket, k flowtable.Key, endpoint any, lookup bool) (*Socket, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	local, remote := k.DstAddrPort(), k.SrcAddrPort()
	switch {
	case ln.proto != TCP || ln.state != StateListen:
		return nil, ln.opErr("accept", local, syscall.EINVAL, "not a listening TCP socket: a connection is accepted by an open listener")
	case Proto(k.Proto) != TCP || local.Port() != ln.local.Port() || !ln.takes(local.Addr()):
		return nil, ln.opErr("accept", local, syscall.EINVAL, "the connection's local address and port are not the listener's")
	}
	la, ra := local.Addr(), remote.Addr()
	if ln.family == IPv6 && la.Is4() {
		la, ra = netip.AddrFrom16(la.As16()), netip.AddrFrom16(ra.As16())
	}
	t.nextID++
	c := &Socket{
		id: t.nextID, proto: TCP, family: ln.family, endpoint: endpoint, bucketIdx: -1,
		opts: ln.opts, state: StateEstablished,
		local: netip.AddrPortFrom(la, local.Port()), remote: netip.AddrPortFrom(ra, remote.Port()),
		tuple: k,
	}
	a := t.alloc[TCP]
	sh, err := a.Reserve(k)
	if err != nil {
		return nil, c.opErr("accept", c.local, syscall.EADDRINUSE, "this connection's 5-tuple is already in the table: close the old socket (a TIME-WAIT being reused) first")
	}
	c.shard, c.hasTuple = int32(sh), true
	a.Hold(local.Port()) // automatic connects skip the port, as they skip a bind bucket
	c.held = true
	t.addBucket(c)
	if lookup {
		t.exact.Put(k, c)
	}
	return c, nil
}

// takes reports whether listener ln receives traffic to the local address
// a (an unmapped IPv4 address, or IPv6).
func (s *Socket) takes(a netip.Addr) bool {
	l := s.local.Addr()
	if s.family == IPv4 {
		return a.Is4() && (l.IsUnspecified() || l == a)
	}
	if a.Is4() {
		return !s.opts.V6Only && (l == netip.IPv6Unspecified() || l == v4MappedAny || l.Unmap() == a)
	}
	return l == netip.IPv6Unspecified() || l == a
}

// ReleaseTuple lets a new connection take s's 5-tuple while s lingers in
// TIME-WAIT (Linux's tcp_tw_reuse): the allocator and the exact table
// forget the tuple, but s keeps its port against bind and listen until
// Close. Lookup no longer returns s. Connections only; otherwise a no-op.
func (t *Table) ReleaseTuple(s *Socket) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !s.closed {
		t.dropTuple(s)
	}
}

// Shard returns the shard (worker) that owns s's connection, -1 when s is
// not connected.
func (t *Table) Shard(s *Socket) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !s.remote.IsValid() || s.closed {
		return -1
	}
	return int(s.shard)
}
