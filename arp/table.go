package arp

import (
	"errors"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/handleq"
)

// State is a neighbor entry's state; see the package comment.
type State uint8

// Neighbor states.
const (
	Incomplete State = iota + 1
	Reachable
	Stale
	Delay
	Probe
	Failed
	Permanent
)

func (s State) String() string {
	switch s {
	case Incomplete:
		return "INCOMPLETE"
	case Reachable:
		return "REACHABLE"
	case Stale:
		return "STALE"
	case Delay:
		return "DELAY"
	case Probe:
		return "PROBE"
	case Failed:
		return "FAILED"
	case Permanent:
		return "PERMANENT"
	}
	return "NONE"
}

// Config holds the table's settings; zero fields take Linux's defaults.
type Config struct {
	MaxEntries  int   // gc_thresh3: 1024
	ReachableNs int64 // base_reachable_time_ms: 30 s
	DelayNs     int64 // delay_first_probe_time: 5 s
	RetransNs   int64 // retrans_time_ms: 1 s
	MaxProbes   int   // mcast_solicit / ucast_solicit: 3
	QueueLen    int   // packets waiting per INCOMPLETE entry: unres_qlen, 101
	QueueTotal  int   // packets waiting in all entries together: 256
}

// ErrTableFull: every entry is INCOMPLETE and MaxEntries are in use.
var ErrTableFull = errors.New("arp: neighbor table full")

// Stats counts the table's events.
type Stats struct {
	Requests   uint64 `json:"requests"`    // requests asked for (Tick and Lookup)
	QueueDrops uint64 `json:"queue_drops"` // packets refused by a full pending queue (the entry's or the table's)
	Failed     uint64 `json:"failed"`      // entries that went FAILED
	Evictions  uint64 `json:"evictions"`   // entries evicted to make room
	TableFull  uint64 `json:"table_full"`  // new addresses refused
}

type entry struct {
	ip      [4]byte
	mac     header.MAC
	state   State
	probes  int
	updated int64         // last confirmation
	used    int64         // last lookup
	timer   int64         // next state-machine deadline
	q       handleq.Queue // packets waiting
}

// Table is the neighbor table.
type Table struct {
	cfg     Config
	index   map[[4]byte]int32
	entries []entry
	free    []int32
	q       handleq.Pool // the nodes of the entries' queues, QueueTotal in all
	Stats   Stats
}

// NewTable returns an empty table.
func NewTable(cfg Config) *Table {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 1024
	}
	if cfg.ReachableNs <= 0 {
		cfg.ReachableNs = 30e9
	}
	if cfg.DelayNs <= 0 {
		cfg.DelayNs = 5e9
	}
	if cfg.RetransNs <= 0 {
		cfg.RetransNs = 1e9
	}
	if cfg.MaxProbes <= 0 {
		cfg.MaxProbes = 3
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 101
	}
	if cfg.QueueTotal <= 0 {
		cfg.QueueTotal = 256
	}
	t := &Table{cfg: cfg, index: make(map[[4]byte]int32, cfg.MaxEntries),
		entries: make([]entry, cfg.MaxEntries), free: make([]int32, 0, cfg.MaxEntries),
		q: handleq.NewPool(cfg.QueueTotal)}
	for i := cfg.MaxEntries - 1; i >= 0; i-- {
		t.free = append(t.free, int32(i))
	}
	return t
}

// Len returns the number of entries.
func (t *Table) Len() int { return len(t.index) }

// State returns the state of ip's entry (0 when there is none) and its MAC.
func (t *Table) State(ip [4]byte) (State, header.MAC) {
	i, ok := t.index[ip]
	if !ok {
		return 0, header.MAC{}
	}
	return t.entries[i].state, t.entries[i].mac
}

// Action tells the caller of Lookup what to do with its packet.
type Action uint8

// Lookup outcomes.
const (
	Send        Action = iota + 1 // the MAC is known: send now
	SendRequest                   // queued (if a handle was given): broadcast a request now
	Queued                        // queued: a request is already outstanding
	Drop                          // not queued (queue full or table full): drop, already counted
	RequestDrop                   // not queued (queue full): broadcast a request now, drop the packet
)

// Lookup resolves ip at now for a packet identified by handle (a frame
// address; pass hasHandle false to only resolve). See Action.
func (t *Table) Lookup(now int64, ip [4]byte, handle uint64, hasHandle bool) (header.MAC, Action) {
	i, ok := t.index[ip]
	if !ok {
		var err error
		if i, err = t.insert(now, ip); err != nil {
			t.Stats.TableFull++
			return header.MAC{}, Drop
		}
		e := &t.entries[i]
		e.state, e.probes, e.timer = Incomplete, 1, now+t.cfg.RetransNs
		t.Stats.Requests++
		if hasHandle && !t.enqueue(e, handle) {
			return header.MAC{}, RequestDrop
		}
		return header.MAC{}, SendRequest
	}
	e := &t.entries[i]
	e.used = now
	switch e.state {
	case Reachable, Delay, Probe, Permanent:
		return e.mac, Send
	case Stale:
		e.state, e.timer = Delay, now+t.cfg.DelayNs
		return e.mac, Send
	case Failed:
		e.state, e.probes, e.timer = Incomplete, 1, now+t.cfg.RetransNs
		t.Stats.Requests++
		if hasHandle && !t.enqueue(e, handle) {
			return header.MAC{}, RequestDrop
		}
		return header.MAC{}, SendRequest
	}
	// Incomplete
	if hasHandle && !t.enqueue(e, handle) {
		return header.MAC{}, Drop
	}
	return header.MAC{}, Queued
}

func (t *Table) enqueue(e *entry, h uint64) bool {
	if e.q.Len() >= t.cfg.QueueLen || !t.q.Push(&e.q, h) {
		t.Stats.QueueDrops++
		return false
	}
	return true
}

