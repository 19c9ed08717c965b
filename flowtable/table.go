package flowtable

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// Errors returned by the table. Insert's refusals are counted in Stats.
var (
	// ErrFull: every slot in the key's probe window is taken and the
	// policy is FullRefuse.
	ErrFull = errors.New("flowtable: table full in this key's probe window")
	// ErrExists: Insert found the key already present.
	ErrExists = errors.New("flowtable: key already present")
	// ErrNotFound: Update, SetClass or Delete did not find the key.
	ErrNotFound = errors.New("flowtable: key not found")
	// ErrClass: a timeout class outside the table's configured classes.
	ErrClass = errors.New("flowtable: timeout class out of range (see Config.IdleTimeouts)")
	// ErrConfig wraps every error from New.
	ErrConfig = errors.New("flowtable: invalid config")
)

// FullPolicy says what Insert does when the key's probe window is full.
type FullPolicy uint8

const (
	// FullRefuse fails the insert with ErrFull (counted in Stats.FullRefusals).
	FullRefuse FullPolicy = iota
	// FullEvictOldest removes the entry with the oldest last-seen time in
	// the key's probe window (MaxProbe buckets from its home bucket),
	// reports it to OnRemove with RemoveEvicted, and inserts in its place
	// (counted in Stats.Evictions).
	FullEvictOldest
)

// Class indexes Config.IdleTimeouts: a protocol or connection state with its
// own idle timeout (for example UDP, TCP handshake, TCP established).
type Class uint8

// RemoveReason tells OnRemove why an entry left the table.
type RemoveReason uint8

const (
	// RemoveExpired: Sweep found the entry idle longer than its timeout.
	RemoveExpired RemoveReason = iota + 1
	// RemoveEvicted: FullEvictOldest made room for a new key.
	RemoveEvicted
)

func (r RemoveReason) String() string {
	switch r {
	case RemoveExpired:
		return "expired"
	case RemoveEvicted:
		return "evicted"
	}
	return fmt.Sprintf("RemoveReason(%d)", uint8(r))
}

func (p FullPolicy) String() string {
	switch p {
	case FullRefuse:
		return "refuse"
	case FullEvictOldest:
		return "evict-oldest"
	}
	return fmt.Sprintf("FullPolicy(%d)", uint8(p))
}

// Limits of the configuration.
const (
	BucketSlots     = 8       // slots per bucket
	DefaultMaxProbe = 32      // buckets, when Config.MaxProbe is 0
	MaxMaxProbe     = 128     // upper bound of Config.MaxProbe
	MaxCapacity     = 1 << 31 // slots
)

// Config describes a table. Capacity is the only required field.
type Config struct {
	// Capacity is the number of slots, rounded up to a power of two (and
	// to at least one bucket of BucketSlots). All memory, 64 bytes per slot
	// plus 16 bytes per bucket, is allocated by New. Inserts start failing
	// (or evicting) when a key's probe window is full, which with random
	// hashing and the default MaxProbe happens from about 93% load on;
	// size for headroom.
	Capacity int
	// MaxProbe bounds how many buckets an insert and a lookup visit
	// (0: DefaultMaxProbe; at most MaxMaxProbe, and at most the number of
	// buckets). It sets how full the table gets before the first refusal
	// or eviction: about 93% with the default 32, 72% with 8.
	MaxProbe int
	// Full is the policy when a key's probe window is full.
	Full FullPolicy
	// IdleTimeouts holds the idle timeout in nanoseconds per Class; 0 means
	// entries of that class never expire. Empty means one class (0) that
	// never expires. At most 256 classes.
	IdleTimeouts []int64
	// OnRemove, when set, is called by Sweep and Insert (on the writer's
	// goroutine) after an entry expired or was evicted, with its key and
	// value. It must not call the table's writer methods.
	OnRemove func(k Key, v uint64, why RemoveReason)
	// Rand supplies the hash seed. Nil: the seed comes from crypto/rand.
	// Tests inject a fixed source; production should leave it nil or pass
	// a source that an attacker cannot predict.
	Rand interface{ Uint64() uint64 }
	// NoHugePages keeps the table on the Go heap. By default a table of
	// 2 MiB or more (about 32k slots) is an anonymous mapping of its own,
	// 2 MiB-aligned, advised for transparent huge pages (MADV_HUGEPAGE)
	// and populated by New (see NoPopulate), because with 4 KiB pages a
	// random lookup in a large table pays a TLB miss on top of its cache
	// misses; if the mapping fails, New falls back to the Go heap
	// (Stats.Mapped says which). Mapped memory is returned by Close only.
	NoHugePages bool
	// NoPopulate leaves a mapped table's pages to be faulted in as
	// entries arrive instead of by New: for a table that may stay empty
	// or small (its memory then costs only what it holds), at the price of
	// page faults on the writer's path while it fills.
	NoPopulate bool
}

