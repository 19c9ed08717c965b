package engine

// PreferredProcs is the GOMAXPROCS the engine's workers handle small
// packets best with: one P per worker, two for a worker with a thread of
// its own (Config.CPUs, PollBusy: it holds its P while it polls, and the
// applications it wakes and its waker goroutine need another).
//
// An ordinary worker delivers the wakeups of its round on its own P and
// yields it, so the goroutines it readied run at once on its thread, and
// it resumes when they block (stack/datapath's Waker). With a P more than
// the workers hold, every such round makes the Go runtime wake a second
// thread for the idle P, and the worker and the goroutines it readied move
// between the two threads. Measured on a 2-vCPU VM over veth with one
// queue and no CPU confinement (package bench, 3 runs each): UDP echo at
// 64 B 173k-188k echoes a second at GOMAXPROCS 2 against 280k-290k at 1
// (the kernel's own stack in the same runs 245k-262k either way); TCP
// short connections, 16 in flight, 26.6k against 29.1k a second. Bulk
// transfers go the other way: the application's copies run beside the
// worker on the second P (one TCP stream, kernel to engine 681-745 MB/s at
// 2 against 477-513 at 1, engine to kernel 827-830 against 599-653). A
// program that moves bulk data, or whose own goroutines need the CPUs,
// sets more. engine serve sets this value unless told otherwise
// (--gomaxprocs, or GOMAXPROCS in its environment); an embedding program
// sets its own before Start (a worker looks at GOMAXPROCS when it starts
// and before each sleep). With more queues than CPUs it is more than Go's
// default, one per CPU.
func (e *Engine) PreferredProcs() int {
	if e.cfg.ownThread() {
		return 2 * len(e.workers)
	}
	return len(e.workers)
}
