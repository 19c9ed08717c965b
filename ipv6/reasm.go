package ipv6

import (
	"bytes"
	"encoding/binary"
	"unsafe"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/fragbuf"
)

// Defaults, Linux's sysctl values where one exists.
const (
	DefaultHighThresh   = 4 << 20           // net.ipv6.ip6frag_high_thresh
	DefaultLowThresh    = 3 << 20           // net.ipv6.ip6frag_low_thresh (pre-4.17 meaning)
	DefaultTimeout      = 60 * 1000_000_000 // net.ipv6.ip6frag_time, in ns
	DefaultMaxFragments = 128               // per datagram: 64 KiB in 512-byte fragments
	DefaultMaxQueues    = 1024              // datagrams held at once
)

const (
	maxPayload = 65535
	hdrLen     = header.IPv6HeaderLen
	fragHdrLen = 8
	// QuoteLen is the most of the invoking packet an ICMPv6 error quotes:
	// what fits in the minimum MTU after the IPv6 and ICMPv6 headers (RFC
	// 4443 2.4(c)). Config.OnTimeExceeded gets at most this much.
	QuoteLen = header.IPv6MinMTU - hdrLen - header.ICMPv6HeaderLen
)

// Config sets the limits of a Reassembler. Zero fields take the defaults.
type Config struct {
	// HighThresh is the memory, in bytes, incomplete datagrams may hold.
	// A fragment that would exceed it first evicts the oldest datagrams
	// down to LowThresh; if that is not enough it is dropped.
	HighThresh int
	// LowThresh is the level eviction brings memory down to.
	LowThresh int
	// Timeout, in nanoseconds, after which an incomplete datagram is
	// discarded, counted from its first fragment and never extended.
	Timeout int64
	// MaxFragments caps the fragments (duplicates included) of one
	// datagram; one more discards it.
	MaxFragments int
	// MaxQueues caps the datagrams held; a new one beyond it evicts the
	// oldest.
	MaxQueues int
	// Seed keys the table's hash; draw it from a random source.
	Seed uint64
	// OnTimeExceeded, if set, is called for every datagram that timed out
	// after its first fragment arrived, with that fragment's bytes as
	// received (IPv6 header, extension headers, fragment header, data),
	// cut to QuoteLen: the body of the ICMPv6 time exceeded, code 1
	// (ICMPv6ReassemblyExceeded), that the caller sends to its source
	// (RFC 8200 4.5). The slice is valid only during the call.
	OnTimeExceeded func(first []byte)
	// OnParamProblem, if set, is called for a fragment dropped with
	// ErrBadLength or, on arrival, ErrTooBig, with the fragment's packet
	// and the pointer of an ICMPv6 parameter problem, code 0
	// (ICMPv6ErroneousHeader): the payload length field or the fragment
	// offset field (RFC 8200 4.5). The slice is the caller's.
	OnParamProblem func(pkt []byte, pointer uint32)
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

// Fragment is one received IPv6 fragment, as taken apart by ParseFragment
// or FragmentOf. Packet aliases the caller's frame; Add copies what it
// keeps, except that it rewrites an atomic fragment in place.
type Fragment struct {
	Key        FragKey
	Offset     int   // of the data in the fragmentable part, in bytes
	More       bool  // the M flag
	NextHeader uint8 // the fragment header's next header
	// Packet is the whole IPv6 packet, 40 bytes plus the payload length.
	Packet []byte
	// HdrOffset is the offset of the fragment header, the length of the
	// unfragmentable part; the data follows the fragment header.
	HdrOffset int
	// PrevNextHeader is the offset of the Next Header field that names
	// the fragment header (6, or inside the last unfragmentable header).
	PrevNextHeader int
}

// Data returns the fragment's data, after the fragment header.
func (f *Fragment) Data() []byte { return f.Packet[f.HdrOffset+fragHdrLen:] }

// Reassembler reassembles IPv6 packets from fragments (RFC 8200 4.5). It is
// not safe for concurrent use: each worker owns one, and all fragments of
// a packet must reach the same worker (an RSS hash on addresses only).
type Reassembler struct {
	cfg     Config
	table   qtable
	pool    *fragbuf.Pool
	oldest  *queue // age list head (creation order = deadline order)
	newest  *queue
	freeQ   []*queue
	mem     int
	nqueues int
	qOverhd int
	quote   []byte // QuoteLen bytes for OnTimeExceeded
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
		quote: make([]byte, QuoteLen),
	}
	r.qOverhd = int(unsafe.Sizeof(queue{})) + (cfg.MaxFragments+1)*int(unsafe.Sizeof(interval{}))
	return r
}

