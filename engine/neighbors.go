package engine

import (
	"cmp"
	"github.com/xdpengine/engine/stack/datapath"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/xdpengine/engine/arp"
)

// NeighborEntry is one worker's ARP entry for an address, as `ip neigh`
// lists it. Each worker keeps its own table, so an address a worker never
// sent to is absent from its listing.
type NeighborEntry struct {
	Queue  int              // the worker's queue
	Addr   netip.Addr       // the neighbour
	MAC    net.HardwareAddr // nil while INCOMPLETE
	State  string           // INCOMPLETE, REACHABLE, STALE, DELAY, PROBE, FAILED, PERMANENT
	Queued int              // datagrams waiting for the answer
	// Confirmed is how long ago the address was last confirmed (by an ARP
	// reply or by TCP's forward progress); zero when never.
	Confirmed time.Duration
}

// Neighbors lists the workers' ARP tables (waiting up to publishWait for
// each), sorted by address then queue; nothing while the engine does not
// run.
func (e *Engine) Neighbors() []NeighborEntry {
	if e.state.Load() != stateRunning {
		return nil
	}
	var out []NeighborEntry
	for _, r := range datapath.Gather(e.dps(), func(dp *datapath.Worker) any {
		return e.workers[dp.Queue()].listNeighbors()
	}, publishWait) {
		if l, ok := r.([]NeighborEntry); ok {
			out = append(out, l...)
		}
	}
	slices.SortFunc(out, func(a, b NeighborEntry) int {
		return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Queue, b.Queue))
	})
	return out
}

// listNeighbors lists the worker's ARP table for Neighbors.
func (w *worker) listNeighbors() []NeighborEntry {
	var out []NeighborEntry
	for _, n := range w.arpTab.List(nil) {
		ne := NeighborEntry{Queue: w.queue, Addr: netip.AddrFrom4(n.IP), State: n.State.String(), Queued: n.Queued}
		if n.State != arp.Incomplete && n.State != arp.Failed {
			ne.MAC = net.HardwareAddr(n.MAC[:])
		}
		if n.Updated != 0 {
			ne.Confirmed = time.Duration(w.now() - n.Updated)
		}
		out = append(out, ne)
	}
	return out
}
