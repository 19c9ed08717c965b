package flowtable

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"iter"
	"math/bits"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// Table4 is a fixed-capacity hash table from an IPv4 5-tuple (Key4) to a
// uint64 value where one cache line answers a lookup: a bucket is 64 bytes
// holding two entries, each its packed key, its value and its last-seen
// time. It is the table for connection tracking at millions of flows a
// worker, where Table's separate header and slot lines, its 38-byte keys
// and an Index's pointer would cost four lines and a long hash a lookup
// (see the package documentation, "Table4").
//
// It has Table's contract: one writer (Insert, Update, SetClass, Delete,
// Sweep, All), any number of readers (Lookup, the batch and hashed
// lookups, Len, Stats) from any goroutine. A lookup returns "absent" or a
// value stored for the key at some moment during the call. Unlike
// Table's, a reader that meets a bucket the writer is changing (its
// sequence number odd, or changed under the reader) reads it again, and
// yields its thread after a few tries: the writer's change is a handful
// of stores, so a reader waits only if the writer's goroutine is
// preempted in the middle of one.
type Table4 struct {
	buckets  []bucket4
	mem      region
	mask     uint64 // buckets - 1
	s0, s1   uint64 // hash seeds
	maxProbe int
	policy   FullPolicy
	// timeouts are Config.IdleTimeouts in stamp units (rounded up; 0:
	// never expires).
	timeouts []uint32
	onRemove func(Key4, Entry4, RemoveReason)
	cursor   uint64 // next bucket Sweep visits; writer only

	counters
}

// bucket4 is one cache line (the bucket array starts 64-aligned).
type bucket4 struct {
	// seq is even while the bucket's entries are stable: the writer makes
	// it odd, changes the entries, and makes it even again.
	seq atomic.Uint32
	// over counts the live entries whose probe passed over this bucket
	// (their home is earlier and this bucket was full when they came). A
	// lookup that does not find its key here stops when over is 0.
	over atomic.Uint32
	// addrs and rest are the entries' keys. An entry's rest has the
	// key's bits, e4Used, its distance from home in bits 15-8 and its
	// timeout class in bits 7-0; a free entry's rest is 0.
	addrs [2]atomic.Uint64
	rest  [2]atomic.Uint64
	value [2]atomic.Uint64
	// stamp is the last-seen time in stamp units (now >> StampShift,
	// wrapping). Stored by the writer and by LookupTouch from any
	// goroutine, outside seq: a touch racing with the refill of its entry
	// makes the new entry look fresher, as in Table.
	stamp [2]atomic.Uint32
}

// beginWrite makes b's sequence number odd before the writer changes its
// entries and returns the number endWrite takes. Writer only.
func (b *bucket4) beginWrite() uint32 {
	s := b.seq.Load()
	b.seq.Store(s + 1)
	return s
}

// endWrite makes b's sequence number even again, after the change.
func (b *bucket4) endWrite(s uint32) { b.seq.Store(s + 2) }

var (
	_ [unsafe.Sizeof(bucket4{}) - 64]struct{}
	_ [64 - unsafe.Sizeof(bucket4{})]struct{}
)

const (
	e4Used = 1 << 23 // in an entry's rest: the entry holds a key
	// StampShift: Table4 keeps last-seen times as now>>StampShift in 32
	// bits (units of about 1.05 ms; they wrap every 52 days). Ages stay
	// below maxAge4, so that an age, and the order of two stamps, is never
	// read across the wrap.
	StampShift = 20
	// maxAge4 is the oldest an entry's stamp gets, in stamp units (about
	// 13 days): idle timeouts are capped at it, and Sweep moves the stamp
	// of an entry that never expires up to it (its Idle saturates there).
	maxAge4 = 1 << 30
	// Table4Entries is the number of entries in a bucket.
	Table4Entries = 2
)

