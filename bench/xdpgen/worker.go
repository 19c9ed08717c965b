package xdpgen

import (
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/arp"
	"github.com/xdpengine/engine/bench/measure"
	"github.com/xdpengine/engine/bench/pacer"
	"github.com/xdpengine/engine/bench/signature"
	"github.com/xdpengine/engine/bench/stream"
)

// statsPeriod is how often a worker reads its socket's kernel counters.
const statsPeriod = int64(100 * time.Millisecond)

// idleWait is how long a worker with nothing to send or receive sleeps in
// poll(2) (it wakes as soon as a frame arrives).
const idleWait = time.Millisecond

// An adaptive worker whose pacer has nothing to send for more than
// napMin sleeps in ppoll(2) until napMargin before the next frame is due,
// or a frame arrives (its thread's timer slack set to napSlack).
const (
	napMin    = 40 * time.Microsecond
	napMargin = 15 * time.Microsecond
	napMax    = time.Millisecond
	napSlack  = 1000 // ns
)

// runState is what the workers of one run share with Run.
type runState struct {
	start  int64 // Port.Now at the start
	txEnd  int64 // stop sending at this time; 0: no limit
	stopTx atomic.Bool
	stop   atomic.Bool
}

// live is a worker's counters as it publishes them once per round, for
// Port.Counters and Run's intervals (atomics: read by other goroutines).
type live struct {
	sent, sentBytes, received, receivedBytes atomic.Uint64
	other, errors, arp, reflected            atomic.Uint64
	unmeasured                               atomic.Uint64 // of sent: frames without a signature
	lastTx                                   atomic.Int64  // Port.Now of the last frame generated
	done                                     atomic.Bool   // finished sending
	_                                        [64]byte      // keep workers' counters off each other's cache lines
}

// worker serves one socket. Everything but live, swap and cur belongs to
// the worker's goroutine while a run is on, to Run's goroutine otherwise.
type worker struct {
	p        *Port
	s        *afxdp.Socket
	queue    int
	ring     int
	rxd, txd []afxdp.Desc
	spare    []uint64 // frames allocated for generation, not yet written
	nspare   int
	// tags says, per UMEM frame, which stream and template the frame
	// holds (stream index + 1 in the high 32 bits, Template in the low
	// ones; 0: unknown), so that generating into it again rewrites only
	// the varying bytes (stream.Rewrite). A frame holds its stream's
	// bytes while it cycles between spare and the transmit ring: during a
	// run, completed frames come back to spare (CompleteTo), never to the
	// pool the receive side fills from. prepare clears the tags.
	tags      []uint64
	shift     uint // log2 of the frame size
	responder arp.Responder
	spin      bool // busy polling: never nap
	pfd       [1]unix.PollFd
	ts        unix.Timespec

	// Set by prepare for each run.
	rs      *runState
	mux     pacer.Mux
	tl      *pacer.Timeline // a stream sent with its capture's timing, if any
	tlIdx   int             // its index in streams
	streams []*stream.Stream
	tracker *measure.Tracker
	nIDs    int
	budget  uint64 // frames to send, if limited
	limited bool
	maxLat  int64

	// Latency of the current interval: the worker records into
	// hist[cur]; Run asks for a swap (swap true), the worker flips cur
	// and clears swap (release), and Run then reads hist[cur^1] alone
	// (acquire on swap) until it asks again.
	hist [2]*hdrhistogram.Histogram
	cur  atomic.Int32
	swap atomic.Bool

	// The worker's own counters, published to live.
	sent, sentBytes, received, receivedBytes uint64
	unmeasured                               uint64 // of sent: frames of streams without a signature
	other, arps, reflected                   uint64
	errBase, errNow                          uint64 // kernel counters at the start, now
	lastTx, nextStats                        int64
	cpu                                      time.Duration
	live                                     live

	// Live mode (live.go): the streams' first frames, this round's count
	// per stream, the BPF_PROG_RUN options, and failed runs.
	lives    []liveStream
	liveN    []int
	liveRun  *afxdp.LiveRunner
	liveErrs uint64 // frames not sent
	liveErr  error  // the first failure of the run
}

func newWorker(p *Port, s *afxdp.Socket, q int) *worker {
	b := p.cfg.Batch
	u := s.UMEM()
	return &worker{
		p: p, s: s, queue: q, ring: p.cfg.RingSize,
		// spare holds what may come back from the transmit ring (ring
		// size) on top of a batch allocated.
		rxd: make([]afxdp.Desc, b), txd: make([]afxdp.Desc, b), spare: make([]uint64, p.cfg.RingSize+b),
		tags: make([]uint64, u.Frames()), shift: uint(bits.TrailingZeros(uint(u.FrameSize()))),
		responder: arp.Responder{MAC: p.mac, Addrs: [][4]byte{p.cfg.Addr.Addr().As4()}},
		spin:      p.cfg.BusyPoll,
		pfd:       [1]unix.PollFd{{Fd: int32(s.FD()), Events: unix.POLLIN}},
	}
}

