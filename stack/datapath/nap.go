package datapath

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// napSlack is the timer slack a nap asks for (PR_SET_TIMERSLACK). Linux
// stretches a normal thread's sleeps by up to 50 µs by default, more than
// a nap lasts.
const napSlack = 1000 // ns

// nap sleeps Config.Nap on a timer, in place of a spinning worker's yield
// (PollAdaptive with Nap set). Nothing wakes the worker sooner: it arms
// no wakeup on its socket or eventfd, so the kernel's receive path and the
// applications' commands wake no thread, and whatever arrives in the
// meantime is handled in the next round, as one batch (one transmit call,
// one delivery of wakeups). The cost is up to Nap of added latency per
// wait, which matters when few requests are in flight: see engine.Config.Nap.
//
// The timer slack is set on the thread that naps, each time: a worker that
// is an ordinary goroutine may run on another thread at its next nap.
// RawSyscall, as the yield: the worker keeps its P for the nap's length.
func (w *Worker) nap() {
	w.st.Naps++
	unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_TIMERSLACK, napSlack, 0)
	ts := unix.NsecToTimespec(int64(w.cfg.Nap))
	unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}
