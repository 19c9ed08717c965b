package lb

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// The registries number the VIPs and backends for the IPv4 connection
// table (conntrack4.go), whose entries hold 8 bytes of value: a 16-bit
// slot names a backend or a VIP where a pointer would need a record
// behind the entry, and a second cache line a lookup.
//
// A slot stays with its VIP (by key) or backend (by VIP key, address, port
// and MAC: what its flows' packets are rewritten with) across
// configurations: build hands each new object the tracked of the previous
// configuration's object of the same identity, and publish points the
// slot at the new object. An object that leaves the configuration is
// retired; its slot is freed once no tracked flow names it. Flows count
// themselves in their VIP's and backend's live counts (per worker, owner
// only): a worker adds one, then checks retired; the reclaimer sets
// retired, then reads the counts. With sequentially consistent atomics
// either the reclaimer sees the flow or the worker sees retired and
// refuses the flow, so a freed slot is named by no flow. A reader on
// another worker that races with a flow's removal and the reuse of its
// slot by a SetConfig may send that one packet by the slot's new
// occupant.

// registrySlots is how many VIPs, and how many backends, can be named at
// once (the configured ones and the removed ones that still have flows).
const registrySlots = 1 << 16

// errRegistryFull: more VIPs or backends than registrySlots.
var errRegistryFull = errors.New("too many VIPs or backends at once (65536 each, removed ones with flows included)")

// tracked is what the versions of one VIP or backend share: its slot, its
// retirement and its flows.
type tracked struct {
	slot    uint16
	retired atomic.Bool
	live    []liveCount // tracked IPv4 flows naming it, per worker
}

// liveCount is one worker's count, on a cache line of its own.
type liveCount struct {
	n atomic.Int64
	_ [56]byte
}

// flows returns the number of tracked flows naming t.
func (t *tracked) flows() int64 {
	var n int64
	for i := range t.live {
		n += t.live[i].n.Load()
	}
	return n
}

// claim counts a new flow of worker q naming t, unless t is retired
// (false: the flow must not be created).
func (t *tracked) claim(q int) bool {
	t.live[q].n.Add(1)
	if t.retired.Load() {
		t.live[q].n.Add(-1)
		return false
	}
	return true
}

// release uncounts a flow of worker q.
func (t *tracked) release(q int) { t.live[q].n.Add(-1) }

// registry maps slots to the current object of each VIP or backend. get
// is safe from any goroutine; the rest runs under Balancer.mu.
type registry[T any] struct {
	slots   []atomic.Pointer[T]
	free    []uint16
	next    int        // slots below next have been handed out
	retired []*tracked // waiting for their flows to end
}

func newRegistry[T any]() *registry[T] {
	return &registry[T]{slots: make([]atomic.Pointer[T], registrySlots)}
}

// get returns slot s's object (nil if free).
func (r *registry[T]) get(s uint16) *T { return r.slots[s].Load() }

// track gives a new object a tracked with a free slot, for workers
// workers; nil when every slot is taken.
func (r *registry[T]) track(workers int) *tracked {
	var s uint16
	switch {
	case len(r.free) > 0:
		s = r.free[len(r.free)-1]
		r.free = r.free[:len(r.free)-1]
	case r.next < len(r.slots):
		s = uint16(r.next)
		r.next++
	default:
		r.reclaim()
		if len(r.free) == 0 {
			return nil
		}
		return r.track(workers)
	}
	return &tracked{slot: s, live: make([]liveCount, workers)}
}

// untrack gives back the slot of a tracked whose object never went live
// (a configuration that failed after build).
func (r *registry[T]) untrack(t *tracked) {
	if r.slots[t.slot].Load() == nil {
		r.free = append(r.free, t.slot)
	}
}

// publish points t's slot at p.
func (r *registry[T]) publish(t *tracked, p *T) { r.slots[t.slot].Store(p) }

// retire marks t retired (it left the configuration); a reclaim frees
// its slot once no flow names it.
func (r *registry[T]) retire(t *tracked) {
	t.retired.Store(true)
	r.retired = append(r.retired, t)
}

// reclaim frees the slots of retired objects without flows.
func (r *registry[T]) reclaim() {
	keep := r.retired[:0]
	for _, t := range r.retired {
		if t.flows() != 0 {
			keep = append(keep, t)
			continue
		}
		r.slots[t.slot].Store(nil)
		r.free = append(r.free, t.slot)
	}
	clear(r.retired[len(keep):])
	r.retired = keep
}

// assign gives st's VIPs and backends their tracked: the previous
// configuration's of the same identity, or a new slot. Under b.mu. On
// error nothing is assigned.
func (b *Balancer) assign(st *state) error {
	prev := map[string]*vip{}
	if old := b.cur.Load(); old != nil {
		for v := range old.all() {
			prev[v.key] = v
		}
	}
	n := len(b.fwds)
	for v := range st.all() {
		ov := prev[v.key]
		if ov != nil {
			v.tr = ov.tr
		} else if v.tr = b.vipReg.track(n); v.tr == nil {
			b.discard(st)
			return fmt.Errorf("lb: VIP %s: %w: %w", v.key, errRegistryFull, ErrConfig)
		}
		for _, nb := range v.backends {
			if ob := ov.sameBackend(nb); ob != nil {
				nb.tr = ob.tr
			} else if nb.tr = b.beReg.track(n); nb.tr == nil {
				b.discard(st)
				return fmt.Errorf("lb: VIP %s: backend %v: %w: %w", v.key, nb.ip, errRegistryFull, ErrConfig)
			}
		}
	}
	return nil
}

// sameBackend returns v's backend of be's identity (address, port and
// MAC: what a flow's packets are rewritten with), or nil (also for a nil
// v).
func (v *vip) sameBackend(be *backend) *backend {
	if v == nil {
		return nil
	}
	for _, ob := range v.backends {
		if ob.ip == be.ip && ob.port == be.port && ob.mac == be.mac {
			return ob
		}
	}
	return nil
}

// discard gives back the slots assign took for st that were never
// published (st did not go live). Under b.mu.
func (b *Balancer) discard(st *state) {
	for v := range st.all() {
		if v.tr != nil {
			b.vipReg.untrack(v.tr)
		}
		for _, be := range v.backends {
			if be.tr != nil {
				b.beReg.untrack(be.tr)
			}
		}
	}
}

// publish points the slots of st's VIPs and backends at them and retires
// the previous configuration's that st does not keep; then frees the
// slots of retired ones whose flows ended. Under b.mu, before st is
// stored.
func (b *Balancer) publish(st *state) {
	keep := map[*tracked]bool{}
	for v := range st.all() {
		b.vipReg.publish(v.tr, v)
		keep[v.tr] = true
		for _, be := range v.backends {
			b.beReg.publish(be.tr, be)
			keep[be.tr] = true
		}
	}
	if old := b.cur.Load(); old != nil {
		for v := range old.all() {
			if !keep[v.tr] {
				b.vipReg.retire(v.tr)
			}
			for _, be := range v.backends {
				if !keep[be.tr] {
					b.beReg.retire(be.tr)
				}
			}
		}
	}
	b.vipReg.reclaim()
	b.beReg.reclaim()
}
