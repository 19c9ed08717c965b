package inet6

import (
	"cmp"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/xdpengine/engine/ndp"
	"github.com/xdpengine/engine/stack/datapath"
)

// NeighborEntry is one worker's neighbor cache entry for an address, as
// `ip -6 neigh` lists it. Each worker keeps its own cache.
type NeighborEntry struct {
	Queue  int              // the worker's queue
	Addr   netip.Addr       // the neighbor
	MAC    net.HardwareAddr // nil while INCOMPLETE
	State  string           // INCOMPLETE, REACHABLE, STALE, DELAY, PROBE, PERMANENT
	Router bool             // the neighbor is a router (IsRouter)
	Queued int              // datagrams waiting for the answer
	// Confirmed is how long ago the address was last confirmed; zero
	// when never.
	Confirmed time.Duration
}

// Neighbors lists the workers' neighbor caches (waiting up to timeout for
// the workers), sorted by address then queue.
func (h *Host) Neighbors(timeout time.Duration) []NeighborEntry {
	dps := make([]*datapath.Worker, 0, len(h.layers))
	for _, l := range h.layers {
		if l.dp != nil {
			dps = append(dps, l.dp)
		}
	}
	var out []NeighborEntry
	for _, r := range datapath.Gather(dps, func(dp *datapath.Worker) any {
		return h.layers[dp.Queue()].listNeighbors()
	}, timeout) {
		if l, ok := r.([]NeighborEntry); ok {
			out = append(out, l...)
		}
	}
	slices.SortFunc(out, func(a, b NeighborEntry) int {
		return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Queue, b.Queue))
	})
	return out
}

// listNeighbors lists the worker's cache (worker goroutine).
func (l *Layer) listNeighbors() []NeighborEntry {
	var out []NeighborEntry
	for _, n := range l.cache.List(nil) {
		ne := NeighborEntry{Queue: l.queue, Addr: netip.AddrFrom16(n.IP), State: n.State.String(),
			Router: n.IsRouter, Queued: n.Queued}
		if n.State != ndp.Incomplete {
			ne.MAC = net.HardwareAddr(n.MAC[:])
		}
		if n.Updated != 0 {
			ne.Confirmed = time.Duration(l.Now() - n.Updated)
		}
		out = append(out, ne)
	}
	return out
}
