package tcpload

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/xdpengine/engine/bench/measure"
)

// counts are what a shard adds up.
type counts struct {
	requests, connects, sent, recv uint64
	errs                           [numKinds]uint64
}

func (c *counts) add(o *counts) {
	c.requests += o.requests
	c.connects += o.connects
	c.sent += o.sent
	c.recv += o.recv
	for i, n := range o.errs {
		c.errs[i] += n
	}
}

func (c *counts) errors() (n uint64) {
	for _, e := range c.errs {
		n += e
	}
	return n
}

// shard is a share of the run's counters and histograms: connection i
// records into shard i mod len(shards), under the shard's mutex, so that
// the progress reader sees consistent figures and the connections seldom
// meet on a lock.
type shard struct {
	mu              sync.Mutex
	total, interval counts
	hist, ihist     *hdrhistogram.Histogram // the run's, the interval's
	lag             *hdrhistogram.Histogram // open loop: send time minus due time
	last            int64                   // when the last request was answered
	_               [64]byte                // keep neighbours' locks apart
}

// done records a request answered at now; lag is how late it was sent
// (open loop; -1 otherwise).
func (s *shard) done(now, lat, lag int64, sent, recv uint64, status bool) {
	s.mu.Lock()
	s.last = max(s.last, now)
	for _, c := range [2]*counts{&s.total, &s.interval} {
		c.requests++
		c.sent += sent
		c.recv += recv
		if status {
			c.errs[KindStatus]++
		}
	}
	s.hist.RecordValue(lat)
	s.ihist.RecordValue(lat)
	if lag >= 0 {
		s.lag.RecordValue(lag)
	}
	s.mu.Unlock()
}

// fail counts an error.
func (s *shard) fail(k Kind) {
	s.mu.Lock()
	s.total.errs[k]++
	s.interval.errs[k]++
	s.mu.Unlock()
}

// moved counts bytes of a bulk stream, or a connection opened.
func (s *shard) moved(sent, recv, connects uint64) {
	s.mu.Lock()
	for _, c := range [2]*counts{&s.total, &s.interval} {
		c.sent += sent
		c.recv += recv
		c.connects += connects
	}
	s.mu.Unlock()
}

// run is one Run's state, shared by its connections.
type run struct {
	cfg     Config
	ctx     context.Context // canceled when the run stops early
	req     []byte          // what every exchange sends
	addrs   []string        // the target's ports, as Dial takes them
	base    time.Time       // the clock's zero: ns values count from it; set before started closes
	ready   sync.WaitGroup  // the workers' first connects
	dialing chan struct{}   // bounds the first connects in flight
	closing chan struct{}   // bounds the closes in flight
	started chan struct{}   // closed when the clock starts
	end     int64           // when requests stop being started
	perReq  float64         // open loop: ns between due times
	next    atomic.Uint64   // open loop: the next request's number
	stopped atomic.Bool     // Run's ctx ended: abandon everything
	stopCh  chan struct{}   // closed with stopped
	shards  []shard
	workers []*worker
	open    atomic.Int64 // connections open now
	peak    atomic.Int64
}

func (r *run) now() int64 { return int64(time.Since(r.base)) }

// due hands out the next request's due time: the schedule's next slot in
// an open-loop run, now in a closed-loop one; false once the run is over.
func (r *run) due() (int64, bool) {
	if r.stopped.Load() {
		return 0, false
	}
	if r.perReq == 0 {
		t := r.now()
		return t, t < r.end
	}
	k := r.next.Add(1) - 1
	t := int64(float64(k) * r.perReq)
	return t, t < r.end
}

func (r *run) opened() {
	n := r.open.Add(1)
	for p := r.peak.Load(); n > p && !r.peak.CompareAndSwap(p, n); p = r.peak.Load() {
	}
}

// maxInFlight bounds the connects before the clock starts, and the
// closes, in flight at once. Tens of thousands of SYNs at once overflow the
// server's SYN and accept queues and turn into retransmissions a second
// later; tens of thousands of connects or closes at once overflow the
// engine's per-worker command ring (4096), and its callers then spin for
// room while the worker that would make it waits for a CPU among them.
const maxInFlight = 512

// maxTimers bounds the timerfds of an open-loop run (one per connection,
// see timer): descriptors are a limited resource (RLIMIT_NOFILE).
const maxTimers = 4096

