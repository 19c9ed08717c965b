package engine

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/arp"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/icmp"
	"github.com/xdpengine/engine/ipv4"
	"github.com/xdpengine/engine/ring"
)

const (
	burst        = 64                     // descriptors per receive or transmit call
	tickInterval = 100 * time.Millisecond // timers, counter publication
	sleepTimeout = 100                    // ms: an idle worker still ticks
	steerRing    = 1024                   // per pair of workers
	parkedMax    = 256                    // datagrams waiting for ARP, per worker
	idleYield    = 50 * time.Microsecond  // an idle spinning worker yields its P this often
)

// txReq is a datagram an application asked to send: a complete IPv4
// packet, checksums done, in buf.b[:n].
type txReq struct {
	buf   *pbuf
	n     int
	dst   [4]byte
	conn  *UDPConn // for errors; nil for the engine's own packets
	mtu   int      // the MTU to fragment at (zero: the path MTU toward dst)
	bcast bool     // to a broadcast address: the link's broadcast, no ARP
	mcast bool     // to a multicast group: its MAC (RFC 1112), no ARP
	loop  bool     // a multicast the engine itself wants: delivered locally too (IP_MULTICAST_LOOP)
}

// steerItem is a frame handed to another worker: a UDP or TCP frame of a
// flow that worker owns, a reassembled TCP datagram (IPv4 header first, no
// Ethernet header) of such a flow, or an ARP frame every worker learns from.
type steerItem struct {
	buf       *pbuf
	n         int
	arp       bool
	datagram  bool // buf holds a reassembled IPv4 datagram
	linkBcast bool // the datagram's fragments came to a link broadcast address
}

// worker is one poll-mode loop bound to one queue. Everything it owns (the
// AF_XDP socket, the reassembler, the ARP table, the ICMP limiter, the
// counters) is touched by its goroutine only; other goroutines reach it
// through its rings (txq, inbox) and wake it with its eventfd.
type worker struct {
	e     *Engine
	queue int
	sock  *afxdp.Socket
	efd   int

	txq      *ring.MPMC[txReq]       // applications → worker
	fan      []*socktab.Socket       // LookupAll's result for a multicast or broadcast datagram (multicast.go)
	inbox    []*ring.SPSC[steerItem] // inbox[i]: from worker i
	peers    []*worker
	sleeping atomic.Bool // the worker is (about to be) in poll(2)
	stop     atomic.Bool
	statsReq atomic.Bool
	pub      atomic.Pointer[WorkerStats]

	reasm   *ipv4.Reassembler
	frag    *ipv4.Fragmenter
	arpTab  *arp.Table
	resp    *arp.Responder
	limiter *icmp.Limiter
	icmpc   icmp.Counters
	st      WorkerStats
	now     int64

	// Scratch space, reused every burst.
	descs    []afxdp.Desc
	txDescs  []afxdp.Desc
	addrs    []uint64
	reqs     []txReq
	items    []steerItem
	fragOut  [][]byte
	parked   []txReq // waiting for ARP, indexed by handle
	freeSlot []int

	faults *faults // testing only (Config.Faults); nil otherwise
	wk     *waker  // wakes application goroutines (see waker)

	tcp      tcpWorker
	ssReq    atomic.Bool                     // Engine.Sockets asks for a listing; cleared after ssOut's Store
	ssOut    atomic.Pointer[[]socktab.Entry] // the listing; Store pairs with the engine's Load after ssReq clears
	neighReq atomic.Bool                     // Engine.Neighbors asks for the ARP table
	neighOut atomic.Pointer[[]NeighborEntry] // the listing, as ssOut
}

func newWorker(e *Engine, q int, seed uint64) (*worker, error) {
	txq, err := ring.NewMPMC[txReq](roundPow2(e.cfg.TxQueue))
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("engine: eventfd: %w", err)
	}
	w := &worker{
		e: e, queue: q, efd: efd, txq: txq,
		arpTab:   arp.NewTable(arp.Config{QueueTotal: parkedMax}),
		limiter:  icmp.NewLimiter(icmp.LimiterConfig{}),
		frag:     &ipv4.Fragmenter{},
		descs:    make([]afxdp.Desc, burst),
		txDescs:  make([]afxdp.Desc, 0, 2*burst),
		addrs:    make([]uint64, 64),
		reqs:     make([]txReq, burst),
		items:    make([]steerItem, burst),
		fragOut:  make([][]byte, 64),
		parked:   make([]txReq, parkedMax),
		freeSlot: make([]int, 0, parkedMax),
	}
	for i := parkedMax - 1; i >= 0; i-- {
		w.freeSlot = append(w.freeSlot, i)
	}
	for _, n := range e.cfg.Neighbors {
		if err := w.arpTab.SetPermanent(0, n.Addr.As4(), header.MAC(n.MAC), nil); err != nil {
			unix.Close(efd)
			return nil, fmt.Errorf("engine: static neighbour %v: %w", n.Addr, err)
		}
	}
	w.st.Queue = q
	if e.cfg.Faults != nil {
		w.faults = newFaults(e.cfg.Faults, q)
	}
	if err := w.initTCP(); err != nil {
		return nil, err
	}
	if w.wk, err = newWaker(!e.cfg.ownThread()); err != nil {
		unix.Close(efd)
		return nil, err
	}
	addrs := make([][4]byte, 0, len(e.cfg.Addrs))
	for _, p := range e.cfg.Addrs {
		addrs = append(addrs, p.Addr().As4())
	}
	w.resp = &arp.Responder{MAC: e.mac, Addrs: addrs, Table: w.arpTab}
	w.reasm = ipv4.NewReassembler(ipv4.Config{
		HighThresh:     e.cfg.FragMemory,
		LowThresh:      e.cfg.FragMemory * 3 / 4,
		Seed:           seed,
		OnTimeExceeded: w.reassemblyTimedOut,
	})
	return w, nil
}

