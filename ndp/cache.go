package ndp

import (
	"errors"
	"math/rand/v2"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/handleq"
)

// State is a neighbor entry's reachability state (RFC 4861 7.3.2).
type State uint8

// Neighbor states. An entry whose resolution fails is removed (RFC
// 4861's "the entry SHOULD be deleted"), so there is no FAILED state.
const (
	Incomplete State = iota + 1
	Reachable
	Stale
	Delay
	Probe
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
	case Permanent:
		return "PERMANENT"
	}
	return "NONE"
}

// Rand is the randomness of ReachableTime and of the DAD nonces and
// delays: a *math/rand/v2.Rand fits.
type Rand interface {
	Int64N(n int64) int64
}

type globalRand struct{}

func (globalRand) Int64N(n int64) int64 { return rand.Int64N(n) }

// Config holds the cache's settings; zero fields take RFC 4861 10's
// values (Linux's defaults).
type Config struct {
	MaxEntries          int   // entries in all (Linux gc_thresh3: 1024)
	MaxLearned          int   // entries created by received messages and never used (MaxEntries/2)
	BaseReachableNs     int64 // BaseReachableTime: 30 s
	RecomputeNs         int64 // how often ReachableTime is drawn again (Linux: 300 s)
	DelayNs             int64 // DELAY_FIRST_PROBE_TIME: 5 s
	RetransNs           int64 // RetransTimer: 1 s
	MaxMulticastSolicit int   // MAX_MULTICAST_SOLICIT: 3
	MaxUnicastSolicit   int   // MAX_UNICAST_SOLICIT: 3
	QueueLen            int   // packets waiting per INCOMPLETE entry (Linux unres_qlen: 101)
	QueueTotal          int   // packets waiting in all entries together: 256
	Rand                Rand  // nil: math/rand/v2's global source
}

// ErrTableFull: every entry is INCOMPLETE or PERMANENT and MaxEntries are
// in use.
var ErrTableFull = errors.New("ndp: neighbor cache full")

// Stats counts the cache's events.
type Stats struct {
	Solicits     uint64 // solicitations asked for (Tick and Lookup)
	QueueDrops   uint64 // packets refused by a full pending queue
	Failed       uint64 // resolutions that failed (the entry was removed)
	Evictions    uint64 // entries evicted to make room
	TableFull    uint64 // new addresses refused: the cache is full
	LearnRefused uint64 // entries a received message would have created, refused (MaxLearned)
}

type entry struct {
	ip      [16]byte
	mac     header.MAC
	state   State
	router  bool
	learned bool // created by a received message and not looked up since
	probes  int
	updated int64         // last confirmation
	used    int64         // last lookup
	timer   int64         // next state-machine deadline
	q       handleq.Queue // packets waiting
}

// Cache is the neighbor cache of one interface.
type Cache struct {
	cfg       Config
	rnd       Rand
	index     map[[16]byte]int32
	entries   []entry
	free      []int32
	learned   int
	q         handleq.Pool // the nodes of the entries' queues, QueueTotal in all
	reachable int64        // ReachableTime in use
	base      int64        // BaseReachableTime in use
	recompute int64        // when ReachableTime is drawn again
	Stats     Stats
}

// NewCache returns an empty cache.
func NewCache(cfg Config) *Cache {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def64 := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxEntries, 1024)
	def(&cfg.MaxLearned, max(cfg.MaxEntries/2, 1))
	def64(&cfg.BaseReachableNs, 30e9)
	def64(&cfg.RecomputeNs, 300e9)
	def64(&cfg.DelayNs, 5e9)
	def64(&cfg.RetransNs, 1e9)
	def(&cfg.MaxMulticastSolicit, 3)
	def(&cfg.MaxUnicastSolicit, 3)
	def(&cfg.QueueLen, 101)
	def(&cfg.QueueTotal, 256)
	if cfg.Rand == nil {
		cfg.Rand = globalRand{}
	}
	c := &Cache{cfg: cfg, rnd: cfg.Rand, index: make(map[[16]byte]int32, cfg.MaxEntries),
		entries: make([]entry, cfg.MaxEntries), free: make([]int32, 0, cfg.MaxEntries),
		q: handleq.NewPool(cfg.QueueTotal)}
	for i := cfg.MaxEntries - 1; i >= 0; i-- {
		c.free = append(c.free, int32(i))
	}
	c.base = cfg.BaseReachableNs
	c.reachable = c.draw()
	return c
}

