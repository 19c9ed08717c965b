package tcp

import (
	"bytes"
	"syscall"
	"testing"

	"github.com/xdpengine/engine/header"
)

func TestSYNGolden(t *testing.T) {
	c := baseConfig(1000)
	c.TSOffset = 0x01020304
	a, err := Dial(5*ms, c)
	if err != nil {
		t.Fatal(err)
	}
	p := one(t, a, 5*ms)
	b := make([]byte, 60)
	n, err := p.h.Put(b)
	if err != nil {
		t.Fatal(err)
	}
	golden := []byte{
		0x03, 0xe8, 0x07, 0xd0, // ports 1000 -> 2000
		0x00, 0x00, 0x03, 0xe8, // seq 1000
		0x00, 0x00, 0x00, 0x00, // ack 0
		0xa0, 0x02, 0xff, 0xff, // data offset 10, SYN, window 65535
		0x00, 0x00, 0x00, 0x00, // checksum (engine's), urgent
		0x02, 0x04, 0x05, 0xb4, // MSS 1460
		0x04, 0x02, 0x08, 0x0a, // SACK-permitted, timestamp
		0x01, 0x02, 0x03, 0x09, // TSval = 5 ms + offset
		0x00, 0x00, 0x00, 0x00, // TSecr 0
		0x01, 0x03, 0x03, 0x01, // NOP, window scale 1 (64 KiB buffer)
	}
	if !bytes.Equal(b[:n], golden) {
		t.Fatalf("SYN\n got % x\nwant % x", b[:n], golden)
	}
}

func TestHandshake(t *testing.T) {
	ca, cb := baseConfig(1000), baseConfig(5000)
	ca.RecvBufMax, ca.RecvBufMin = 1<<20, 1<<20
	a, err := Dial(0, ca)
	if err != nil {
		t.Fatal(err)
	}
	syn := one(t, a, 0)
	want(t, syn, 1000, 0, FlagSYN)
	if o := syn.h.Options; !o.HasMSS || o.MSS != 1460 || !o.HasWScale || o.WindowScale != 5 || !o.SACKPermitted || !o.HasTimestamp {
		t.Fatalf("SYN options %+v", o)
	}
	l, _ := NewListener(ListenerConfig{})
	b, err := l.OnSYN(0, syn.seg(), cb)
	if err != nil {
		t.Fatal(err)
	}
	sa := one(t, b, 1*ms)
	want(t, sa, 5000, 1001, FlagSYN|FlagACK)
	if o := sa.h.Options; !o.HasWScale || o.WindowScale != 1 || !o.HasTimestamp || o.TSEcr != syn.h.Options.TSVal {
		t.Fatalf("SYN-ACK options %+v", o)
	}
	if l.SYNQueued() != 1 {
		t.Fatalf("SYN queue %d", l.SYNQueued())
	}
	a.Input(2*ms, sa.seg())
	if a.State() != Established || a.TakeEvents()&EvEstablished == 0 {
		t.Fatal("active side not established")
	}
	ack := one(t, a, 2*ms)
	want(t, ack, 1001, 5001, FlagACK)
	b.Input(3*ms, ack.seg())
	if b.State() != Established || l.SYNQueued() != 0 || l.Pending() != 1 {
		t.Fatalf("passive: %v syn=%d pending=%d", b.State(), l.SYNQueued(), l.Pending())
	}
	if i := a.Info(); i.RTT != 2*ms || i.SndWScale != 1 || i.RcvWScale != 5 || !i.SACK || !i.Timestamps {
		t.Fatalf("info %+v", i)
	}
	// A duplicate SYN in SYN-RECEIVED gets the SYN-ACK again.
	b2, _ := l.OnSYN(0, syn.seg(), cb)
	one(t, b2, 0)
	b2.Input(1*ms, syn.seg())
	want(t, one(t, b2, 1*ms), 5000, 1001, FlagSYN|FlagACK)
}

