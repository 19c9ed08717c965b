package engine

// PreferredProcs is the GOMAXPROCS the engine's workers run best with: one
// P per worker, two for a worker with a thread of its own (Config.CPUs,
// PollBusy: it holds its P while it polls, and the applications it wakes
// and its waker goroutine need another).
//
// An ordinary worker delivers the wakeups of its round on its own P and
// yields it, so the goroutines it readied run at once on its thread, and
// it resumes when they block (stack/datapath's Waker). With a P more than
// the workers hold, every such round makes the Go runtime wake a second
// thread for the idle P, and the worker and the goroutines it readied move
// between the two threads: measured on a 2-vCPU VM over veth with one
// queue (bench.BenchmarkUDPEcho, 64 B, no CPU confinement), 173k-188k
// echoes a second at GOMAXPROCS 2 against 280k-290k at 1 (the kernel's own
// stack in the same run, 245k-262k either way); TCP short connections
// with 16 in flight 26.6k against 29.1k a second. A program whose own
// goroutines need more CPUs than the workers leave them sets more (the
// cost above is per round, not per packet); engine serve sets this value
// unless told otherwise (--gomaxprocs, or GOMAXPROCS in its environment).
func (e *Engine) PreferredProcs() int {
	if e.cfg.ownThread() {
		return 2 * len(e.workers)
	}
	return len(e.workers)
}