// draw returns BaseReachableTime times a random factor in [0.5, 1.5)
// (RFC 4861 6.3.2).
func (c *Cache) draw() int64 { return c.base/2 + c.rnd.Int64N(c.base) }

// ReachableTime returns the ReachableTime in use, in nanoseconds.
func (c *Cache) ReachableTime() int64 { return c.reachable }

// SetBaseReachable sets BaseReachableTime (a Router Advertisement's
// Reachable Time, RFC 4861 6.3.4) and draws ReachableTime again when it
// changed.
func (c *Cache) SetBaseReachable(now, ns int64) {
	if ns > 0 && ns != c.base {
		c.base = ns
		c.reachable = c.draw()
		c.recompute = now + c.cfg.RecomputeNs
	}
}

// SetRetrans sets RetransTimer (a Router Advertisement's Retrans Timer).
func (c *Cache) SetRetrans(ns int64) {
	if ns > 0 {
		c.cfg.RetransNs = ns
	}
}

// Len returns the number of entries.
func (c *Cache) Len() int { return len(c.index) }

// State returns the state of ip's entry (0 when there is none), its MAC
// and its IsRouter flag.
func (c *Cache) State(ip [16]byte) (State, header.MAC, bool) {
	i, ok := c.index[ip]
	if !ok {
		return 0, header.MAC{}, false
	}
	e := &c.entries[i]
	return e.state, e.mac, e.router
}

// Action tells the caller of Lookup what to do with its packet.
type Action uint8

// Lookup outcomes, as arp.Table's.
const (
	Send        Action = iota + 1 // the MAC is known: send now
	SendRequest                   // queued (if a handle was given): multicast a solicitation now
	Queued                        // queued: a solicitation is already outstanding
	Drop                          // not queued (queue or cache full): drop, already counted
	RequestDrop                   // not queued (queue full): multicast a solicitation now, drop the packet
)

// Lookup resolves ip at now for a packet identified by handle (a frame
// address; hasHandle false only resolves), as arp.Table.Lookup does. On
// SendRequest and RequestDrop the caller sends a Neighbor Solicitation to
// ip's solicited-node group (PutSolicitation). It does not allocate.
func (c *Cache) Lookup(now int64, ip [16]byte, handle uint64, hasHandle bool) (header.MAC, Action) {
	i, ok := c.index[ip]
	if !ok {
		var err error
		if i, err = c.insert(now, ip); err != nil {
			c.Stats.TableFull++
			return header.MAC{}, Drop
		}
		e := &c.entries[i]
		e.state, e.probes, e.timer = Incomplete, 1, now+c.cfg.RetransNs
		c.Stats.Solicits++
		if hasHandle && !c.enqueue(e, handle) {
			return header.MAC{}, RequestDrop
		}
		return header.MAC{}, SendRequest
	}
	e := &c.entries[i]
	e.used = now
	if e.learned {
		e.learned = false
		c.learned--
	}
	switch e.state {
	case Reachable, Delay, Probe, Permanent:
		return e.mac, Send
	case Stale:
		e.state, e.timer = Delay, now+c.cfg.DelayNs
		return e.mac, Send
	}
	if hasHandle && !c.enqueue(e, handle) {
		return header.MAC{}, Drop
	}
	return header.MAC{}, Queued
}

func (c *Cache) enqueue(e *entry, h uint64) bool {
	if e.q.Len() >= c.cfg.QueueLen || !c.q.Push(&e.q, h) {
		c.Stats.QueueDrops++
		return false
	}
	return true
}

// drain empties e's queue in arrival order, passing each handle to fn
// when fn is not nil; the queue is detached first, so fn may use the
// cache.
func (c *Cache) drain(e *entry, fn func(handle uint64)) { c.q.Drain(&e.q, fn) }