// NewTable4 allocates a Table4 of cfg.Capacity entries, rounded up to a
// power of two (two entries a bucket, 32 bytes an entry), in a mapping of
// its own with huge pages when it is 2 MiB or more (see
// Config.NoHugePages). cfg.OnRemove must be nil: onRemove, if not nil, is
// what Sweep and eviction report removed entries to (on the writer's
// goroutine; it must not call the table's writer methods). Idle timeouts
// are kept in units of 1<<StampShift ns, rounded up. Errors wrap
// ErrConfig. Call Close when done.
func NewTable4(cfg Config, onRemove func(k Key4, e Entry4, why RemoveReason)) (*Table4, error) {
	if cfg.OnRemove != nil {
		return nil, fmt.Errorf("%w: Config.OnRemove is set; a Table4 takes its callback as NewTable4's onRemove", ErrConfig)
	}
	if cfg.Capacity <= 0 || cfg.Capacity > MaxCapacity {
		return nil, fmt.Errorf("%w: Capacity %d, want 1..%d entries", ErrConfig, cfg.Capacity, MaxCapacity)
	}
	entries := max(Table4Entries, 1<<bits.Len(uint(cfg.Capacity-1)))
	nb := entries / Table4Entries
	probe := cfg.MaxProbe
	if probe == 0 {
		probe = DefaultMaxProbe
	}
	if probe < 0 || probe > MaxMaxProbe {
		return nil, fmt.Errorf("%w: MaxProbe %d, want 0 (default %d) or 1..%d buckets", ErrConfig, cfg.MaxProbe, DefaultMaxProbe, MaxMaxProbe)
	}
	if cfg.Full != FullRefuse && cfg.Full != FullEvictOldest {
		return nil, fmt.Errorf("%w: unknown Full policy %d", ErrConfig, cfg.Full)
	}
	t := &Table4{mask: uint64(nb - 1), maxProbe: min(probe, nb), policy: cfg.Full, onRemove: onRemove}
	if err := t.SetIdleTimeouts(cfg.IdleTimeouts); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if cfg.Rand != nil {
		t.s0, t.s1 = cfg.Rand.Uint64(), cfg.Rand.Uint64()
	} else {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("%w: seed from crypto/rand: %w", ErrConfig, err)
		}
		t.s0, t.s1 = binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])
	}
	size := uintptr(nb) * unsafe.Sizeof(bucket4{})
	if !cfg.NoHugePages && size >= mapMinBytes {
		if r, err := mapRegion(size, !cfg.NoPopulate); err == nil {
			t.buckets, t.mem = unsafe.Slice((*bucket4)(r.base), nb), r
		}
	}
	if t.buckets == nil {
		t.buckets = alignedBuckets4(nb)
	}
	return t, nil
}

// alignedBuckets4 allocates n buckets on the Go heap starting on a cache
// line (the allocator aligns only small size classes to their size).
func alignedBuckets4(n int) []bucket4 {
	all := make([]bucket4, n+1)
	off := (64 - uintptr(unsafe.Pointer(&all[0]))%64) % 64 / 8
	if off == 0 {
		return all[:n:n]
	}
	// A bucket4 holds only integers, so viewing the array 8 bytes further
	// on is still memory of the same object.
	return unsafe.Slice((*bucket4)(unsafe.Add(unsafe.Pointer(&all[0]), off*8)), n)
}

// SetIdleTimeouts changes the classes' idle timeouts (ns; 0: never
// expires; empty: one class that never expires; at most 256). Entries of a
// class that no longer exists never expire. Writer only.
func (t *Table4) SetIdleTimeouts(ts []int64) error {
	if len(ts) > 256 {
		return fmt.Errorf("%d IdleTimeouts, at most 256 classes", len(ts))
	}
	units := make([]uint32, max(1, len(ts)), 256)
	for c, to := range ts {
		if to < 0 {
			return fmt.Errorf("IdleTimeouts[%d] = %d, want >= 0 (0: never expires)", c, to)
		}
		u := (uint64(to) + 1<<StampShift - 1) >> StampShift
		units[c] = uint32(min(u, maxAge4))
	}
	t.timeouts = units[:256] // classes beyond len(ts) are 0: never expire
	return nil
}

// Hash returns k's hash in t, which LookupHashed and LookupTouchHashed
// take. Safe from any goroutine.
func (t *Table4) Hash(k Key4) uint64 { return hash4(k, t.s0, t.s1) }