func TestSimultaneousOpen(t *testing.T) {
	a, _ := Dial(0, baseConfig(1000))
	cb := baseConfig(5000)
	cb.LocalPort, cb.RemotePort = 2000, 1000
	b, _ := Dial(0, cb)
	sa, sb := one(t, a, 0), one(t, b, 0)
	a.Input(1*ms, sb.seg())
	b.Input(1*ms, sa.seg())
	if a.State() != SynReceived || b.State() != SynReceived {
		t.Fatalf("%v %v", a.State(), b.State())
	}
	pa, pb := one(t, a, 1*ms), one(t, b, 1*ms)
	want(t, pa, 1000, 5001, FlagSYN|FlagACK)
	want(t, pb, 5000, 1001, FlagSYN|FlagACK)
	a.Input(2*ms, pb.seg())
	b.Input(2*ms, pa.seg())
	if a.State() != Established || b.State() != Established {
		t.Fatalf("%v %v", a.State(), b.State())
	}
}

func TestDataAndDelayedAck(t *testing.T) {
	a, b, _ := pair(t, baseConfig(1000), baseConfig(5000))
	b.quickAcks = 0
	a.SendRing().Write([]byte("hello"))
	p := one(t, a, 10*ms)
	want(t, p, 1001, 5001, FlagACK|FlagPSH)
	b.Input(10*ms, p.seg())
	if b.TakeEvents()&EvReadable == 0 {
		t.Fatal("no Readable")
	}
	none(t, b, 10*ms) // delayed
	if got := b.NextTimer(); got != 50*ms {
		t.Fatalf("delayed ACK timer %d", got)
	}
	b.OnTimer(50 * ms)
	want(t, one(t, b, 50*ms), 5001, 1006, FlagACK)
	buf := make([]byte, 16)
	if n := b.RecvRing().Read(buf); string(buf[:n]) != "hello" {
		t.Fatalf("read %q", buf[:n])
	}
	// Two full segments are acknowledged at once.
	a.SetNoDelay(true)
	a.SendRing().Write(make([]byte, 2*a.mss()))
	for _, p := range out(t, a, 60*ms) {
		b.Input(60*ms, p.seg())
	}
	want(t, one(t, b, 60*ms), 5001, uint32(1006+2*a.mss()), FlagACK)
}

func TestNagle(t *testing.T) {
	a, b, _ := pair(t, baseConfig(1000), baseConfig(5000))
	a.SendRing().Write([]byte("a"))
	first := one(t, a, 0)
	a.SendRing().Write([]byte("b"))
	none(t, a, 0) // held: "a" is unacknowledged
	b.Input(1*ms, first.seg())
	settle(t, a, b, 1*ms)
	if b.RecvRing().Len() != 2 {
		t.Fatalf("peer has %d bytes", b.RecvRing().Len())
	}
	a.SetNoDelay(true)
	a.SendRing().Write([]byte("c"))
	one(t, a, 2*ms)
	a.SendRing().Write([]byte("d"))
	one(t, a, 2*ms)
}

func TestCloseActive(t *testing.T) {
	a, b, _ := pair(t, baseConfig(1000), baseConfig(5000))
	a.Close(0)
	fin := one(t, a, 0)
	want(t, fin, 1001, 5001, FlagFIN|FlagACK)
	if a.State() != FinWait1 {
		t.Fatal(a.State())
	}
	b.Input(1*ms, fin.seg())
	if b.State() != CloseWait || b.TakeEvents()&EvPeerClosed == 0 {
		t.Fatal("no PeerClosed")
	}
	// The FIN that opens CLOSE-WAIT is acknowledged like data: after the
	// delayed-ACK time, unless the application closes first.
	none(t, b, 1*ms)
	if got := b.NextTimer(); got != 1*ms+DefaultDelAck {
		t.Fatalf("delayed ACK of the FIN due at %d, want %d", got, 1*ms+DefaultDelAck)
	}
	d := int64(DefaultDelAck) // everything after the delayed ACK happens later
	b.OnTimer(1*ms + d)
	ack := one(t, b, 1*ms+d)
	want(t, ack, 5001, 1002, FlagACK)
	a.Input(2*ms+d, ack.seg())
	if a.State() != FinWait2 {
		t.Fatal(a.State())
	}
	b.Close(3*ms + d)
	fin2 := one(t, b, 3*ms+d)
	want(t, fin2, 5001, 1002, FlagFIN|FlagACK)
	a.Input(4*ms+d, fin2.seg())
	if a.State() != TimeWait {
		t.Fatal(a.State())
	}
	last := one(t, a, 4*ms+d)
	want(t, last, 1002, 5002, FlagACK)
	b.Input(5*ms+d, last.seg())
	if b.State() != Closed || b.TakeEvents()&EvClosed == 0 {
		t.Fatal(b.State())
	}
	// A retransmitted FIN in TIME-WAIT is acknowledged again.
	a.Input(10*ms+d, fin2.seg())
	want(t, one(t, a, 10*ms+d), 1002, 5002, FlagACK)
	if got := a.NextTimer(); got != 10*ms+d+DefaultTimeWait {
		t.Fatalf("TIME-WAIT deadline %d", got)
	}
	a.OnTimer(10*ms + d + DefaultTimeWait)
	if a.State() != Closed || a.TakeEvents()&EvClosed == 0 {
		t.Fatal("TIME-WAIT did not expire")
	}
}