// insert adds ip. When full it evicts the least recently used STALE
// entry, else the least recently used REACHABLE, DELAY or PROBE one;
// INCOMPLETE and PERMANENT entries are never evicted.
func (c *Cache) insert(now int64, ip [16]byte) (int32, error) {
	if len(c.free) == 0 {
		victim, stale := int32(-1), false
		for j := range c.entries {
			e := &c.entries[j]
			if e.state == Incomplete || e.state == Permanent || e.state == 0 {
				continue
			}
			s := e.state == Stale
			if victim < 0 || (s && !stale) || (s == stale && e.used < c.entries[victim].used) {
				victim, stale = int32(j), s
			}
		}
		if victim < 0 {
			return 0, ErrTableFull
		}
		c.Stats.Evictions++
		c.remove(victim, nil)
	}
	i := c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	c.entries[i] = entry{ip: ip, used: now}
	c.index[ip] = i
	return i, nil
}

func (c *Cache) remove(i int32, drop func(uint64)) {
	e := &c.entries[i]
	delete(c.index, e.ip)
	c.drain(e, drop)
	if e.learned {
		c.learned--
	}
	*e = entry{}
	c.free = append(c.free, i)
}

// Remove deletes ip's entry (a router's IsRouter flag cleared, an
// administrator's `ip neigh del`); its waiting packets go to drop.
func (c *Cache) Remove(ip [16]byte, drop func(handle uint64)) {
	if i, ok := c.index[ip]; ok {
		c.remove(i, drop)
	}
}

// RouterFlag says what a received message tells of the sender's IsRouter
// flag.
type RouterFlag uint8

// IsRouter updates.
const (
	RouterUnchanged RouterFlag = iota // a Neighbor Solicitation, a Redirect target
	RouterSet                         // a Router Advertisement's source (6.3.4)
	RouterClear                       // a Router Solicitation's source (6.2.6)
)

func (e *entry) setRouter(rf RouterFlag) {
	switch rf {
	case RouterSet:
		e.router = true
	case RouterClear:
		e.router = false
	}
}

// Observe records that ip is at mac, from a source link-layer address
// option of a Neighbor Solicitation (7.2.3), a Router Solicitation
// (6.2.6) or Advertisement (6.3.4), or a Redirect's target link-layer
// option (8.3): a new entry is created STALE, an entry whose MAC differs
// takes mac and becomes STALE, an INCOMPLETE one becomes STALE and its
// waiting packets go to flush. Entries created here and not yet looked up
// are bounded by MaxLearned (a flood of solicitations from made-up
// sources cannot fill the cache: Stats.LearnRefused). PERMANENT entries
// do not change.
func (c *Cache) Observe(now int64, ip [16]byte, mac header.MAC, rf RouterFlag, flush func(handle uint64)) {
	i, ok := c.index[ip]
	if !ok {
		if c.learned >= c.cfg.MaxLearned {
			c.Stats.LearnRefused++
			return
		}
		var err error
		if i, err = c.insert(now, ip); err != nil {
			c.Stats.TableFull++
			return
		}
		e := &c.entries[i]
		e.state, e.mac, e.updated, e.learned, e.used = Stale, mac, now, true, 0
		e.setRouter(rf)
		c.learned++
		return
	}
	e := &c.entries[i]
	if e.state == Permanent {
		return
	}
	e.setRouter(rf)
	if e.state == Incomplete || e.mac != mac {
		e.state, e.mac, e.updated, e.probes = Stale, mac, now, 0
	}
	c.drain(e, flush)
}

// Advertised applies a Neighbor Advertisement for target received at now
// (RFC 4861 7.2.5): tll is its target link-layer address (hasTLL false
// when it had none), flags its R, S and O bits. Packets that waited for
// target go to flush. It returns true when the entry's IsRouter flag went
// from true to false: the caller removes target from its default router
// list (RouterList.Remove). An advertisement for which there is no entry
// is ignored, and PERMANENT entries do not change.
func (c *Cache) Advertised(now int64, target [16]byte, tll header.MAC, hasTLL bool, flags uint8, flush func(handle uint64)) (routerLost bool) {
	i, ok := c.index[target]
	if !ok {
		return false
	}
	e := &c.entries[i]
	if e.state == Permanent {
		return false
	}
	solicited := flags&header.NDPFlagSolicited != 0
	override := flags&header.NDPFlagOverride != 0
	wasRouter := e.router
	if e.state == Incomplete {
		if !hasTLL {
			return false
		}
		e.mac, e.probes, e.updated = tll, 0, now
		if solicited {
			e.state, e.timer = Reachable, now+c.reachable
		} else {
			e.state = Stale
		}
		e.router = flags&header.NDPFlagRouter != 0
		c.drain(e, flush)
		return false
	}
	differs := hasTLL && tll != e.mac
	if !override && differs {
		if e.state == Reachable {
			e.state = Stale
		}
		return false
	}
	if differs {
		e.mac = tll
	}
	switch {
	case solicited:
		e.state, e.timer, e.probes, e.updated = Reachable, now+c.reachable, 0, now
	case differs:
		e.state, e.updated = Stale, now
	}
	e.router = flags&header.NDPFlagRouter != 0
	return wasRouter && !e.router
}

