package datapath

import (
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Shared loops. A worker is one queue's state and rounds; the goroutine
// that runs its rounds is its loop. Run gives a worker a loop of its own.
// RunLoop runs several workers in one goroutine, a round of each in turn,
// and sleeps on all their sockets and eventfds at once: for a program with
// fewer Ps than workers (GOMAXPROCS 1 and two queues), as one DPDK lcore
// polls several queues.
//
// Workers with loops of their own that outnumber the Ps take turns on
// them at the scheduler's pace, and the one that spins keeps the others
// from the netpoller they sleep in. On a 2-vCPU VM with two queues on one
// P (package bench, -procs=1, 3 runs each, medians, the engine's rate at
// two queues over its rate at one): TCP short connections with 16 in
// flight ×0.83 with a loop each, ×0.88-0.93 in one loop; with 64 in
// flight ×0.82-0.96 and ×1.01-1.06; dials ×0.84-0.96 and ×1.01-1.06. In
// one loop a worker's traffic waits at most for its loop-mates' rounds.
//
// Each worker keeps everything it owns (its socket, its layers, its
// counters, its calls); only the goroutine is shared, so a worker's state
// is still touched by one goroutine. Each member's round delivers its
// wakeups at its end and yields the P to the goroutines they readied, as
// in Run. (Yielding once after all the members' rounds instead measured no
// better: 2-queue short connections at 16 in flight +5%, at 64 -4%, one
// at a time slower, 3 runs each.)
// A worker that stops (Stop, Fail) or panics (in a round, or in what the
// loop asks it before sleeping) leaves the loop, drained as Run leaves or
// failed as Run's recovery makes it, and the others go on. A loop's
// workers must come from one engine: the same poll mode, spin time and
// nap, and the same Config.Epoch (the loop reads one member's clock for
// all), none needing a thread of its own (Config.OwnThread). Naps are
// counted on the first member.

// loopMember is a worker in a shared loop and what the loop remembers of
// its rounds.
type loopMember struct {
	w      *Worker
	lr     loopRound
	failed bool // it panicked outside a round (look): it leaves, undrained
}

// sharedLoop is the state of RunLoop with more than one worker.
type sharedLoop struct {
	ms   []loopMember // the workers still in the loop
	done func(*Worker)
	ns   *netSleep     // how the loop sleeps while GOMAXPROCS is 1; nil: poll(2)
	fds  []unix.PollFd // poll(2)'s: each member's socket and eventfd
	out  []bool        // ns's argument: watch a member's socket for EPOLLOUT too
	// warned: the loop logged that it could not make ns (once).
	warned bool
}

// RunLoop runs the workers ws in the calling goroutine until each has
// stopped or failed, and calls done for each as it leaves. One worker runs
// as Run runs it. ws must not be empty.
func RunLoop(ws []*Worker, done func(*Worker)) {
	if len(ws) == 1 {
		var wg sync.WaitGroup // Run's, which RunLoop's caller does not wait on
		wg.Add(1)
		ws[0].Run(&wg)
		done(ws[0])
		return
	}
	l := &sharedLoop{done: done}
	for _, w := range ws {
		l.ms = append(l.ms, loopMember{w: w})
	}
	l.watch()
	now := ws[0].Nanotime()
	for i := 0; i < len(l.ms); {
		if !l.ms[i].start(now) {
			l.leave(i)
			continue
		}
		i++
	}
	cfg := ws[0].cfg
	spin := int64(cfg.SpinTime)
	lastYield := now
	for len(l.ms) > 0 {
		work := 0
		for i := 0; i < len(l.ms); {
			m := &l.ms[i]
			if m.failed {
				l.leave(i)
				continue
			}
			if m.w.stop.Load() {
				m.finish()
				l.leave(i)
				continue
			}
			n, ok := m.round()
			if !ok {
				l.leave(i)
				continue
			}
			work += n
			i++
		}
		if work > 0 || len(l.ms) == 0 {
			continue
		}
		now := l.ms[0].w.now
		spinning := cfg.Poll == PollBusy
		for i := range l.ms {
			if cfg.Poll == PollAdaptive && now-l.ms[i].lr.lastWork < spin {
				spinning = true
			}
		}
		if spinning && now-lastYield >= int64(idleYield) {
			// As Run's: the goroutines queued on the P run now and then.
			lastYield = now
			runtime.Gosched()
			if cfg.Nap > 0 {
				continue
			}
		}
		switch cfg.Poll {
		case PollBusy:
			continue
		case PollAdaptive:
			if spinning {
				if cfg.Nap > 0 {
					l.ms[0].w.nap()
				} else {
					unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
				}
				continue
			}
		}
		l.sleep()
	}
	if l.ns != nil {
		l.ns.close()
	}
}

// start starts the worker's layers; false if that panicked (the worker
// failed).
func (m *loopMember) start(now int64) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			m.w.failPanic(v)
			ok = false
		}
	}()
	w := m.w
	w.now = now
	w.wk.soloP = runtime.GOMAXPROCS(0) == 1
	for _, l := range w.layer {
		l.Start()
	}
	m.lr = loopRound{lastTick: now, lastWork: now}
	return true
}