// Lookup returns the value stored for k. Safe from any goroutine; no
// allocation.
func (t *Table4) Lookup(k Key4) (uint64, bool) {
	v, b, _ := t.lookup(k, hash4(k, t.s0, t.s1))
	return v, b != nil
}

// LookupHashed is Lookup with k's hash already computed (Hash or
// PrefetchHash); it also returns the entry's timeout class.
func (t *Table4) LookupHashed(k Key4, h uint64) (uint64, Class, bool) {
	v, b, e := t.lookup(k, h)
	if b == nil {
		return 0, 0, false
	}
	return v, e.class, true
}

// LookupTouch is Lookup that also records now (the caller's monotonic ns;
// a clock read once per burst is enough) as the entry's last-seen time.
func (t *Table4) LookupTouch(k Key4, now int64) (uint64, bool) {
	v, _, ok := t.LookupTouchHashed(k, hash4(k, t.s0, t.s1), now)
	return v, ok
}

// LookupTouchHashed is LookupTouch with k's hash already computed; it
// also returns the entry's timeout class.
func (t *Table4) LookupTouchHashed(k Key4, h uint64, now int64) (uint64, Class, bool) {
	v, b, e := t.lookup(k, h)
	if b == nil {
		return 0, 0, false
	}
	// The store only when the time moved on: most packets of a flow land
	// within one stamp unit, and leave the line clean.
	if st := uint32(now >> StampShift); b.stamp[e.i].Load() != st {
		b.stamp[e.i].Store(st)
	}
	return v, e.class, true
}

// hit is where lookup found a key: the entry's index in its bucket and
// its class.
type hit struct {
	i     int
	class Class
}

// lookup finds k (hash h): its value, bucket and entry, or a nil bucket.
func (t *Table4) lookup(k Key4, h uint64) (uint64, *bucket4, hit) {
	i := h & t.mask
	for range t.maxProbe {
		b := &t.buckets[i]
		for try := 0; ; try++ {
			s := b.seq.Load()
			if s&1 == 0 {
				e := -1
				var v, r uint64
				if r = b.rest[0].Load(); b.addrs[0].Load() == k.addrs && (r^k.rest)>>23 == 1 {
					e, v = 0, b.value[0].Load()
				} else if r = b.rest[1].Load(); b.addrs[1].Load() == k.addrs && (r^k.rest)>>23 == 1 {
					e, v = 1, b.value[1].Load()
				}
				over := b.over.Load()
				if b.seq.Load() == s {
					if e >= 0 {
						return v, b, hit{e, Class(r)}
					}
					if over == 0 {
						return 0, nil, hit{}
					}
					break
				}
			}
			if try >= 4 {
				runtime.Gosched() // the writer is inside this bucket: let it finish
			}
		}
		i = (i + 1) & t.mask
	}
	return 0, nil, hit{}
}

// find returns k's bucket index and entry, or -1. Writer only (no
// sequence checks: the writer's own entries do not change under it).
func (t *Table4) find(k Key4) (uint64, int) {
	i := hash4(k, t.s0, t.s1) & t.mask
	for range t.maxProbe {
		b := &t.buckets[i]
		for e := range Table4Entries {
			if b.addrs[e].Load() == k.addrs && (b.rest[e].Load()^k.rest)>>23 == 1 {
				return i, e
			}
		}
		if b.over.Load() == 0 {
			break
		}
		i = (i + 1) & t.mask
	}
	return 0, -1
}

