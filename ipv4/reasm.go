package ipv4

import (
	"bytes"
	"unsafe"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/fragbuf"
)

// Defaults, the values of Linux's sysctls where one exists.
const (
	DefaultHighThresh   = 4 << 20           // net.ipv4.ipfrag_high_thresh
	DefaultLowThresh    = 3 << 20           // net.ipv4.ipfrag_low_thresh (pre-4.17 meaning)
	DefaultTimeout      = 30 * 1000_000_000 // net.ipv4.ipfrag_time, in ns
	DefaultMaxFragments = 128               // per datagram: 64 KiB at MTU 576
	DefaultMaxQueues    = 1024              // concurrent incomplete datagrams
)

const (
	maxDatagram = 65535
	minHeader   = 20
	maxHeader   = 60
	// tcpMinFirst is the smallest first fragment of a TCP segment that
	// holds the TCP flags (byte 13) - RFC 1858 section 3.1's TMIN.
	tcpMinFirst = 14
	// quoteData is how much payload an ICMP error quotes after the header.
	quoteData = 8
)

// Config sets the limits of a Reassembler. Zero fields take the defaults.
type Config struct {
	// HighThresh is the memory, in bytes, that incomplete datagrams may
	// hold. A fragment that would take the table above it first evicts
	// the oldest datagrams down to LowThresh; if that is not enough (the
	// fragment's own datagram is the big one) the fragment is dropped.
	HighThresh int
	// LowThresh is the level eviction brings memory down to.
	LowThresh int
	// Timeout, in nanoseconds, after which an incomplete datagram is
	// discarded, counted from its first fragment. Later fragments do not
	// extend it (as in Linux).
	Timeout int64
	// MaxFragments caps the fragments (duplicates included) one datagram
	// may receive; one more discards the datagram.
	MaxFragments int
	// MaxQueues caps the number of incomplete datagrams; a new one beyond
	// it evicts the oldest.
	MaxQueues int
	// Seed keys the table's hash. Draw it from a random source (Linux uses
	// a boot-time secret for the same purpose); a predictable seed lets a
	// sender build long probe chains.
	Seed uint64
	// OnTimeExceeded, if set, is called for every datagram that timed out
	// after its first fragment had arrived, with that fragment's IPv4
	// header followed by the first 8 bytes of its payload: the quote of
	// an ICMP time exceeded message, code 1 (RFC 792). The slice is valid
	// only during the call. The Reassembler sends nothing itself.
	OnTimeExceeded func(quote []byte)
}

