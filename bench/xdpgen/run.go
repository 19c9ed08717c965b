package xdpgen

import (
	"context"
	"fmt"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/xdpengine/engine/bench/measure"
)

// pollPeriod is how often Run looks at the workers' counters.
const pollPeriod = 2 * time.Millisecond

// swapTimeout bounds Run's wait for a worker to swap its latency
// histogram; a worker that has not swapped by then is read next time.
const swapTimeout = 100 * time.Millisecond

// Counters are a port's live counters since the current (or last) Run or
// Reflect started, summed over its workers. Received counts, in a Run, the
// frames that carry one of its signatures (duplicates included); in
// Reflect, every frame.
type Counters struct {
	Sent, SentBytes, Received, ReceivedBytes uint64
	Unmeasured                               uint64 // of Sent: frames without a signature
	Other, Errors                            uint64 // as in Interval
	ARP                                      uint64 // ARP requests answered
	Reflected                                uint64 // frames Reflect sent back
}

// Counters returns the live counters; safe to call at any time.
func (p *Port) Counters() Counters { return sum(p.ws) }

// sum adds up the workers' live counters.
func sum(ws []*worker) Counters {
	var c Counters
	for _, w := range ws {
		l := &w.live
		c.Sent += l.sent.Load()
		c.Unmeasured += l.unmeasured.Load()
		c.SentBytes += l.sentBytes.Load()
		c.Received += l.received.Load()
		c.ReceivedBytes += l.receivedBytes.Load()
		c.Other += l.other.Load()
		c.Errors += l.errors.Load()
		c.ARP += l.arp.Load()
		c.Reflected += l.reflected.Load()
	}
	return c
}

// Run sends t's streams from every worker, measures what comes back, and
// returns the outcome once sending is over and the frames in flight had
// Drain to arrive. Ending ctx stops the sending early (the drain still
// runs) and Run returns the result so far with ctx's error.
func (p *Port) Run(ctx context.Context, t Traffic) (*Result, error) {
	if err := p.acquire(); err != nil {
		return nil, err
	}
	defer p.release()
	W := len(p.ws)
	if err := t.check(p.cfg.FrameSize, W); err != nil {
		return nil, err
	}
	if t.Drain == 0 {
		t.Drain = DefaultDrain
	}
	if t.Interval <= 0 {
		t.Interval = DefaultInterval
	}
	if t.MaxLatency == 0 {
		t.MaxLatency = measure.DefaultMaxLatency
	}
	rs := &runState{start: p.Now()}
	if t.Duration > 0 {
		rs.txEnd = rs.start + int64(t.Duration)
	}
	nIDs := W * len(t.Streams)
	senders := 1 // workers that send: all, unless every stream is the first worker's
	for _, st := range t.Streams {
		if st.CaptureTiming == 0 {
			senders = W
		}
	}
	for i, w := range p.ws {
		streams, rates, err := t.workerStreams(i, W, p.cfg.FrameSize)
		if err != nil {
			return nil, err
		}
		budget := t.Count / uint64(senders)
		if uint64(i) < t.Count%uint64(senders) {
			budget++
		}
		if i >= senders {
			budget = 0
		}
		if err := w.prepare(rs, &t, streams, rates, budget, nIDs); err != nil {
			return nil, err
		}
	}
	col := newCollector(p.ws, t.MaxLatency)
	var wg sync.WaitGroup
	for _, w := range p.ws {
		wg.Go(w.generate)
	}
	err := p.coordinate(ctx, rs, &t, col)
	rs.stop.Store(true)
	wg.Wait()
	for _, w := range p.ws {
		if w.liveErr != nil && err == nil {
			err = fmt.Errorf("xdpgen: live mode: queue %d: %d frames not sent: %w", w.queue, w.liveErrs, w.liveErr)
		}
	}
	if iv, ok := col.interval(p.Now(), rs.start, true); ok && t.Progress != nil {
		t.Progress(iv)
	}
	return p.result(&t, rs, col), err
}

// coordinate watches a run: it ends the sending when ctx ends, reports
// intervals, and returns when every worker stopped sending and the drain
// is over (every frame back, or Drain passed).
func (p *Port) coordinate(ctx context.Context, rs *runState, t *Traffic, col *collector) error {
	var err error
	nextIv := rs.start + int64(t.Interval)
	var drainEnd int64
	for {
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
			rs.stopTx.Store(true)
		}
		now := p.Now()
		if now >= nextIv {
			if iv, ok := col.interval(now, rs.start, false); ok && t.Progress != nil {
				t.Progress(iv)
			}
			nextIv += int64(t.Interval)
		}
		if done := p.sendingDone(); done && drainEnd == 0 {
			drainEnd = now + max(int64(t.Drain), 0)
		}
		if drainEnd != 0 {
			c := p.Counters()
			if c.Received >= c.Sent || now >= drainEnd {
				return err
			}
		}
		time.Sleep(pollPeriod)
	}
}

func (p *Port) sendingDone() bool {
	for _, w := range p.ws {
		if !w.live.done.Load() {
			return false
		}
	}
	return true
}

