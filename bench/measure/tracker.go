package measure

import (
	"errors"
	"fmt"
	"math"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/xdpengine/engine/bench/signature"
)

// WindowSize is the number of sequence numbers below the highest seen that
// a stream's window remembers (see the package documentation).
const WindowSize = 4096

const windowWords = WindowSize / 64

// DefaultMaxLatency is the largest latency recorded as itself.
const DefaultMaxLatency = 10 * time.Second

// ErrConfig reports a Config the Tracker cannot use.
var ErrConfig = errors.New("measure: bad configuration")

// Config sizes a Tracker.
type Config struct {
	// Streams is the number of streams; ids 0 to Streams-1 are tracked,
	// others are counted as Unknown. At most 65536.
	Streams int
	// MaxLatency is the histograms' upper bound; 0 means
	// DefaultMaxLatency.
	MaxLatency time.Duration
}

// Tracker counts the signatures one receiver reads. See the package
// documentation for the model.
type Tracker struct {
	streams    []streamState
	maxLatency int64
	unknown    uint64 // signatures of streams beyond Config.Streams
	unsigned   uint64 // frames without a signature (ObserveFrame)
}

// streamState is the state of one stream.
type streamState struct {
	seen       bool
	highest    uint64 // highest sequence number seen
	window     [windowWords]uint64
	received   uint64
	dups       uint64
	reordered  uint64
	late       uint64
	maxReorder uint64
	badTime    uint64
	minNs      int64
	maxNs      int64
	hist       *hdrhistogram.Histogram
}

// New makes a Tracker for cfg.Streams streams.
func New(cfg Config) (*Tracker, error) {
	if cfg.Streams < 1 || cfg.Streams > 1<<16 {
		return nil, fmt.Errorf("%w: %d streams (want 1 to 65536)", ErrConfig, cfg.Streams)
	}
	if cfg.MaxLatency == 0 {
		cfg.MaxLatency = DefaultMaxLatency
	}
	if cfg.MaxLatency < time.Microsecond {
		return nil, fmt.Errorf("%w: maximum latency %v", ErrConfig, cfg.MaxLatency)
	}
	t := &Tracker{streams: make([]streamState, cfg.Streams), maxLatency: int64(cfg.MaxLatency)}
	for i := range t.streams {
		t.streams[i].hist = hdrhistogram.New(1, t.maxLatency, 3)
		t.streams[i].minNs = math.MaxInt64
	}
	return t, nil
}

// Streams returns the number of streams tracked.
func (t *Tracker) Streams() int { return len(t.streams) }

// ObserveFrame reads the signature of an Ethernet frame (signature.FromFrame)
// and observes it, arrived at rxNs. It returns false, counting the frame as
// Unsigned, when the frame carries none.
func (t *Tracker) ObserveFrame(frame []byte, rxNs int64) bool {
	var s signature.Signature
	if !signature.FromFrame(frame, &s) {
		t.unsigned++
		return false
	}
	t.Observe(s, rxNs)
	return true
}

// Observe counts a signature read at rxNs (the sender's clock).
func (t *Tracker) Observe(s signature.Signature, rxNs int64) {
	if int(s.Stream) >= len(t.streams) {
		t.unknown++
		return
	}
	st := &t.streams[s.Stream]
	if !st.order(s.Seq) {
		return // a duplicate: neither latency nor count
	}
	st.received++
	lat := rxNs - s.TxNs
	if lat < 0 {
		st.badTime++
		return
	}
	st.minNs = min(st.minNs, lat)
	st.maxNs = max(st.maxNs, lat)
	lat = min(max(lat, 1), t.maxLatency)
	_ = st.hist.RecordValue(lat) // within the histogram's range: no error
}

// order places seq in the stream's window; false means a duplicate.
func (st *streamState) order(seq32 uint32) bool {
	if !st.seen {
		st.seen = true
		st.highest = signature.Extend(seq32, 0)
		st.setBit(st.highest)
		return true
	}
	seq := signature.Extend(seq32, st.highest)
	switch {
	case seq > st.highest:
		st.advance(seq)
		st.setBit(seq)
		st.highest = seq
		return true
	case seq == st.highest:
		st.dups++
		return false
	}
	d := st.highest - seq
	if d >= WindowSize {
		st.late++
		st.reordered++
		st.maxReorder = max(st.maxReorder, d)
		return true
	}
	if st.bit(seq) {
		st.dups++
		return false
	}
	st.setBit(seq)
	st.reordered++
	st.maxReorder = max(st.maxReorder, d)
	return true
}

func (st *streamState) bit(seq uint64) bool {
	return st.window[(seq/64)%windowWords]&(1<<(seq%64)) != 0
}

func (st *streamState) setBit(seq uint64) {
	st.window[(seq/64)%windowWords] |= 1 << (seq % 64)
}

