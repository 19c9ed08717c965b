package cc

import (
	"math"
	"testing"
)

// cubicAfterLoss returns CUBIC (no HyStart++) just out of recovery from a
// loss at a window of w bytes, and the clock at that point.
func cubicAfterLoss(cfg CubicConfig, mss int, w float64) (*Cubic, *clock) {
	cfg.NoHyStart = true
	c := NewCubicConfig(cfg)
	c.Init(mss, 0)
	c.cwnd = w // as if slow start had reached w
	clk := &clock{now: 10 * sec}
	c.EnterRecovery(int(w), clk.now)
	c.ExitRecovery(clk.now)
	return c, clk
}

// closedForm is RFC 9438's W_cubic(t) in bytes for a loss at wMax bytes.
func closedForm(mss int, wMax, cwndEpoch, t float64) float64 {
	k := math.Cbrt((wMax - cwndEpoch) / float64(mss) / cubicC)
	return (cubicC*math.Pow(t-k, 3))*float64(mss) + wMax
}

func TestCubicFollowsClosedForm(t *testing.T) {
	const (
		mss  = 1000
		wMax = 1000.0 * mss // large enough to stay out of the Reno-friendly region
		rtt  = 100 * ms
	)
	c, clk := cubicAfterLoss(CubicConfig{}, mss, wMax)
	if c.Ssthresh() != int(wMax*cubicBeta) || c.Cwnd() != int(wMax*cubicBeta) {
		t.Fatalf("after loss at %v: cwnd %d ssthresh %d, want %v", wMax, c.Cwnd(), c.Ssthresh(), wMax*cubicBeta)
	}
	epoch := clk.now
	k := math.Cbrt(wMax * (1 - cubicBeta) / mss / cubicC) // 9.09 s
	type sample struct{ t, cwnd float64 }
	var got []sample
	for clk.now-epoch < 16*sec {
		clk.round(c, rtt, mss, false)
		got = append(got, sample{float64(clk.now-epoch) / 1e9, float64(c.Cwnd())})
	}
	for _, at := range []float64{1, 3, 5, 7, 9, 11, 13, 15} {
		i := int(at*1e9/float64(rtt)) - 1
		s := got[i]
		// The window chases W_cubic(t+RTT) within each round trip, so after
		// a round it lies between W_cubic(t) and W_cubic(t+RTT).
		lo := closedForm(mss, wMax, wMax*cubicBeta, s.t) - 2*mss
		hi := closedForm(mss, wMax, wMax*cubicBeta, s.t+float64(rtt)/1e9) + 2*mss
		if s.cwnd < lo || s.cwnd > hi {
			t.Errorf("t=%.1fs: cwnd %.0f not within [%.0f, %.0f] (W_cubic)", s.t, s.cwnd, lo, hi)
		}
	}
	// Concave before K: the growth per second falls; convex after: it rises.
	rate := func(at float64) float64 {
		i := int(at*1e9/float64(rtt)) - 1
		return (got[i+10].cwnd - got[i].cwnd) / (got[i+10].t - got[i].t)
	}
	if !(rate(1) > rate(4) && rate(4) > rate(7)) {
		t.Errorf("not concave before K=%.2fs: growth %.0f, %.0f, %.0f B/s", k, rate(1), rate(4), rate(7))
	}
	if !(rate(11) < rate(13) && rate(13) < rate(14.5)) {
		t.Errorf("not convex after K=%.2fs: growth %.0f, %.0f, %.0f B/s", k, rate(11), rate(13), rate(14.5))
	}
	// The plateau: W_max is approached, not overshot, before K.
	i := int((k-0.5)*1e9/float64(rtt)) - 1
	if got[i].cwnd > wMax || got[i].cwnd < wMax-5*mss {
		t.Errorf("at K-0.5s cwnd %.0f, want just below W_max %.0f", got[i].cwnd, wMax)
	}
}