// connect creates the steering rings between all workers.
func (w *worker) connect(all []*worker) {
	w.peers = all
	w.inbox = make([]*ring.SPSC[steerItem], len(all))
	for i := range all {
		r, err := ring.NewSPSC[steerItem](steerRing)
		if err != nil {
			panic(err)
		}
		w.inbox[i] = r
	}
}

func roundPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// wake gets the worker out of poll(2) if it sleeps. Pairs with the
// sleeping.Store(true) in sleep: the worker announces the sleep before its
// last look at its rings, and a producer looks at sleeping after its
// enqueue, so a wakeup is never lost.
func (w *worker) wake() {
	if w.sleeping.Load() {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(w.efd, one[:])
	}
}

func (w *worker) run(wg *sync.WaitGroup) {
	defer wg.Done()
	if w.e.cfg.ownThread() {
		// Pinned or busy-polling: the worker keeps a thread of its own
		// (and wakes applications through its waker goroutine).
		// Otherwise it is an ordinary goroutine that runs the
		// applications it wakes on its own thread (see waker).
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	if cpus := w.e.cfg.CPUs; cpus != nil {
		var set unix.CPUSet
		set.Set(cpus[w.queue])
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			w.e.log.Warn("cannot pin worker", "queue", w.queue, "cpu", cpus[w.queue], "err", err)
		}
	}
	w.now = w.e.nanotime()
	if w.queue == 0 {
		w.gratuitousARP()
	}
	lastTick, lastWork := w.now, w.now
	spin := int64(w.e.cfg.SpinTime)
	lastYield := w.now
	for !w.stop.Load() {
		w.now = w.e.nanotime()
		work := w.poll()
		if w.queue == 0 && w.e.mc.due.Load() {
			w.pollMulticast()
		}
		if w.now-lastTick >= int64(tickInterval) || w.statsReq.Load() {
			w.tick()
			w.wk.flush()
			lastTick = w.now
		}
		if w.ssReq.Load() {
			w.listTCP()
		}
		if w.neighReq.Load() {
			w.listNeighbors()
		}
		if work > 0 {
			lastWork = w.now
			continue
		}
		if len(w.tcp.pendingPorts) > 0 {
			w.holdPorts() // the first idle round: off every handshake's path
			continue
		}
		spinning := w.e.cfg.Poll == PollBusy || w.e.cfg.Poll == PollAdaptive && w.now-lastWork < spin
		if spinning && w.wk.direct && w.now-lastYield >= int64(idleYield) {
			// A spinning worker lets the goroutines queued on its P run
			// now and then (timers, netpoll, other work of the program),
			// as it does at once for those it wakes: with GOMAXPROCS=1
			// they have no other P.
			lastYield = w.now
			runtime.Gosched()
		}
		switch w.e.cfg.Poll {
		case PollBusy:
			continue
		case PollAdaptive:
			if spinning {
				// A polite spin: a thread woken on this core (the
				// application, a client, softirq work deferred to
				// ksoftirqd) runs now instead of waiting for the
				// scheduler to preempt a worker that never blocks.
				// RawSyscall: the worker keeps its P.
				unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
				continue
			}
		}
		w.sleep()
	}
	w.drainOnStop()
	w.publish()
}

// poll does one round of work: received frames, frames from other workers,
// datagrams from applications, completed transmissions. It returns how many
// items it handled.
func (w *worker) poll() int {
	work := 0
	if n := w.sock.Receive(w.descs); n > 0 {
		work += n
		if w.faults != nil {
			w.receiveFaulty(w.descs[:n])
		} else {
			for _, d := range w.descs[:n] {
				w.receive(d)
			}
		}
		w.sock.Fill()
	}
	if w.faults != nil {
		work += w.releaseRx()
	}
	for i, in := range w.inbox {
		if i == w.queue {
			continue
		}
		n := in.DequeueBurst(w.items)
		for _, it := range w.items[:n] {
			w.handleSteered(it)
			w.e.bufs.put(it.buf)
		}
		clear(w.items[:n])
		work += n
	}
	if n := w.txq.DequeueBurst(w.reqs); n > 0 {
		work += n
		for i := range w.reqs[:n] {
			w.sendReq(w.reqs[i])
			w.reqs[i] = txReq{}
		}
	}
	work += w.tcpRound()
	if len(w.txDescs) > 0 || w.faults != nil && w.faults.tx.nextDeadline() != 0 {
		w.flushTx()
	}
	if w.sock.TxInFlight() > 0 {
		work += w.sock.Complete()
	}
	w.wk.flush() // after the round's frames left
	return work
}

