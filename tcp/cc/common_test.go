package cc

import (
	"errors"
	"strings"
	"testing"
)

const (
	ms  = int64(1_000_000)
	sec = int64(1_000_000_000)
)

// clock is the fake monotonic clock of the tests.
type clock struct{ now int64 }

// round acknowledges one window of data as ACKs of ackSize bytes (the
// last one smaller when the window is not a multiple) spread evenly over
// rtt, each carrying an RTT sample of rtt. The sender is ACK-clocked: the
// bytes in flight before each ACK are the current window.
func (c *clock) round(a Algorithm, rtt int64, ackSize int, appLimited bool) {
	w := a.Cwnd()
	n := (w + ackSize - 1) / ackSize
	start := c.now
	for i := range n {
		a.OnAck(Ack{
			Acked:      min(ackSize, w-i*ackSize),
			Inflight:   a.Cwnd(),
			RTT:        rtt,
			MinRTT:     rtt,
			AppLimited: appLimited,
			Now:        start + int64(i+1)*rtt/int64(n),
		})
	}
	c.now = start + rtt
}

// algorithms returns one fresh instance of each algorithm under test.
func algorithms() []func() Algorithm {
	return []func() Algorithm{
		func() Algorithm { return NewReno() },
		func() Algorithm { return NewCubicConfig(CubicConfig{NoHyStart: true}) },
		func() Algorithm { return NewCubic() },
	}
}

func algName(a Algorithm) string {
	if c, ok := a.(*Cubic); ok && c.cfg.NoHyStart {
		return "cubic-nohystart"
	}
	return a.Name()
}

func TestNew(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"cubic", "cubic"}, {"reno", "reno"}, {"", Default},
	} {
		a, err := New(tc.name)
		if err != nil {
			t.Fatalf("New(%q): %v", tc.name, err)
		}
		if a.Name() != tc.want {
			t.Errorf("New(%q).Name() = %q, want %q", tc.name, a.Name(), tc.want)
		}
	}
	_, err := New("bbr")
	if !errors.Is(err, ErrUnknownAlgorithm) {
		t.Fatalf("New(bbr) error %v, want ErrUnknownAlgorithm", err)
	}
	for _, n := range Names() {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not name available algorithm %q", err, n)
		}
	}
}

func TestInitialWindow(t *testing.T) {
	for _, tc := range []struct{ mss, want int }{
		{536, 5360}, {1460, 14600}, {1448, 14480}, {4000, 14600}, {9000, 18000},
		{10, 10 * MinMSS}, // raised to MinMSS
	} {
		for _, mk := range algorithms() {
			a := mk()
			a.Init(tc.mss, 0)
			if a.Cwnd() != tc.want || a.Ssthresh() != InfiniteSsthresh {
				t.Errorf("%s Init(%d): cwnd %d ssthresh %d, want %d, %d",
					algName(a), tc.mss, a.Cwnd(), a.Ssthresh(), tc.want, InfiniteSsthresh)
			}
		}
	}
}

func TestSlowStartGrowth(t *testing.T) {
	const mss = 1000
	for _, tc := range []struct {
		name    string
		ackSegs int
		factor  float64 // growth per round trip
	}{
		{"ack-per-segment", 1, 2},
		{"delayed-ack", 2, 2}, // L=2 counts both segments
	} {
		for _, mk := range algorithms() {
			a := mk()
			t.Run(tc.name+"/"+algName(a), func(t *testing.T) {
				a.Init(mss, 0)
				var c clock
				for r := range 6 {
					before := a.Cwnd()
					c.round(a, 50*ms, tc.ackSegs*mss, false)
					want := int(float64(before) * tc.factor)
					if a.Cwnd() != want {
						t.Fatalf("round %d: cwnd %d -> %d, want %d", r, before, a.Cwnd(), want)
					}
				}
			})
		}
	}
}

func TestSlowStartStretchAck(t *testing.T) {
	// RFC 3465: an ACK of 10 segments grows the window by L=2 segments.
	for _, mk := range algorithms() {
		a := mk()
		a.Init(1000, 0)
		a.OnAck(Ack{Acked: 10000, Inflight: 10000, RTT: 50 * ms, Now: 50 * ms})
		if a.Cwnd() != 12000 {
			t.Errorf("%s: stretch ACK of 10 segments: cwnd %d, want 12000", algName(a), a.Cwnd())
		}
	}
}

func TestSlowStartStopsAtSsthresh(t *testing.T) {
	const mss = 1000
	for _, mk := range algorithms() {
		a := mk()
		t.Run(algName(a), func(t *testing.T) {
			a.Init(mss, 0)
			var c clock
			for range 5 {
				c.round(a, 50*ms, mss, false) // 320 segments
			}
			a.OnRTO(a.Cwnd(), c.now) // ssthresh 160 (reno) or 224 (cubic)
			ss := a.Ssthresh()
			if a.Cwnd() != mss {
				t.Fatalf("cwnd after RTO %d, want %d", a.Cwnd(), mss)
			}
			for a.Cwnd() < ss {
				before := a.Cwnd()
				c.round(a, 50*ms, mss, false)
				if a.Cwnd() < ss && a.Cwnd() != 2*before {
					t.Fatalf("slow start after RTO: %d -> %d", before, a.Cwnd())
				}
			}
			// The round that crosses ssthresh ends within a few segments of it.
			if over := a.Cwnd() - ss; over < 0 || over > 3*mss {
				t.Fatalf("cwnd %d after reaching ssthresh %d", a.Cwnd(), ss)
			}
		})
	}
}

