package datapath

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/ring"
	"github.com/xdpengine/engine/stack/stats"
)

const (
	burst        = 64                     // descriptors per receive or transmit call
	tickInterval = 100 * time.Millisecond // slow timers, counter publication
	sleepTimeout = 100                    // ms: an idle worker still ticks
	steerRing    = 1024                   // per pair of workers
	idleYield    = 50 * time.Microsecond  // an idle spinning worker yields its P this often
)

// Config configures a worker.
type Config struct {
	Queue    int           // the NIC queue, and the worker's index
	Poll     PollMode      // how it waits
	SpinTime time.Duration // PollAdaptive: how long it spins after the last work
	// Nap (PollAdaptive, 0: off) makes the spin a series of timed sleeps
	// of this length (nap.go): the worker then handles what arrived
	// meanwhile in one round, and costs no CPU in between.
	Nap time.Duration
	// CPU pins the worker's thread (negative: not pinned). A pinned or
	// busy-polling worker keeps an OS thread of its own (OwnThread).
	CPU       int
	OwnThread bool
	Epoch     time.Time // origin of Now
	Bufs      *Bufs     // the engine's packet buffers
	Logger    *slog.Logger
	// Injector, if set, makes the worker's faults (tests only).
	Injector NewInjector
	// TxChecksumOffload lets the worker leave UDP and TCP checksums to
	// the socket's transmit offload where it has one
	// (afxdp.Socket.TxChecksumOffload; QueueTxChecksum).
	TxChecksumOffload bool
}

// Worker is one poll-mode loop bound to one queue. Everything it owns (the
// AF_XDP socket, the counters, the transmit batch, the layers' state) is
// touched by its goroutine only; other goroutines reach it through rings
// (the steering inboxes here, the layers' own queues) and wake it with its
// eventfd (Wake).
type Worker struct {
	cfg   Config
	queue int
	sock  *afxdp.Socket
	// efd is the eventfd Wake writes to. Applications wake the worker
	// while Close may be closing it: efdMu keeps a Wake from writing to a
	// closed descriptor, or to another file that reused its number. Only
	// a Wake that finds the worker asleep takes it (a write(2) follows).
	efd   int
	efdMu sync.RWMutex
	bufs  *Bufs
	wk    *Waker
	input Input
	layer []Layer
	inj   Injector
	// txCsum: transmitted checksums are finished by the socket's offload
	// (Attach; QueueTxChecksum).
	txCsum atomic.Bool
	// touched keeps receive's touching loads from being optimized away.
	touched byte
	// burstIn is input when it is a BurstInput, else nil (SetInput).
	burstIn BurstInput

	inbox    []*ring.SPSC[Steered] // inbox[i]: from worker i
	peers    []*Worker
	sleeping atomic.Bool // the worker is (about to be) in poll(2)
	nsleep   *netSleep   // how it sleeps when not OwnThread, while GOMAXPROCS is 1 (netsleep.go); nil: poll(2)
	sleepOut [1]bool     // nsleep's argument: watch the socket for EPOLLOUT too
	stop     atomic.Bool
	failed   atomic.Pointer[failure] // why the loop ended, if it failed (fail.go)
	pub      atomic.Pointer[stats.Worker]
	tap      atomic.Pointer[Tap] // packet capture (tap.go); nil when off
	calls    callQueue

	st    stats.Worker
	now   int64
	napTS *unix.Timespec // Config.Nap, for nanosleep (nap.go)

	// Scratch space, reused every burst.
	descs   []afxdp.Desc
	frames  [][]byte // the burst's frames, for BurstInput
	txDescs []afxdp.Desc
	one     []uint64
	items   []Steered
}

// New makes a worker; Connect links it with the others, Attach gives it
// its socket, and Run runs it.
func New(cfg Config) (*Worker, error) {
	if cfg.Nap < 0 || cfg.Nap > 0 && cfg.Poll == PollAdaptive && cfg.Nap >= cfg.SpinTime {
		return nil, fmt.Errorf("datapath: nap %v: want 0 or less than the spin time (%v)", cfg.Nap, cfg.SpinTime)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("datapath: eventfd: %w", err)
	}
	w := &Worker{
		cfg: cfg, queue: cfg.Queue, efd: efd, bufs: cfg.Bufs,
		descs:   make([]afxdp.Desc, burst),
		frames:  make([][]byte, burst),
		txDescs: make([]afxdp.Desc, 0, 2*burst),
		one:     make([]uint64, 1),
		items:   make([]Steered, burst),
	}
	w.st.Queue = cfg.Queue
	if cfg.Nap > 0 {
		ts := unix.NsecToTimespec(int64(cfg.Nap))
		w.napTS = &ts
	}
	if w.wk, err = NewWaker(!cfg.OwnThread); err != nil {
		unix.Close(efd)
		return nil, err
	}
	return w, nil
}

