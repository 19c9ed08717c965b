package inet6

import (
	"fmt"
	"net/netip"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/icmp"
	"github.com/xdpengine/engine/ipv6"
	"github.com/xdpengine/engine/ndp"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/sock"
	"github.com/xdpengine/engine/stack/stats"
)

const (
	parkedMax   = 256  // datagrams waiting for neighbor resolution, per worker
	maxCacheLen = 1024 // neighbor cache entries per worker (Linux gc_thresh3)
)

// Transport is what a transport protocol gives a worker's IPv6 layer
// (Register): the packets addressed to it, and the ICMPv6 errors that
// quote its packets. Both run on the worker goroutine and must not block.
type Transport interface {
	// Input handles a packet of the transport's protocol to one of the
	// engine's addresses (or to a group it joined). r is a copy (a
	// pointer through an interface would make every packet's Received
	// escape to the heap).
	Input(r Received)
	// ICMPError handles an ICMPv6 error (e) received in r about a packet
	// of the transport's protocol that the engine sent.
	ICMPError(r *Received, e *ICMPError)
}

// Received is a packet as the IPv6 layer hands it to a transport: the
// header validated, the extension headers walked, reassembled if it came
// in fragments.
type Received struct {
	Frame     []byte      // the whole frame; nil for a reassembled packet
	IP        header.IPv6 // the packet, trimmed to its payload length
	Offset    int         // where the upper-layer header starts in IP (after the extension headers)
	Proto     uint8       // the upper-layer protocol
	LinkMcast bool        // sent to a link-layer multicast address
	Steered   bool        // handed over by another worker: never handed over again
	Checked   bool        // the transport checksum was verified (by the worker that handed it over)

	nhOff       int  // the Next Header field that names Proto (parameter problem code 1)
	routerAlert bool // a hop-by-hop Router Alert option was present (MLD)
	tentative   bool // to a tentative address: Neighbor Discovery only
	tapped      bool // read from the ICMPv6 tap (router.go), not received through the XDP program
}

// Src returns the packet's source address.
func (r *Received) Src() netip.Addr { return r.IP.Src() }

// Dst returns the packet's destination address.
func (r *Received) Dst() netip.Addr { return r.IP.Dst() }

// TrafficClass returns the packet's traffic class (DSCP and ECN).
func (r *Received) TrafficClass() uint8 { return r.IP.TrafficClass() }

// HopLimit returns the packet's hop limit as received.
func (r *Received) HopLimit() uint8 { return r.IP.HopLimit() }

// Payload returns the upper-layer header and data.
func (r *Received) Payload() []byte { return r.IP[r.Offset:] }

// link is where a layer's frames go: the worker (tests put a recorder in
// its place).
type link interface {
	SendFrame(f []byte)
	AllocFrames(addrs []uint64) int
	ReleaseAddrs(addrs []uint64)
	FrameBuffer(addr uint64) []byte
	QueueTx(d afxdp.Desc)
	QueueTxChecksum(d afxdp.Desc, start, offset int)
	TxChecksumOffload() bool
}

// Layer is one worker's IPv6 layer: the datapath.Input that inet4 hands
// the worker's IPv6 frames to (inet4.Layer.SetIPv6), and a
// datapath.Layer that sends the datagrams applications queue and runs
// the neighbor, DAD, MLD and reassembly timers. Everything here is
// touched by the worker goroutine only.
type Layer struct {
	h     *Host
	dp    *datapath.Worker
	out   link
	queue int
	st    *stats.Worker
	c     *stats.IPv6 // &st.IPv6
	proto [256]Transport
	fwd   Forwarder // nil: none (SetForwarder)
	pkt   Packet    // the Forwarder's scratch (forward.go)
	now   func() int64

	txq     *sock.Queue[Datagram] // applications → worker
	reasm   *ipv6.Reassembler
	frag    *ipv6.Fragmenter
	cache   *ndp.Cache
	resp    *ndp.Responder // messages from the link
	learn   *ndp.Responder // messages other workers hand over: learns, never answers
	dad     *ndp.DAD       // worker 0 only
	rs      solicitor      // Router Solicitations (worker 0 only)
	limiter *icmp.Limiter
	gen     uint64 // Host.gen the responders' addresses follow

	// Scratch space, reused every packet or burst.
	ext       header.IPv6Ext
	qext      header.IPv6Ext // of a quoted packet
	sext      header.IPv6Ext // of a packet an error is sent about
	icmpErr   ICMPError
	ndpOut    [128]byte
	frameOut  [ethHeaderLen + header.IPv6MinMTU]byte
	ndpErrors uint64 // router messages and MLD that failed validation
	raIn      uint64 // Router Advertisements read from the tap (worker 0)
	raUsed    uint64 // of those, the valid ones learned
	limc      icmp.Counters
	addrs     []uint64
	reqs      []Datagram
	fragOut   [][]byte
	parked    []Datagram // waiting for neighbor resolution, indexed by handle
	freeSlot  []int
}

