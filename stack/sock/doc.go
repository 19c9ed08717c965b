// Package sock holds what the engine's socket layers (stack/udp,
// stack/tcpsock) share: the options a socket takes before it binds
// (Options), ip(7)'s path MTU discovery modes (PMTUDisc), the engine's
// lifecycle as sockets see it (State), address parsing with Go's net
// rules (ResolveAddr), the wait and wake protocol between application
// goroutines and workers (Signal, WaitOn; LazyChan, a wake-up channel made
// by its first waiter), and a worker's inbound queue
// with its wait for room (Queue, Push).
//
// # Waiting for room in a worker's queue
//
// Applications hand a worker commands and datagrams through a Queue, a
// ring.MPMC that any goroutine produces into and the worker consumes. When
// there is room, Enqueue takes one more atomic load than the bare ring and
// a mutex the producers share, and allocates nothing. The mutex keeps
// producers from waiting on each other inside the ring: its two-phase
// enqueue publishes slots in reservation order, so under a storm of
// producers on a few Ps one preempted between reserving and publishing
// held up all the later ones, spinning and yielding, each link of the
// chain waiting behind all of them for a turn (15,000 dials at once took
// 500 s, in one CI run of about ten); waiters on the mutex park. When the ring is full, or other producers already
// wait, the producer parks with its element in the queue's FIFO wait list
// (PushUntil), wakes the worker and sleeps on a channel of its own. Once a
// round, after its dequeues, the worker calls Grant: it moves the parked
// elements into the room it made, oldest first, as many as fit, and wakes
// exactly their producers through its Waker, at the round's end. A woken
// producer finds its element queued and returns; it never retries the
// ring. When nobody waits Grant costs the worker one atomic load a round,
// nothing per element. Pending, which the worker asks before it sleeps,
// counts waiting producers as work; the producer's announcement (an atomic
// add) before its wake, and the worker's sleep announcement before its
// look, leave one of the two to see the other.
//
// This replaced a retry loop (runtime.Gosched, then 20 µs sleeps), which
// livelocked under a storm of producers: thousands of goroutines made
// runnable again and again by their own retries filled the run queues, and
// the worker, which yields its P at the end of a round that woke anyone
// and must get a P back after it sleeps, waited behind all of them for
// every round (15,000 closes at once did not finish in minutes). Woken
// producers that each retried the ring would do it again on a smaller
// scale: dozens of goroutines racing for a two-phase ring convoy behind
// any of them preempted between reserving and publishing a slot. A parked
// producer also wakes when the queue closes (the worker stopped: Close),
// when its done channel closes or its deadline passes, and once a second
// to look at stop; those are rare on purpose, as a stream of timer wakeups
// is the livelock again. An element enqueued after Close is never taken:
// a producer that then waits for the consumer to act on it (a TCP dial
// waiting for its handshake) waits on Done too.
package sock