// Stats returns a snapshot of the counters, from the owning worker.
func (r *Reassembler) Stats() Stats {
	s := r.stats
	s.MemInUse = int64(r.mem)
	s.Queues = r.nqueues
	return s
}

// Mem returns the memory accounted to held datagrams, in bytes.
func (r *Reassembler) Mem() int { return r.mem }

// Add takes one fragment at time now (monotonic nanoseconds). When it
// completes its packet, or is an atomic fragment (offset 0, M clear: RFC
// 6946), Add returns the packet rebuilt without the fragment header, with
// ok true; the caller owns it until Datagram.Release. An atomic fragment
// touches no reassembly state: it is rewritten in place in f.Packet (the
// unfragmentable part moves 8 bytes up over the fragment header) and the
// Datagram aliases f.Packet. Otherwise ok is false and err says why the
// fragment was not kept, or is nil when it was kept. Add first expires
// the datagrams whose time ran out.
func (r *Reassembler) Add(f *Fragment, now int64) (d Datagram, ok bool, err error) {
	r.stats.ReasmReqds++
	r.Expire(now)

	p, hl := f.Packet, f.HdrOffset
	if hl < hdrLen || hl > len(p)-fragHdrLen || f.PrevNextHeader < 0 || f.PrevNextHeader >= hl ||
		f.Offset < 0 || f.Offset > maxPayload || f.Offset&7 != 0 {
		r.stats.ReasmBadFragments++
		return d, false, ErrBadFragment
	}
	if f.Offset == 0 && !f.More {
		return r.atomic(f), true, nil
	}
	start := f.Offset
	n := len(p) - hl - fragHdrLen
	end := start + n
	switch {
	case hl > headroom || n == 0:
		r.stats.ReasmBadFragments++
		return d, false, ErrBadFragment
	case f.More && n&7 != 0:
		r.paramProblem(f, 4) // the payload length field
		return d, false, ErrBadLength
	case hl-hdrLen+end > maxPayload:
		// The payload this fragment's unfragmentable part and data would
		// reassemble to (RFC 8200 4.5; Linux counts the data alone).
		r.paramProblem(f, uint32(hl+2)) // the fragment offset field
		return d, false, ErrTooBig
	}

	h := r.table.hash(&f.Key)
	q := r.table.lookup(&f.Key, h)
	if q != nil && q.dead {
		r.stats.ReasmDiscarded++
		return d, false, ErrDiscarded
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
	if !f.More {
		if (q.lastIn && end != q.end) || end < q.maxEnd {
			r.fail(q)
			return d, false, ErrConflict
		}
	} else if q.lastIn && end > q.end {
		r.fail(q)
		return d, false, ErrConflict
	}

	data := p[hl+fragHdrLen:]
	i := searchRuns(q.ivs, int32(start))
	if i < len(q.ivs) && int(q.ivs[i].start) < end {
		iv := q.ivs[i]
		if int(iv.start) <= start && end <= int(iv.end) &&
			bytes.Equal(q.buf.B[headroom+start:headroom+end], data) {
			r.stats.ReasmDuplicates++
			return d, false, ErrDuplicate
		}
		r.stats.ReasmOverlaps++
		r.kill(q)
		return d, false, ErrOverlap
	}
	if err := r.reserve(q, end); err != nil {
		q.nfrags--
		return d, false, err
	}

	copy(q.buf.B[headroom+start:], data)
	if start == 0 {
		copy(q.buf.B[headroom-hl:headroom], p[:hl])
		copy(q.fragHdr[:], p[hl:hl+fragHdrLen])
		q.hdrLen, q.prevNH, q.nextHdr, q.firstLen = hl, f.PrevNextHeader, f.NextHeader, n
		q.firstIn = true
	}
	if !f.More {
		q.lastIn = true
		q.end = end
	}
	q.maxEnd = max(q.maxEnd, end)
	q.ivs = insertRun(q.ivs, i, int32(start), int32(end))
	if !q.firstIn || !q.lastIn || len(q.ivs) != 1 || q.ivs[0].end != int32(q.end) {
		return d, false, nil
	}
	return r.complete(q)
}

// atomic rewrites an atomic fragment in place as an unfragmented packet.
func (r *Reassembler) atomic(f *Fragment) Datagram {
	p, hl := f.Packet, f.HdrOffset
	p[f.PrevNextHeader] = f.NextHeader
	copy(p[fragHdrLen:hl+fragHdrLen], p[:hl])
	out := p[fragHdrLen:]
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-hdrLen))
	r.stats.ReasmOKs++
	r.stats.ReasmAtomic++
	return Datagram{b: out}
}