// advance clears the bits of the sequence numbers highest+1 to to, which
// the window reuses for them.
func (st *streamState) advance(to uint64) {
	from := st.highest + 1
	if to-from >= WindowSize {
		st.window = [windowWords]uint64{}
		return
	}
	for from <= to {
		w, b := (from/64)%windowWords, from%64
		n := min(64-b, to-from+1) // bits to clear in this word
		mask := ^uint64(0)
		if n < 64 {
			mask = (1<<n - 1) << b
		}
		st.window[w] &^= mask
		from += n
	}
}

// Stats are one stream's counters so far.
type Stats struct {
	Stream     uint16
	Received   uint64 // distinct sequence numbers
	Duplicates uint64
	Reordered  uint64 // arrived after a higher sequence number (Late included)
	Late       uint64 // reordered by WindowSize or more
	MaxReorder uint64 // the largest reordering distance, in packets
	Missing    uint64 // sequence numbers below the highest not (yet) seen
	Highest    uint64 // the highest sequence number seen
	BadTime    uint64 // arrival before transmission: not in Latency
	Latency    Latency
}

// Stats returns stream id's counters, latency percentiles included (which
// walks the histogram: call it per report, not per packet).
func (t *Tracker) Stats(id uint16) Stats {
	if int(id) >= len(t.streams) {
		return Stats{Stream: id}
	}
	st := &t.streams[id]
	s := Stats{
		Stream: id, Received: st.received, Duplicates: st.dups, Reordered: st.reordered,
		Late: st.late, MaxReorder: st.maxReorder, Highest: st.highest, BadTime: st.badTime,
	}
	if st.seen && st.highest+1 > st.received {
		s.Missing = st.highest + 1 - st.received
	}
	s.Latency = st.latency()
	return s
}

func (st *streamState) latency() Latency {
	return exact(Summarize(st.hist), st.minNs, st.maxNs)
}

// exact puts the exact minimum and maximum into l and keeps the
// percentiles between them: the histogram reports the top of a value's
// bucket (20 µs reads as 20.015 µs at 3 digits), which may exceed the
// largest value recorded.
func exact(l Latency, lo, hi int64) Latency {
	if l.Count == 0 {
		return l
	}
	l.Min, l.Max = time.Duration(lo), time.Duration(hi)
	for _, p := range []*time.Duration{&l.Mean, &l.P50, &l.P90, &l.P99, &l.P999} {
		*p = min(max(*p, l.Min), l.Max)
	}
	return l
}

// Result is a stream's outcome once its sender said how many it sent.
type Result struct {
	Stats
	Sent uint64
	Lost uint64 // Sent - Received, 0 when more arrived than were sent
}

// LossRatio returns Lost/Sent (0 with nothing sent).
func (r Result) LossRatio() float64 {
	if r.Sent == 0 {
		return 0
	}
	return float64(r.Lost) / float64(r.Sent)
}

// Result returns stream id's outcome given the number of frames its sender
// generated.
func (t *Tracker) Result(id uint16, sent uint64) Result {
	r := Result{Stats: t.Stats(id), Sent: sent}
	if sent > r.Received {
		r.Lost = sent - r.Received
	}
	return r
}

// Unknown returns the number of signatures whose stream id is not tracked.
func (t *Tracker) Unknown() uint64 { return t.unknown }

// Unsigned returns the number of frames ObserveFrame found no signature in.
func (t *Tracker) Unsigned() uint64 { return t.unsigned }

// Latency returns the latency of every stream together.
func (t *Tracker) Latency() Latency {
	all := hdrhistogram.New(1, t.maxLatency, 3)
	var lo, hi int64 = math.MaxInt64, 0
	for i := range t.streams {
		st := &t.streams[i]
		all.Merge(st.hist)
		lo, hi = min(lo, st.minNs), max(hi, st.maxNs)
	}
	return exact(Summarize(all), lo, hi)
}

// Merge adds o's counts and latencies into t, stream by stream (the
// trackers of several receiving workers). Windows are not merged: a
// duplicate or reordering between two trackers is not seen. o must track
// as many streams with the same maximum latency.
func (t *Tracker) Merge(o *Tracker) error {
	if len(o.streams) != len(t.streams) || o.maxLatency != t.maxLatency {
		return fmt.Errorf("%w: merging trackers of different shapes", ErrConfig)
	}
	for i := range t.streams {
		a, b := &t.streams[i], &o.streams[i]
		if b.seen && (!a.seen || b.highest > a.highest) {
			a.highest, a.seen = b.highest, true
		}
		a.received += b.received
		a.dups += b.dups
		a.reordered += b.reordered
		a.late += b.late
		a.maxReorder = max(a.maxReorder, b.maxReorder)
		a.badTime += b.badTime
		a.minNs, a.maxNs = min(a.minNs, b.minNs), max(a.maxNs, b.maxNs)
		a.hist.Merge(b.hist)
	}
	t.unknown += o.unknown
	t.unsigned += o.unsigned
	return nil
}

// Reset forgets everything, keeping the memory.
func (t *Tracker) Reset() {
	for i := range t.streams {
		h := t.streams[i].hist
		h.Reset()
		t.streams[i] = streamState{hist: h, minNs: math.MaxInt64}
	}
	t.unknown, t.unsigned = 0, 0
}