// NewLayer makes the IPv6 layer of worker dp and adds it to dp's layers;
// the caller gives it to the worker's inet4 layer (SetIPv6). Workers are
// added in queue order.
func (h *Host) NewLayer(dp *datapath.Worker, seed uint64) (*Layer, error) {
	l, err := h.newLayer(dp, dp, dp.Queue(), dp.Stats(), seed)
	if err != nil {
		return nil, err
	}
	l.now = dp.Now
	dp.AddLayer(l)
	return l, nil
}

func (h *Host) newLayer(dp *datapath.Worker, out link, queue int, st *stats.Worker, seed uint64) (*Layer, error) {
	txq, err := sock.NewQueue[Datagram](roundPow2(max(h.cfg.TxQueue, 1)))
	if err != nil {
		return nil, err
	}
	l := &Layer{
		h: h, dp: dp, out: out, queue: queue, st: st, c: &st.IPv6, txq: txq,
		cache: ndp.NewCache(ndp.Config{MaxEntries: maxCacheLen, QueueTotal: parkedMax}),
		frag:  &ipv6.Fragmenter{},
		// ICMPv6 errors but Packet Too Big are limited (Linux's
		// icmpv6 ratemask 0-1,3-127 covers the four error types).
		limiter:  icmp.NewLimiter(icmp.LimiterConfig{RateMask: 1<<header.ICMPv6DstUnreachable | 1<<header.ICMPv6TimeExceeded | 1<<header.ICMPv6ParamProblem}),
		addrs:    make([]uint64, 64),
		reqs:     make([]Datagram, 64),
		fragOut:  make([][]byte, 64),
		parked:   make([]Datagram, parkedMax),
		freeSlot: make([]int, 0, parkedMax),
	}
	l.now = func() int64 { return 0 }
	for i := parkedMax - 1; i >= 0; i-- {
		l.freeSlot = append(l.freeSlot, i)
	}
	for _, n := range h.cfg.Neighbors {
		if err := l.cache.SetPermanent(0, n.Addr.As16(), n.MAC, nil); err != nil {
			return nil, fmt.Errorf("inet6: static neighbor %v: %w", n.Addr, err)
		}
	}
	l.resp = &ndp.Responder{MAC: h.cfg.MAC, Cache: l.cache, Also: h.Announces}
	l.learn = &ndp.Responder{MAC: h.cfg.MAC, Cache: l.cache}
	if queue == 0 && !h.cfg.NoDAD {
		l.dad = ndp.NewDAD(ndp.DADConfig{MaxDelayNs: -1, Result: h.dadResult})
		l.resp.DAD, l.learn.DAD = l.dad, l.dad
	}
	l.initSolicitor()
	l.refreshAddrs()
	l.reasm = ipv6.NewReassembler(ipv6.Config{
		HighThresh:     h.cfg.FragMemory,
		LowThresh:      h.cfg.FragMemory * 3 / 4,
		Seed:           seed,
		OnTimeExceeded: l.reassemblyTimedOut,
		OnParamProblem: l.fragmentParamProblem,
	})
	h.layers = append(h.layers, l)
	return l, nil
}

// refreshAddrs gives the responders the usable addresses when DAD changed
// them.
func (l *Layer) refreshAddrs() {
	g := l.h.gen.Load()
	if g == l.gen && l.resp.Addrs != nil {
		return
	}
	l.gen = g
	us := *l.h.usable.Load()
	addrs := make([][16]byte, 0, len(us))
	for _, p := range us {
		addrs = append(addrs, p.Addr().As16())
	}
	l.resp.Addrs, l.learn.Addrs = addrs, addrs
}

