package tcp

import (
	"container/heap"
	"crypto/sha256"
	"fmt"
	"hash"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/xdpengine/engine/header"
)

// link is one direction of the simulated wire: a drop-tail bottleneck of
// bw bytes/ns with a queue of maxQueue ns, then a propagation delay, with
// seeded loss, duplication and reordering. A hop in the middle with an
// MTU of mtu (0: none) drops larger packets (all have DF set) and, when
// icmp, answers each with ICMP fragmentation needed.
type link struct {
	rng                  *rand.Rand
	loss, dup, reorder   float64
	delay, jitter        int64
	bw                   float64
	maxQueue             int64
	busyUntil            int64
	sent, dropped, duped uint64
	mtu                  int
	icmp                 bool
	tooBig, maxSize      int // packets the hop dropped; largest one it passed
}

// simPkt is a segment, or an ICMP fragmentation needed (icmpMTU > 0)
// quoting seg.Seq.
type simPkt struct {
	at      int64
	order   uint64
	to      int
	seg     Segment
	icmpMTU int
}

type pktHeap []*simPkt

func (h pktHeap) Len() int { return len(h) }
func (h pktHeap) Less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].order < h[j].order
}
func (h pktHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pktHeap) Push(x any)   { *h = append(*h, x.(*simPkt)) }
func (h *pktHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// sim connects two endpoints through two links with a virtual clock.
type sim struct {
	t     testing.TB
	now   int64
	eps   [2]*Endpoint
	links [2]*link
	q     pktHeap
	order uint64
	sinks [2]simSink
	// application side of each endpoint
	total      int
	gen        [2]*rand.ChaCha8
	sentBytes  [2]int
	recvBytes  [2]int
	sentHash   [2]hash.Hash
	recvHash   [2]hash.Hash
	peerClosed [2]bool
	wrote      [2]bool
	buf        []byte
	sendMax    int // grow send rings up to this (0: never)
	grown      [2]int
}

type simSink struct {
	s    *sim
	from int
}

func (k *simSink) Emit(h *header.TCPFields, p1, p2 []byte) bool {
	s := k.s
	l := s.links[k.from]
	size := int64(h.Len() + len(p1) + len(p2) + 20)
	start := max(s.now, l.busyUntil)
	if l.bw > 0 {
		if start-s.now > l.maxQueue {
			l.dropped++
			return true // drop-tail: the NIC took it, the bottleneck dropped it
		}
		l.busyUntil = start + int64(float64(size)/l.bw)
		start = l.busyUntil
	}
	if l.mtu > 0 && size > int64(l.mtu) {
		l.tooBig++
		if l.icmp { // the router is half way: the answer takes one delay
			s.order++
			heap.Push(&s.q, &simPkt{at: start + l.delay, order: s.order, to: k.from,
				seg: Segment{Seq: Seq(h.Seq)}, icmpMTU: l.mtu})
		}
		return true
	}
	l.maxSize = max(l.maxSize, int(size))
	l.sent++
	if l.rng.Float64() < l.loss {
		l.dropped++
		return true
	}
	seg := Segment{Seq: Seq(h.Seq), Ack: Seq(h.Ack), Flags: h.Flags, Window: h.Window, Options: h.Options}
	seg.Payload = append(append(make([]byte, 0, len(p1)+len(p2)), p1...), p2...)
	at := start + l.delay
	if l.rng.Float64() < l.reorder {
		at += 1 + l.rng.Int64N(l.jitter+1)
	}
	s.push(at, 1-k.from, seg)
	if l.rng.Float64() < l.dup {
		l.duped++
		s.push(at+1+l.rng.Int64N(l.jitter+1), 1-k.from, seg)
	}
	return true
}

func (s *sim) push(at int64, to int, seg Segment) {
	s.order++
	heap.Push(&s.q, &simPkt{at: at, order: s.order, to: to, seg: seg})
}

type simOpts struct {
	seed                 uint64
	bytes                int
	sack, ts             bool
	loss, dup, reorder   float64
	delay, jitter        int64
	bw                   float64 // bytes per ns
	maxQueue             int64
	bidirectional        bool
	recvBufMin, recvBufM int
	bufs                 BufferPool // ring memory (nil: allocated)
	sendBuf, sendMax     int        // send ring (0: 1 MiB); grown up to sendMax as the engine does
	hopMTU               int        // MTU of a hop in the middle of both links (0: none)
	hopICMP              bool       // the hop answers oversized packets with ICMP
	probing              MTUProbing // Config.MTUProbing of both sides
}

func newSim(t testing.TB, o simOpts) *sim {
	s := &sim{t: t, total: o.bytes, buf: make([]byte, 64<<10), sendMax: o.sendMax}
	for i := range 2 {
		s.links[i] = &link{rng: rand.New(rand.NewPCG(o.seed, uint64(i))), loss: o.loss, dup: o.dup,
			reorder: o.reorder, delay: o.delay, jitter: o.jitter, bw: o.bw, maxQueue: o.maxQueue,
			mtu: o.hopMTU, icmp: o.hopICMP}
		s.sinks[i] = simSink{s, i}
		var seed [32]byte
		seed[0], seed[1] = byte(o.seed), byte(i)
		s.gen[i] = rand.NewChaCha8(seed)
		s.sentHash[i], s.recvHash[i] = sha256.New(), sha256.New()
	}
	ca, cb := Config{LocalPort: 1, RemotePort: 2, ISS: 0xfffff000, NewCC: newTestReno, TSOffset: 77},
		Config{LocalPort: 2, RemotePort: 1, ISS: 0x7ffffff0, NewCC: newTestReno, TSOffset: 1 << 31}
	for _, c := range []*Config{&ca, &cb} {
		c.DisableSACK, c.DisableTimestamps = !o.sack, !o.ts
		c.RecvBufMin, c.RecvBufMax = o.recvBufMin, o.recvBufM
		c.SendBuf = 1 << 20
		if o.sendBuf != 0 {
			c.SendBuf = o.sendBuf
		}
		c.Buffers = o.bufs
		c.MTUProbing = o.probing
	}
	a, err := Dial(0, ca)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewListener(ListenerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s.eps[0] = a
	a.Output(0, &s.sinks[0])
	// The passive side is created by the first SYN that gets through.
	for s.eps[1] == nil {
		if s.q.Len() == 0 {
			s.now = a.NextTimer()
			a.OnTimer(s.now)
			a.Output(s.now, &s.sinks[0])
			continue
		}
		p := heap.Pop(&s.q).(*simPkt)
		s.now = max(s.now, p.at)
		if p.to == 1 {
			b, err := l.OnSYN(s.now, &p.seg, cb)
			if err != nil {
				t.Fatal(err)
			}
			s.eps[1] = b
			b.Output(s.now, &s.sinks[1])
		}
	}
	if !o.bidirectional {
		s.sentBytes[1] = 0
		s.wrote[1] = true // side 1 sends nothing
	}
	return s
}

// app plays the application on side i: fill the send ring, drain the
// receive ring, half-close when all is written.
func (s *sim) app(i int) bool {
	e := s.eps[i]
	if e == nil || !e.State().synchronized() && e.State() != Closed {
		return false
	}
	did := false
	// Send-buffer auto-tuning, as the engine's Write does it: a full ring
	// grows to SendBuf at least, toward SendBufWant, at most sendMax.
	if r := e.SendRing(); r.Cap() > 0 && r.Free() == 0 {
		limit := max(s.sendMax, e.cfg.SendBuf)
		want := max(e.SendBufWant(), e.cfg.SendBuf)
		if size := min(1<<bits.Len(uint(want-1)), limit); size > r.Cap() {
			if err := e.GrowSendRing(size); err != nil {
				s.t.Fatal(err)
			}
			s.grown[i]++
		}
	}
	for !s.wrote[i] && s.sentBytes[i] < s.total {
		n := min(e.SendRing().Free(), s.total-s.sentBytes[i], len(s.buf))
		if n == 0 {
			break
		}
		s.gen[i].Read(s.buf[:n])
		if w := e.SendRing().Write(s.buf[:n]); w != n {
			s.t.Fatalf("ring took %d of %d", w, n)
		}
		s.sentHash[i].Write(s.buf[:n])
		s.sentBytes[i] += n
		did = true
	}
	if !s.wrote[i] && s.sentBytes[i] == s.total {
		s.wrote[i] = true
		e.CloseWrite(s.now)
		did = true
	}
	for {
		n := e.RecvRing().Read(s.buf)
		if n == 0 {
			break
		}
		s.recvHash[i].Write(s.buf[:n])
		s.recvBytes[i] += n
		did = true
	}
	ev := e.TakeEvents()
	if ev&EvPeerClosed != 0 {
		s.peerClosed[i] = true
		if s.wrote[i] && e.State() == CloseWait {
			e.CloseWrite(s.now)
			did = true
		}
	}
	if ev&EvError != 0 {
		s.t.Fatalf("side %d failed: %v (state %v)", i, e.Err(), e.State())
	}
	return did
}

func (s *sim) check(i int) {
	if err := s.eps[i].checkInvariants(); err != nil {
		s.t.Fatalf("t=%d side %d: %v", s.now, i, err)
	}
}

// run drives the simulation until both sides are closed or limit (ns).
func (s *sim) run(limit int64) {
	if err := s.tryRun(limit); err != nil {
		s.t.Fatal(err)
	}
}

// tryRun is run, returning an error when the transfer does not finish.
func (s *sim) tryRun(limit int64) error {
	for {
		for i := range 2 {
			if s.app(i) {
				s.eps[i].Output(s.now, &s.sinks[i])
			}
		}
		done := true
		for i := range 2 {
			st := s.eps[i].State()
			done = done && (st == Closed || st == TimeWait) && s.peerClosed[i]
		}
		if done {
			return nil
		}
		next := int64(-1)
		if s.q.Len() > 0 {
			next = s.q[0].at
		}
		for i := range 2 {
			if d := s.eps[i].NextTimer(); d != 0 && (next < 0 || d < next) && s.eps[i].State() != TimeWait {
				next = d
			}
		}
		if next < 0 {
			return fmt.Errorf("t=%d: deadlock: states %v %v, sent %v received %v", s.now, s.eps[0].State(), s.eps[1].State(), s.sentBytes, s.recvBytes)
		}
		s.now = max(s.now, next)
		if s.now > limit {
			return fmt.Errorf("t=%d: not finished: states %v %v, sent %v received %v, info %+v", s.now, s.eps[0].State(), s.eps[1].State(), s.sentBytes, s.recvBytes, s.eps[0].Info())
		}
		var touched [2]bool
		for s.q.Len() > 0 && s.q[0].at <= s.now {
			p := heap.Pop(&s.q).(*simPkt)
			if p.icmpMTU > 0 {
				s.eps[p.to].ICMPFragNeeded(s.now, p.seg.Seq, p.icmpMTU)
			} else {
				s.eps[p.to].Input(s.now, &p.seg)
			}
			touched[p.to] = true
		}
		for i := range 2 {
			if d := s.eps[i].NextTimer(); d != 0 && d <= s.now {
				s.eps[i].OnTimer(s.now)
				touched[i] = true
			}
			if touched[i] {
				s.eps[i].Output(s.now, &s.sinks[i])
				s.check(i)
			}
		}
	}
}

func (s *sim) verify() {
	for i := range 2 {
		j := 1 - i
		if s.recvBytes[j] != s.sentBytes[i] {
			s.t.Fatalf("side %d sent %d, side %d received %d", i, s.sentBytes[i], j, s.recvBytes[j])
		}
		if string(s.sentHash[i].Sum(nil)) != string(s.recvHash[j].Sum(nil)) {
			s.t.Fatalf("SHA-256 of %d -> %d differs", i, j)
		}
	}
}

func TestTransfer(t *testing.T) {
	size := 16 << 20
	if testing.Short() {
		size = 2 << 20
	}
	const gbps = 0.125 // bytes per ns
	cases := []struct {
		name string
		o    simOpts
	}{
		{"clean", simOpts{}},
		{"loss5", simOpts{loss: 0.05}},
		{"reorder", simOpts{reorder: 0.05, jitter: 2 * ms}},
		{"dup", simOpts{dup: 0.05, jitter: 100_000}},
		{"mixed", simOpts{loss: 0.02, reorder: 0.02, dup: 0.02, jitter: 1 * ms}},
		{"bottleneck", simOpts{bw: gbps / 10, maxQueue: 2 * ms}},
	}
	for _, tc := range cases {
		for _, sack := range []bool{true, false} {
			for _, ts := range []bool{true, false} {
				name := tc.name
				if sack {
					name += "/sack"
				}
				if ts {
					name += "/ts"
				}
				t.Run(name, func(t *testing.T) {
					o := tc.o
					o.seed, o.bytes, o.sack, o.ts = 1, size, sack, ts
					o.delay = 1 * ms
					if o.bw == 0 {
						o.bw, o.maxQueue = gbps, 10*ms
					}
					o.bidirectional = true
					o.recvBufMin, o.recvBufM = 64<<10, 4<<20
					s := newSim(t, o)
					s.run(600_000 * ms)
					s.verify()
					if err := s.eps[0].checkInvariants(); err != nil {
						t.Fatal(err)
					}
					for i := range 2 {
						st := s.eps[i].Stats()
						t.Logf("side %d: t=%.3fs segs %d retrans %d fast %d rto %d dupacks %d sacked %d ooo %d/%d drops, rcvbuf %d, link drop %d dup %d",
							i, float64(s.now)/1e9, st.SegsOut, st.Retrans, st.FastRetrans, st.RTOs, st.DupAcks, st.SACKedBytes,
							st.OOOSegs, st.OOODrops, s.eps[i].Info().RcvBuf, s.links[i].dropped, s.links[i].duped)
					}
				})
			}
		}
	}
}

// TestTransferLarge moves 64 MiB each way with 1% loss and reordering.
func TestTransferLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB each way: skipped in -short")
	}
	s := newSim(t, simOpts{seed: 9, bytes: 64 << 20, sack: true, ts: true, loss: 0.01, reorder: 0.01,
		jitter: ms, delay: 2 * ms, bw: 0.125, maxQueue: 10 * ms, bidirectional: true,
		recvBufMin: 64 << 10, recvBufM: 4 << 20})
	s.run(600_000 * ms)
	s.verify()
	t.Logf("64 MiB each way in %.3f simulated s, retrans %d/%d", float64(s.now)/1e9,
		s.eps[0].Stats().Retrans, s.eps[1].Stats().Retrans)
}