// Insert adds k with value v, class c and last-seen time now. Writer only.
// It fails with ErrExists if k is present, and ErrFull when the MaxProbe
// buckets from k's home are full under FullRefuse (under FullEvictOldest
// the entry with the oldest last-seen time there is evicted and
// reported). A class without a configured timeout never expires (no
// ErrClass, unlike Table). It allocates nothing.
func (t *Table4) Insert(k Key4, v uint64, c Class, now int64) error {
	if _, e := t.find(k); e >= 0 {
		t.existsRefusals.Store(t.existsRefusals.Load() + 1)
		return ErrExists
	}
	home := hash4(k, t.s0, t.s1) & t.mask
	i, d, e := home, 0, -1
	for ; d < t.maxProbe; d++ {
		if e = t.free(i); e >= 0 {
			break
		}
		i = (i + 1) & t.mask
	}
	if e < 0 {
		if t.policy == FullRefuse {
			t.fullRefusals.Store(t.fullRefusals.Load() + 1)
			return ErrFull
		}
		i, e, d = t.evictOldest(home, uint32(now>>StampShift))
	}
	b := &t.buckets[i]
	s := b.beginWrite()
	b.addrs[e].Store(k.addrs)
	b.rest[e].Store(k.rest | e4Used | uint64(d)<<8 | uint64(c))
	b.value[e].Store(v)
	b.stamp[e].Store(uint32(now >> StampShift))
	b.endWrite(s)
	for j, p := 0, home; j < d; j++ {
		t.buckets[p].over.Store(t.buckets[p].over.Load() + 1)
		p = (p + 1) & t.mask
	}
	if uint32(d) > t.maxDist.Load() {
		t.maxDist.Store(uint32(d))
	}
	t.inserts.Store(t.inserts.Load() + 1)
	return nil
}

// free returns a free entry of bucket i, or -1.
func (t *Table4) free(i uint64) int {
	b := &t.buckets[i]
	for e := range Table4Entries {
		if b.rest[e].Load()&e4Used == 0 {
			return e
		}
	}
	return -1
}

// remove frees entry e of bucket i and the overflow counts on its path.
// Writer only.
func (t *Table4) remove(i uint64, e int) {
	b := &t.buckets[i]
	d := (b.rest[e].Load() >> 8) & 0xff
	s := b.beginWrite()
	b.rest[e].Store(0)
	b.endWrite(s)
	p := (i - d) & t.mask
	for range d {
		t.buckets[p].over.Store(t.buckets[p].over.Load() - 1)
		p = (p + 1) & t.mask
	}
}

// Update replaces k's value. Writer only. Readers see the old or the new
// value.
func (t *Table4) Update(k Key4, v uint64) error {
	i, e := t.find(k)
	if e < 0 {
		return ErrNotFound
	}
	b := &t.buckets[i]
	s := b.beginWrite()
	b.value[e].Store(v)
	b.endWrite(s)
	return nil
}

// SetClass moves k to timeout class c and records now as its last-seen
// time. Writer only.
func (t *Table4) SetClass(k Key4, c Class, now int64) error {
	i, e := t.find(k)
	if e < 0 {
		return ErrNotFound
	}
	b := &t.buckets[i]
	s := b.beginWrite()
	b.rest[e].Store(b.rest[e].Load()&^0xff | uint64(c))
	b.stamp[e].Store(uint32(now >> StampShift))
	b.endWrite(s)
	return nil
}

// Entry4 is what a Table4 holds for a key besides the key.
type Entry4 struct {
	Value uint64
	Class Class
	stamp uint32 // last seen, in stamp units
}

// Idle returns how long before now (ns) the entry was last seen, in whole
// stamp units (0 for a time after now).
func (e Entry4) Idle(now int64) int64 {
	return int64(max(int32(uint32(now>>StampShift)-e.stamp), 0)) << StampShift
}

// LastSeen returns the entry's last-seen time as of now: now less Idle.
func (e Entry4) LastSeen(now int64) int64 { return now - e.Idle(now) }

// SeenAfter reports whether e was last seen after o (both entries of a
// table that Sweep visits: ages saturate at about 13 days, see maxAge4).
func (e Entry4) SeenAfter(o Entry4) bool { return int32(e.stamp-o.stamp) > 0 }

// Meta returns k's entry. Writer only.
func (t *Table4) Meta(k Key4) (Entry4, bool) {
	i, e := t.find(k)
	if e < 0 {
		return Entry4{}, false
	}
	_, en := t.entry(i, e)
	return en, true
}

// Delete removes k and returns its value. Writer only.
func (t *Table4) Delete(k Key4) (uint64, error) {
	i, e := t.find(k)
	if e < 0 {
		return 0, ErrNotFound
	}
	v := t.buckets[i].value[e].Load()
	t.remove(i, e)
	t.deletes.Store(t.deletes.Load() + 1)
	return v, nil
}