// Connect creates the steering rings from every worker of all to w.
func (w *Worker) Connect(all []*Worker) error {
	w.peers = all
	w.inbox = make([]*ring.SPSC[Steered], len(all))
	for i := range all {
		r, err := ring.NewSPSC[Steered](steerRing)
		if err != nil {
			return err
		}
		w.inbox[i] = r
	}
	return nil
}

// SetInput sets the network layer frames go to (again, to replace it);
// AddLayer adds a protocol's per-worker part. Both before Run. An input
// that is a BurstInput gets each received burst first.
func (w *Worker) SetInput(in Input) {
	w.input = in
	w.burstIn, _ = in.(BurstInput)
}

// AddLayer adds l to the layers the loop drives, after those added before.
func (w *Worker) AddLayer(l Layer) { w.layer = append(w.layer, l) }

// Attach gives the worker its AF_XDP socket (before Run) and makes its
// injector, if the configuration has one.
func (w *Worker) Attach(sock *afxdp.Socket) {
	w.sock = sock
	w.txCsum.Store(w.cfg.TxChecksumOffload && sock.TxChecksumOffload())
	if w.cfg.Injector != nil {
		w.inj = w.cfg.Injector(w)
	}
}

// Queue returns the worker's queue.
func (w *Worker) Queue() int { return w.queue }

// Now returns the monotonic nanoseconds of the current round (read once
// per round).
func (w *Worker) Now() int64 { return w.now }

// Stats returns the worker's live counters, for the layers to count in
// (worker goroutine only).
func (w *Worker) Stats() *stats.Worker { return &w.st }

// Waker returns the worker's waker (worker goroutine only).
func (w *Worker) Waker() *Waker { return w.wk }

// Bufs returns the packet buffer pool.
func (w *Worker) Bufs() *Bufs { return w.bufs }

// Peers returns every worker, this one included, by queue.
func (w *Worker) Peers() []*Worker { return w.peers }

// Socket returns the worker's AF_XDP socket (nil before Attach).
func (w *Worker) Socket() *afxdp.Socket { return w.sock }

// Nanotime returns monotonic nanoseconds since the epoch (the clock of
// Now), for callers outside the worker.
func (w *Worker) Nanotime() int64 { return int64(time.Since(w.cfg.Epoch)) }

// Published returns the counters the worker last published.
func (w *Worker) Published() stats.Worker {
	if p := w.pub.Load(); p != nil {
		return *p
	}
	return stats.Worker{Queue: w.queue}
}

// Wake gets the worker out of poll(2) if it sleeps. Pairs with the
// sleeping.Store(true) in sleep: the worker announces the sleep before its
// last look at its queues, and a producer looks at sleeping after its
// enqueue, so a wakeup is never lost.
func (w *Worker) Wake() {
	if w.sleeping.Load() {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		w.efdMu.RLock()
		if w.efd >= 0 {
			unix.Write(w.efd, one[:])
		}
		w.efdMu.RUnlock()
	}
}

// Stop asks the worker to leave its loop.
func (w *Worker) Stop() {
	w.stop.Store(true)
	w.Wake()
}