// TestFINAckRidesOnClose: when the application closes soon after the
// peer's FIN, one segment carries our FIN and the ACK of theirs (Linux's
// pingpong mode), where an immediate ACK would have cost a second one.
func TestFINAckRidesOnClose(t *testing.T) {
	a, b, _ := pair(t, baseConfig(1000), baseConfig(5000))
	a.Close(0)
	b.Input(1*ms, one(t, a, 0).seg())
	none(t, b, 1*ms)
	b.Close(2 * ms)
	want(t, one(t, b, 2*ms), 5001, 1002, FlagFIN|FlagACK)
	none(t, b, 2*ms+DefaultDelAck) // nothing left to acknowledge
}

func TestSimultaneousClose(t *testing.T) {
	a, b, _ := pair(t, baseConfig(1000), baseConfig(5000))
	a.Close(0)
	b.Close(0)
	fa, fb := one(t, a, 0), one(t, b, 0)
	a.Input(1*ms, fb.seg())
	b.Input(1*ms, fa.seg())
	if a.State() != Closing || b.State() != Closing {
		t.Fatalf("%v %v", a.State(), b.State())
	}
	aa, ab := one(t, a, 1*ms), one(t, b, 1*ms)
	a.Input(2*ms, ab.seg())
	b.Input(2*ms, aa.seg())
	if a.State() != TimeWait || b.State() != TimeWait {
		t.Fatalf("%v %v", a.State(), b.State())
	}
}

func TestHalfClose(t *testing.T) {
	a, b, _ := pair(t, baseConfig(1000), baseConfig(5000))
	a.CloseWrite(0)
	settle(t, a, b, 0)
	b.OnTimer(DefaultDelAck) // the delayed ACK of a's FIN
	settle(t, a, b, DefaultDelAck)
	if a.State() != FinWait2 || b.State() != CloseWait {
		t.Fatalf("%v %v", a.State(), b.State())
	}
	// b keeps sending; a keeps receiving.
	now := DefaultDelAck + 1*ms
	b.SendRing().Write([]byte("more data"))
	settle(t, a, b, now)
	if a.RecvRing().Len() != 9 {
		t.Fatalf("a received %d", a.RecvRing().Len())
	}
	now += ms
	b.Close(now)
	settle(t, a, b, now)
	if a.State() != TimeWait || b.State() != Closed {
		t.Fatalf("%v %v", a.State(), b.State())
	}
	// Close in FIN-WAIT-2 after CloseWrite arms the FIN timeout.
	c, d, _ := pair(t, baseConfig(1000), baseConfig(5000))
	c.CloseWrite(0)
	settle(t, c, d, 0)
	d.OnTimer(DefaultDelAck)
	settle(t, c, d, DefaultDelAck)
	if c.State() != FinWait2 || protoTimer(c) != 0 {
		t.Fatalf("half-closed %v must not time out (timer %d)", c.State(), protoTimer(c))
	}
	now = DefaultDelAck + 1*ms
	c.Close(now)
	if c.NextTimer() != now+DefaultFinTimeout {
		t.Fatalf("FIN-WAIT-2 timer %d", c.NextTimer())
	}
	c.OnTimer(now + DefaultFinTimeout)
	if c.State() != Closed {
		t.Fatal(c.State())
	}
}

