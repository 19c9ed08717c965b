package tcp

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"github.com/xdpengine/engine/header"
)

// growConfig is a connection whose rings grow with use from BufMin, as
// the engine's do, charged to m.
func growConfig(iss Seq, m *Memory, pool BufferPool) Config {
	c := baseConfig(iss)
	c.SendBuf, c.RecvBufMin, c.RecvBufMax, c.BufMin, c.BufIdle = 256<<10, 64<<10, 4<<20, 4<<10, 1000*ms
	c.Memory, c.Buffers = m, pool
	return c
}

// readAll drains e's receive ring.
func readAll(e *Endpoint) []byte {
	var out []byte
	var buf [16 << 10]byte
	for {
		n := e.RecvRing().Read(buf[:])
		if n == 0 {
			return out
		}
		out = append(out, buf[:n]...)
	}
}

// timers runs the endpoints' timers that are due at now.
func timers(now int64, es ...*Endpoint) {
	for _, e := range es {
		if at := e.NextTimer(); at != 0 && at <= now {
			e.OnTimer(now)
		}
	}
}

// idle runs both endpoints' timers at now (past BufIdle) and exchanges
// what they send.
func idle(t *testing.T, a, b *Endpoint, now int64) {
	t.Helper()
	a.OnTimer(now)
	b.OnTimer(now)
	settle(t, a, b, now)
}

// TestRingsGrowWithUse: a connection holds no ring memory until data
// moves; a short exchange takes BufMin-sized rings; they go back after
// BufIdle without data, and the window advertised before is honoured in
// full after the trim (the receive ring grows to take it: the right edge
// never moves left).
func TestRingsGrowWithUse(t *testing.T) {
	var m Memory
	a, b, _ := pair(t, growConfig(1000, &m, nil), growConfig(5000, &m, nil))
	if a.SendRing().Cap() != 0 || b.RecvRing().Cap() != 0 || m.Used() != 0 {
		t.Fatalf("a new connection holds memory: send %d, receive %d, charged %d", a.SendRing().Cap(), b.RecvRing().Cap(), m.Used())
	}
	if w := b.rcvAdvEdge.Sub(b.rcvNxt); w < 60000 {
		t.Fatalf("window advertised without memory: %d, want RecvBufMin", w)
	}
	a.SendRing().Write([]byte("ping"))
	settle(t, a, b, 0)
	if got := string(readAll(b)); got != "ping" {
		t.Fatalf("read %q", got)
	}
	settle(t, a, b, ms)
	if a.SendRing().Cap() != 4<<10 || b.RecvRing().Cap() != 4<<10 || m.Used() != 8<<10 {
		t.Fatalf("after a short exchange: send ring %d, receive ring %d, charged %d (want 4 KiB each)",
			a.SendRing().Cap(), b.RecvRing().Cap(), m.Used())
	}
	edge := b.rcvAdvEdge
	// Activity postpones the trim: data at 900 ms, timer at 1000 ms.
	a.SendRing().Write([]byte("pong"))
	settle(t, a, b, 900*ms)
	readAll(b)
	idle(t, a, b, 1000*ms)
	if b.RecvRing().Cap() == 0 {
		t.Fatal("trimmed although data moved within BufIdle")
	}
	idle(t, a, b, 2000*ms)
	if a.SendRing().Cap() != 0 || b.RecvRing().Cap() != 0 || m.Used() != 0 || a.NextTimer() != 0 {
		t.Fatalf("after BufIdle: send ring %d, receive ring %d, charged %d, timer %d",
			a.SendRing().Cap(), b.RecvRing().Cap(), m.Used(), a.NextTimer())
	}
	if st := m.Stats(); st.Trims < 2 || st.Grows < 2 {
		t.Fatalf("memory counters %+v", st)
	}
	// The whole window advertised before the trim is taken.
	edge = seqMax(edge, b.rcvAdvEdge)
	win := int(edge.Sub(b.rcvNxt))
	data := bytes.Repeat([]byte("0123456789abcdef"), win/16+1)[:win]
	if n := a.SendRing().Write(data); n != win {
		a.SendRing().Write(data[n:])
	}
	settle(t, a, b, 3000*ms)
	if b.RecvRing().Len() != win || b.Stats().OOODrops != 0 {
		t.Fatalf("after the trim %d of the %d bytes advertised were taken", b.RecvRing().Len(), win)
	}
	if got := readAll(b); !bytes.Equal(got, data) {
		t.Fatal("data changed")
	}
}