// Run is the worker's loop; it returns after Stop, once the layers drained
// and the last counters are published, or when the worker failed (Err).
func (w *Worker) Run(wg *sync.WaitGroup) {
	defer wg.Done()
	defer w.recoverLoop()
	if w.cfg.OwnThread {
		// Pinned or busy-polling: the worker keeps a thread of its own
		// (and wakes applications through its waker goroutine).
		// Otherwise it is an ordinary goroutine that runs the
		// applications it wakes on its own thread (see Waker).
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if w.cfg.Nap > 0 {
			setNapSlack() // once: the thread is the worker's alone
		}
	}
	if w.cfg.CPU >= 0 {
		var set unix.CPUSet
		set.Set(w.cfg.CPU)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			w.cfg.Logger.Warn("cannot pin worker", "queue", w.queue, "cpu", w.cfg.CPU, "err", err)
		}
	}
	if !w.cfg.OwnThread && w.nsleep == nil {
		// An ordinary goroutine sleeps in the netpoller while its P is
		// the program's only one (netsleep.go; looked at before each
		// sleep: a program may change GOMAXPROCS); poll(2) if that cannot
		// be set up. With more Ps it sleeps in poll(2): the others serve
		// the program meanwhile, and poll(2) returns on the frame itself,
		// not when a P next polls the network.
		if ns, err := newNetSleep([]int{w.sock.FD()}, []int{w.efd}); err == nil {
			w.nsleep = ns
		} else {
			w.cfg.Logger.Warn("worker sleeps in poll(2)", "queue", w.queue, "err", err)
		}
	}
	w.now = w.Nanotime()
	w.wk.soloP = runtime.GOMAXPROCS(0) == 1
	for _, l := range w.layer {
		l.Start()
	}
	lr := loopRound{lastTick: w.now, lastWork: w.now}
	spin := int64(w.cfg.SpinTime)
	lastYield := w.now
	for !w.stop.Load() {
		if w.round(&lr) > 0 {
			continue
		}
		spinning := w.cfg.Poll == PollBusy || w.cfg.Poll == PollAdaptive && w.now-lr.lastWork < spin
		if spinning && w.now-lastYield >= int64(idleYield) {
			// A spinning worker lets the goroutines queued on its P run
			// now and then (timers, netpoll, other work of the program),
			// as it does at once for those it wakes: with GOMAXPROCS=1
			// they have no other P. A worker locked to its thread too:
			// its waker goroutine and the applications it wakes need a P
			// (with one P, a worker that spun without yielding held them
			// off for the whole SpinTime at every wakeup: sequential
			// connections ran ×13 slower).
			lastYield = w.now
			runtime.Gosched()
			if w.cfg.Nap > 0 {
				continue // poll what they queued before napping
			}
		}
		switch w.cfg.Poll {
		case PollBusy:
			continue
		case PollAdaptive:
			if spinning {
				// A polite spin: a thread woken on this core (the
				// application, a client, softirq work deferred to
				// ksoftirqd) runs now instead of waiting for the
				// scheduler to preempt a worker that never blocks.
				// With Nap, a timed sleep instead (nap.go). Either
				// way a RawSyscall: the worker keeps its P.
				if w.cfg.Nap > 0 {
					w.nap()
				} else {
					unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
				}
				continue
			}
		}
		w.sleep()
	}
	w.drain()
	w.publish()
	w.calls.close(w)
}

// loopRound is what a loop remembers of a worker's rounds.
type loopRound struct {
	lastTick, lastWork int64 // the round that last ticked, that last did work
	worked             bool  // the last round did work
}

// round runs one round of the worker's loop: its queues (poll), its slow
// timers when due, the calls queued to it. It returns how many items the
// round handled.
func (w *Worker) round(lr *loopRound) int {
	now := w.Nanotime()
	if lr.worked {
		// The last round did work: its time, to this round's start (no
		// clock read of its own; idle rounds are not counted). In a
		// shared loop that includes its loop-mates' rounds in between.
		w.st.Hist.Round.Add(uint64(now - w.now))
	}
	w.now = now
	work := w.poll()
	lr.worked = work > 0
	if w.now-lr.lastTick >= int64(tickInterval) {
		w.tick()
		w.wk.Flush()
		lr.lastTick = w.now
	}
	if w.calls.n.Load() > 0 {
		w.calls.run(w)
	}
	if work > 0 {
		lr.lastWork = w.now
	}
	return work
}

// poll does one round of work: received frames, frames from other workers,
// the layers' rounds, completed transmissions. It returns how many items
// it handled.
func (w *Worker) poll() int {
	work := 0
	if n := w.sock.Receive(w.descs); n > 0 {
		work += n
		w.st.Hist.RxBurst.Add(uint64(n))
		if w.inj != nil {
			w.inj.Receive(w.descs[:n])
		} else {
			w.receive(w.descs[:n])
		}
		w.sock.Fill()
	}
	if w.inj != nil {
		work += w.inj.Round()
	}
	for i, in := range w.inbox {
		if i == w.queue {
			continue
		}
		n := in.DequeueBurst(w.items)
		for j := range w.items[:n] {
			w.input.Steered(&w.items[j])
			w.bufs.Put(w.items[j].Buf)
		}
		clear(w.items[:n])
		work += n
	}
	for _, l := range w.layer {
		work += l.Round()
	}
	if len(w.txDescs) > 0 || w.inj != nil && w.inj.NextDeadline() != 0 {
		w.FlushTx()
	}
	if w.sock.TxInFlight() > 0 {
		work += w.sock.Complete()
	}
	w.wk.Flush() // after the round's frames left
	return work
}

// Deliver hands one received descriptor to the input and transmits its
// in-place reply or releases its frame.
func (w *Worker) Deliver(d afxdp.Desc) {
	frame := w.sock.Frame(d)
	w.CountRx(len(frame))
	if t := w.tap.Load(); t != nil {
		t.put(w.Nanotime(), DirRx, frame)
	}
	if out := w.input.Frame(frame); out > 0 {
		d.Len = uint32(out)
		w.QueueTx(d) // answered in place
	} else {
		w.sock.ReleaseAddr(d.Addr)
	}
}