func TestCloseWithUnreadDataResets(t *testing.T) {
	a, b, _ := pair(t, baseConfig(1000), baseConfig(5000))
	a.SendRing().Write([]byte("unread"))
	settle(t, a, b, 0)
	b.Close(1 * ms)
	want(t, one(t, b, 1*ms), 5001, 1007, FlagRST|FlagACK)
	if b.State() != Closed {
		t.Fatal(b.State())
	}
}

func TestSynSentRST(t *testing.T) {
	a, _ := Dial(0, baseConfig(1000))
	one(t, a, 0)
	// RST without an acceptable ACK is ignored.
	a.Input(1*ms, &Segment{Seq: 7, Ack: 999, Flags: FlagRST | FlagACK})
	if a.State() != SynSent {
		t.Fatal(a.State())
	}
	// A bad ACK is answered with a RST.
	a.Input(1*ms, &Segment{Seq: 7, Ack: 5, Flags: FlagACK})
	want(t, one(t, a, 1*ms), 5, 0, FlagRST)
	a.Input(1*ms, &Segment{Seq: 0, Ack: 1001, Flags: FlagRST | FlagACK})
	if a.State() != Closed || a.Err() != syscall.ECONNREFUSED || a.TakeEvents()&(EvError|EvClosed) != EvError|EvClosed {
		t.Fatalf("state %v err %v", a.State(), a.Err())
	}
}

func TestSynRetriesTimeout(t *testing.T) {
	c := baseConfig(1000)
	a, _ := Dial(0, c)
	one(t, a, 0)
	var times []int64
	for a.State() == SynSent {
		now := a.NextTimer()
		a.OnTimer(now)
		if a.State() == SynSent {
			want(t, one(t, a, now), 1000, 0, FlagSYN)
			times = append(times, now/ms)
		}
	}
	wantT := []int64{1000, 3000, 7000, 15000, 31000, 63000}
	if len(times) != len(wantT) {
		t.Fatalf("retransmitted at %v ms, want %v", times, wantT)
	}
	for i := range wantT {
		if times[i] != wantT[i] {
			t.Fatalf("retransmitted at %v ms, want %v", times, wantT)
		}
	}
	if a.Err() != syscall.ETIMEDOUT {
		t.Fatal(a.Err())
	}
}

func TestRSTInStates(t *testing.T) {
	tests := []struct {
		name  string
		setup func(a, b *Endpoint)
		err   syscall.Errno
	}{
		{"established", func(a, b *Endpoint) {}, syscall.ECONNRESET},
		{"fin-wait-1", func(a, b *Endpoint) { a.Close(0); one(t, a, 0) }, syscall.ECONNRESET},
		{"fin-wait-2", func(a, b *Endpoint) { a.CloseWrite(0); settle(t, a, b, 0) }, syscall.ECONNRESET},
		{"close-wait", func(a, b *Endpoint) { b.CloseWrite(0); settle(t, a, b, 0) }, syscall.ECONNRESET},
		{"closing", func(a, b *Endpoint) {
			a.Close(0)
			b.Close(0)
			fb := one(t, b, 0)
			one(t, a, 0)
			a.Input(0, fb.seg())
		}, 0},
		{"last-ack", func(a, b *Endpoint) {
			b.CloseWrite(0)
			settle(t, a, b, 0)
			a.Close(0)
			one(t, a, 0)
		}, 0},
		{"time-wait", func(a, b *Endpoint) { a.Close(0); settle(t, a, b, 0); b.Close(0); settle(t, a, b, 0) }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b, _ := pair(t, baseConfig(1000), baseConfig(5000))
			tc.setup(a, b)
			st := a.State()
			nxt := a.rcvNxt
			// Not exact but in window: challenge ACK, no reset.
			a.Input(1*ms, &Segment{Seq: nxt + 10, Flags: FlagRST})
			if a.State() != st {
				t.Fatalf("in-window RST changed %v to %v", st, a.State())
			}
			p := one(t, a, 1*ms)
			if p.h.Flags != FlagACK || a.Stats().ChallengeAcks != 1 {
				t.Fatalf("challenge: %v", p)
			}
			// Outside the window: ignored silently.
			a.Input(1*ms, &Segment{Seq: nxt + 1<<20, Flags: FlagRST})
			none(t, a, 1*ms)
			a.Input(2*ms, &Segment{Seq: nxt, Flags: FlagRST})
			if a.State() != Closed || a.Err() != tc.err {
				t.Fatalf("after RST: %v err %v, want CLOSED err %v", a.State(), a.Err(), tc.err)
			}
		})
	}
	// SYN-RECEIVED (passive): back to listen, nothing reported.
	a, _ := Dial(0, baseConfig(1000))
	l, _ := NewListener(ListenerConfig{})
	b, _ := l.OnSYN(0, one(t, a, 0).seg(), baseConfig(5000))
	one(t, b, 0)
	b.Input(1*ms, &Segment{Seq: 1001, Flags: FlagRST})
	if b.State() != Closed || b.Err() != 0 || l.SYNQueued() != 0 {
		t.Fatalf("%v %v %d", b.State(), b.Err(), l.SYNQueued())
	}
}