// bucketMeta is a bucket's header, kept apart from the slots so that a
// miss touches one cache line (four headers per line).
type bucketMeta struct {
	// tags holds one byte per slot: 0 for free, else the tag (top byte of
	// the hash) of the key in the slot. Written only by the writer; the
	// store that sets a tag publishes a filled slot (pairs with the
	// readers' tags.Load in lookup); the store that clears one unpublishes
	// it before the slot can be reused.
	tags atomic.Uint64
	// overflow counts the live entries whose probe passed over this bucket
	// (their home bucket is earlier and this one was full). A lookup that
	// did not find its key here stops when overflow is 0. Written only by
	// the writer (load + store); read by lookups.
	overflow atomic.Uint32
	_        uint32
}

// slot is one entry, 64 bytes: one cache line when the slot array is
// 64-aligned (large allocations are page-aligned in Go).
type slot struct {
	// key: the keyWords, each stored atomically by the writer between the
	// two ver stores of fill, loaded by readers between their two ver loads.
	key [5]atomic.Uint64
	// value is stored by fill (under ver) and by Update (alone: the key
	// does not change, so a reader sees the old or the new value).
	value atomic.Uint64
	// stamp is the last-seen time (caller's monotonic ns). Stored by fill,
	// by LookupTouch from any goroutine; loaded by Sweep and eviction.
	stamp atomic.Int64
	// ver is even while the slot's key and value are stable; fill makes it
	// odd, writes, and makes it even again. Readers load it before and
	// after reading key and value and keep the result only if both loads
	// are equal and even.
	ver atomic.Uint32
	// class and dist (distance in buckets from the home bucket) are read
	// and written only by the writer.
	class Class
	dist  uint8
	_     [2]byte
}

var (
	_ [unsafe.Sizeof(slot{}) - 64]struct{}
	_ [64 - unsafe.Sizeof(slot{})]struct{}
)

// Table is a fixed-capacity hash table from Key to a uint64 value (a handle
// the engine maps to a socket, connection or backend), with lock-free reads
// and one writer. See the package documentation for the concurrency
// contract.
type Table struct {
	meta     []bucketMeta
	slots    []slot
	mem      region // the mapping meta and slots live in; zero: Go heap
	mask     uint64 // buckets - 1
	seed     uint64
	maxProbe int
	timeouts []int64
	policy   FullPolicy
	// onRemove is Config.OnRemove adapted, or the Index's: it also gets
	// the entry's pointer (nil without ptrs).
	onRemove func(Key, uint64, unsafe.Pointer, RemoveReason)
	// ptrs, allocated by NewIndex only (nil otherwise), holds one Go
	// pointer per slot, the Index's *T (see index.go). fill stores it
	// (after the value, before the tag: pairs with the LoadPointer in
	// Index.load) and remove clears it. It is on the Go heap so that the
	// garbage collector sees the pointers.
	ptrs []unsafe.Pointer

	cursor uint64 // next bucket Sweep visits; writer-only

	counters
}

// counters are a table's counts (Table and Table4): the writer updates
// each with Load+Store (it is the only writer, so no read-modify-write
// instruction is needed); Stats and Len load them from any goroutine.
type counters struct {
	inserts, deletes, expired, evictions atomic.Uint64
	fullRefusals, existsRefusals         atomic.Uint64
	maxDist                              atomic.Uint32
}

// stats returns the counts as Stats, with the table's capacity and memory.
func (c *counters) stats(capacity uint64, mapped bool) Stats {
	s := Stats{
		Capacity:       capacity,
		Deletes:        c.deletes.Load(),
		Expired:        c.expired.Load(),
		Evictions:      c.evictions.Load(),
		FullRefusals:   c.fullRefusals.Load(),
		ExistsRefusals: c.existsRefusals.Load(),
		MaxProbe:       int(c.maxDist.Load()),
		Mapped:         mapped,
	}
	// Inserts loaded after the removals, so Entries cannot go negative.
	s.Inserts = c.inserts.Load()
	s.Entries = s.Inserts - s.Deletes - s.Expired - s.Evictions
	return s
}