func (r *Reassembler) paramProblem(f *Fragment, ptr uint32) {
	r.stats.ReasmBadFragments++
	if r.cfg.OnParamProblem != nil {
		r.stats.ReasmParamProblems++
		r.cfg.OnParamProblem(f.Packet, ptr)
	}
}

// complete finishes a datagram whose runs cover [0, end).
func (r *Reassembler) complete(q *queue) (d Datagram, ok bool, err error) {
	pl := q.hdrLen - hdrLen + q.end
	if pl > maxPayload {
		r.fail(q)
		return d, false, ErrTooBig
	}
	buf := q.buf
	q.buf = nil
	pkt := buf.B[headroom-q.hdrLen : headroom+q.end]
	pkt[q.prevNH] = q.nextHdr
	binary.BigEndian.PutUint16(pkt[4:], uint16(pl))
	r.release(q)
	r.stats.ReasmOKs++
	return Datagram{b: pkt, lease: r.pool.Lease(buf)}, true, nil
}

// searchRuns returns the index of the first run ending after off.
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

// insertRun inserts [start, end), which overlaps nothing, before index i,
// merging it with the runs it touches. Every run holds a fragment, so the
// capacity (MaxFragments+1) suffices.
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

// newQueue creates the queue of a new datagram whose first fragment ends at
// end, evicting old ones when the queue cap or memory requires.
func (r *Reassembler) newQueue(k *FragKey, h uint64, end int, now int64) (*queue, error) {
	if r.nqueues >= r.cfg.MaxQueues {
		r.evictOldest(nil)
	}
	if !r.makeRoom(r.qOverhd+headroom+classSize(classFor(end)), nil) {
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
	q.key, q.hash, q.deadline, q.mem = *k, h, now+r.cfg.Timeout, r.qOverhd
	r.mem += q.mem
	r.nqueues++
	r.table.insert(q)
	q.prev = r.newest
	if r.newest != nil {
		r.newest.next = q
	} else {
		r.oldest = q
	}
	r.newest = q
	return q, nil
}

// makeRoom reports whether need more bytes fit under HighThresh, first
// evicting the oldest datagrams but keep down to LowThresh if they do not.
// Eviction is by creation order, so trickling fragments into a datagram
// does not keep it alive.
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

// evictOldest discards the oldest datagram but keep.
func (r *Reassembler) evictOldest(keep *queue) bool {
	q := r.oldest
	if q != nil && q == keep {
		q = q.next
	}
	if q == nil {
		return false
	}
	if q.dead {
		r.release(q) // counted when it was discarded
		return true
	}
	r.stats.ReasmEvictions++
	r.fail(q)
	return true
}

// reserve makes q's buffer hold data up to end, moving it up a class if
// needed.
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

// kill discards q's data after an overlap but keeps its key until the
// deadline, so that its later fragments are dropped too (RFC 5722). It
// keeps only its bookkeeping's memory.
func (r *Reassembler) kill(q *queue) {
	r.stats.ReasmFails++
	if q.buf != nil {
		r.pool.Put(q.buf)
		q.buf = nil
	}
	r.mem -= q.mem - r.qOverhd
	q.mem = r.qOverhd
	q.ivs = q.ivs[:0]
	q.dead = true
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

// Expire discards the datagrams whose timeout passed at now, reporting
// through Config.OnTimeExceeded those whose first fragment had arrived,
// and forgets discarded ones whose time is up. It returns the number of
// datagrams timed out. Add calls it; a worker also calls it once per poll
// loop. The age list is in deadline order, so it costs one comparison when
// nothing is due.
func (r *Reassembler) Expire(now int64) int {
	n := 0
	for q := r.oldest; q != nil && q.deadline <= now; q = r.oldest {
		if q.dead {
			r.release(q)
			continue
		}
		r.stats.ReasmTimeout++
		if q.firstIn && r.cfg.OnTimeExceeded != nil {
			r.stats.ReasmTimeExceeded++
			r.cfg.OnTimeExceeded(r.firstQuote(q))
		}
		r.fail(q)
		n++
	}
	return n
}

// firstQuote rebuilds q's first fragment as received, cut to QuoteLen.
func (r *Reassembler) firstQuote(q *queue) []byte {
	b := r.quote
	n := copy(b, q.buf.B[headroom-q.hdrLen:headroom])
	n += copy(b[n:], q.fragHdr[:])
	n += copy(b[n:], q.buf.B[headroom:headroom+q.firstLen])
	return b[:n]
}

// Flush discards every held datagram without counting failures (shutdown,
// reconfiguration). Memory in use returns to zero.
func (r *Reassembler) Flush() {
	for r.oldest != nil {
		r.release(r.oldest)
	}
}