func TestChallengeAcks(t *testing.T) {
	lim := NewChallengeLimiter(2)
	ca := baseConfig(1000)
	ca.Challenge = lim
	a, b, _ := pair(t, ca, baseConfig(5000))
	_ = b
	// SYN in ESTABLISHED.
	a.Input(1*ms, &Segment{Seq: 123, Flags: FlagSYN})
	want(t, one(t, a, 1*ms), 1001, 5001, FlagACK)
	// ACK of data never sent.
	a.Input(1*ms, &Segment{Seq: 5001, Ack: 9999, Flags: FlagACK})
	want(t, one(t, a, 1*ms), 1001, 5001, FlagACK)
	// The limiter allows 2 per second: the third is suppressed.
	a.Input(1*ms, &Segment{Seq: 5005, Flags: FlagRST})
	none(t, a, 1*ms)
	if s := a.Stats(); s.ChallengeAcks != 2 || s.ChallengeLimited != 1 || s.BadAck != 1 {
		t.Fatalf("stats %+v", s)
	}
	// Next second: allowed again.
	a.Input(1001*ms, &Segment{Seq: 5005, Flags: FlagRST})
	one(t, a, 1001*ms)
	if a.State() != Established {
		t.Fatal(a.State())
	}
}

func TestPAWS(t *testing.T) {
	a, b, _ := pair(t, baseConfig(1000), baseConfig(5000))
	a.SendRing().Write([]byte("x"))
	p := one(t, a, 10*ms)
	b.Input(10*ms, p.seg())
	settle(t, a, b, 10*ms)
	// An old duplicate with an older timestamp is dropped.
	old := p.seg()
	old.Options.TSVal -= 5
	old.Seq = b.rcvNxt
	old.Payload = []byte("y")
	b.Input(20*ms, old)
	if b.RecvRing().Len() != 1 || b.Stats().PAWSDrops != 1 {
		t.Fatalf("PAWS: len %d drops %d", b.RecvRing().Len(), b.Stats().PAWSDrops)
	}
	want(t, one(t, b, 20*ms), 5001, 1002, FlagACK)
}

func TestUnacceptableSegments(t *testing.T) {
	tests := []struct {
		seq  Seq
		n    uint32
		wnd  uint32
		want bool
	}{
		{100, 0, 0, true}, {101, 0, 0, false}, {99, 0, 0, false},
		{100, 0, 10, true}, {109, 0, 10, true}, {110, 0, 10, false},
		{100, 5, 0, false},
		{100, 5, 10, true}, {96, 5, 10, true}, {95, 5, 10, false}, {109, 5, 10, true}, {110, 5, 10, false},
		{0xfffffffe, 2, 10, false}, {0xfffffffe, 4, 3, true},
	}
	for _, tc := range tests {
		nxt := Seq(100)
		if tc.seq > 0xf0000000 {
			nxt = 1
		}
		if got := acceptable(tc.seq, tc.n, nxt, tc.wnd); got != tc.want {
			t.Errorf("acceptable(seq %d len %d, nxt %d wnd %d) = %v, want %v", tc.seq, tc.n, nxt, tc.wnd, got, tc.want)
		}
	}
}