// TestRingsGrowForBulk: a bulk transfer grows the receive ring past
// BufMin (auto-tuning opens the window as the application reads) and the
// send ring as the engine grows it; both go back once the transfer is
// over and BufIdle passed, and the memory account returns to zero.
func TestRingsGrowForBulk(t *testing.T) {
	var m Memory
	pool := new(RingPool)
	a, b, _ := pair(t, growConfig(1000, &m, pool), growConfig(5000, &m, pool))
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i * 13)
	}
	var got []byte
	sent, now, maxRcv, maxSnd := 0, int64(0), 0, 0
	for len(got) < len(data) && now < 100_000*ms {
		if r := a.SendRing(); r.Cap() > 0 && r.Free() == 0 && r.Cap() < 4<<20 {
			if err := a.GrowSendRing(min(pow2Ceil(max(a.SendBufWant(), a.cfg.SendBuf)), 4<<20)); err != nil && r.Cap() < a.cfg.SendBuf {
				t.Fatal(err)
			}
		}
		sent += a.SendRing().Write(data[sent:])
		timers(now, a, b)
		deliver(t, a, b, now)
		maxRcv = max(maxRcv, b.RecvRing().Cap())
		got = append(got, readAll(b)...)
		deliver(t, b, a, now)
		maxSnd = max(maxSnd, a.SendRing().Cap())
		now += ms
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d of %d bytes, intact %v", len(got), len(data), bytes.Equal(got, data[:len(got)]))
	}
	if maxRcv <= 64<<10 || maxSnd < 256<<10 || b.Stats().RcvBufGrow == 0 {
		t.Fatalf("largest rings: receive %d, send %d; auto-tuning steps %d", maxRcv, maxSnd, b.Stats().RcvBufGrow)
	}
	peak := m.Stats().PeakBytes
	settle(t, a, b, now)
	idle(t, a, b, now+1000*ms)
	idle(t, a, b, now+2000*ms)
	if m.Used() != 0 || a.holdsMemory() || b.holdsMemory() {
		t.Fatalf("after the transfer and BufIdle: %d bytes charged; a holds %v, b holds %v", m.Used(), a.holdsMemory(), b.holdsMemory())
	}
	if st := pool.Stats(); st.Lent != 0 || st.Bytes == 0 {
		t.Fatalf("pool %+v: every buffer back, kept for reuse", st)
	}
	t.Logf("peak %d KiB charged; largest receive ring %d KiB, send ring %d KiB", peak>>10, maxRcv>>10, maxSnd>>10)
}