func TestCubicRenoFriendlyRegion(t *testing.T) {
	// A small window on a short path: W_est grows faster than W_cubic and
	// the window follows W_est: alpha_cubic = 0.53 MSS per round trip until
	// W_est reaches the window before the loss, then one MSS.
	const mss = 1000
	c, clk := cubicAfterLoss(CubicConfig{}, mss, 40*mss) // cwnd 28 MSS
	start := c.Cwnd()
	for range 10 {
		clk.round(c, 2*ms, mss, false)
	}
	grown := float64(c.Cwnd()-start) / mss
	if math.Abs(grown-10*cubicAlpha) > 0.5 {
		t.Errorf("10 round trips in the Reno-friendly region: grew %.2f MSS, want %.2f", grown, 10*cubicAlpha)
	}
	if c.wCubic(float64(clk.now-c.curve.epochStart)/1e9) >= c.curve.wEst {
		t.Errorf("W_cubic above W_est: not in the Reno-friendly region")
	}
	for c.curve.wEst < c.curve.cwndPrior {
		clk.round(c, 2*ms, mss, false)
	}
	clk.round(c, 2*ms, mss, false)
	before := c.Cwnd()
	for range 10 {
		clk.round(c, 2*ms, mss, false)
	}
	if grown := float64(c.Cwnd()-before) / mss; math.Abs(grown-10) > 0.5 {
		t.Errorf("past the previous window: grew %.2f MSS in 10 round trips, want 10", grown)
	}
}

func TestCubicFastConvergence(t *testing.T) {
	const mss = 1000
	for _, tc := range []struct {
		name     string
		cfg      CubicConfig
		second   float64 // cwnd at the second loss
		wantWMax float64
	}{
		{"below-wmax", CubicConfig{}, 800 * mss, 800 * mss * (1 + cubicBeta) / 2},
		{"below-wmax-off", CubicConfig{NoFastConvergence: true}, 800 * mss, 800 * mss},
		{"above-wmax", CubicConfig{}, 1200 * mss, 1200 * mss},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, clk := cubicAfterLoss(tc.cfg, mss, 1000*mss)
			if c.curve.wMax != 1000*mss {
				t.Fatalf("first loss: W_max %v", c.curve.wMax)
			}
			c.cwnd = tc.second
			c.EnterRecovery(int(tc.second), clk.now)
			if math.Abs(c.curve.wMax-tc.wantWMax) > 1 {
				t.Errorf("W_max %.0f, want %.0f", c.curve.wMax, tc.wantWMax)
			}
			if want := int(tc.second * cubicBeta); c.Ssthresh() != want || c.Cwnd() != want {
				t.Errorf("cwnd %d ssthresh %d, want %d", c.Cwnd(), c.Ssthresh(), want)
			}
		})
	}
}

func TestCubicIdle(t *testing.T) {
	const (
		mss = 1000
		rtt = 50 * ms
	)
	t.Run("short-app-limited-shifts-epoch", func(t *testing.T) {
		c, clk := cubicAfterLoss(CubicConfig{}, mss, 500*mss)
		ref, refClk := cubicAfterLoss(CubicConfig{}, mss, 500*mss)
		for range 20 {
			clk.round(c, rtt, mss, false)
			refClk.round(ref, rtt, mss, false)
		}
		for range 2 { // 100 ms application limited
			clk.round(c, rtt, mss, true)
		}
		for range 40 {
			clk.round(c, rtt, mss, false)
			refClk.round(ref, rtt, mss, false)
		}
		// The same curve, shifted by the application-limited time.
		if d := c.Cwnd() - ref.Cwnd(); d < -mss || d > mss {
			t.Errorf("after a short application-limited stretch cwnd %d, unpaused flow %d", c.Cwnd(), ref.Cwnd())
		}
	})
	t.Run("long-idle-restarts-epoch", func(t *testing.T) {
		c, clk := cubicAfterLoss(CubicConfig{}, mss, 500*mss)
		for range 20 {
			clk.round(c, rtt, mss, false)
		}
		wMax := c.curve.wMax
		clk.now += 5 * sec // nothing sent, nothing acknowledged
		w := c.Cwnd()
		clk.round(c, rtt, mss, false)
		if c.curve.epochStart <= clk.now-rtt-ms || c.curve.epochStart > clk.now {
			t.Errorf("epoch start %d not restarted at the first ACK after idle (%d)", c.curve.epochStart, clk.now-rtt)
		}
		if c.curve.wMax != wMax {
			t.Errorf("idle changed W_max %.0f -> %.0f", wMax, c.curve.wMax)
		}
		// Without the restart t would be 6 s and the window would jump
		// towards W_cubic(6s) (capped at 1.5*cwnd per round trip).
		if grown := c.Cwnd() - w; grown > 10*mss {
			t.Errorf("window jumped by %d bytes after idle", grown)
		}
	})
}