// result assembles a finished run's Result (the workers have stopped).
func (p *Port) result(t *Traffic, rs *runState, col *collector) *Result {
	r := &Result{Histogram: col.total, Intervals: col.intervals}
	n := len(t.Streams)
	all := p.ws[0].tracker
	var lastTx int64
	for i, w := range p.ws {
		if i > 0 {
			_ = all.Merge(w.tracker) // same shape: cannot fail
		}
		r.Other += w.other
		r.Errors += w.errNow
		r.CPU += w.cpu
		r.SentBytes += w.sentBytes
		r.ReceivedBytes += w.receivedBytes
		lastTx = max(lastTx, w.lastTx)
	}
	if lastTx > rs.start {
		r.Duration = time.Duration(lastTx - rs.start)
	}
	r.Streams = make([]StreamResult, n)
	for i := range n {
		sr := &r.Streams[i]
		sr.OfferedRate, sr.Frames = t.Streams[i].Rate, t.Streams[i].Spec.Size
		sr.Measured = len(p.ws) > 0 && p.ws[0].streams[i].Signed()
		for wi, w := range p.ws {
			id := uint16(wi*n + i)
			res := all.Result(id, w.streams[i].Count())
			sr.Sent += res.Sent
			sr.Received += res.Received
			sr.Lost += res.Lost
			sr.Duplicates += res.Duplicates
			sr.Reordered += res.Reordered
			sr.Late += res.Late
			sr.BadTime += res.BadTime
			sr.MaxReorder = max(sr.MaxReorder, res.MaxReorder)
			if len(p.ws) == 1 {
				sr.Latency = res.Latency
			}
		}
		if !sr.Measured {
			sr.Received, sr.Lost = 0, 0
			r.Unmeasured += sr.Sent
		}
		if sr.Sent > 0 {
			sr.Loss = float64(sr.Lost) / float64(sr.Sent)
		}
		sr.SentPPS, sr.ReceivedPPS = perSecond(sr.Sent, r.Duration), perSecond(sr.Received, r.Duration)
		r.Sent += sr.Sent
		r.Received += sr.Received
		r.Lost += sr.Lost
		r.Duplicates += sr.Duplicates
		r.Reordered += sr.Reordered
	}
	r.Latency = all.Latency()
	return r
}

// collector turns the workers' counters and latency histograms into
// Intervals; it belongs to Run's goroutine.
type collector struct {
	ws        []*worker
	prev      Counters
	prevAt    int64
	iv, total *hdrhistogram.Histogram
	intervals []Interval
}

func newCollector(ws []*worker, maxLat time.Duration) *collector {
	return &collector{ws: ws, iv: hdrhistogram.New(1, int64(maxLat), 3), total: hdrhistogram.New(1, int64(maxLat), 3)}
}

// interval closes the period ending at now. final is set once the workers
// have stopped: both of their histograms are then read. It returns false
// for an empty final period.
func (c *collector) interval(now, start int64, final bool) (Interval, bool) {
	c.iv.Reset()
	if final {
		for _, w := range c.ws {
			for _, h := range w.hist {
				c.iv.Merge(h)
				h.Reset()
			}
		}
	} else {
		for _, w := range c.ws {
			w.swap.Store(true) // the worker flips at its next round
		}
		deadline := time.Now().Add(swapTimeout)
		for _, w := range c.ws {
			for w.swap.Load() && time.Now().Before(deadline) {
				time.Sleep(50 * time.Microsecond)
			}
			if w.swap.Load() {
				continue // read next time
			}
			h := w.hist[w.cur.Load()^1]
			c.iv.Merge(h)
			h.Reset()
		}
	}
	c.total.Merge(c.iv)
	cur := sum(c.ws)
	if c.prevAt == 0 {
		c.prevAt = start
	}
	iv := Interval{
		Elapsed: time.Duration(now - start), Length: time.Duration(now - c.prevAt),
		Sent: cur.Sent - c.prev.Sent, Received: cur.Received - c.prev.Received,
		SentBytes: cur.SentBytes - c.prev.SentBytes, ReceivedBytes: cur.ReceivedBytes - c.prev.ReceivedBytes,
		TotalSent: cur.Sent, TotalReceived: cur.Received, TotalUnmeasured: cur.Unmeasured, Other: cur.Other, Errors: cur.Errors,
		Latency: measure.Summarize(c.iv),
	}
	c.prev, c.prevAt = cur, now
	if final && (iv.Length < time.Millisecond || iv.Sent == 0 && iv.Received == 0) {
		return iv, false
	}
	c.intervals = append(c.intervals, iv)
	return iv, true
}

// String formats an interval as a progress line.
func (iv Interval) String() string {
	s := fmt.Sprintf("%6.1fs  tx %9.0f pps  rx %9.0f pps  loss %6.3f%%", iv.Elapsed.Seconds(),
		iv.SentPPS(), iv.ReceivedPPS(), 100*iv.Loss())
	if iv.Latency.Count > 0 {
		s += fmt.Sprintf("  p50 %v  p99 %v", iv.Latency.P50.Round(100*time.Nanosecond), iv.Latency.P99.Round(100*time.Nanosecond))
	}
	return s + fmt.Sprintf("  errors %d  other %d", iv.Errors, iv.Other)
}