// TestMemoryPressure: past Pressure, new connections advertise and take
// no more than BufMin, send rings and windows do not grow; past High the
// account says so (the engine refuses connections); below Low pressure
// ends.
func TestMemoryPressure(t *testing.T) {
	var m Memory
	var hogs []*Endpoint
	for i := range 5 { // receivers that never read hold 64 KiB each
		a, b, _ := pair(t, growConfig(Seq(1000+i), &m, nil), growConfig(Seq(5000+i), &m, nil))
		a.SendRing().Write(make([]byte, 64<<10))
		for range 20 {
			settle(t, a, b, 0)
		}
		a.TrimBuffers() // everything sent was acknowledged
		hogs = append(hogs, b)
	}
	if m.Used() != 5*64<<10 {
		t.Fatalf("%d bytes charged, want 5 × 64 KiB", m.Used())
	}
	m.SetLimits(96<<10, 192<<10, 300<<10)
	st := m.Stats()
	if !st.UnderPressure || st.Pressures != 1 || !m.AboveHigh() {
		t.Fatalf("after 5 × 64 KiB unread: %+v, above high %v", st, m.AboveHigh())
	}
	a, b, _ := pair(t, growConfig(2000, &m, nil), growConfig(6000, &m, nil))
	if w := b.rcvAdvEdge.Sub(b.rcvNxt); w > 4<<10 {
		t.Fatalf("window %d offered under pressure, want at most BufMin", w)
	}
	a.SendRing().Write(make([]byte, 64<<10))
	if c := a.SendRing().Cap(); c != 4<<10 {
		t.Fatalf("send ring of %d bytes attached under pressure, want BufMin", c)
	}
	if err := a.GrowSendRing(64 << 10); !errors.Is(err, ErrMemoryPressure) {
		t.Fatalf("GrowSendRing under pressure: %v", err)
	}
	// The small connection still moves data.
	var got int
	for now := int64(0); got < 64<<10 && now < 10_000*ms; now += ms {
		if a.SendRing().Len() == 0 {
			a.SendRing().Write(make([]byte, 4<<10))
		}
		timers(now, a, b)
		deliver(t, a, b, now)
		got += len(readAll(b))
		deliver(t, b, a, now)
	}
	if got < 64<<10 || b.RecvRing().Cap() > 4<<10 || b.Stats().RcvBufGrow != 0 {
		t.Fatalf("under pressure: %d bytes moved, receive ring %d, auto-tuning steps %d", got, b.RecvRing().Cap(), b.Stats().RcvBufGrow)
	}
	// The hogs' applications read; their rings are trimmed; pressure ends.
	for _, h := range hogs {
		readAll(h)
		h.TrimBuffers()
	}
	if st := m.Stats(); st.UnderPressure || m.AboveHigh() || st.Denied == 0 {
		t.Fatalf("after the readers drained: %+v", st)
	}
}

// TestMemoryHighDrops: above the high threshold a receive ring does not
// grow past BufMin, even for data inside the window it advertised before:
// what does not fit is dropped and counted, the window stays, and the
// sender's retransmissions get through once the memory went back below.
func TestMemoryHighDrops(t *testing.T) {
	var m Memory
	a, b, _ := pair(t, growConfig(1000, &m, nil), growConfig(5000, &m, nil))
	if w := b.rcvAdvEdge.Sub(b.rcvNxt); w < 60000 {
		t.Fatalf("window %d", w)
	}
	// Another connection holds 64 KiB unread; then the limits come.
	c, d, _ := pair(t, growConfig(2000, &m, nil), growConfig(6000, &m, nil))
	c.SendRing().Write(make([]byte, 64<<10))
	for range 20 {
		settle(t, c, d, 0)
	}
	c.TrimBuffers()
	data := bytes.Repeat([]byte("high water mark "), 4<<10) // 64 KiB
	a.SendRing().Write(data)                                // a 64 KiB send ring
	m.SetLimits(16<<10, 32<<10, 128<<10)                    // 128 KiB charged: at the limit
	now := int64(0)
	for range 50 {
		timers(now, a, b)
		deliver(t, a, b, now)
		deliver(t, b, a, now)
		now += 10 * ms
	}
	if st := m.Stats(); st.Drops == 0 || b.RecvRing().Cap() > 4<<10 || m.Used() > 128<<10+4<<10 {
		t.Fatalf("above high: %+v, receive ring %d, charged %d", st, b.RecvRing().Cap(), m.Used())
	}
	readAll(d) // the other reader drains: the memory goes back
	d.TrimBuffers()
	var got []byte
	for i := 0; len(got) < len(data) && i < 2000; i++ {
		timers(now, a, b)
		deliver(t, a, b, now)
		got = append(got, readAll(b)...)
		deliver(t, b, a, now)
		now += 10 * ms
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d of %d bytes after the memory went back", len(got), len(data))
	}
}