func TestCubicRTOCurve(t *testing.T) {
	// RFC 9438 4.8: after a timeout the first congestion avoidance epoch
	// starts at its plateau: K=0, W_max = cwnd at its start.
	const mss = 1000
	c, clk := cubicAfterLoss(CubicConfig{}, mss, 400*mss)
	for range 10 {
		clk.round(c, 50*ms, mss, false)
	}
	c.OnRTO(c.Cwnd(), clk.now)
	for c.Cwnd() < c.Ssthresh() {
		clk.round(c, 50*ms, mss, false)
	}
	clk.round(c, 50*ms, mss, false)
	if c.curve.k != 0 || c.curve.wMax != c.curve.cwndEpoch {
		t.Errorf("after RTO: K %.3f W_max %.0f cwnd_epoch %.0f", c.curve.k, c.curve.wMax, c.curve.cwndEpoch)
	}
}

// pktPath is a packet-level path for slow-start tests: every segment is
// acknowledged one RTT after it was sent (the RTT given by rtt for the time
// of sending and the bytes then in flight), ACKs arrive in sending order,
// and the sender fills the window after each ACK.
type pktPath struct {
	a        Algorithm
	mss      int
	now      int64
	sendTime []int64 // of the segments in flight, oldest first
	ackTime  []int64
	rtt      func(now int64, inflight int) int64
}

func newPktPath(a Algorithm, mss int, rtt func(now int64, inflight int) int64) *pktPath {
	p := &pktPath{a: a, mss: mss, rtt: rtt}
	p.fill()
	return p
}

func (p *pktPath) fill() {
	for len(p.sendTime)*p.mss < p.a.Cwnd() {
		at := p.now + p.rtt(p.now, (len(p.sendTime)+1)*p.mss)
		if n := len(p.ackTime); n > 0 {
			at = max(at, p.ackTime[n-1])
		}
		p.sendTime = append(p.sendTime, p.now)
		p.ackTime = append(p.ackTime, at)
	}
}

// runUntil delivers ACKs up to time end.
func (p *pktPath) runUntil(end int64) {
	for len(p.ackTime) > 0 && p.ackTime[0] <= end {
		p.now = p.ackTime[0]
		inflight := len(p.sendTime) * p.mss
		sample := p.now - p.sendTime[0]
		p.sendTime, p.ackTime = p.sendTime[1:], p.ackTime[1:]
		p.a.OnAck(Ack{Acked: p.mss, Inflight: inflight, RTT: sample, MinRTT: sample, Now: p.now})
		p.fill()
	}
	p.now = end
}