// Confirm marks ip reachable on an upper layer's word (RFC 4861 7.3.1:
// TCP saw new data acknowledged), without changing its MAC.
func (c *Cache) Confirm(now int64, ip [16]byte) {
	if i, ok := c.index[ip]; ok {
		e := &c.entries[i]
		if e.state != Incomplete && e.state != Permanent {
			e.state, e.timer, e.probes, e.updated = Reachable, now+c.reachable, 0, now
		}
	}
}

// SetPermanent makes ip a PERMANENT entry at mac: always used, never
// probed, aged or evicted, not changed by NDP. Waiting packets go to
// flush. It fails with ErrTableFull when no entry can be evicted.
func (c *Cache) SetPermanent(now int64, ip [16]byte, mac header.MAC, flush func(handle uint64)) error {
	i, ok := c.index[ip]
	if !ok {
		var err error
		if i, err = c.insert(now, ip); err != nil {
			c.Stats.TableFull++
			return err
		}
	}
	e := &c.entries[i]
	if e.learned {
		e.learned = false
		c.learned--
	}
	e.state, e.mac, e.probes, e.updated = Permanent, mac, 0, now
	c.drain(e, flush)
	return nil
}

// Tick advances every entry's timer to now. solicit is called for each
// Neighbor Solicitation to send: to target's solicited-node group when
// unicast is the zero MAC, otherwise a unicast probe to unicast (and to
// target's address). drop gets each waiting packet of a resolution that
// failed (the entry is removed). ReachableTime is drawn again every
// RecomputeNs.
func (c *Cache) Tick(now int64, solicit func(target [16]byte, unicast header.MAC), drop func(handle uint64)) {
	if now >= c.recompute {
		if c.recompute != 0 {
			c.reachable = c.draw()
		}
		c.recompute = now + c.cfg.RecomputeNs
	}
	for j := range c.entries {
		e := &c.entries[j]
		if e.state == 0 || e.state == Stale || e.state == Permanent || now < e.timer {
			continue
		}
		switch e.state {
		case Reachable:
			e.state = Stale
		case Delay:
			e.state, e.probes, e.timer = Probe, 1, now+c.cfg.RetransNs
			c.Stats.Solicits++
			if solicit != nil {
				solicit(e.ip, e.mac)
			}
		case Incomplete, Probe:
			limit := c.cfg.MaxMulticastSolicit
			if e.state == Probe {
				limit = c.cfg.MaxUnicastSolicit
			}
			if e.probes >= limit {
				c.Stats.Failed++
				c.remove(int32(j), drop)
				continue
			}
			e.probes++
			e.timer = now + c.cfg.RetransNs
			c.Stats.Solicits++
			if solicit != nil {
				var u header.MAC
				if e.state == Probe {
					u = e.mac
				}
				solicit(e.ip, u)
			}
		}
	}
}

// Neighbor is one entry of a cache listing (`engine neigh`).
type Neighbor struct {
	IP       [16]byte
	MAC      header.MAC // zero while INCOMPLETE
	State    State
	IsRouter bool
	Queued   int   // packets waiting for the answer
	Updated  int64 // last confirmation (0: never)
	Used     int64 // last lookup (0: never)
}

// List appends every entry to out, in no particular order.
func (c *Cache) List(out []Neighbor) []Neighbor {
	for _, i := range c.index {
		e := &c.entries[i]
		out = append(out, Neighbor{IP: e.ip, MAC: e.mac, State: e.state, IsRouter: e.router,
			Queued: e.q.Len(), Updated: e.updated, Used: e.used})
	}
	return out
}