func TestTimeWaitReuse(t *testing.T) {
	for _, ts := range []bool{true, false} {
		ca, cb := baseConfig(1000), baseConfig(5000)
		ca.DisableTimestamps, cb.DisableTimestamps = !ts, !ts
		a, b, _ := pair(t, ca, cb)
		a.Close(0)
		settle(t, a, b, 0)
		b.Close(0)
		settle(t, a, b, 1*ms)
		if a.State() != TimeWait {
			t.Fatal(a.State())
		}
		// An old SYN (same timestamp / lower seq) is not a reuse.
		syn := &Segment{Seq: a.rcvNxt - 10, Flags: FlagSYN}
		syn.Options.HasTimestamp, syn.Options.TSVal = ts, a.tsRecent
		if a.Input(2*ms, syn) != Consumed || a.State() != TimeWait {
			t.Fatal("old SYN reused TIME-WAIT")
		}
		one(t, a, 2*ms) // the challenge ACK
		syn = &Segment{Seq: a.rcvNxt + 100000, Flags: FlagSYN}
		syn.Options.HasTimestamp, syn.Options.TSVal = ts, a.tsRecent+1000
		if a.Input(3*ms, syn) != Reopen || a.State() != Closed {
			t.Fatalf("ts=%v: new SYN not accepted", ts)
		}
		if a.ReopenISN().LessEq(a.sndMax) {
			t.Fatal("ReopenISN not above snd.max")
		}
	}
}

func TestZeroWindowPersist(t *testing.T) {
	ca, cb := baseConfig(1000), baseConfig(5000)
	cb.RecvBufMax, cb.RecvBufMin = MinRing, MinRing
	cb.MSS = 536
	a, b, _ := pair(t, ca, cb)
	a.SetNoDelay(true)
	a.SendRing().Write(make([]byte, 4096))
	settle(t, a, b, 0)
	// The window left (500 bytes) is below a segment and half the peer's
	// window: sender SWS avoidance holds it until the persist timer.
	if a.sndWnd == 0 || int(a.sndWnd) >= a.mss() {
		t.Fatalf("window %d", a.sndWnd)
	}
	now := a.NextTimer()
	a.OnTimer(now)
	p := one(t, a, now)
	if len(p.payload) != int(a.sndWnd) {
		t.Fatalf("override sent %d bytes, window %d", len(p.payload), a.sndWnd)
	}
	b.Input(now, p.seg())
	a.Input(now, one(t, b, now).seg())
	if b.RecvRing().Len() != MinRing || a.sndWnd != 0 {
		t.Fatalf("b has %d, a sees window %d", b.RecvRing().Len(), a.sndWnd)
	}
	// Zero window: probes with backoff, answered by b's ACK.
	var gaps []int64
	prev := now
	for i := 0; i < 4; i++ {
		now := a.NextTimer()
		a.OnTimer(now)
		p := one(t, a, now)
		want(t, p, uint32(a.sndUna)-1, uint32(a.rcvNxt), FlagACK)
		b.Input(now, p.seg())
		ack := one(t, b, now)
		if ack.h.Window != 0 {
			t.Fatalf("window %d", ack.h.Window)
		}
		a.Input(now, ack.seg())
		gaps = append(gaps, now-prev)
		prev = now
	}
	if !(gaps[1] > gaps[0] && gaps[2] > gaps[1] && gaps[3] > gaps[2]) {
		t.Fatalf("persist intervals not backing off: %v", gaps)
	}
	if a.State() != Established || a.Stats().Probes != 4 {
		t.Fatalf("%v probes %d", a.State(), a.Stats().Probes)
	}
	// The application reads: b sends a window update, data flows again.
	buf := make([]byte, MinRing)
	b.RecvRing().Read(buf)
	upd := one(t, b, prev)
	if upd.h.Window == 0 {
		t.Fatal("no window update")
	}
	a.Input(prev, upd.seg())
	if n := len(out(t, a, prev)); n == 0 {
		t.Fatal("data did not resume")
	}
}