func TestHyStart(t *testing.T) {
	const mss = 1000
	t.Run("delay-increase-exits-slow-start", func(t *testing.T) {
		c := NewCubic()
		c.Init(mss, 0)
		// 40 ms path, 200-segment BDP: beyond it a queue builds and the
		// RTT grows with the excess.
		p := newPktPath(c, mss, func(_ int64, inflight int) int64 {
			return 40*ms + int64(max(inflight-200*mss, 0))*40*ms/(200*mss)
		})
		cssAt := 0
		for p.now < 2*sec && c.Ssthresh() == InfiniteSsthresh {
			p.runUntil(p.now + ms)
			if c.hy.css && cssAt == 0 {
				cssAt = c.Cwnd()
			}
		}
		ss := c.Ssthresh()
		if ss == InfiniteSsthresh {
			t.Fatal("HyStart++ did not end slow start")
		}
		// CSS starts in the first round whose minimum RTT rose by the
		// threshold (5 ms: the window 25 segments over the BDP). Rounds end
		// when the data in flight at their start is acknowledged, so the
		// first round after the rise still holds a few ACKs of the round
		// before: detection can take one round more, and a round doubles
		// the window. CSS then lasts 5 rounds growing at most 1.25x each.
		if cssAt < 200*mss || cssAt > 4*(200+25)*mss {
			t.Errorf("CSS started at %d bytes, BDP is %d", cssAt, 200*mss)
		}
		if limit := float64(cssAt) * math.Pow(1.25, hyCSSRounds); float64(ss) > limit || ss < cssAt {
			t.Errorf("slow start ended at %d bytes, CSS began at %d (limit %.0f)", ss, cssAt, limit)
		}
		if c.cwnd < float64(ss) {
			t.Errorf("cwnd %.0f below ssthresh %d after HyStart++", c.cwnd, ss)
		}
	})
	// rtt40then returns 40 ms for segments sent in the first two round
	// trips and then the given RTT.
	rtt40then := func(later int64) func(int64, int) int64 {
		return func(now int64, _ int) int64 {
			if now < 80*ms {
				return 40 * ms
			}
			return later
		}
	}
	t.Run("css-grows-by-quarter", func(t *testing.T) {
		c := NewCubic()
		c.Init(mss, 0)
		p := newPktPath(c, mss, rtt40then(60*ms))
		p.runUntil(205 * ms) // the second 60 ms round is under way
		if !c.hy.css {
			t.Fatal("no Conservative Slow Start after an RTT rise of 20 ms")
		}
		before := c.Cwnd()
		p.runUntil(p.now + 60*ms)
		if g := float64(c.Cwnd()) / float64(before); g < 1.2 || g > 1.3 {
			t.Errorf("CSS grew the window %.2fx in a round trip, want 1.25x", g)
		}
	})
	t.Run("false-alarm-resumes", func(t *testing.T) {
		c := NewCubic()
		c.Init(mss, 0)
		rtt := rtt40then(60 * ms)
		p := newPktPath(c, mss, func(now int64, n int) int64 {
			if now >= 210*ms {
				return 30 * ms // below the CSS baseline: the rise was spurious
			}
			return rtt(now, n)
		})
		p.runUntil(205 * ms)
		if !c.hy.css {
			t.Fatal("no Conservative Slow Start after an RTT rise of 20 ms")
		}
		p.runUntil(340 * ms)
		if c.hy.css || c.Ssthresh() != InfiniteSsthresh {
			t.Fatalf("after the RTT fell below the baseline: css %v ssthresh %d", c.hy.css, c.Ssthresh())
		}
		before := c.Cwnd()
		p.runUntil(p.now + 30*ms)
		if g := float64(c.Cwnd()) / float64(before); g < 1.9 {
			t.Errorf("slow start did not resume: grew %.2fx in a round trip", g)
		}
	})
	t.Run("constant-rtt-never-exits", func(t *testing.T) {
		c := NewCubic()
		c.Init(mss, 0)
		p := newPktPath(c, mss, func(int64, int) int64 { return 40 * ms })
		p.runUntil(400 * ms)
		if c.Ssthresh() != InfiniteSsthresh || c.hy.css || c.Cwnd() < 1000*mss {
			t.Errorf("constant RTT: ssthresh %d css %v cwnd %d", c.Ssthresh(), c.hy.css, c.Cwnd())
		}
	})
}