// Run runs the load cfg describes until cfg.Duration has passed and the
// requests then in flight are answered (or time out), or until ctx ends
// (the figures then cover what was done, and the error is ctx's).
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg, err := cfg.Validate()
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &run{cfg: cfg, ctx: ctx, req: cfg.request(), started: make(chan struct{}), stopCh: make(chan struct{}),
		dialing: make(chan struct{}, maxInFlight), closing: make(chan struct{}, maxInFlight)}
	for p := range cfg.Ports {
		r.addrs = append(r.addrs, cfg.Target.Addr().String()+":"+strconv.Itoa(int(cfg.Target.Port())+p))
	}
	if cfg.Rate > 0 {
		r.perReq = 1e9 / cfg.Rate
	}
	r.shards = make([]shard, min(cfg.Conns, max(4, 2*runtime.GOMAXPROCS(0))))
	for i := range r.shards {
		r.shards[i].hist = hdrhistogram.New(1, int64(cfg.MaxLatency), 3)
		r.shards[i].ihist = hdrhistogram.New(1, int64(cfg.MaxLatency), 3)
		if cfg.Rate > 0 {
			r.shards[i].lag = hdrhistogram.New(1, int64(cfg.MaxLatency), 3)
		}
	}
	r.workers = make([]*worker, cfg.Conns)
	for i := range r.workers {
		w := &worker{r: r, id: i, sh: &r.shards[i%len(r.shards)]}
		r.workers[i] = w
		if cfg.Rate > 0 && i < maxTimers {
			// Beyond maxTimers, or out of descriptors, a worker waits on
			// a Go timer (see sleepUntil).
			w.timer, _ = newTimer()
		}
	}
	defer func() {
		for _, w := range r.workers {
			if w.timer != nil {
				w.timer.close()
			}
		}
	}()
	r.end = int64(cfg.Duration)
	var wg sync.WaitGroup
	r.ready.Add(len(r.workers))
	for _, w := range r.workers {
		wg.Go(w.run)
	}
	began := time.Now()
	r.ready.Wait() // every long-lived connection is open (or failed): start the clock
	r.base = time.Now()
	cpu0 := readCPU()
	close(r.started)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()

	// The watchdog ticks at a tenth of the timeout (10-100 ms); progress
	// every Interval.
	tick := time.NewTicker(min(max(cfg.Timeout/10, 10*time.Millisecond), 100*time.Millisecond))
	defer tick.Stop()
	scratch := hdrhistogram.New(1, int64(cfg.MaxLatency), 3)
	var series []Snapshot
	last := int64(0) // the last snapshot
	var totals counts
	snapshot := func(now int64) {
		s := r.take(scratch, now-last, now, &totals)
		last = now
		series = append(series, s)
		if cfg.Progress != nil {
			cfg.Progress(s)
		}
	}
	var ctxErr error
loop:
	for {
		select {
		case <-finished:
			break loop
		case <-ctx.Done():
			ctxErr = ctx.Err()
			r.stop()
			<-finished
			break loop
		case <-tick.C:
			now := r.now()
			r.watch(now)
			if now-last >= int64(cfg.Interval) {
				snapshot(now)
			}
		}
	}
	if now := r.now(); now-last >= int64(cfg.Interval)/10 || len(series) == 0 {
		snapshot(now) // the tail, unless it is a sliver
	}
	finish := r.now()
	cpu1 := readCPU()

	res := Result{Mode: cfg.Mode.String(), Target: cfg.Target.String(), Ports: cfg.Ports, Conns: cfg.Conns,
		Rate: cfg.Rate, PeakConns: r.peak.Load()}
	if cfg.Mode == Bulk {
		res.Direction = cfg.Direction.String()
	}
	var all counts
	var answered int64
	if cfg.Rate > 0 {
		scratch.Reset()
		for i := range r.shards {
			scratch.Merge(r.shards[i].lag)
		}
		lag := Nanoseconds(measure.Summarize(scratch))
		res.SendLagNs = &lag
	}
	scratch.Reset()
	for i := range r.shards {
		s := &r.shards[i]
		all.add(&s.total)
		scratch.Merge(s.hist)
		answered = max(answered, s.last)
	}
	if answered > 0 {
		finish = answered // the last answer, not the closes after it
	}
	res.Elapsed = time.Duration(finish)
	if (cfg.Rate > 0 || cfg.Mode == Bulk) && ctxErr == nil {
		res.Elapsed = cfg.Duration
	}
	res.Seconds = res.Elapsed.Seconds()
	res.OpenSeconds = r.base.Sub(began).Seconds()
	res.Requests, res.Connects = all.requests, all.connects
	res.BytesSent, res.BytesReceived = all.sent, all.recv
	res.Bytes = all.sent + all.recv
	res.RequestsPerS = perSecond(all.requests, res.Elapsed)
	res.ConnectsPerS = perSecond(all.connects, res.Elapsed)
	res.BitsPerS = 8 * perSecond(res.Bytes, res.Elapsed)
	res.Errors = errorsOf(&all.errs)
	res.CPU = cpuOf(cpu0, cpu1, all.requests)
	res.Histogram = scratch
	res.Latency = measure.Summarize(scratch)
	res.LatencyNs = Nanoseconds(res.Latency)
	res.Intervals = make([]IntervalJSON, 0, len(series))
	for _, s := range series {
		res.Intervals = append(res.Intervals, IntervalJSON{T: s.Elapsed.Seconds(), RequestsPerS: s.RequestsPerS(),
			BitsPerS: s.BitsPerS(), Errors: s.Errors, Open: s.Open, P50: int64(s.Latency.P50), P99: int64(s.Latency.P99)})
	}
	return res, ctxErr
}