func TestKeepaliveGiveUp(t *testing.T) {
	ca := baseConfig(1000)
	ca.KeepAlive, ca.KeepIdle, ca.KeepIntvl, ca.KeepCnt = true, 10_000*ms, 1000*ms, 3
	a, b, _ := pair(t, ca, baseConfig(5000))
	if a.NextTimer() != 10_000*ms {
		t.Fatalf("keepalive at %d", a.NextTimer())
	}
	// One probe answered: the connection stays.
	a.OnTimer(10_000 * ms)
	p := one(t, a, 10_000*ms)
	want(t, p, 1000, 5001, FlagACK)
	b.Input(10_000*ms, p.seg())
	a.Input(10_000*ms, one(t, b, 10_000*ms).seg())
	if a.NextTimer() != 20_000*ms {
		t.Fatalf("keepalive rearmed at %d", a.NextTimer())
	}
	// Then the peer disappears: 3 probes, then RST and ETIMEDOUT.
	probes := 0
	for a.State() == Established {
		now := a.NextTimer()
		a.OnTimer(now)
		for _, p := range out(t, a, now) {
			if p.h.Flags&FlagRST != 0 {
				if a.State() != Closed {
					t.Fatal("RST before close")
				}
				continue
			}
			probes++
		}
	}
	if probes != 3 || a.Err() != syscall.ETIMEDOUT {
		t.Fatalf("probes %d err %v", probes, a.Err())
	}
}

func TestRetransmitBackoffTimeout(t *testing.T) {
	ca := baseConfig(1000)
	ca.Retries2 = 5
	a, _, _ := pair(t, ca, baseConfig(5000))
	a.SendRing().Write([]byte("data"))
	one(t, a, 0)
	var at []int64
	for a.State() == Established {
		now := a.NextTimer()
		a.OnTimer(now)
		for _, p := range out(t, a, now) {
			want(t, &p, 1001, 5001, FlagACK|FlagPSH)
			at = append(at, now/ms)
		}
	}
	// The active side has an RTT sample from the handshake (srtt ~0):
	// RTO = RTOMin 200 ms. First a tail loss probe at PTO = 2·SRTT plus
	// the delayed-ACK time (one segment in flight), 40 ms; it restarts
	// the RTO, which then backs off: 240, 640, 1440, 3040 ms, and the
	// connection times out after Retries2 = 5 RTOs.
	wantAt := []int64{40, 240, 640, 1440, 3040, 6240}
	if len(at) != len(wantAt) {
		t.Fatalf("retransmissions at %v ms, want %v", at, wantAt)
	}
	for i := range at {
		if at[i] != wantAt[i] {
			t.Fatalf("retransmissions at %v ms, want %v", at, wantAt)
		}
	}
	if a.Err() != syscall.ETIMEDOUT || a.Stats().RTOs != 5 || a.Stats().TLPs != 1 {
		t.Fatalf("err %v rtos %d tlps %d", a.Err(), a.Stats().RTOs, a.Stats().TLPs)
	}
}

func TestOutOfOrderSACK(t *testing.T) {
	a, b, _ := pair(t, baseConfig(1000), baseConfig(5000))
	a.SetNoDelay(true)
	a.SendRing().Write(bytes.Repeat([]byte("abcdefgh"), 4*a.mss()/8+1))
	segs := out(t, a, 1*ms)
	if len(segs) != 5 {
		t.Fatalf("%d segments", len(segs))
	}
	// Deliver 1, 3, 5 (2 and 4 lost).
	for _, i := range []int{0, 2, 4} {
		b.Input(2*ms, segs[i].seg())
	}
	acks := out(t, b, 2*ms)
	last := acks[len(acks)-1]
	o := last.h.Options
	if o.NumSACK != 2 || o.SACK[0].Start != segs[4].h.Seq || o.SACK[1].Start != segs[2].h.Seq {
		t.Fatalf("SACK blocks %+v (most recent first)", o.SACK[:o.NumSACK])
	}
	for i := range acks {
		a.Input(3*ms, acks[i].seg())
	}
	if a.sb.n != 2 || a.sb.sacked != len(segs[2].payload)+len(segs[4].payload) {
		t.Fatalf("scoreboard %+v", a.sb)
	}
	// A duplicate of segment 1 is reported as a D-SACK.
	b.Input(4*ms, segs[0].seg())
	d := one(t, b, 4*ms)
	if d.h.Options.NumSACK < 1 || d.h.Options.SACK[0] != (header.SACKBlock{Start: segs[0].h.Seq, End: segs[1].h.Seq}) {
		t.Fatalf("D-SACK %+v", d.h.Options)
	}
	b.Input(5*ms, segs[1].seg())
	b.Input(5*ms, segs[3].seg())
	if b.RecvRing().Len() != 4*a.mss()+8 || b.ooo.n != 0 {
		t.Fatalf("reassembled %d bytes, ooo %d", b.RecvRing().Len(), b.ooo.n)
	}
	got := make([]byte, b.RecvRing().Len())
	b.RecvRing().Read(got)
	if !bytes.Equal(got, bytes.Repeat([]byte("abcdefgh"), 4*a.mss()/8+1)) {
		t.Fatal("reassembled data differs")
	}
}

