package datapath

import (
	"slices"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// napSlack is the timer slack a nap asks for (PR_SET_TIMERSLACK). Linux
// stretches a normal thread's sleeps by up to 50 µs by default, more than
// a nap lasts.
const napSlack = 1000 // ns

// nap sleeps Config.Nap on a timer, in place of a spinning worker's yield
// (PollAdaptive with Nap set). Nothing but a signal wakes the worker
// sooner (Go's preemption signal ends a nap early with EINTR: a shorter
// nap, no harm): it arms no wakeup on its socket or eventfd, so the
// kernel's receive path and the applications' commands wake no thread,
// and whatever arrived in the meantime is handled in the next round, in
// bursts of up to 64 frames, with one transmit call and one delivery of
// wakeups. The cost is up to a nap of added latency per wait, which
// matters when few requests are in flight: see engine.Config.Nap.
//
// RawSyscall, as the yield: the worker keeps its P for the nap's length,
// so with GOMAXPROCS=1 the program's other goroutines wait up to a nap
// more than the 50 µs yield interval (idleYield).
//
// A worker with a thread of its own set the thread's timer slack once
// (Run). An ordinary goroutine may run on another thread at each nap: it
// sets the slack for the nap and then gives the thread back its default,
// so the program's other threads keep theirs.
func (w *Worker) nap() {
	w.st.Naps++
	if w.cfg.OwnThread {
		napFor(w.napTS)
		return
	}
	setNapSlack()
	napFor(w.napTS)
	unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_TIMERSLACK, 0, 0) // 0: the thread's default
}

func setNapSlack() { unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_TIMERSLACK, napSlack, 0) }

func napFor(ts *unix.Timespec) {
	unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(ts)), 0, 0)
}

// NapLength measures how long a nap of d lasts on this machine: the
// median of n naps on the calling goroutine's thread (with the slack a
// worker asks for, then given back). Timers that fire late (a virtual
// machine without a fast timer path, a kernel without high-resolution
// timers) make a nap far longer than asked: 10 µs takes about 31 µs on
// the 2-vCPU test VM (BenchmarkNap).
func NapLength(d time.Duration, n int) time.Duration {
	if d <= 0 || n <= 0 {
		return 0
	}
	ts := unix.NsecToTimespec(int64(d))
	took := make([]time.Duration, n)
	setNapSlack()
	for i := range took {
		start := time.Now()
		napFor(&ts)
		took[i] = time.Since(start)
	}
	unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_TIMERSLACK, 0, 0)
	slices.Sort(took)
	return took[n/2]
}