// TestOrphanZeroWindow: a connection the application closed with data
// queued to a peer whose window stays closed is reset after
// OrphanRetries probes, though the peer answers every one.
func TestOrphanZeroWindow(t *testing.T) {
	ca, cb := baseConfig(1000), baseConfig(5000)
	ca.OrphanRetries = 3
	cb.RecvBufMax, cb.RecvBufMin, cb.MSS = MinRing, MinRing, 536
	a, b, _ := pair(t, ca, cb)
	a.SetNoDelay(true)
	a.SendRing().Write(make([]byte, 8192))
	settle(t, a, b, 0)
	a.Close(0)
	now := int64(0)
	for i := 0; a.State() != Closed && i < 20; i++ {
		now = protoTimer(a)
		a.OnTimer(now)
		for _, p := range out(t, a, now) {
			b.Input(now, p.seg())
			for _, q := range out(t, b, now) {
				a.Input(now, q.seg())
			}
		}
	}
	if a.State() != Closed || a.Err() != syscall.ETIMEDOUT || a.Stats().RSTOut != 1 {
		t.Fatalf("orphan: %v, err %v, RSTs %d, probes %d", a.State(), a.Err(), a.Stats().RSTOut, a.Stats().Probes)
	}
	if b.State() != Closed {
		t.Fatalf("the peer did not get the RST: %v", b.State())
	}
}

// relay is a Sink that keeps the segments in fixed memory, to hand them
// to the other endpoint without allocating.
type relay struct {
	h [128]header.TCPFields
	p [128][2048]byte
	l [128]int
	n int
}

func (r *relay) Emit(h *header.TCPFields, p1, p2 []byte) bool {
	if r.n == len(r.h) {
		return false
	}
	r.h[r.n] = *h
	k := copy(r.p[r.n][:], p1)
	k += copy(r.p[r.n][k:], p2)
	r.l[r.n] = k
	r.n++
	return true
}

// to feeds every segment to e and empties r.
func (r *relay) to(e *Endpoint, now int64) {
	var seg Segment
	for i := range r.n {
		h := &r.h[i]
		seg = Segment{Seq: Seq(h.Seq), Ack: Seq(h.Ack), Flags: h.Flags, Window: h.Window,
			Options: h.Options, Payload: r.p[i][:r.l[i]]}
		e.Input(now, &seg)
	}
	r.n = 0
}

// TestEstablishedPathAllocs: once a connection's buffers grew to carry a
// transfer, moving data allocates nothing per segment, in either
// direction (the ring memory is attached once, not per packet).
func TestEstablishedPathAllocs(t *testing.T) {
	var m Memory
	a, b, _ := pair(t, growConfig(1000, &m, new(RingPool)), growConfig(5000, &m, new(RingPool)))
	a.SetNoDelay(true)
	chunk := make([]byte, 64<<10)
	buf := make([]byte, 64<<10)
	var ra, rb relay
	now := int64(0)
	step := func() {
		now += 100_000
		a.SendRing().Write(chunk)
		a.Output(now, &ra)
		ra.to(b, now)
		b.RecvRing().Read(buf)
		b.Output(now, &rb)
		rb.to(a, now)
	}
	for range 2000 { // warm up: rings, RACK records
		step()
	}
	if b.RecvRing().Cap() == 0 || a.SendRing().Cap() == 0 {
		t.Fatal("no buffers after the warm-up")
	}
	in := b.Stats().BytesIn
	if allocs := testing.AllocsPerRun(1000, step); allocs != 0 {
		t.Errorf("%.2f allocations per step of the established path, want 0", allocs)
	}
	segs := b.Stats().BytesIn - in
	if segs == 0 {
		t.Fatal("no data moved while measuring")
	}
	t.Logf("%d KiB moved in 1001 steps without an allocation", segs>>10)
}