// nap sleeps in ppoll(2) on the socket for d at most: a frame arriving
// ends it.
func (w *worker) nap(d time.Duration) {
	w.ts = unix.NsecToTimespec(int64(d))
	_, _ = unix.Ppoll(w.pfd[:], &w.ts, nil)
}

// prepare readies the worker for a run.
func (w *worker) prepare(rs *runState, t *Traffic, streams []*stream.Stream, rates []pacer.Rate, budget uint64, nIDs int) error {
	maxLat := t.MaxLatency
	w.rs, w.streams, w.nIDs, w.maxLat = rs, streams, nIDs, int64(maxLat)
	w.budget, w.limited = budget, t.Count > 0
	w.mux, w.tl = pacer.Mux{}, nil
	for i, st := range streams {
		ts := &t.Streams[i]
		if ts.CaptureTiming > 0 {
			if w.queue != 0 {
				continue // the first worker sends it
			}
			offs := make([]time.Duration, len(ts.Spec.Frames))
			for j, f := range ts.Spec.Frames {
				offs[j] = f.Offset
			}
			tl, err := pacer.NewTimeline(offs, ts.CaptureTiming, ts.Loop, rs.start)
			if err != nil {
				return err
			}
			w.tl, w.tlIdx = tl, i
			continue
		}
		if _, err := w.mux.Add(st, rates[i], st.MaxLen()+stream.FCSLen, rs.start); err != nil {
			return err
		}
	}
	if w.tracker == nil || w.tracker.Streams() != nIDs || w.hist[0].HighestTrackableValue() != w.maxLat {
		t, err := measure.New(measure.Config{Streams: nIDs, MaxLatency: maxLat})
		if err != nil {
			return err
		}
		w.tracker = t
		w.hist = [2]*hdrhistogram.Histogram{hdrhistogram.New(1, w.maxLat, 3), hdrhistogram.New(1, w.maxLat, 3)}
	} else {
		w.tracker.Reset()
		w.hist[0].Reset()
		w.hist[1].Reset()
	}
	if w.p.live != nil {
		if err := w.prepareLive(t, streams); err != nil {
			return err
		}
	}
	clear(w.tags)
	w.cur.Store(0)
	w.swap.Store(false)
	w.resetCounters()
	w.errBase = w.kernelErrors()
	return nil
}

func (w *worker) resetCounters() {
	w.sent, w.sentBytes, w.received, w.receivedBytes, w.unmeasured = 0, 0, 0, 0, 0
	w.other, w.arps, w.reflected, w.errNow, w.lastTx, w.nextStats = 0, 0, 0, 0, 0, 0
	w.cpu = 0
	w.live.done.Store(false)
	w.publish()
}

// kernelErrors sums the socket's kernel counters of trouble: receive
// drops (ring full, other) and transmit errors.
func (w *worker) kernelErrors() uint64 {
	st, err := w.s.Stats()
	if err != nil {
		return 0
	}
	return st.RxDropped + st.RxRingFull + st.TxInvalidDescs + st.TxWakeupErrors
}

// publish stores the worker's counters for other goroutines.
func (w *worker) publish() {
	l := &w.live
	l.sent.Store(w.sent)
	l.unmeasured.Store(w.unmeasured)
	l.sentBytes.Store(w.sentBytes)
	l.received.Store(w.received)
	l.receivedBytes.Store(w.receivedBytes)
	l.other.Store(w.other)
	l.errors.Store(w.errNow + w.liveErrs)
	l.arp.Store(w.arps)
	l.reflected.Store(w.reflected)
	l.lastTx.Store(w.lastTx)
}

// tick does the worker's periodic chores at now: the kernel counters and
// a latency swap Run asked for.
func (w *worker) tick(now int64) {
	if w.swap.Load() { // pairs with Run's swap.Store(true)
		w.cur.Store(w.cur.Load() ^ 1)
		w.swap.Store(false) // Run may read the other histogram from here on
	}
	if now >= w.nextStats {
		if e := w.kernelErrors(); e >= w.errBase {
			w.errNow = e - w.errBase
		}
		w.nextStats = now + statsPeriod
	}
}