// Register makes t the transport of next header proto on this worker.
func (l *Layer) Register(proto uint8, t Transport) { l.proto[proto] = t }

// Host returns the shared IPv6 state.
func (l *Layer) Host() *Host { return l.h }

// Worker returns the worker's datapath.
func (l *Layer) Worker() *datapath.Worker { return l.dp }

// Queue returns the worker's queue.
func (l *Layer) Queue() int { return l.queue }

// TxChecksumOffload reports whether the worker finishes UDP and TCP
// checksums by its transmit offload (datapath.Worker.TxChecksumOffload):
// a sender then leaves the pseudo-header's sum in the field. Fixed once
// the engine started; safe from any goroutine.
func (l *Layer) TxChecksumOffload() bool { return l.out.TxChecksumOffload() }

// Now returns the round's clock.
func (l *Layer) Now() int64 { return l.now() }

// Start implements datapath.Layer: worker 0 starts DAD on every address.
func (l *Layer) Start() {
	if l.dad == nil {
		return
	}
	for _, p := range l.h.cfg.Addrs {
		if err := l.dad.Start(l.Now(), p.Addr().As16()); err != nil {
			l.h.cfg.Logger.Error("IPv6 DAD cannot start; address not used", "addr", p.Addr(), "err", err)
		}
	}
	l.runDAD()
}

// Round implements datapath.Layer: DAD and MLD timers (worker 0) and the
// applications' datagrams.
func (l *Layer) Round() int {
	if l.queue == 0 {
		l.runDAD()
		if l.h.mldDue.Load() {
			l.pollMLD()
		}
		if l.h.ann.sched.Due() {
			l.announce(l.Now())
		}
	}
	if l.h.gen.Load() != l.gen { // DAD ended on an address (worker 0)
		l.refreshAddrs()
	}
	n := l.txq.DequeueBurst(l.reqs)
	for i := range l.reqs[:n] {
		l.SendDatagram(l.reqs[i])
		l.reqs[i] = Datagram{}
	}
	if l.dp == nil {
		return n
	}
	return n + l.txq.Grant(l.dp.Waker())
}

// Tick implements datapath.Layer: reassembly, neighbor and MLD timers,
// the ICMPv6 tap and the Router Solicitations (worker 0).
func (l *Layer) Tick() {
	now := l.Now()
	l.reasm.Expire(now)
	l.cache.Tick(now, l.solicit, l.dropParked)
	if l.queue == 0 {
		l.pollTap()
		l.pollMLD()
		l.solicitRouters()
		if l.h.ann.sched.Due() {
			l.announce(now)
		}
	}
}

// Pending implements datapath.Layer.
func (l *Layer) Pending() bool { return l.txq.Pending() }

// NextTimer implements datapath.Layer: DAD's next step (the others run at
// ticks).
func (l *Layer) NextTimer() int64 {
	if l.dad != nil {
		return l.dad.Next()
	}
	return 0
}

// Publish implements datapath.Layer.
func (l *Layer) Publish(s *stats.Worker) {
	c := &s.IPv6
	c.Reasm = l.reasm.Stats()
	c.Frag = l.frag.Stats()
	cs := &l.cache.Stats
	n := &c.NDP
	n.Entries = l.cache.Len()
	n.Solicits, n.QueueDrops, n.Failed = cs.Solicits, cs.QueueDrops, cs.Failed
	n.Evictions, n.TableFull, n.LearnRefused = cs.Evictions, cs.TableFull, cs.LearnRefused
	n.InErrors = l.resp.Stats.InErrors + l.ndpErrors
	n.Conflicts = l.resp.Stats.Conflicts + l.learn.Stats.Conflicts
	n.RouterAdverts, n.RouterAdvertsUsed = l.raIn, l.raUsed
	if l.dad != nil {
		n.DADProbes, n.DADUnique, n.DADDuplicate = l.dad.Stats.Probes, l.dad.Stats.Unique, l.dad.Stats.Duplicates
	}
	c.ICMP.OutRateLimit = l.limc.OutRateLimitGlobal + l.limc.OutRateLimitHost
}

// Drain implements datapath.Layer: the buffers still queued to this
// worker go back.
func (l *Layer) Drain() {
	l.txq.Close()
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
