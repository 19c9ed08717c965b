package socktab

import (
	"fmt"
	"syscall"
)

// SetHome gives s a home worker (a negative worker: none, the default).
// Within a SO_REUSEPORT group, LookupOn(k, w) spreads the flows arriving on
// worker w over the members homed on w when there are any: an
// application that runs one socket per worker (Linux's SO_INCOMING_CPU
// pattern) then reads what its own worker received, without a hand-over
// between workers. Members without a home, and workers with no homed
// member, share the rest as before. The home changes nothing outside a
// SO_REUSEPORT group, nor for connected sockets (found by exact 5-tuple)
// or broadcast and multicast fan-out (every member gets a copy).
//
// Linux scans the group from the hashed member for one whose
// sk_incoming_cpu matches (reuseport_select_sock_by_hash), so its flows
// crowd onto the first matching member after the hash; hashing among the
// homed members spreads them evenly instead.
//
// A worker at or past the number of workers (the portalloc shards) is
// EINVAL, as is a closed socket (EBADF). Control plane: it takes the
// table's lock and republishes the snapshot when s is a receiver (a TCP
// listener or an unconnected UDP socket).
func (t *Table) SetHome(s *Socket, worker int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.closed {
		return s.opErr("setsockopt", s.local, syscall.EBADF, "the socket is closed")
	}
	if n := t.alloc[s.proto].Shards(); worker >= n {
		return s.opErr("setsockopt", s.local, syscall.EINVAL, fmt.Sprintf("worker %d out of range: the engine has %d workers (0..%d); -1 takes the home back", worker, n, n-1))
	}
	var h int32
	if worker >= 0 {
		h = int32(worker) + 1
	}
	if s.home == h {
		return nil
	}
	s.home = h
	if s.receiver() {
		t.publish()
	}
	return nil
}

// Home returns s's home worker, -1 when it has none.
func (t *Table) Home(s *Socket) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return int(s.home) - 1
}

// homesOf indexes the members of a SO_REUSEPORT group by home worker, in
// group order; nil when no member has a home. Its length is one past the
// highest home, so the snapshot costs a slice header per worker up to it.
func homesOf(members []*Socket) [][]*Socket {
	n := 0
	for _, s := range members {
		n = max(n, int(s.home))
	}
	if n == 0 {
		return nil
	}
	homes := make([][]*Socket, n)
	for _, s := range members {
		if s.home > 0 {
			homes[s.home-1] = append(homes[s.home-1], s)
		}
	}
	return homes
}
