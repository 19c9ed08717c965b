// Package datapath is the engine's poll-mode loop: one Worker per NIC queue
// and core, that receives bursts from its AF_XDP socket, hands frames
// between workers, transmits what a round produced in one batch, sleeps
// when idle, wakes application goroutines, and publishes its counters.
// It knows no protocol: the stack plugs in.
//
// # Plugging in
//
// A worker hands every received frame to its Input (SetInput): the L2/L3
// demux of the engine's stack, or a forwarder's. Protocols that have work
// besides frames (a transport's send and command queues, timers, a
// traffic generator's schedule) add a Layer (AddLayer): the loop runs each
// layer's Round every round, its Tick every 100 ms, sleeps no longer than
// its NextTimer, does not sleep while it is Pending, asks it to Publish
// its gauges and to Drain when stopping. The worker loop names none of
// them.
//
// # One round
//
//  1. Receive a burst. An input that is a BurstInput sees the whole burst
//     first (PrefetchBurst: a forwarder starts its table lookups' memory
//     accesses for every packet at once); then each descriptor goes to
//     Input.Frame, whose in-place reply (an ICMP echo, a forwarded frame)
//     is transmitted from the same UMEM frame, or the frame is released.
//     With an Injector (tests only) the burst goes through it instead,
//     without the pre-pass.
//  2. Take what other workers steered here (one SPSC ring per pair of
//     workers): Input.Steered.
//  3. Run every layer's Round.
//  4. Transmit the round's frames in one batch (QueueTx, SendFrame),
//     reap completions, deliver the round's wakeups (Waker).
//
// Now is read once per round and passed down; layers build frames straight
// into UMEM frames (AllocFrames, FrameBuffer, QueueTx). A UDP or TCP
// frame whose checksum field holds only the pseudo-header's sum goes
// through QueueTxChecksum: the socket's transmit offload finishes it
// where the worker has one (Config.TxChecksumOffload and
// afxdp.Socket.TxChecksumOffload), the worker otherwise.
//
// # Waiting
//
// PollBusy never sleeps; PollAdaptive spins for SpinTime after the last
// work (yielding the core between empty polls) and then sleeps on the
// socket and an eventfd; PollInterrupt sleeps whenever a round found
// nothing. With Config.Nap, an adaptive worker's spin is a series of timed
// sleeps instead (nap.go): it arms no wakeup, so neither the kernel's
// receive path nor the applications wake it, and it handles what arrived
// meanwhile in its next rounds, in bursts: less CPU per request when many
// are in flight, up to a nap more latency per wait. Stats count naps and
// sleeps. Producers wake a sleeping worker with Wake after their enqueue;
// the worker announces its sleep before its last look at its queues
// (Layer.Pending), so no wakeup is lost.
//
// Where it sleeps: a worker with a thread of its own (Config.OwnThread),
// or one in a program with more than one P, sleeps in poll(2). A worker
// that is an ordinary goroutine while GOMAXPROCS is 1 (looked at before
// each sleep) parks in the Go netpoller instead, on an epoll instance of
// its own on the socket and the eventfd (netsleep.go). A goroutine in a
// system call keeps its P until the runtime's monitor takes it back (20 µs
// to 10 ms later), and while the only P is there nothing polls the
// netpoller: with GOMAXPROCS 1 a worker in poll(2) delayed the program's
// other goroutines that wait on the network (a Go server beside it in
// BenchmarkTCPShortConn: 13k-19k connections a second instead of
// 21k-23k). With more Ps the others serve the program, and poll(2)
// returns on the frame itself, while a parked worker waits for a P to
// poll the network, which a P busy with runnable goroutines does only
// when its run queues are empty or at the monitor's 10 ms look: with every
// worker parked, the full suite at GOMAXPROCS 2 failed two tests that pass
// with poll(2) (send-buffer auto-tuning, Close of held connections).
//
// # Loops
//
// Run gives a worker a goroutine of its own. RunLoop runs several workers
// in one goroutine (loop.go), a round of each in turn, sleeping on all
// their sockets and eventfds at once, for a program with fewer Ps than
// workers: workers with a goroutine each would take turns on the Ps at the
// scheduler's pace, and the one that spins keeps the others from the
// netpoller they sleep in. Each worker keeps its state, counters and calls;
// only the goroutine is shared, and a worker that stops or panics leaves
// the loop while the others go on.
//
// # Capture
//
// A Tap (SetTap, ClearTap) copies what the worker receives (Deliver, before
// the input sees the frame) and what it hands to the link (FlushTx, the
// descriptors the tx ring took) into a bounded SPSC ring that a capture
// goroutine drains. Without a tap it costs one atomic load of a nil
// pointer per received frame and per transmitted batch; with one, the
// tap's filter and a copy of at most its snaplen, and it never blocks: a
// frame that finds the ring full is an overrun, counted, and lost to the
// capture only. engine.Capture and internal/capture build on it.
//
// # Failure
//
// A worker's loop ends on its own, with an error (Err), when its AF_XDP
// socket reports one (SO_ERROR, read at every tick: ENETDOWN once the
// interface went away), when a layer calls Fail, or when the loop panics
// (recovered, logged with its stack, wrapping ErrPanic; calls queued to
// it are answered with nil, unrun). The engine turns it into its Done and
// Err (engine.WorkerError).
//
// # Calls and counters
//
// Counters (stats.Worker) are plain fields only the worker writes; every
// layer counts through Stats. The worker publishes a copy every tick and
// when it stops; Publish asks for a fresh one. Two of them are
// distributions (stats.Histograms, log2 buckets of plain counters): the
// time of every round that did work, measured from its start to the next
// round's start with the clock read the loop makes anyway, and the frames
// of every non-empty receive burst; each costs a few instructions, no
// atomic operation and no allocation. Gather runs a function on
// each worker's goroutine and collects the results (a listing of its
// connections, its neighbor table) within a timeout: one copy of the
// request/publish/wait protocol for everything only a worker may read.
package datapath