func TestAppLimitedFreezesGrowth(t *testing.T) {
	const mss = 1000
	for _, mk := range algorithms() {
		a := mk()
		t.Run(algName(a), func(t *testing.T) {
			a.Init(mss, 0)
			var c clock
			for range 3 {
				c.round(a, 50*ms, mss, true)
			}
			if a.Cwnd() != InitialWindow(mss) {
				t.Fatalf("slow start grew to %d while application limited", a.Cwnd())
			}
			c.round(a, 50*ms, mss, false)
			a.EnterRecovery(a.Cwnd(), c.now)
			a.ExitRecovery(c.now)
			for range 3 {
				c.round(a, 50*ms, mss, false)
			}
			w := a.Cwnd()
			for range 20 {
				c.round(a, 50*ms, mss, true)
			}
			if a.Cwnd() != w {
				t.Fatalf("congestion avoidance grew %d -> %d while application limited", w, a.Cwnd())
			}
			c.round(a, 50*ms, mss, false)
			if a.Cwnd() <= w {
				t.Fatalf("no growth after the application-limited stretch: %d", a.Cwnd())
			}
		})
	}
}

func TestLossReduction(t *testing.T) {
	const mss = 1000
	for _, tc := range []struct {
		alg          string
		cwnd         int // reached before the loss
		inflight     int
		wantSsthresh int
	}{
		{"reno", 80 * mss, 80 * mss, 40 * mss},
		{"reno", 80 * mss, 30 * mss, 15 * mss}, // flight size, not cwnd
		{"reno", 80 * mss, 3 * mss, 2 * mss},   // floor 2*MSS
		{"cubic", 80 * mss, 80 * mss, 56 * mss},
		{"cubic", 80 * mss, 30 * mss, 56 * mss}, // cwnd*beta (Linux)
	} {
		a, _ := New(tc.alg)
		if c, ok := a.(*Cubic); ok {
			c.cfg.NoHyStart = true
		}
		a.Init(mss, 0)
		var c clock
		for a.Cwnd() < tc.cwnd {
			c.round(a, 50*ms, mss, false)
		}
		a.EnterRecovery(tc.inflight, c.now)
		if a.Ssthresh() != tc.wantSsthresh || a.Cwnd() != tc.wantSsthresh {
			t.Errorf("%s loss at cwnd %d inflight %d: ssthresh %d cwnd %d, want %d",
				tc.alg, tc.cwnd, tc.inflight, a.Ssthresh(), a.Cwnd(), tc.wantSsthresh)
			continue
		}
		// Once per loss event; ACKs in recovery do not grow the window.
		a.EnterRecovery(tc.inflight/2, c.now)
		c.round(a, 50*ms, mss, false)
		if a.Ssthresh() != tc.wantSsthresh || a.Cwnd() != tc.wantSsthresh {
			t.Errorf("%s: second reduction or growth in recovery: ssthresh %d cwnd %d",
				tc.alg, a.Ssthresh(), a.Cwnd())
		}
		a.ExitRecovery(c.now)
		if a.Cwnd() != a.Ssthresh() {
			t.Errorf("%s ExitRecovery: cwnd %d, ssthresh %d", tc.alg, a.Cwnd(), a.Ssthresh())
		}
	}
}

func TestRTO(t *testing.T) {
	const mss = 1000
	for _, mk := range algorithms() {
		a := mk()
		t.Run(algName(a), func(t *testing.T) {
			a.Init(mss, 0)
			var c clock
			for range 4 {
				c.round(a, 50*ms, mss, false) // 160 segments
			}
			a.OnRTO(a.Cwnd(), c.now)
			ss := a.Ssthresh()
			if a.Cwnd() != mss || ss >= 160*mss || ss < 2*mss {
				t.Fatalf("after RTO: cwnd %d ssthresh %d", a.Cwnd(), ss)
			}
			// Duplicate ACKs of the lost window do not start a recovery.
			a.EnterRecovery(a.Cwnd(), c.now)
			if a.Ssthresh() != ss || a.Cwnd() != mss {
				t.Fatalf("EnterRecovery after RTO: cwnd %d ssthresh %d, want %d %d", a.Cwnd(), a.Ssthresh(), mss, ss)
			}
			// Backing off: no second reduction until an ACK advances.
			a.OnRTO(mss, c.now+sec)
			if a.Ssthresh() != ss || a.Cwnd() != mss {
				t.Fatalf("second RTO: cwnd %d ssthresh %d, want %d %d", a.Cwnd(), a.Ssthresh(), mss, ss)
			}
			// An RTO during fast recovery keeps the recovery's ssthresh.
			for range 8 {
				c.round(a, 50*ms, mss, false)
			}
			a.EnterRecovery(a.Cwnd(), c.now)
			ss = a.Ssthresh()
			a.OnRTO(a.Cwnd(), c.now)
			if a.Ssthresh() != ss || a.Cwnd() != mss {
				t.Fatalf("RTO in recovery: cwnd %d ssthresh %d, want %d %d", a.Cwnd(), a.Ssthresh(), mss, ss)
			}
			// After an ACK, a new timeout is a new loss event.
			c.round(a, 50*ms, mss, false)
			a.OnRTO(8*mss, c.now)
			if a.Ssthresh() >= ss {
				t.Fatalf("RTO after progress did not reduce ssthresh %d", ss)
			}
		})
	}
}