// len returns the number of live entries.
func (c *counters) len() int {
	removed := c.deletes.Load() + c.expired.Load() + c.evictions.Load()
	return int(c.inserts.Load() - removed)
}

// New allocates a table. Errors wrap ErrConfig. Call Close when done with a
// large table: its memory may be a mapping of its own (see
// Config.NoHugePages) that the garbage collector does not reclaim.
func New(cfg Config) (*Table, error) {
	if cfg.Capacity <= 0 || cfg.Capacity > MaxCapacity {
		return nil, fmt.Errorf("%w: Capacity %d, want 1..%d slots", ErrConfig, cfg.Capacity, MaxCapacity)
	}
	slots := max(BucketSlots, 1<<bits.Len(uint(cfg.Capacity-1)))
	buckets := slots / BucketSlots
	probe := cfg.MaxProbe
	if probe == 0 {
		probe = DefaultMaxProbe
	}
	if probe < 0 || probe > MaxMaxProbe {
		return nil, fmt.Errorf("%w: MaxProbe %d, want 0 (default %d) or 1..%d buckets", ErrConfig, cfg.MaxProbe, DefaultMaxProbe, MaxMaxProbe)
	}
	probe = min(probe, buckets)
	if cfg.Full != FullRefuse && cfg.Full != FullEvictOldest {
		return nil, fmt.Errorf("%w: unknown Full policy %d", ErrConfig, cfg.Full)
	}
	timeouts := []int64{0}
	if len(cfg.IdleTimeouts) > 0 {
		if len(cfg.IdleTimeouts) > 256 {
			return nil, fmt.Errorf("%w: %d IdleTimeouts, at most 256 classes", ErrConfig, len(cfg.IdleTimeouts))
		}
		for c, to := range cfg.IdleTimeouts {
			if to < 0 {
				return nil, fmt.Errorf("%w: IdleTimeouts[%d] = %d, want >= 0 (0: never expires)", ErrConfig, c, to)
			}
		}
		timeouts = append([]int64(nil), cfg.IdleTimeouts...)
	}
	var seed uint64
	if cfg.Rand != nil {
		seed = cfg.Rand.Uint64()
	} else {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("%w: seed from crypto/rand: %w", ErrConfig, err)
		}
		seed = binary.LittleEndian.Uint64(b[:])
	}
	sl, meta, mem := allocate(slots, buckets, cfg.NoHugePages, !cfg.NoPopulate)
	var onRemove func(Key, uint64, unsafe.Pointer, RemoveReason)
	if f := cfg.OnRemove; f != nil {
		onRemove = func(k Key, v uint64, _ unsafe.Pointer, why RemoveReason) { f(k, v, why) }
	}
	return &Table{
		meta:     meta,
		slots:    sl,
		mem:      mem,
		mask:     uint64(buckets - 1),
		seed:     seed,
		maxProbe: probe,
		timeouts: timeouts,
		policy:   cfg.Full,
		onRemove: onRemove,
	}, nil
}

// Lookup returns the value stored for k. Safe from any goroutine, concurrently
// with the writer; it never blocks, never retries and never allocates.
func (t *Table) Lookup(k Key) (uint64, bool) {
	var w keyWords
	w.set(&k)
	v, s := t.lookup(&w, w.hash(t.seed))
	return v, s != nil
}

// LookupTouch is Lookup that also records now as the entry's last-seen time
// (skipping the store when the time is unchanged, so a coarse clock costs no
// cache-line writes). Safe from any goroutine; see the package documentation
// for what a touch racing with a delete does.
func (t *Table) LookupTouch(k Key, now int64) (uint64, bool) {
	var w keyWords
	w.set(&k)
	v, s := t.lookup(&w, w.hash(t.seed))
	if s == nil {
		return 0, false
	}
	// Pairs with the stamp loads in Sweep and evictOldest; a plain
	// last-writer-wins word.
	if s.stamp.Load() != now {
		s.stamp.Store(now)
	}
	return v, true
}

