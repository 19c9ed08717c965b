package tcp

import (
	"errors"
	"testing"

	"github.com/xdpengine/engine/header"
)

func synSeg(seq Seq) *Segment {
	s := &Segment{Seq: seq, Flags: FlagSYN, Window: 65535}
	s.Options = header.TCPOptions{HasMSS: true, MSS: 1460, HasWScale: true, WindowScale: 7,
		SACKPermitted: true, HasTimestamp: true, TSVal: 100}
	return s
}

func TestListenerQueues(t *testing.T) {
	l, err := NewListener(ListenerConfig{Backlog: 2, SYNBacklog: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.OnSYN(0, &Segment{Seq: 1, Flags: FlagSYN | FlagACK}, baseConfig(1)); !errors.Is(err, ErrNotSYN) {
		t.Fatalf("SYN-ACK to a listener: %v", err)
	}
	var eps []*Endpoint
	for i := 0; i < 2; i++ {
		e, err := l.OnSYN(0, synSeg(Seq(100*i)), baseConfig(Seq(5000+i)))
		if err != nil {
			t.Fatal(err)
		}
		eps = append(eps, e)
	}
	if _, err := l.OnSYN(0, synSeg(900), baseConfig(1)); !errors.Is(err, ErrSYNQueueFull) {
		t.Fatalf("third SYN: %v", err)
	}
	// SYN-ACK retransmissions expire: the entry leaves the SYN queue.
	e := eps[1]
	one(t, e, 0)
	n := 0
	for e.State() == SynReceived {
		now := e.NextTimer()
		e.OnTimer(now)
		if e.State() == SynReceived {
			want(t, one(t, e, now), 5001, 101, FlagSYN|FlagACK)
			n++
		}
	}
	if n != DefaultSynAckRetries || e.Err() != 0 || l.SYNQueued() != 1 {
		t.Fatalf("%d retransmissions, err %v, queued %d", n, e.Err(), l.SYNQueued())
	}
	// Complete eps[0]'s handshake.
	sa := one(t, eps[0], 0)
	ack := &Segment{Seq: 1, Ack: Seq(sa.h.Seq + 1), Flags: FlagACK, Window: 100}
	ack.Options.HasTimestamp, ack.Options.TSVal, ack.Options.TSEcr = true, 101, sa.h.Options.TSVal
	eps[0].Input(1*ms, ack)
	if eps[0].State() != Established || l.Pending() != 1 {
		t.Fatalf("%v pending %d", eps[0].State(), l.Pending())
	}
	if eps[0].sndWnd != 100<<7 {
		t.Fatalf("scaled window %d", eps[0].sndWnd)
	}
}

func TestAcceptQueueFull(t *testing.T) {
	l, _ := NewListener(ListenerConfig{Backlog: 1, SYNBacklog: 64})
	// ring.MinSize may exceed 1: fill whatever capacity it has.
	capacity := l.accept.Cap()
	var pend []*Endpoint
	for i := 0; i <= capacity; i++ {
		e, err := l.OnSYN(0, synSeg(Seq(1000*i)), baseConfig(Seq(7000+10*i)))
		if err != nil {
			t.Fatal(err)
		}
		pend = append(pend, e)
	}
	for i, e := range pend {
		sa := one(t, e, 0)
		e.Input(0, &Segment{Seq: Seq(1000*i + 1), Ack: Seq(sa.h.Seq + 1), Flags: FlagACK, Window: 100})
	}
	last := pend[capacity]
	if last.State() != SynReceived || last.Stats().AcceptOverflow != 1 || l.Stats().Overflows != 1 {
		t.Fatalf("overflow: %v %+v", last.State(), l.Stats())
	}
	if _, err := l.OnSYN(0, synSeg(5), baseConfig(1)); !errors.Is(err, ErrAcceptQueueFull) {
		t.Fatalf("SYN with a full accept queue: %v", err)
	}
	if _, ok := l.Accept(); !ok {
		t.Fatal("accept")
	}
	// The handshake ACK's retransmission now goes through.
	last.Input(1*ms, &Segment{Seq: Seq(1000*capacity + 1), Ack: last.iss + 1, Flags: FlagACK, Window: 100})
	if last.State() != Established {
		t.Fatal(last.State())
	}
}

func TestFromCookie(t *testing.T) {
	l, _ := NewListener(ListenerConfig{})
	ack := &Segment{Seq: 3001, Ack: 9001, Flags: FlagACK | FlagPSH, Window: 500, Payload: []byte("GET /")}
	ack.Options.HasTimestamp, ack.Options.TSVal = true, 42
	e, err := l.FromCookie(5*ms, ack, baseConfig(0), CookieParams{MSS: 1400, WScale: 2, SACK: true, Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	if e.State() != Established || e.iss != 9000 || e.irs != 3000 || e.RecvRing().Len() != 5 {
		t.Fatalf("%v iss %d irs %d len %d", e.State(), e.iss, e.irs, e.RecvRing().Len())
	}
	if e.sndMSS != 1400 || e.sndShift != 2 || !e.sackOK || !e.tsOK || e.sndWnd != 2000 {
		t.Fatalf("mss %d shift %d sack %v ts %v wnd %d", e.sndMSS, e.sndShift, e.sackOK, e.tsOK, e.sndWnd)
	}
	if got, ok := l.Accept(); !ok || got != e {
		t.Fatal("not in the accept queue")
	}
	p := one(t, e, 5*ms)
	want(t, p, 9001, 3006, FlagACK)
	if p.h.Options.TSEcr != 42 {
		t.Fatalf("TSecr %d", p.h.Options.TSEcr)
	}
}

func TestResetFor(t *testing.T) {
	var h header.TCPFields
	if !ResetFor(&Segment{Seq: 10, Ack: 77, Flags: FlagACK}, &h) || h.Seq != 77 || h.Flags != FlagRST {
		t.Fatalf("reply to ACK: %+v", h)
	}
	if !ResetFor(&Segment{Seq: 10, Flags: FlagSYN, Payload: []byte("ab")}, &h) || h.Seq != 0 || h.Ack != 13 || h.Flags != FlagRST|FlagACK {
		t.Fatalf("reply to SYN: %+v", h)
	}
	if ResetFor(&Segment{Flags: FlagRST}, &h) {
		t.Fatal("answered a RST")
	}
}

func TestOOOLimit(t *testing.T) {
	cb := baseConfig(5000)
	cb.OOOLimit = 3000
	a, b, _ := pair(t, baseConfig(1000), cb)
	a.SetNoDelay(true)
	a.SendRing().Write(make([]byte, 6*a.mss()))
	segs := out(t, a, 0)
	for _, p := range segs[1:] {
		b.Input(1*ms, p.seg())
	}
	st := b.Stats()
	if b.ooo.bytes > 3000 || st.OOODrops != 3 || st.OOOSegs != 2 {
		t.Fatalf("ooo bytes %d stats %+v", b.ooo.bytes, st)
	}
	if err := b.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestAutoTune(t *testing.T) {
	o := simOpts{seed: 3, bytes: 8 << 20, sack: true, ts: true, delay: 5 * ms, bw: 0.125, maxQueue: 50 * ms,
		recvBufMin: 16 << 10, recvBufM: 4 << 20}
	s := newSim(t, o)
	s.run(600_000 * ms)
	s.verify()
	b := s.eps[1].Info()
	if b.RcvBuf <= 16<<10 || b.Stats.RcvBufGrow == 0 {
		t.Fatalf("receive buffer did not grow: %d", b.RcvBuf)
	}
	// Without auto-tuning the 16 KiB window caps the rate at one window
	// per RTT: it must take several times longer.
	tuned := s.now
	o.recvBufM = 16 << 10
	s2 := newSim(t, o)
	s2.run(600_000 * ms)
	s2.verify()
	if s2.now < 4*tuned {
		t.Fatalf("fixed 16 KiB window: %d ns, tuned %d ns", s2.now, tuned)
	}
	t.Logf("auto-tuned to %d bytes: %.3fs vs %.3fs fixed", b.RcvBuf, float64(tuned)/1e9, float64(s2.now)/1e9)
}

func TestInfo(t *testing.T) {
	a, b, _ := pair(t, baseConfig(1000), baseConfig(5000))
	a.SendRing().Write(make([]byte, 3000))
	out(t, a, 1*ms) // two full segments; Nagle holds the last 104 bytes
	i := a.Info()
	if i.State != Established || i.CC != "testreno" || i.Cwnd != 10*a.mss() || i.Unacked != 2896 || !i.AppLimited || i.SendQ != 3000 || i.MSS != 1448 {
		t.Fatalf("info %+v", i)
	}
	_ = b
}