func TestFastRetransmit(t *testing.T) {
	for _, sack := range []bool{true, false} {
		ca, cb := baseConfig(1000), baseConfig(5000)
		ca.DisableSACK, cb.DisableSACK = !sack, !sack
		a, b, _ := pair(t, ca, cb)
		a.SetNoDelay(true)
		a.SendRing().Write(make([]byte, 8*a.mss()))
		segs := out(t, a, 1*ms)
		if len(segs) != 8 {
			t.Fatalf("%d segments", len(segs))
		}
		for _, p := range segs[1:] {
			b.Input(2*ms, p.seg())
		}
		for _, p := range out(t, b, 2*ms) {
			a.Input(3*ms, p.seg())
		}
		re := out(t, a, 3*ms)
		if len(re) == 0 || re[0].h.Seq != segs[0].h.Seq {
			t.Fatalf("sack=%v: no fast retransmit: %v", sack, re)
		}
		if !a.inRecovery || a.Stats().FastRetrans != 1 || a.Stats().RTOs != 0 {
			t.Fatalf("sack=%v: recovery %v stats %+v", sack, a.inRecovery, a.Stats())
		}
		b.Input(4*ms, re[0].seg())
		for _, p := range out(t, b, 4*ms) {
			a.Input(5*ms, p.seg())
		}
		if a.inRecovery || a.sndUna != a.sndMax {
			t.Fatalf("sack=%v: recovery not finished: una %d max %d", sack, a.sndUna, a.sndMax)
		}
	}
}

// TestBurstDupACKs: Output after a whole burst of Inputs (as the engine's
// worker runs it: once per received burst) sends one duplicate ACK per
// out-of-order segment while the hole stays, and a single ACK once a
// segment of the same burst filled it (no duplicates of a point with
// nothing missing, which a sender without SACK would take for a loss).
func TestBurstDupACKs(t *testing.T) {
	a, b, _ := pair(t, baseConfig(1000), baseConfig(5000))
	a.SetNoDelay(true)
	a.SendRing().Write(bytes.Repeat([]byte("abcdefgh"), 5*a.mss()/8))
	segs := out(t, a, 1*ms)
	if len(segs) != 5 {
		t.Fatalf("%d segments", len(segs))
	}
	// One burst: 2, 3, 4 (1 missing).
	for _, i := range []int{1, 2, 3} {
		b.Input(2*ms, segs[i].seg())
	}
	acks := out(t, b, 2*ms)
	if len(acks) != 3 {
		t.Fatalf("%d ACKs for three out-of-order segments, want 3 duplicates", len(acks))
	}
	for _, p := range acks {
		if p.h.Ack != segs[0].h.Seq || p.h.Options.NumSACK == 0 {
			t.Fatalf("duplicate ACK %v (SACK %d): want ack %d with SACK", &p, p.h.Options.NumSACK, segs[0].h.Seq)
		}
	}
	// The next burst: 5 out of order, then 1 fills the hole.
	b.Input(3*ms, segs[4].seg())
	b.Input(3*ms, segs[0].seg())
	acks = out(t, b, 3*ms)
	end := segs[4].h.Seq + uint32(len(segs[4].payload))
	if len(acks) != 1 || acks[0].h.Ack != end {
		t.Fatalf("ACKs %v after the hole filled: want one, ack %d", acks, end)
	}
}