// threadCPU returns the calling thread's CPU time.
func threadCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_THREAD, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// generate is the worker's loop for Run: receive and measure, answer ARP,
// reap completions, generate what the pacer allows into the transmit
// ring's free slots, refill, until the run stops. The clock is read once
// per round, after receiving.
func (w *worker) generate() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	if !w.spin {
		slack, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
		_ = unix.Prctl(unix.PR_SET_TIMERSLACK, napSlack, 0, 0, 0)
		defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack), 0, 0, 0)
	}
	s, rs := w.s, w.rs
	sending := true
	for !rs.stop.Load() {
		k := s.Receive(w.rxd)
		now := w.p.Now()
		if k > 0 {
			w.input(now, k)
		}
		if sending && (rs.stopTx.Load() || rs.txEnd > 0 && now >= rs.txEnd || w.limited && w.sent >= w.budget ||
			w.mux.Len() == 0 && (w.tl == nil || w.tl.Done())) {
			sending = false
			w.live.done.Store(true)
		}
		if sending {
			if w.p.live != nil {
				w.transmitLive(now)
			} else {
				w.transmit(now)
			}
			if !w.spin && k == 0 {
				d := w.mux.Wait(now)
				if w.tl != nil {
					d = min(d, w.tl.Wait(now))
				}
				if d > napMin {
					w.nap(min(d-napMargin, napMax))
				}
			}
		} else {
			s.Complete()
		}
		s.Fill()
		w.tick(now)
		w.publish()
		if !sending && k == 0 {
			s.Wait(idleWait)
		}
	}
	for ; w.nspare > 0; w.nspare-- {
		s.ReleaseAddr(w.spare[w.nspare-1])
	}
	for s.TxInFlight() > 0 && s.Complete() > 0 {
	}
	w.cpu = threadCPU() - cpu0
	w.live.done.Store(true)
	w.publish()
}

// input measures the k frames received into w.rxd at now and releases
// them; ARP requests for the port's address are answered.
func (w *worker) input(now int64, k int) {
	s := w.s
	var sig signature.Signature
	for i := range k {
		f := s.Frame(w.rxd[i])
		if isARP(f) {
			if _, _, ok := w.p.answerARP(s, &w.responder, now, f); ok {
				w.arps++
			}
			continue
		}
		if !signature.FromFrame(f, &sig) || int(sig.Stream) >= w.nIDs || sig.TxNs < w.rs.start {
			w.other++ // not ours, or a straggler of an earlier run
			continue
		}
		w.tracker.Observe(sig, now)
		if lat := now - sig.TxNs; lat >= 0 {
			_ = w.hist[w.cur.Load()].RecordValue(min(max(lat, 1), w.maxLat))
		}
		w.received++
		w.receivedBytes += uint64(len(f))
	}
	s.Release(w.rxd[:k])
}

// transmit reaps completed frames into spare, then generates as many
// frames as the pacer allows at now, at most as many as the transmit ring
// has free slots (so that every frame generated goes out: Stream.Next
// counts a frame as sent), and queues them. A frame that already holds
// the stream's template gets only its varying bytes written.
func (w *worker) transmit(now int64) {
	s := w.s
	w.nspare += s.CompleteTo(w.spare[w.nspare:])
	room := min(w.ring-s.TxInFlight(), len(w.txd))
	if w.limited {
		room = min(room, int(min(w.budget-w.sent, uint64(len(w.txd)))))
	}
	n := 0
	for n < room {
		if w.nspare == 0 {
			if w.nspare = s.Alloc(w.spare[:len(w.txd)]); w.nspare == 0 {
				break
			}
		}
		var i int
		if w.tl != nil && w.tl.Due(now) {
			i = w.tlIdx
		} else {
			var ok bool
			if i, ok = w.mux.Next(now); !ok {
				break
			}
		}
		w.nspare--
		addr := w.spare[w.nspare]
		l := w.write(i, addr, now)
		if !w.streams[i].Signed() {
			w.unmeasured++
		}
		w.txd[n] = afxdp.Desc{Addr: addr, Len: uint32(l)}
		w.sentBytes += uint64(l)
		n++
	}
	if n == 0 {
		return
	}
	// Cannot queue fewer: room is below the ring's free slots.
	s.Transmit(w.txd[:n])
	w.sent += uint64(n)
	w.lastTx = now
}

// write generates stream i's next frame into the frame at addr and
// returns its length: over the template the frame already holds, or after
// writing the template into it.
func (w *worker) write(i int, addr uint64, now int64) int {
	st := w.streams[i]
	buf := w.s.FrameBuffer(addr)
	f := addr >> w.shift
	if f >= uint64(len(w.tags)) {
		return st.Next(buf, now)
	}
	key := uint64(i+1)<<32 | uint64(uint32(st.Template()))
	if w.tags[f] != key {
		if !st.Prefill(buf) {
			w.tags[f] = 0
			return st.Next(buf, now)
		}
		w.tags[f] = key
	}
	return st.Rewrite(buf, now)
}
