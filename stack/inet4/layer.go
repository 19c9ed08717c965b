package inet4

import (
	"fmt"

	"github.com/xdpengine/engine/arp"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/icmp"
	"github.com/xdpengine/engine/ipv4"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/sock"
	"github.com/xdpengine/engine/stack/stats"
)

const parkedMax = 256 // datagrams waiting for ARP, per worker

// Transport is what a transport protocol gives a worker's IPv4 layer
// (Register): the packets addressed to it, and the ICMP errors that quote
// its packets. Both run on the worker goroutine and must not block.
type Transport interface {
	// Input handles a packet of the transport's protocol to one of the
	// engine's addresses (or to a group or broadcast address it takes).
	// r is a copy (passing a pointer through an interface would make
	// every packet's Received escape to the heap).
	Input(r Received)
	// ICMPError handles an ICMP error (re, parsed from m, received in r)
	// about a packet of the transport's protocol that the engine sent.
	ICMPError(r *Received, re *icmp.ReceivedError, m header.ICMPv4)
}

// Received is a packet as the IPv4 layer hands it to a transport.
type Received struct {
	Frame     []byte      // the whole frame; nil for a reassembled datagram
	IP        header.IPv4 // the packet, its header validated
	LinkBcast bool        // sent to a link-layer broadcast or multicast address
	Steered   bool        // handed over by another worker: never handed over again
	Checked   bool        // the transport checksum was verified (by the worker that handed it over)
}

// Layer is one worker's IPv4 layer: the datapath.Input that takes its
// frames (ARP, IPv4, reassembly, ICMP, the Hook, dispatch to the
// registered transports) and a datapath.Layer that sends the datagrams
// applications queue and runs the ARP and reassembly timers. Everything
// here is touched by the worker goroutine only; applications reach it
// through txq (Host.Send).
type Layer struct {
	h     *Host
	dp    *datapath.Worker
	queue int
	st    *stats.Worker
	proto [256]Transport
	fwd   Forwarder      // the load balancer, if any
	v6    datapath.Input // the worker's IPv6 layer, if any (SetIPv6)

	txq     *sock.Queue[Datagram] // applications → worker
	reasm   *ipv4.Reassembler
	frag    *ipv4.Fragmenter
	arpTab  *arp.Table
	resp    *arp.Responder
	limiter *icmp.Limiter
	icmpc   icmp.Counters

	// Scratch space, reused every burst.
	pkt      Packet // what the Hook sees
	addrs    []uint64
	reqs     []Datagram
	fragOut  [][]byte
	parked   []Datagram // waiting for ARP, indexed by handle
	freeSlot []int
}

// NewLayer makes the IPv4 layer of worker dp, sets it as dp's Input and
// adds it to dp's layers. Workers are added in queue order.
func (h *Host) NewLayer(dp *datapath.Worker, seed uint64) (*Layer, error) {
	txq, err := sock.NewQueue[Datagram](roundPow2(h.cfg.TxQueue))
	if err != nil {
		return nil, err
	}
	l := &Layer{
		h: h, dp: dp, queue: dp.Queue(), st: dp.Stats(), txq: txq,
		arpTab:   arp.NewTable(arp.Config{QueueTotal: parkedMax}),
		limiter:  icmp.NewLimiter(icmp.LimiterConfig{}),
		frag:     &ipv4.Fragmenter{},
		addrs:    make([]uint64, 64),
		reqs:     make([]Datagram, 64),
		fragOut:  make([][]byte, 64),
		parked:   make([]Datagram, parkedMax),
		freeSlot: make([]int, 0, parkedMax),
	}
	for i := parkedMax - 1; i >= 0; i-- {
		l.freeSlot = append(l.freeSlot, i)
	}
	for _, n := range h.cfg.Neighbors {
		if err := l.arpTab.SetPermanent(0, n.Addr.As4(), n.MAC, nil); err != nil {
			return nil, fmt.Errorf("inet4: static neighbor %v: %w", n.Addr, err)
		}
	}
	addrs := make([][4]byte, 0, len(h.cfg.Addrs))
	for _, p := range h.cfg.Addrs {
		addrs = append(addrs, p.Addr().As4())
	}
	l.resp = &arp.Responder{MAC: h.cfg.MAC, Addrs: addrs, Table: l.arpTab, Also: h.Announces}
	l.reasm = ipv4.NewReassembler(ipv4.Config{
		HighThresh:     h.cfg.FragMemory,
		LowThresh:      h.cfg.FragMemory * 3 / 4,
		Seed:           seed,
		OnTimeExceeded: l.reassemblyTimedOut,
	})
	dp.SetInput(l)
	dp.AddLayer(l)
	h.layers = append(h.layers, l)
	return l, nil
}