// lookup probes from the home bucket of h. It returns the value and slot of
// a consistent snapshot of k's entry, or a nil slot.
//
// The key's preferred slot (see prefOf) is checked first when its tag
// matches. Its address comes from the hash alone, not from the tags, so
// the CPU, predicting that branch, issues the slot's loads while the tags
// load is still in flight: a hit in the preferred slot, the common case,
// waits for about one memory latency instead of two in a row, and a miss
// (predicted as such) waits for the tags only. An explicit prefetch of the
// slot measured no faster for hits and slower for misses (1M flows: miss
// 71-83 ns without it, 111-134 ns with it), so only LookupBatch uses one.
func (t *Table) lookup(w *keyWords, h uint64) (uint64, *slot) {
	tag := tagOf(h)
	b := h & t.mask
	pref := b*BucketSlots + prefOf(h)
	m := &t.meta[b]
	// Pairs with the tags.Store in fill (publish) and remove (unpublish).
	hits := matchTag(m.tags.Load(), tag)
	if bit := uint64(0x80) << (8 * prefOf(h)); hits&bit != 0 {
		if v, ok := t.slots[pref].read(w); ok {
			return v, &t.slots[pref]
		}
		hits &^= bit
	}
	for d := 1; ; d++ {
		for ; hits != 0; hits &= hits - 1 {
			s := &t.slots[b*BucketSlots+uint64(bits.TrailingZeros64(hits)>>3)]
			if v, ok := s.read(w); ok {
				return v, s
			}
		}
		// Pairs with the overflow stores in fill and remove.
		if d >= t.maxProbe || m.overflow.Load() == 0 {
			return 0, nil
		}
		b = (b + uint64(d)) & t.mask // triangular probing, see next
		m = &t.meta[b]
		hits = matchTag(m.tags.Load(), tag) // pairs as above
	}
}

// read returns the slot's value if the slot holds w, from a consistent
// snapshot (see Memory ordering in the package documentation). Readers.
func (s *slot) read(w *keyWords) (uint64, bool) {
	// Pairs with the first ver.Store in fill (odd: being rewritten).
	v1 := s.ver.Load()
	if v1&1 != 0 {
		return 0, false // reused since the tags load: k's entry is gone
	}
	if s.key[0].Load() != w[0] || s.key[1].Load() != w[1] || s.key[2].Load() != w[2] ||
		s.key[3].Load() != w[3] || s.key[4].Load() != w[4] {
		return 0, false
	}
	v := s.value.Load()
	// Pairs with both ver stores in fill: unchanged means no fill
	// overlapped our key and value loads.
	if s.ver.Load() != v1 {
		return 0, false
	}
	return v, true
}

// Insert adds k with value v, timeout class c and last-seen time now.
// Writer only. It returns ErrExists if k is present, ErrClass for an unknown
// class, and ErrFull when k's probe window is full under FullRefuse; under
// FullEvictOldest it evicts instead (see FullEvictOldest).
func (t *Table) Insert(k Key, v uint64, c Class, now int64) error {
	return t.insert(&k, v, nil, c, now)
}

// insert is Insert that also stores p as the entry's pointer (see ptrs).
func (t *Table) insert(k *Key, v uint64, p unsafe.Pointer, c Class, now int64) error {
	if int(c) >= len(t.timeouts) {
		return ErrClass
	}
	var w keyWords
	w.set(k)
	h := w.hash(t.seed)
	tag := tagOf(h)
	home := h & t.mask
	free, freeDist := -1, 0
	chain := true // k may still be in a later bucket
	b := home
	for d := 0; d < t.maxProbe && (chain || free < 0); d++ {
		m := &t.meta[b]
		tags := m.tags.Load()
		if chain {
			for hits := matchTag(tags, tag); hits != 0; hits &= hits - 1 {
				if t.slots[b*BucketSlots+uint64(bits.TrailingZeros64(hits)>>3)].holds(&w) {
					t.existsRefusals.Store(t.existsRefusals.Load() + 1)
					return ErrExists
				}
			}
			chain = m.overflow.Load() != 0
		}
		if free < 0 {
			if p := prefOf(h); d == 0 && tags>>(8*p)&0xff == 0 {
				free = int(b*BucketSlots + p) // the preferred slot, see lookup
			} else if z := zeroBytes(tags); z != 0 {
				free = int(b*BucketSlots) + bits.TrailingZeros64(z)>>3
				freeDist = d
			}
		}
		b = (b + uint64(d) + 1) & t.mask
	}
	if free < 0 {
		if t.policy != FullEvictOldest {
			t.fullRefusals.Store(t.fullRefusals.Load() + 1)
			return ErrFull
		}
		free, freeDist = t.evictOldest(home)
	}
	t.fill(free, &w, v, p, c, now, tag, freeDist, home)
	return nil
}