// entry returns entry e of bucket i. Writer only.
func (t *Table4) entry(i uint64, e int) (Key4, Entry4) {
	b := &t.buckets[i]
	r := b.rest[e].Load()
	return Key4{addrs: b.addrs[e].Load(), rest: r &^ key4Low},
		Entry4{Value: b.value[e].Load(), Class: Class(r), stamp: b.stamp[e].Load()}
}

// drop removes entry e of bucket i for Sweep or an eviction, counts it and
// reports it. Writer only.
func (t *Table4) drop(i uint64, e int, counter *atomic.Uint64, why RemoveReason) {
	k, v := t.entry(i, e)
	t.remove(i, e)
	counter.Store(counter.Load() + 1)
	if t.onRemove != nil {
		t.onRemove(k, v, why)
	}
}

// evictOldest removes the entry with the oldest last-seen time in the
// MaxProbe buckets from home (all full) and returns its place and distance
// from home. now is the insert's time in stamp units: ages are taken from
// it, since stamps wrap.
func (t *Table4) evictOldest(home uint64, now uint32) (uint64, int, int) {
	var vi uint64
	ve, vd := -1, 0
	var oldest int32
	for d, i := 0, home; d < t.maxProbe; d++ {
		for e := range Table4Entries {
			if age := int32(now - t.buckets[i].stamp[e].Load()); ve < 0 || age > oldest {
				vi, ve, vd, oldest = i, e, d, age
			}
		}
		i = (i + 1) & t.mask
	}
	t.drop(vi, ve, &t.evictions, RemoveEvicted)
	return vi, ve, vd
}

// Sweep visits at most budget buckets from where the last call stopped
// (wrapping around) and removes the entries idle longer than their class's
// timeout, reporting each with RemoveExpired; an entry that never expires
// and is older than about 13 days (maxAge4) gets that age, so that stamps
// are never compared across their wrap (which needs a pass over the table
// at least every 13 days). Writer only. It returns the number removed.
func (t *Table4) Sweep(now int64, budget int) int {
	st := uint32(now >> StampShift)
	removed := 0
	for range min(budget, len(t.buckets)) {
		i := t.cursor
		t.cursor = (i + 1) & t.mask
		b := &t.buckets[i]
		for e := range Table4Entries {
			r := b.rest[e].Load()
			if r&e4Used == 0 {
				continue
			}
			to := t.timeouts[uint8(r)]
			age := st - b.stamp[e].Load()
			if int32(age) < 0 || age <= to { // a stamp after now: a reader's later clock
				continue
			}
			if to == 0 {
				if age > maxAge4 {
					// Pairs with the stamp loads here and in evictOldest;
					// a racing touch stores a later time, as it should.
					b.stamp[e].Store(st - maxAge4)
				}
				continue
			}
			t.drop(i, e, &t.expired, RemoveExpired)
			removed++
		}
	}
	return removed
}

// All iterates over the keys and values in table order. Writer only; the
// loop body must not change the table.
func (t *Table4) All() iter.Seq2[Key4, Entry4] {
	return func(yield func(Key4, Entry4) bool) {
		for i := range t.buckets {
			for e := range Table4Entries {
				if t.buckets[i].rest[e].Load()&e4Used == 0 {
					continue
				}
				if !yield(t.entry(uint64(i), e)) {
					return
				}
			}
		}
	}
}

// Len returns the number of entries. Safe from any goroutine.
func (t *Table4) Len() int { return t.len() }

// Cap returns the number of entries the table has room for.
func (t *Table4) Cap() int { return len(t.buckets) * Table4Entries }

// MaxProbe returns the probe bound in buckets.
func (t *Table4) MaxProbe() int { return t.maxProbe }

// Stats returns the counters (Capacity in entries). Safe from any
// goroutine.
func (t *Table4) Stats() Stats { return t.stats(uint64(t.Cap()), t.mem.base != nil) }

// Close releases a mapped table's memory. The table must not be used
// after.
func (t *Table4) Close() error {
	t.buckets = nil
	if t.mem.base == nil {
		return nil
	}
	r := t.mem
	t.mem = region{}
	return r.unmap()
}