func (c *Config) setDefaults() {
	if c.HighThresh <= 0 {
		c.HighThresh = DefaultHighThresh
	}
	if c.LowThresh <= 0 || c.LowThresh > c.HighThresh {
		c.LowThresh = c.HighThresh * 3 / 4
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxFragments <= 0 {
		c.MaxFragments = DefaultMaxFragments
	}
	if c.MaxQueues <= 0 {
		c.MaxQueues = DefaultMaxQueues
	}
}

// Fragment is one received fragment, as taken apart by ParseFragment or by
// the caller. Header and Payload alias the caller's frame; Add copies what
// it keeps.
type Fragment struct {
	Key    FragKey
	Offset int    // payload offset in bytes (the header's field times 8)
	More   bool   // MF flag
	Header []byte // this fragment's IPv4 header, options included
	// Payload is the fragment's data, exactly total length minus header
	// length bytes (link padding removed).
	Payload []byte
}

// Reassembler reassembles IPv4 datagrams from fragments. It is not safe for
// concurrent use: each worker owns one and feeds it the fragments of its
// queue (all fragments of a datagram must reach the same worker, which an
// RSS hash on addresses only, not ports, gives).
type Reassembler struct {
	cfg     Config
	table   qtable
	pool    *fragbuf.Pool
	oldest  *queue // head of the age list (creation order)
	newest  *queue
	freeQ   []*queue
	mem     int
	nqueues int
	qOverhd int
	stats   Stats
}

// NewReassembler returns an empty table with the limits of cfg.
func NewReassembler(cfg Config) *Reassembler {
	cfg.setDefaults()
	r := &Reassembler{
		cfg:   cfg,
		table: newQtable(cfg.MaxQueues, cfg.Seed),
		pool:  fragbuf.NewPool(headroom, cfg.HighThresh),
		freeQ: make([]*queue, 0, cfg.MaxQueues),
	}
	r.qOverhd = int(unsafe.Sizeof(queue{})) + (cfg.MaxFragments+1)*int(unsafe.Sizeof(interval{}))
	return r
}

// Stats returns a snapshot of the counters. Call it from the owning worker.
func (r *Reassembler) Stats() Stats {
	s := r.stats
	s.MemInUse = int64(r.mem)
	s.Queues = r.nqueues
	return s
}

// Mem returns the memory accounted to incomplete datagrams, in bytes.
func (r *Reassembler) Mem() int { return r.mem }

// Add takes one fragment at time now (monotonic nanoseconds). When the
// fragment completes its datagram, Add returns it with ok true; the caller
// owns it until Datagram.Release. Otherwise ok is false and err says why the
// fragment was not kept, or is nil when it was kept and the datagram is
// still incomplete. Add first expires the datagrams whose time ran out.
func (r *Reassembler) Add(f *Fragment, now int64) (d Datagram, ok bool, err error) {
	r.stats.ReasmReqds++
	r.Expire(now)

	start := f.Offset
	n := len(f.Payload)
	end := start + n
	switch {
	case !f.More && start == 0:
		r.stats.ReasmBadFragments++
		return d, false, ErrNotFragment
	case len(f.Header) < minHeader || len(f.Header) > maxHeader || start < 0 || start&7 != 0 ||
		n == 0 || (f.More && n&7 != 0):
		r.stats.ReasmBadFragments++
		return d, false, ErrBadFragment
	case f.Key.Proto == header.ProtocolTCP && (start == 8 || (start == 0 && n < tcpMinFirst)):
		r.stats.ReasmBadFragments++
		return d, false, ErrTinyFragment
	}

	h := r.table.hash(&f.Key)
	q := r.table.lookup(&f.Key, h)
	if end+len(f.Header) > maxDatagram {
		if q != nil {
			r.fail(q)
		} else {
			r.stats.ReasmFails++
		}
		return d, false, ErrTooBig
	}
	if q == nil {
		if q, err = r.newQueue(&f.Key, h, end, now); err != nil {
			return d, false, err
		}
	}

	q.nfrags++
	if q.nfrags > r.cfg.MaxFragments {
		r.fail(q)
		return d, false, ErrTooManyFragments
	}
	// The end: a last fragment fixes it; nothing may lie beyond it.
	if !f.More {
		if (q.lastIn && end != q.end) || end < q.maxEnd {
			r.fail(q)
			return d, false, ErrConflict
		}
	} else if q.lastIn && end > q.end {
		r.fail(q)
		return d, false, ErrConflict
	}

	// Overlap: find the first run that ends after start.
	i := searchRuns(q.ivs, int32(start))
	if i < len(q.ivs) && int(q.ivs[i].start) < end {
		iv := q.ivs[i]
		if int(iv.start) <= start && end <= int(iv.end) &&
			bytes.Equal(q.buf.B[headroom+start:headroom+end], f.Payload) {
			r.stats.ReasmDuplicates++
			return d, false, ErrDuplicate
		}
		r.stats.ReasmOverlaps++
		r.fail(q)
		return d, false, ErrOverlap
	}

	if err := r.reserve(q, end); err != nil {
		q.nfrags--
		return d, false, err
	}

	// Commit.
	copy(q.buf.B[headroom+start:], f.Payload)
	if start == 0 {
		hl := len(f.Header)
		copy(q.buf.B[headroom-hl:headroom], f.Header)
		q.hdrLen = hl
		q.firstIn = true
	}
	if !f.More {
		q.lastIn = true
		q.end = end
	}
	if end > q.maxEnd {
		q.maxEnd = end
	}
	q.ivs = insertRun(q.ivs, i, int32(start), int32(end))

	if !q.firstIn || !q.lastIn || len(q.ivs) != 1 || q.ivs[0].end != int32(q.end) {
		return d, false, nil
	}
	return r.complete(q)
}

// complete finishes a datagram whose runs cover [0, end).
func (r *Reassembler) complete(q *queue) (d Datagram, ok bool, err error) {
	total := q.hdrLen + q.end
	if total > maxDatagram {
		r.fail(q)
		return d, false, ErrTooBig
	}
	buf := q.buf
	q.buf = nil
	hdr := buf.B[headroom-q.hdrLen : headroom]
	finishHeader(hdr, total)
	r.release(q)
	r.stats.ReasmOKs++
	return Datagram{b: buf.B[headroom-q.hdrLen : headroom+q.end], lease: r.pool.Lease(buf)}, true, nil
}

// searchRuns returns the index of the first run whose end is after off.
func searchRuns(ivs []interval, off int32) int {
	lo, hi := 0, len(ivs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ivs[m].end <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// insertRun inserts [start, end) before index i, merging with neighbors
// that touch it. The caller checked that it overlaps nothing; the slice's
// capacity (MaxFragments+1) is never exceeded since every run holds at
// least one fragment.
func insertRun(ivs []interval, i int, start, end int32) []interval {
	joinPrev := i > 0 && ivs[i-1].end == start
	joinNext := i < len(ivs) && ivs[i].start == end
	switch {
	case joinPrev && joinNext:
		ivs[i-1].end = ivs[i].end
		copy(ivs[i:], ivs[i+1:])
		return ivs[:len(ivs)-1]
	case joinPrev:
		ivs[i-1].end = end
		return ivs
	case joinNext:
		ivs[i].start = start
		return ivs
	}
	ivs = ivs[:len(ivs)+1]
	copy(ivs[i+1:], ivs[i:])
	ivs[i] = interval{start, end}
	return ivs
}

// newQueue creates the queue for a new datagram whose first fragment ends
// at end, evicting the oldest datagrams if the queue cap or the memory
// threshold requires it.
func (r *Reassembler) newQueue(k *FragKey, h uint64, end int, now int64) (*queue, error) {
	if r.nqueues >= r.cfg.MaxQueues {
		r.evictOldest(nil)
	}
	need := r.qOverhd + headroom + classSize(classFor(end))
	if !r.makeRoom(need, nil) {
		r.stats.ReasmFails++
		r.stats.ReasmMemDrops++
		return nil, ErrNoMemory
	}
	var q *queue
	if n := len(r.freeQ); n > 0 {
		q = r.freeQ[n-1]
		r.freeQ = r.freeQ[:n-1]
		*q = queue{ivs: q.ivs[:0]}
	} else {
		q = &queue{ivs: make([]interval, 0, r.cfg.MaxFragments+1)}
	}
	q.key = *k
	q.hash = h
	q.deadline = now + r.cfg.Timeout
	q.mem = r.qOverhd
	r.mem += q.mem
	r.nqueues++
	r.table.insert(q)
	// Append to the age list.
	q.prev = r.newest
	if r.newest != nil {
		r.newest.next = q
	} else {
		r.oldest = q
	}
	r.newest = q
	return q, nil
}

// makeRoom reports whether need more bytes fit under HighThresh, evicting
// the oldest datagrams other than keep down to LowThresh first when they do
// not. Evicting by creation order, not by last activity, means a sender
// cannot keep a datagram alive by trickling fragments into it.
func (r *Reassembler) makeRoom(need int, keep *queue) bool {
	if r.mem+need <= r.cfg.HighThresh {
		return true
	}
	for r.mem+need > r.cfg.LowThresh {
		if !r.evictOldest(keep) {
			break
		}
	}
	return r.mem+need <= r.cfg.HighThresh
}

// evictOldest discards the oldest datagram other than keep.
func (r *Reassembler) evictOldest(keep *queue) bool {
	q := r.oldest
	if q != nil && q == keep {
		q = q.next
	}
	if q == nil {
		return false
	}
	r.stats.ReasmEvictions++
	r.fail(q)
	return true
}

// reserve makes q's buffer hold payload up to end, moving it to a larger
// class if needed.
func (r *Reassembler) reserve(q *queue, end int) error {
	c := classFor(end)
	if q.buf != nil && c <= q.buf.Class() {
		return nil
	}
	old := 0
	if q.buf != nil {
		old = len(q.buf.B)
	}
	grow := headroom + classSize(c) - old
	if !r.makeRoom(grow, q) {
		r.stats.ReasmFails++
		r.stats.ReasmMemDrops++
		return ErrNoMemory
	}
	nb := r.pool.Get(c)
	if q.buf != nil {
		copy(nb.B, q.buf.B)
		r.pool.Put(q.buf)
	}
	q.buf = nb
	q.mem += grow
	r.mem += grow
	return nil
}

// fail discards q as a reassembly failure.
func (r *Reassembler) fail(q *queue) {
	r.stats.ReasmFails++
	r.release(q)
}

// release unlinks q and frees its memory.
func (r *Reassembler) release(q *queue) {
	r.table.remove(q)
	if q.prev != nil {
		q.prev.next = q.next
	} else {
		r.oldest = q.next
	}
	if q.next != nil {
		q.next.prev = q.prev
	} else {
		r.newest = q.prev
	}
	if q.buf != nil {
		r.pool.Put(q.buf)
		q.buf = nil
	}
	r.mem -= q.mem
	r.nqueues--
	q.prev, q.next = nil, nil
	r.freeQ = append(r.freeQ, q)
}

// Expire discards the datagrams whose timeout has passed at now, reporting
// through Config.OnTimeExceeded those whose first fragment had arrived. It
// returns the number discarded. Add calls it; a worker should also call it
// once per poll loop so that timeouts fire when no fragments arrive. The
// age list is in creation order, which is deadline order, so the cost is
// one comparison when nothing expires.
func (r *Reassembler) Expire(now int64) int {
	n := 0
	for q := r.oldest; q != nil && q.deadline <= now; q = r.oldest {
		r.stats.ReasmTimeout++
		if q.firstIn && r.cfg.OnTimeExceeded != nil {
			data := quoteData
			if first := int(q.ivs[0].end); first < data {
				data = first
			}
			r.stats.ReasmTimeExceeded++
			r.cfg.OnTimeExceeded(q.buf.B[headroom-q.hdrLen : headroom+data])
		}
		r.fail(q)
		n++
	}
	return n
}

// Flush discards every incomplete datagram without counting failures (for
// shutdown or reconfiguration). Memory in use returns to zero.
func (r *Reassembler) Flush() {
	for r.oldest != nil {
		r.release(r.oldest)
	}
}
