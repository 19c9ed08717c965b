package engine

import (
	"fmt"
	"time"

	"github.com/xdpengine/engine/arp"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/icmp"
	"github.com/xdpengine/engine/ipv4"
	"github.com/xdpengine/engine/ring"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/stack/stats"
)

const parkedMax = 256 // datagrams waiting for ARP, per worker

// txReq is a datagram an application asked to send: a complete IPv4
// packet, checksums done, in buf.B[:n].
type txReq struct {
	buf   *datapath.Buf
	n     int
	dst   [4]byte
	conn  *UDPConn // for errors; nil for the engine's own packets
	mtu   int      // the MTU to fragment at (zero: the path MTU toward dst)
	bcast bool     // to a broadcast address: the link's broadcast, no ARP
	mcast bool     // to a multicast group: its MAC (RFC 1112), no ARP
	loop  bool     // a multicast the engine itself wants: delivered locally too (IP_MULTICAST_LOOP)
}

// What a steered item holds (datapath.Steered.Kind) and what its sender
// learned (Flags).
const (
	steerFrame    uint8 = iota // a UDP or TCP frame of a flow the receiver owns
	steerARP                   // an ARP packet (no Ethernet header) every worker learns from
	steerDatagram              // a reassembled TCP datagram (IPv4 header first) of such a flow

	flagLinkBcast uint8 = 1 // the datagram's fragments came to a link broadcast address
)

// worker is the engine's stack on one worker: the datapath.Input that
// demultiplexes its frames (ARP, IPv4, ICMP, UDP, TCP) and the
// datapath.Layer that sends the applications' datagrams and runs TCP's
// commands and timers. Everything here is touched by the worker goroutine
// only; applications reach it through txq and TCP's command queue.
type worker struct {
	e     *Engine
	dp    *datapath.Worker
	queue int
	st    *stats.Worker   // dp's counters
	wk    *datapath.Waker // dp's waker

	txq *ring.MPMC[txReq] // applications → worker
	fan []*socktab.Socket // LookupAll's result for a multicast or broadcast datagram (multicast.go)

	reasm   *ipv4.Reassembler
	frag    *ipv4.Fragmenter
	arpTab  *arp.Table
	resp    *arp.Responder
	limiter *icmp.Limiter
	icmpc   icmp.Counters

	// Scratch space, reused every burst.
	addrs    []uint64
	reqs     []txReq
	fragOut  [][]byte
	parked   []txReq // waiting for ARP, indexed by handle
	freeSlot []int

	tcp tcpWorker
}

func newWorker(e *Engine, q int, seed uint64) (*worker, error) {
	txq, err := ring.NewMPMC[txReq](roundPow2(e.cfg.TxQueue))
	if err != nil {
		return nil, err
	}
	cpu := -1
	if e.cfg.CPUs != nil {
		cpu = e.cfg.CPUs[q]
	}
	dp, err := datapath.New(datapath.Config{
		Queue: q, Poll: e.cfg.Poll, SpinTime: e.cfg.SpinTime,
		CPU: cpu, OwnThread: e.cfg.ownThread(), Epoch: e.epoch,
		Bufs: e.bufs, Logger: e.log, Injector: e.cfg.Faults,
	})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	w := &worker{
		e: e, dp: dp, queue: q, st: dp.Stats(), wk: dp.Waker(), txq: txq,
		arpTab:   arp.NewTable(arp.Config{QueueTotal: parkedMax}),
		limiter:  icmp.NewLimiter(icmp.LimiterConfig{}),
		frag:     &ipv4.Fragmenter{},
		addrs:    make([]uint64, 64),
		reqs:     make([]txReq, 64),
		fragOut:  make([][]byte, 64),
		parked:   make([]txReq, parkedMax),
		freeSlot: make([]int, 0, parkedMax),
	}
	for i := parkedMax - 1; i >= 0; i-- {
		w.freeSlot = append(w.freeSlot, i)
	}
	for _, n := range e.cfg.Neighbors {
		if err := w.arpTab.SetPermanent(0, n.Addr.As4(), header.MAC(n.MAC), nil); err != nil {
			dp.Close()
			return nil, fmt.Errorf("engine: static neighbour %v: %w", n.Addr, err)
		}
	}
	if err := w.initTCP(); err != nil {
		dp.Close()
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
	dp.SetInput(w)
	dp.AddLayer(w)
	return w, nil
}

func roundPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// now is the round's clock.
func (w *worker) now() int64 { return w.dp.Now() }

// wake gets the worker out of poll(2) if it sleeps.
func (w *worker) wake() { w.dp.Wake() }

// Start implements datapath.Layer: worker 0 announces the addresses.
func (w *worker) Start() {
	if w.queue == 0 {
		w.gratuitousARP()
	}
}

// Round implements datapath.Layer: IGMP reports due (worker 0), the
// applications' datagrams, TCP's commands and timers.
func (w *worker) Round() int {
	if w.queue == 0 && w.e.mc.due.Load() {
		w.pollMulticast()
	}
	work := 0
	if n := w.txq.DequeueBurst(w.reqs); n > 0 {
		work += n
		for i := range w.reqs[:n] {
			w.sendReq(w.reqs[i])
			w.reqs[i] = txReq{}
		}
	}
	return work + w.tcpRound()
}

// Tick implements datapath.Layer: reassembly, IGMP and ARP timers.
func (w *worker) Tick() {
	w.reasm.Expire(w.now())
	if w.queue == 0 {
		w.pollMulticast()
	}
	w.arpTab.Tick(w.now(), w.arpRequest, w.arpDrop)
}

// Pending implements datapath.Layer.
func (w *worker) Pending() bool { return w.txq.Len() > 0 || w.tcp.cmdq.Len() > 0 }

// NextTimer implements datapath.Layer.
func (w *worker) NextTimer() int64 { return w.nextTCPTimer() }

// Publish implements datapath.Layer.
func (w *worker) Publish(s *stats.Worker) {
	s.Reasm = w.reasm.Stats()
	s.Frag = w.frag.Stats()
	s.TCP.RetransSegs = w.tcp.freedRetrans
	s.TCP.PathMTU = w.tcp.freedPMTU
	for _, c := range w.tcp.conns {
		st := c.ep.Stats()
		s.TCP.RetransSegs += st.Retrans
		addEndpointPMTU(&s.TCP.PathMTU, st)
	}
	s.ICMP = w.icmpc
	s.ARP = ARPStats{Stats: w.arpTab.Stats, Entries: w.arpTab.Len(),
		InRequests: w.resp.InRequests, InReplies: w.resp.InReplies,
		OutReplies: w.resp.OutReplies, InErrors: w.resp.InErrors,
		OutRequests: w.st.ARP.OutRequests}
}

// Drain implements datapath.Layer: the buffers still queued to this
// worker go back.
func (w *worker) Drain() {
	w.drainTCP()
	for {
		r, ok := w.txq.Dequeue()
		if !ok {
			break
		}
		w.e.bufs.Put(r.buf)
	}
	for _, slot := range w.parkedSlots() {
		w.e.bufs.Put(w.parked[slot].buf)
	}
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

// dps returns the workers' datapaths.
func (e *Engine) dps() []*datapath.Worker {
	out := make([]*datapath.Worker, len(e.workers))
	for i, w := range e.workers {
		out[i] = w.dp
	}
	return out
}

// nanotime returns monotonic nanoseconds since the engine was created (the
// workers' clock).
func (e *Engine) nanotime() int64 { return int64(time.Since(e.epoch)) }