// next returns the bucket at probe step d from home (d may be negative to
// go back from a bucket to its home). Probing is triangular: home, home+1,
// home+3, home+6, ... The steps differ from each other modulo any power of
// two, so a window never visits a bucket twice, and unlike linear probing
// two neighboring homes do not share the rest of their windows, which
// keeps clusters from merging. Measured with 8-slot buckets (random keys,
// first refusal): MaxProbe 8 at about 72-76% load (linear: 68-72%), 16 at
// 86%, 32 at 93%, 64 at 97%. Only keys in crowded windows pay for long
// probes; a miss stops at the first bucket whose overflow count is 0.
func (t *Table) next(home uint64, d int) uint64 {
	if d < 0 {
		return (home - uint64(d*(d-1)/2)) & t.mask
	}
	return (home + uint64(d*(d+1)/2)) & t.mask
}

// holds reports whether the slot's key is w. Writer only (the key words
// cannot change under it).
func (s *slot) holds(w *keyWords) bool {
	return s.key[0].Load() == w[0] && s.key[1].Load() == w[1] && s.key[2].Load() == w[2] &&
		s.key[3].Load() == w[3] && s.key[4].Load() == w[4]
}

// fill writes a free slot (tag 0) and publishes it.
func (t *Table) fill(i int, w *keyWords, v uint64, p unsafe.Pointer, c Class, now int64, tag uint8, dist int, home uint64) {
	s := &t.slots[i]
	ver := s.ver.Load()
	// Odd: a reader that matched a stale tag for this slot skips it. Pairs
	// with the readers' first ver.Load in lookup.
	s.ver.Store(ver + 1)
	for j := range w {
		s.key[j].Store(w[j])
	}
	s.value.Store(v)
	if t.ptrs != nil {
		// After the value: pairs with LoadPointer in Index.load.
		atomic.StorePointer(&t.ptrs[i], p)
	}
	s.stamp.Store(now)
	s.class, s.dist = c, uint8(dist)
	// Even again: pairs with the readers' second ver.Load in lookup.
	s.ver.Store(ver + 2)
	m := &t.meta[i/BucketSlots]
	// Publish: pairs with tags.Load in lookup; everything above is visible
	// to a reader that sees the tag (sequentially consistent atomics).
	m.tags.Store(m.tags.Load() | uint64(tag)<<(8*(i%BucketSlots)))
	for d := range dist {
		o := &t.meta[t.next(home, d)].overflow
		o.Store(o.Load() + 1) // pairs with overflow.Load in lookup
	}
	t.inserts.Store(t.inserts.Load() + 1)
	if uint32(dist) > t.maxDist.Load() {
		t.maxDist.Store(uint32(dist))
	}
}

// find is the writer's lookup: the index of k's slot, or -1.
func (t *Table) find(k *Key) int {
	var w keyWords
	w.set(k)
	h := w.hash(t.seed)
	tag := tagOf(h)
	b := h & t.mask
	for d := 1; ; d++ {
		m := &t.meta[b]
		for hits := matchTag(m.tags.Load(), tag); hits != 0; hits &= hits - 1 {
			i := b*BucketSlots + uint64(bits.TrailingZeros64(hits)>>3)
			if t.slots[i].holds(&w) {
				return int(i)
			}
		}
		if d >= t.maxProbe || m.overflow.Load() == 0 {
			return -1
		}
		b = (b + uint64(d)) & t.mask
	}
}

// Meta returns k's timeout class and the time it was last seen (Insert,
// LookupTouch, SetClass). Writer only.
func (t *Table) Meta(k Key) (c Class, lastSeen int64, ok bool) {
	i := t.find(&k)
	if i < 0 {
		return 0, 0, false
	}
	return t.slots[i].class, t.slots[i].stamp.Load(), true
}