// drain empties e's queue, in arrival order, passing each waiting packet
// to fn when fn is not nil. The queue is detached first, so fn may use the
// table.
func (t *Table) drain(e *entry, fn func(handle uint64)) { t.q.Drain(&e.q, fn) }

// insert adds ip, evicting per the package's policy when full.
func (t *Table) insert(now int64, ip [4]byte) (int32, error) {
	if len(t.free) == 0 {
		victim := int32(-1)
		for j := range t.entries {
			e := &t.entries[j]
			if e.state == Failed {
				victim = int32(j)
				break
			}
			if e.state != Incomplete && e.state != Permanent && (victim < 0 || e.used < t.entries[victim].used) {
				victim = int32(j)
			}
		}
		if victim < 0 {
			return 0, ErrTableFull
		}
		t.Stats.Evictions++
		t.remove(victim)
	}
	i := t.free[len(t.free)-1]
	t.free = t.free[:len(t.free)-1]
	t.entries[i] = entry{ip: ip, used: now}
	t.index[ip] = i
	return i, nil
}

func (t *Table) remove(i int32) {
	delete(t.index, t.entries[i].ip)
	t.drain(&t.entries[i], nil) // only FAILED or resolved entries are removed: none wait
	t.entries[i].state = 0
	t.free = append(t.free, i)
}

// Update records that ip is at mac, learned at now. solicited marks a
// reply to our request (or an upper-layer confirmation): the entry becomes
// REACHABLE; otherwise an entry whose MAC changed becomes STALE, as Linux
// does for unsolicited information. create adds a STALE entry when none
// exists. Packets that waited for the address are passed to flush in
// arrival order.
func (t *Table) Update(now int64, ip [4]byte, mac header.MAC, solicited, create bool, flush func(handle uint64)) {
	i, ok := t.index[ip]
	if !ok {
		if !create {
			return
		}
		var err error
		if i, err = t.insert(now, ip); err != nil {
			t.Stats.TableFull++
			return
		}
		t.entries[i].state = Stale
		t.entries[i].mac = mac
		t.entries[i].updated = now
		return
	}
	e := &t.entries[i]
	if e.state == Permanent {
		return // set by the administrator; ARP does not change it (Linux: NUD_PERMANENT)
	}
	switch {
	case solicited:
		e.state, e.timer = Reachable, now+t.cfg.ReachableNs
		e.updated = now
	case e.state == Incomplete || e.state == Failed || e.mac != mac:
		e.state = Stale
		e.updated = now
	}
	e.mac = mac
	e.probes = 0
	t.drain(e, flush)
}

// Confirm marks ip reachable on an upper layer's word (Linux's
// neigh_confirm / dst_confirm), without changing its MAC.
func (t *Table) Confirm(now int64, ip [4]byte) {
	if i, ok := t.index[ip]; ok {
		e := &t.entries[i]
		if e.state != Incomplete && e.state != Failed && e.state != Permanent {
			e.state, e.timer, e.probes, e.updated = Reachable, now+t.cfg.ReachableNs, 0, now
		}
	}
}

// SetPermanent makes ip a PERMANENT entry at mac (Linux's `ip neigh
// replace ... nud permanent`): always used, never probed, aged or evicted,
// and not changed by ARP. Packets waiting for ip are passed to flush. It
// fails with ErrTableFull when every entry is INCOMPLETE or PERMANENT.
func (t *Table) SetPermanent(now int64, ip [4]byte, mac header.MAC, flush func(handle uint64)) error {
	i, ok := t.index[ip]
	if !ok {
		var err error
		if i, err = t.insert(now, ip); err != nil {
			t.Stats.TableFull++
			return err
		}
	}
	e := &t.entries[i]
	e.state, e.mac, e.probes, e.updated = Permanent, mac, 0, now
	t.drain(e, flush)
	return nil
}

// Tick advances every entry's timer to now. request is called for each
// request to send (broadcast when unicast is the zero MAC, otherwise a
// unicast probe to it); drop for each queued packet of an entry that
// failed.
func (t *Table) Tick(now int64, request func(ip [4]byte, unicast header.MAC), drop func(handle uint64)) {
	for j := range t.entries {
		e := &t.entries[j]
		if e.state == 0 || e.state == Stale || e.state == Failed || e.state == Permanent || now < e.timer {
			continue
		}
		switch e.state {
		case Reachable:
			e.state = Stale
		case Delay:
			e.state, e.probes, e.timer = Probe, 1, now+t.cfg.RetransNs
			t.Stats.Requests++
			if request != nil {
				request(e.ip, e.mac)
			}
		case Incomplete, Probe:
			if e.probes >= t.cfg.MaxProbes {
				e.state = Failed
				t.Stats.Failed++
				t.drain(e, drop)
				continue
			}
			e.probes++
			e.timer = now + t.cfg.RetransNs
			t.Stats.Requests++
			if request != nil {
				var u header.MAC
				if e.state == Probe {
					u = e.mac
				}
				request(e.ip, u)
			}
		}
	}
}

// Neighbor is one entry of a table listing.
type Neighbor struct {
	IP      [4]byte
	MAC     header.MAC // zero while INCOMPLETE
	State   State
	Queued  int   // packets waiting for the answer
	Updated int64 // last confirmation (0: never)
	Used    int64 // last lookup
}

// List appends every entry to out, in no particular order.
func (t *Table) List(out []Neighbor) []Neighbor {
	for _, i := range t.index {
		e := &t.entries[i]
		out = append(out, Neighbor{IP: e.ip, MAC: e.mac, State: e.state, Queued: e.q.Len(), Updated: e.updated, Used: e.used})
	}
	return out
}