// receive handles one frame received from the link.
func (w *worker) receive(d afxdp.Desc) {
	frame := w.sock.Frame(d)
	w.st.RxPackets++
	w.st.RxBytes += uint64(len(frame))
	if out := w.handleFrame(frame, false); out > 0 {
		d.Len = uint32(out)
		w.queueTx(d) // answered in place
	} else {
		w.sock.ReleaseAddr(d.Addr)
	}
}

// sleep waits in poll(2) for the socket or the eventfd.
func (w *worker) sleep() {
	w.sleeping.Store(true)
	if w.txq.Len() > 0 || w.tcp.cmdq.Len() > 0 || w.inboxPending() || w.stop.Load() || w.statsReq.Load() || w.ssReq.Load() || w.neighReq.Load() {
		w.sleeping.Store(false)
		return
	}
	timeout := sleepTimeout
	at := w.nextTCPTimer()
	if w.faults != nil {
		if f := w.faults.nextDeadline(); f != 0 && (at == 0 || f < at) {
			at = f
		}
	}
	if at != 0 {
		// Wake for the earliest TCP timer (1 ms granularity, rounded up).
		ms := (at - w.e.nanotime() + 999_999) / 1_000_000
		if ms <= 0 {
			w.sleeping.Store(false)
			return
		}
		timeout = int(min(ms, sleepTimeout))
	}
	fds := []unix.PollFd{{Fd: int32(w.sock.FD()), Events: unix.POLLIN}, {Fd: int32(w.efd), Events: unix.POLLIN}}
	if w.e.cfg.Poll == PollInterrupt && w.sock.TxInFlight() > 0 {
		fds[0].Events |= unix.POLLOUT
	}
	unix.Poll(fds, timeout)
	if fds[1].Revents&unix.POLLIN != 0 {
		var buf [8]byte
		unix.Read(w.efd, buf[:])
	}
	w.sleeping.Store(false)
}

func (w *worker) inboxPending() bool {
	for i, in := range w.inbox {
		if i != w.queue && in.Len() > 0 {
			return true
		}
	}
	return false
}

// tick runs the timers and publishes the counters.
func (w *worker) tick() {
	w.reasm.Expire(w.now)
	if len(w.tcp.pendingPorts) > 0 {
		w.holdPorts()
	}
	if w.queue == 0 {
		w.pollMulticast()
	}
	w.arpTab.Tick(w.now, w.arpRequest, w.arpDrop)
	if len(w.txDescs) > 0 {
		w.flushTx()
	}
	w.publish()
}

func (w *worker) publish() {
	s := w.st
	s.Reasm = w.reasm.Stats()
	s.Frag = w.frag.Stats()
	s.TCP.RetransSegs = w.tcp.freedRetrans
	s.TCP.TCPPathMTUStats = w.tcp.freedPMTU
	for _, c := range w.tcp.conns {
		st := c.ep.Stats()
		s.TCP.RetransSegs += st.Retrans
		s.TCP.TCPPathMTUStats.addEndpoint(st)
	}
	s.ICMP = w.icmpc
	if w.faults != nil {
		s.Faults = w.faults.st
	}
	s.ARP = ARPStats{Stats: w.arpTab.Stats, Entries: w.arpTab.Len(),
		InRequests: w.resp.InRequests, InReplies: w.resp.InReplies,
		OutReplies: w.resp.OutReplies, InErrors: w.resp.InErrors,
		OutRequests: w.st.ARP.OutRequests}
	if w.sock != nil {
		if xs, err := w.sock.Stats(); err == nil {
			s.XSK = xs
		}
	}
	w.pub.Store(&s)
	w.statsReq.Store(false)
}

// drainOnStop returns the buffers still queued to this worker.
func (w *worker) drainOnStop() {
	w.drainTCP()
	if w.faults != nil {
		w.drainFaults()
	}
	for {
		r, ok := w.txq.Dequeue()
		if !ok {
			break
		}
		w.e.bufs.put(r.buf)
	}
	for _, slot := range w.parkedSlots() {
		w.e.bufs.put(w.parked[slot].buf)
	}
	w.wk.flush()
}

func (w *worker) parkedSlots() []int {
	free := map[int]bool{}
	for _, s := range w.freeSlot {
		free[s] = true
	}
	var used []int
	for i := range w.parked {
		if !free[i] {
			used = append(used, i)
		}
	}
	return used
}

func (w *worker) close() error {
	var err error
	if w.sock != nil {
		err = w.sock.Close()
		w.sock = nil
	}
	if w.efd >= 0 {
		unix.Close(w.efd)
		w.efd = -1
	}
	w.wk.close()
	return err
}

// nanotime returns monotonic nanoseconds since the engine was created.
func (e *Engine) nanotime() int64 { return int64(time.Since(e.epoch)) }