// take collects and clears the shards' interval figures.
func (r *run) take(scratch *hdrhistogram.Histogram, interval, now int64, totals *counts) Snapshot {
	var c counts
	scratch.Reset()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		c.add(&s.interval)
		s.interval = counts{}
		scratch.Merge(s.ihist)
		s.ihist.Reset()
		s.mu.Unlock()
	}
	totals.add(&c)
	return Snapshot{Elapsed: time.Duration(now), Interval: time.Duration(interval), Requests: c.requests,
		Connects: c.connects, BytesSent: c.sent, BytesRecv: c.recv, Errors: c.errors(), Open: r.open.Load(),
		Latency: measure.Summarize(scratch), TotalRequests: totals.requests, TotalErr: totals.errors()}
}

// past is a deadline that has passed: setting it wakes a blocked call.
var past = time.Unix(1, 0)

// watch abandons the requests that have run past the timeout: it claims
// the worker's busy mark (so the worker knows) and sets a deadline in the
// past on its connection, which wakes the blocked read or write. The
// requests themselves set no deadline: on the engine's connections a
// blocked call with a deadline arms a timer each time, which the load
// generator's own cost should not include.
func (r *run) watch(now int64) {
	limit := int64(r.cfg.Timeout)
	for _, w := range r.workers {
		b := w.busy.Load()
		if b <= 0 || now-b < limit || !w.busy.CompareAndSwap(b, -1) {
			continue
		}
		if box := w.conn.Load(); box != nil {
			box.c.SetDeadline(past)
		}
		w.fired.Store(true) // pairs with the worker's wait in endOp
	}
}

// stop ends the run early: no new requests, and every blocked call woken.
func (r *run) stop() {
	r.stopped.Store(true)
	close(r.stopCh)
	for _, w := range r.workers {
		if w.timer != nil {
			w.timer.interrupt()
		}
		if box := w.conn.Load(); box != nil {
			box.c.SetDeadline(past)
		}
	}
}

// sleepUntil waits until t, or until the run stops: on the worker's
// timerfd in an open loop (see timer), else on a Go timer. (The select
// parks on sudogs, which the runtime reallocates after a garbage
// collection: a few allocations per cycle, not per request.)
func (w *worker) sleepUntil(t int64) {
	for !w.r.stopped.Load() {
		d := time.Duration(t - w.r.now())
		if d <= 0 {
			return
		}
		if w.timer != nil {
			w.timer.sleep(d)
			continue
		}
		if w.gotimer == nil {
			w.gotimer = time.NewTimer(d)
		} else {
			w.gotimer.Reset(d)
		}
		select {
		case <-w.gotimer.C:
		case <-w.r.stopCh:
			w.gotimer.Stop()
		}
	}
}

// backoff returns the wait after the n-th connect error in a row: 1 ms
// doubling to 100 ms, so that a server that refuses does not make the
// closed loop spin.
func backoff(n int) int64 {
	return int64(min(time.Millisecond<<min(n, 10), 100*time.Millisecond))
}