// Update replaces k's value. Writer only. Readers see the old or the new
// value, never a mix (one atomic word).
func (t *Table) Update(k Key, v uint64) error {
	i := t.find(&k)
	if i < 0 {
		return ErrNotFound
	}
	t.slots[i].value.Store(v) // pairs with value.Load in lookup
	return nil
}

// SetClass moves k to timeout class c (a state change, such as a TCP
// handshake completing) and records now as its last-seen time. Writer only.
func (t *Table) SetClass(k Key, c Class, now int64) error {
	if int(c) >= len(t.timeouts) {
		return ErrClass
	}
	i := t.find(&k)
	if i < 0 {
		return ErrNotFound
	}
	t.slots[i].class = c
	t.slots[i].stamp.Store(now)
	return nil
}

// SetIdleTimeouts changes the idle timeout of every class (nanoseconds,
// 0: never expires; as Config.IdleTimeouts, with as many classes): the
// next Sweep applies them to every entry, by its last-seen time. Writer
// only (the goroutine that sweeps).
func (t *Table) SetIdleTimeouts(ts []int64) error {
	if len(ts) != len(t.timeouts) {
		return fmt.Errorf("%w: %d idle timeouts for %d classes", ErrConfig, len(ts), len(t.timeouts))
	}
	for c, to := range ts {
		if to < 0 {
			return fmt.Errorf("%w: IdleTimeouts[%d] = %d, want >= 0 (0: never expires)", ErrConfig, c, to)
		}
	}
	copy(t.timeouts, ts)
	return nil
}

// Delete removes k and returns its value. Writer only.
func (t *Table) Delete(k Key) (uint64, error) {
	v, _, ok := t.delete(&k)
	if !ok {
		return 0, ErrNotFound
	}
	return v, nil
}

// remove unpublishes slot i and releases the overflow counts on its path.
// The slot's words stay as they are until a later fill bumps ver, so a
// reader that already matched the tag reads a consistent old entry.
func (t *Table) remove(i int) {
	b := uint64(i / BucketSlots)
	m := &t.meta[b]
	// Unpublish: pairs with tags.Load in lookup.
	m.tags.Store(m.tags.Load() &^ (0xff << (8 * (i % BucketSlots))))
	if t.ptrs != nil {
		// Let the collector have it. A reader that loads nil here returns
		// "absent": the key is gone. Pairs with LoadPointer in Index.load.
		atomic.StorePointer(&t.ptrs[i], nil)
	}
	dist := int(t.slots[i].dist)
	home := t.next(b, -dist)
	for d := range dist {
		o := &t.meta[t.next(home, d)].overflow
		o.Store(o.Load() - 1) // pairs with overflow.Load in lookup
	}
}

// Stats are the table's counters. Safe to read from any goroutine; each
// field is read atomically, the set as a whole is not a snapshot.
type Stats struct {
	Entries        uint64 // live entries
	Capacity       uint64 // slots
	Inserts        uint64 // successful inserts (evicting ones included)
	Deletes        uint64 // Delete calls that removed an entry
	Expired        uint64 // entries removed by Sweep
	Evictions      uint64 // entries evicted by FullEvictOldest
	FullRefusals   uint64 // inserts refused with ErrFull
	ExistsRefusals uint64 // inserts refused with ErrExists
	MaxProbe       int    // the longest probe of any insert so far, in buckets beyond home
	Mapped         bool   // memory is a huge-page-advised mapping, not the Go heap
}

// Stats returns the counters.
func (t *Table) Stats() Stats { return t.stats(uint64(len(t.slots)), t.mem.base != nil) }

// Len returns the number of live entries. Safe from any goroutine.
func (t *Table) Len() int { return t.len() }

// Cap returns the number of slots.
func (t *Table) Cap() int { return len(t.slots) }

// MaxProbe returns the probe bound in buckets.
func (t *Table) MaxProbe() int { return t.maxProbe }

// Close releases the table's memory (unmaps it when it is a mapping of its
// own). It must be called only after every reader and the writer are done
// with the table: Close does not wait for them, and any later use of the
// table panics (or, for a reader still running, faults). Closing twice is
// a no-op.
func (t *Table) Close() error {
	mem := t.mem
	t.meta, t.slots, t.ptrs, t.mem = nil, nil, nil, region{}
	if mem.base == nil {
		return nil
	}
	return mem.unmap()
}
