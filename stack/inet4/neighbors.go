package inet4

import (
	"cmp"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/xdpengine/engine/arp"
	"github.com/xdpengine/engine/stack/datapath"
)

// NeighborEntry is one worker's ARP entry for an address, as `ip neigh`
// lists it. Each worker keeps its own table, so an address a worker never
// sent to is absent from its listing.
type NeighborEntry struct {
	Queue  int              // the worker's queue
	Addr   netip.Addr       // the neighbor
	MAC    net.HardwareAddr // nil while INCOMPLETE
	State  string           // INCOMPLETE, REACHABLE, STALE, DELAY, PROBE, FAILED, PERMANENT
	Queued int              // datagrams waiting for the answer
	// Confirmed is how long ago the address was last confirmed (by an ARP
	// reply or by TCP's forward progress); zero when never.
	Confirmed time.Duration
}

// Neighbors lists the workers' ARP tables (waiting up to timeout for the
// workers), sorted by address then queue.
func (h *Host) Neighbors(timeout time.Duration) []NeighborEntry {
	dps := make([]*datapath.Worker, len(h.layers))
	for i, l := range h.layers {
		dps[i] = l.dp
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

// listNeighbors lists the worker's ARP table (worker goroutine).
func (l *Layer) listNeighbors() []NeighborEntry {
	var out []NeighborEntry
	for _, n := range l.arpTab.List(nil) {
		ne := NeighborEntry{Queue: l.queue, Addr: netip.AddrFrom4(n.IP), State: n.State.String(), Queued: n.Queued}
		if n.State != arp.Incomplete && n.State != arp.Failed {
			ne.MAC = net.HardwareAddr(n.MAC[:])
		}
		if n.Updated != 0 {
			ne.Confirmed = time.Duration(l.Now() - n.Updated)
		}
		out = append(out, ne)
	}
	return out
}
