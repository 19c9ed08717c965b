package engine

import (
	"cmp"
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
	for _, w := range e.workers {
		w.neighOut.Store(nil)
		w.neighReq.Store(true)
		w.wake()
	}
	var out []NeighborEntry
	deadline := time.Now().Add(publishWait)
	for _, w := range e.workers {
		for w.neighReq.Load() && time.Now().Before(deadline) && e.state.Load() == stateRunning {
			time.Sleep(100 * time.Microsecond)
		}
		if p := w.neighOut.Load(); p != nil {
			out = append(out, *p...)
		}
	}
	slices.SortFunc(out, func(a, b NeighborEntry) int {
		return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Queue, b.Queue))
	})
	return out
}

// listNeighbors publishes the worker's ARP table for Neighbors.
func (w *worker) listNeighbors() {
	var out []NeighborEntry
	for _, n := range w.arpTab.List(nil) {
		ne := NeighborEntry{Queue: w.queue, Addr: netip.AddrFrom4(n.IP), State: n.State.String(), Queued: n.Queued}
		if n.State != arp.Incomplete && n.State != arp.Failed {
			ne.MAC = net.HardwareAddr(n.MAC[:])
		}
		if n.Updated != 0 {
			ne.Confirmed = time.Duration(w.now - n.Updated)
		}
		out = append(out, ne)
	}
	w.neighOut.Store(&out) // pairs with the Load in Neighbors, after neighReq clears
	w.neighReq.Store(false)
}