// round runs one round of the worker; ok is false if it panicked.
func (m *loopMember) round() (work int, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			m.w.failPanic(v)
			ok = false
		}
	}()
	return m.w.round(&m.lr), true
}

// look reports whether the worker has work queued for it (pending) and
// lowers *at to its earliest timer; ok is false if that panicked (the
// worker failed, and stopped).
func (m *loopMember) look(at *int64) (pending, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			m.w.failPanic(v)
			m.failed, ok = true, false
		}
	}()
	if m.w.pending() {
		return true, true
	}
	*at = m.w.nextDeadline(*at)
	return false, true
}

// finish drains a stopped worker and publishes its last counters, as Run
// does when its loop ends.
func (m *loopMember) finish() {
	defer func() {
		if v := recover(); v != nil {
			m.w.failPanic(v)
		}
	}()
	w := m.w
	w.drain()
	w.publish()
	w.calls.close(w)
}

// leave takes member i out of the loop and reports it done.
func (l *sharedLoop) leave(i int) {
	w := l.ms[i].w
	l.ms = append(l.ms[:i], l.ms[i+1:]...)
	l.watch()
	l.done(w)
}

// watch (re)makes what the loop sleeps on for its current members.
func (l *sharedLoop) watch() {
	if l.ns != nil {
		l.ns.close()
		l.ns = nil
	}
	l.fds = l.fds[:0]
	var socks, efds []int
	for _, m := range l.ms {
		l.fds = append(l.fds, unix.PollFd{Fd: int32(m.w.sock.FD()), Events: unix.POLLIN},
			unix.PollFd{Fd: int32(m.w.efd), Events: unix.POLLIN})
		socks, efds = append(socks, m.w.sock.FD()), append(efds, m.w.efd)
	}
	l.out = make([]bool, len(l.ms))
	if len(l.ms) == 0 {
		return
	}
	ns, err := newNetSleep(socks, efds)
	if err != nil {
		if !l.warned {
			l.ms[0].w.cfg.Logger.Warn("workers sleep in poll(2)", "err", err)
			l.warned = true
		}
		return
	}
	l.ns = ns
}

// sleep is Worker.sleep for the loop's workers together: each announces
// its sleep, then the loop looks at all their queues and sleeps until a
// socket or an eventfd of any of them is ready, or the earliest timer of
// any of them is due.
func (l *sharedLoop) sleep() {
	for _, m := range l.ms {
		m.w.sleeping.Store(true)
	}
	defer func() {
		for _, m := range l.ms {
			m.w.sleeping.Store(false)
		}
	}()
	at := int64(0)
	for i := range l.ms {
		pending, ok := l.ms[i].look(&at)
		if !ok {
			return // it failed: it leaves at the next iteration
		}
		if pending {
			return
		}
	}
	w0 := l.ms[0].w
	timeout := sleepTimeout
	if at != 0 {
		ms := (at - w0.Nanotime() + 999_999) / 1_000_000
		if ms <= 0 {
			return
		}
		timeout = int(min(ms, sleepTimeout))
	}
	for i, m := range l.ms {
		m.w.st.Sleeps++
		l.out[i] = m.w.cfg.Poll == PollInterrupt && m.w.sock.TxInFlight() > 0
	}
	var buf [8]byte
	if l.ns != nil && runtime.GOMAXPROCS(0) == 1 {
		for _, ev := range l.ns.wait(time.Duration(timeout)*time.Millisecond, l.out) {
			for _, m := range l.ms {
				if int(ev.Fd) == m.w.efd {
					unix.Read(m.w.efd, buf[:])
				}
			}
		}
		return
	}
	for i := range l.ms {
		l.fds[2*i].Events = unix.POLLIN
		if l.out[i] {
			l.fds[2*i].Events |= unix.POLLOUT
		}
		l.fds[2*i].Revents, l.fds[2*i+1].Revents = 0, 0
	}
	unix.Poll(l.fds, timeout)
	for i, m := range l.ms {
		if l.fds[2*i+1].Revents&unix.POLLIN != 0 {
			unix.Read(m.w.efd, buf[:])
		}
	}
}