// SetIPv6 gives the worker's IPv6 frames (EtherType 0x86dd) to in, and
// the items other workers steer with a Kind of SteerIPv6 or above: the
// IPv6 layer, a sibling of this one on the same worker, whose own
// transmissions and timers run as a datapath.Layer of the worker. Before
// Start.
func (l *Layer) SetIPv6(in datapath.Input) { l.v6 = in }

// Register makes t the transport of IP protocol proto on this worker.
func (l *Layer) Register(proto uint8, t Transport) { l.proto[proto] = t }

// Host returns the shared IPv4 state.
func (l *Layer) Host() *Host { return l.h }

// Worker returns the worker's datapath.
func (l *Layer) Worker() *datapath.Worker { return l.dp }

// Queue returns the worker's queue.
func (l *Layer) Queue() int { return l.queue }

// TxChecksumOffload reports whether the worker finishes UDP and TCP
// checksums by its transmit offload (datapath.Worker.TxChecksumOffload):
// a sender then leaves the pseudo-header's sum in the field. Fixed once
// the engine started; safe from any goroutine.
func (l *Layer) TxChecksumOffload() bool { return l.dp.TxChecksumOffload() }

// Now returns the round's clock.
func (l *Layer) Now() int64 { return l.dp.Now() }

// Stats returns the worker's live counters (worker goroutine only).
func (l *Layer) Stats() *stats.Worker { return l.st }

// Waker returns the worker's waker (worker goroutine only).
func (l *Layer) Waker() *datapath.Waker { return l.dp.Waker() }

// Wake gets the worker out of its sleep.
func (l *Layer) Wake() { l.dp.Wake() }

// Start implements datapath.Layer: worker 0 announces the addresses.
func (l *Layer) Start() {
	if l.queue == 0 {
		l.gratuitousARP()
	}
}

// Round implements datapath.Layer: IGMP reports due (worker 0) and the
// applications' datagrams.
func (l *Layer) Round() int {
	if l.queue == 0 && l.h.mc.due.Load() {
		l.pollMulticast()
	}
	if l.queue == 0 && l.h.ann.sched.Due() {
		l.announce(l.Now())
	}
	n := l.txq.DequeueBurst(l.reqs)
	for i := range l.reqs[:n] {
		l.SendDatagram(l.reqs[i])
		l.reqs[i] = Datagram{}
	}
	return n + l.txq.Grant(l.dp.Waker()) // room for the senders that wait for it
}

// Tick implements datapath.Layer: reassembly, IGMP and ARP timers.
func (l *Layer) Tick() {
	l.reasm.Expire(l.Now())
	if l.queue == 0 {
		l.pollMulticast()
		if l.h.ann.sched.Due() {
			l.announce(l.Now())
		}
	}
	l.arpTab.Tick(l.Now(), l.arpRequest, l.arpDrop)
}

// Pending implements datapath.Layer.
func (l *Layer) Pending() bool { return l.txq.Pending() }

// NextTimer implements datapath.Layer: the IPv4 timers run at ticks.
func (l *Layer) NextTimer() int64 { return 0 }

// Publish implements datapath.Layer.
func (l *Layer) Publish(s *stats.Worker) {
	s.Reasm = l.reasm.Stats()
	s.Frag = l.frag.Stats()
	s.ICMP = l.icmpc
	s.ARP = stats.ARP{Stats: l.arpTab.Stats, Entries: l.arpTab.Len(),
		InRequests: l.resp.InRequests, InReplies: l.resp.InReplies,
		OutReplies: l.resp.OutReplies, InErrors: l.resp.InErrors,
		OutRequests: l.st.ARP.OutRequests}
}

// Drain implements datapath.Layer: the buffers still queued to this
// worker go back.
func (l *Layer) Drain() {
	l.txq.Close() // senders waiting for room give up
	for {
		d, ok := l.txq.Dequeue()
		if !ok {
			break
		}
		l.h.cfg.Bufs.Put(d.Buf)
	}
	for i, d := range l.parked {
		if d.Buf != nil {
			l.h.cfg.Bufs.Put(d.Buf)
			l.parked[i] = Datagram{}
		}
	}
}

func roundPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}