func TestUndo(t *testing.T) {
	const mss = 1000
	for _, event := range []string{"recovery", "rto"} {
		for _, mk := range algorithms() {
			a := mk()
			t.Run(event+"/"+algName(a), func(t *testing.T) {
				a.Init(mss, 0)
				var c clock
				for range 4 {
					c.round(a, 50*ms, mss, false)
				}
				a.EnterRecovery(a.Cwnd(), c.now) // a first, real loss
				a.ExitRecovery(c.now)
				for range 5 {
					c.round(a, 50*ms, mss, false)
				}
				cw, ss := a.Cwnd(), a.Ssthresh()
				var curve cubicCurve
				if cu, ok := a.(*Cubic); ok {
					curve = cu.curve
				}
				if event == "recovery" {
					a.EnterRecovery(a.Cwnd(), c.now)
				} else {
					a.OnRTO(a.Cwnd(), c.now)
				}
				if a.Cwnd() >= cw {
					t.Fatalf("no reduction: %d", a.Cwnd())
				}
				a.UndoRecovery()
				if a.Cwnd() != cw || a.Ssthresh() != ss {
					t.Fatalf("undo: cwnd %d ssthresh %d, want %d %d", a.Cwnd(), a.Ssthresh(), cw, ss)
				}
				if cu, ok := a.(*Cubic); ok && cu.curve != curve {
					t.Fatalf("undo: curve %+v, want %+v", cu.curve, curve)
				}
				// Undo is used up; growth continues in the open state.
				a.UndoRecovery()
				c.round(a, 50*ms, mss, false)
				if a.Cwnd() <= cw {
					t.Fatalf("no growth after undo: %d", a.Cwnd())
				}
			})
		}
	}
}

func TestUndoWithoutReduction(t *testing.T) {
	for _, mk := range algorithms() {
		a := mk()
		a.Init(1000, 0)
		a.UndoRecovery()
		if a.Cwnd() != InitialWindow(1000) || a.Ssthresh() != InfiniteSsthresh {
			t.Errorf("%s: undo without a reduction changed cwnd %d ssthresh %d", algName(a), a.Cwnd(), a.Ssthresh())
		}
	}
}

func TestMSSChange(t *testing.T) {
	for _, mk := range algorithms() {
		a := mk()
		t.Run(algName(a), func(t *testing.T) {
			a.Init(1460, 0)
			var c clock
			for range 3 {
				c.round(a, 50*ms, 1460, false)
			}
			w := a.Cwnd()
			a.SetMSS(1200)
			if a.Cwnd() != w {
				t.Fatalf("SetMSS changed cwnd %d -> %d", w, a.Cwnd())
			}
			// Slow start now grows by at most 2*1200 per ACK.
			a.OnAck(Ack{Acked: 5000, Inflight: w, Now: c.now + ms})
			if got := a.Cwnd() - w; got != 2400 {
				t.Fatalf("slow start increment after SetMSS: %d, want 2400", got)
			}
			a.OnRTO(2000, c.now)
			if a.Cwnd() != 1200 || a.Ssthresh() < 2400 {
				t.Fatalf("after RTO: cwnd %d ssthresh %d, want loss window 1200, ssthresh >= 2400", a.Cwnd(), a.Ssthresh())
			}
			a.SetMSS(1)
			if a.Cwnd() < MinMSS {
				t.Fatalf("cwnd %d below MinMSS", a.Cwnd())
			}
		})
	}
}

func TestRenoCongestionAvoidance(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mss     int
		ackSegs int
	}{
		{"ack-per-segment", 1000, 1}, {"delayed-ack", 1000, 2}, {"mss-1460", 1460, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReno()
			r.Init(tc.mss, 0)
			var c clock
			for range 4 {
				c.round(r, 50*ms, tc.mss, false)
			}
			r.EnterRecovery(r.Cwnd(), c.now)
			r.ExitRecovery(c.now)
			for i := range 50 {
				before := r.Cwnd()
				c.round(r, 50*ms, tc.ackSegs*tc.mss, false)
				if got := r.Cwnd() - before; got != tc.mss {
					t.Fatalf("round %d: grew %d bytes from %d, want one MSS (%d)", i, got, before, tc.mss)
				}
			}
		})
	}
}