// DeliverCopy hands the input a frame copied out of UMEM (an injector's
// duplicate or held frame, already counted as received); a reply written
// in place is sent from a fresh frame.
func (w *Worker) DeliverCopy(frame []byte) {
	if out := w.input.Frame(frame); out > 0 {
		w.SendFrame(frame[:out])
	}
}

// CountRx counts a frame received from the link.
func (w *Worker) CountRx(n int) {
	w.st.RxPackets++
	w.st.RxBytes += uint64(n)
}

// sleep waits in poll(2) for the socket or the eventfd.
func (w *Worker) sleep() {
	w.sleeping.Store(true)
	if w.pending() {
		w.sleeping.Store(false)
		return
	}
	timeout := sleepTimeout
	if at := w.nextDeadline(0); at != 0 {
		// Wake for the earliest timer (1 ms granularity, rounded up).
		ms := (at - w.Nanotime() + 999_999) / 1_000_000
		if ms <= 0 {
			w.sleeping.Store(false)
			return
		}
		timeout = int(min(ms, sleepTimeout))
	}
	out := w.cfg.Poll == PollInterrupt && w.sock.TxInFlight() > 0 // waiting for transmit completions too
	w.st.Sleeps++
	if w.nsleep != nil && runtime.GOMAXPROCS(0) == 1 {
		w.sleepOut[0] = out
		for _, ev := range w.nsleep.wait(time.Duration(timeout)*time.Millisecond, w.sleepOut[:]) {
			if int(ev.Fd) == w.efd {
				var buf [8]byte
				unix.Read(w.efd, buf[:])
			}
		}
		w.sleeping.Store(false)
		return
	}
	fds := []unix.PollFd{{Fd: int32(w.sock.FD()), Events: unix.POLLIN}, {Fd: int32(w.efd), Events: unix.POLLIN}}
	if out {
		fds[0].Events |= unix.POLLOUT
	}
	unix.Poll(fds, timeout)
	if fds[1].Revents&unix.POLLIN != 0 {
		var buf [8]byte
		unix.Read(w.efd, buf[:])
	}
	w.sleeping.Store(false)
}

// nextDeadline returns the earlier of at and the worker's earliest timer
// (its layers', its injector's); 0 stands for none.
func (w *Worker) nextDeadline(at int64) int64 {
	for _, l := range w.layer {
		if t := l.NextTimer(); t != 0 && (at == 0 || t < at) {
			at = t
		}
	}
	if w.inj != nil {
		if t := w.inj.NextDeadline(); t != 0 && (at == 0 || t < at) {
			at = t
		}
	}
	return at
}

// pending reports work other goroutines queued for the worker.
func (w *Worker) pending() bool {
	if w.stop.Load() || w.calls.n.Load() > 0 {
		return true
	}
	for i, in := range w.inbox {
		if i != w.queue && in.Len() > 0 {
			return true
		}
	}
	for _, l := range w.layer {
		if l.Pending() {
			return true
		}
	}
	return false
}

// tick runs the layers' slow timers and publishes the counters.
func (w *Worker) tick() {
	w.checkSocket()
	for _, l := range w.layer {
		l.Tick()
	}
	if len(w.txDescs) > 0 {
		w.FlushTx()
	}
	w.publish()
}

// publish stores a copy of the counters for Published.
func (w *Worker) publish() {
	s := w.st
	for _, l := range w.layer {
		l.Publish(&s)
	}
	if w.inj != nil {
		s.Faults = w.inj.Stats()
	}
	if w.sock != nil {
		if xs, err := w.sock.Stats(); err == nil {
			s.XSK = xs
		}
	}
	w.pub.Store(&s)
}

// drain gives back what the layers, the injector and the inboxes hold.
func (w *Worker) drain() {
	for _, l := range w.layer {
		l.Drain()
	}
	if w.inj != nil {
		w.inj.Drain()
	}
	for i, in := range w.inbox {
		if i == w.queue {
			continue
		}
		for {
			it, ok := in.Dequeue()
			if !ok {
				break
			}
			w.bufs.Put(it.Buf)
		}
	}
	w.wk.Flush()
}

// Close closes the worker's socket, eventfd and waker; after Run returned
// (or when it never ran).
func (w *Worker) Close() error {
	var err error
	if w.sock != nil {
		err = w.sock.Close()
		w.sock = nil
	}
	if w.nsleep != nil {
		w.nsleep.close()
		w.nsleep = nil
	}
	w.efdMu.Lock()
	if w.efd >= 0 {
		unix.Close(w.efd)
		w.efd = -1
	}
	w.efdMu.Unlock()
	w.wk.Close()
	return err
}

// StartWaker starts the waker's delivery goroutine (before Run).
func (w *Worker) StartWaker() { w.wk.Start() }
