package cc

import "math"

// CUBIC constants (RFC 9438 4.1-4.3).
const (
	cubicC     = 0.4 // C, in segments/second^3
	cubicBeta  = 0.7 // beta_cubic
	cubicAlpha = 3 * (1 - cubicBeta) / (1 + cubicBeta)
	// minLongIdle is the shortest application-limited or idle stretch that
	// restarts the epoch; the bound is max(minLongIdle, 4*MinRTT), a stand-in
	// for the retransmission timeout the algorithm does not see.
	minLongIdle = 200_000_000
	maxCwnd     = InfiniteSsthresh
)

// CubicConfig switches off parts of CUBIC (all on by default, as Linux).
type CubicConfig struct {
	NoFastConvergence bool // RFC 9438 4.7
	NoHyStart         bool // plain slow start instead of HyStart++
}

// cubicCurve is the state that defines the cubic curve of the current
// epoch; UndoRecovery restores it as a whole (RFC 9438 4.9).
type cubicCurve struct {
	wMax       float64 // W_max in bytes; 0 = set at the next epoch start
	cwndPrior  float64 // cwnd before the last reduction (W_est's alpha switch)
	k          float64 // K in seconds
	epochValid bool    // an epoch is running
	epochStart int64   // epoch_start, monotonic ns
	cwndEpoch  float64 // cwnd_epoch in bytes
	wEst       float64 // W_est in bytes
}

// Cubic is CUBIC (RFC 9438) with HyStart++ (RFC 9406). The zero value is
// not ready: use NewCubic and Init.
type Cubic struct {
	cfg      CubicConfig
	mss      int
	cwnd     float64 // bytes; fractional growth accumulates here
	ssthresh int
	state    lossState
	curve    cubicCurve
	hy       hystart

	haveLastAck bool
	lastAck     int64 // Now of the last ACK
	frozen      bool  // growth stopped by AppLimited or idle
	frozenSince int64

	undoValid    bool
	undoCwnd     float64
	undoSsthresh int
	undoCurve    cubicCurve
}

var _ Algorithm = (*Cubic)(nil)

// NewCubic returns CUBIC with fast convergence and HyStart++.
func NewCubic() *Cubic { return &Cubic{} }

// NewCubicConfig returns CUBIC with parts switched off by cfg.
func NewCubicConfig(cfg CubicConfig) *Cubic { return &Cubic{cfg: cfg} }

// Name returns "cubic", as Linux spells it.
func (c *Cubic) Name() string { return "cubic" }

// Reset implements Resetter: the state NewCubicConfig(cfg) returns.
func (c *Cubic) Reset() { *c = Cubic{cfg: c.cfg} }

// Init starts with RFC 6928's initial window and an infinite ssthresh.
func (c *Cubic) Init(mss int, now int64) {
	*c = Cubic{cfg: c.cfg, mss: clampMSS(mss), ssthresh: InfiniteSsthresh}
	c.cwnd = float64(InitialWindow(c.mss))
	c.hy.reset()
}

// SetMSS applies a new sender MSS; the window in bytes is kept.
func (c *Cubic) SetMSS(mss int) {
	c.mss = clampMSS(mss)
	c.cwnd = max(c.cwnd, float64(c.mss))
	c.ssthresh = max(c.ssthresh, 2*c.mss)
}

// longIdle is the length of an application-limited or idle stretch after
// which the epoch restarts instead of being shifted.
func longIdle(minRTT int64) int64 { return max(minLongIdle, 4*minRTT) }

// OnAck grows the window: slow start (HyStart++) below ssthresh, then the
// cubic or Reno-friendly window.
func (c *Cubic) OnAck(a Ack) {
	if a.Acked <= 0 {
		return
	}
	idle := longIdle(a.MinRTT)
	if c.haveLastAck && !c.frozen && a.Now-c.lastAck > idle {
		// Nothing was acknowledged for a long time: the sender was idle.
		c.frozen, c.frozenSince = true, c.lastAck
	}
	c.haveLastAck, c.lastAck = true, a.Now
	if c.state == stateRecovery {
		return
	}
	c.state = stateOpen
	if a.AppLimited {
		if c.cwnd < float64(c.ssthresh) {
			c.hy.delivered += int64(a.Acked)
		}
		if !c.frozen {
			c.frozen, c.frozenSince = true, a.Now
		}
		return
	}
	if c.frozen {
		// Time without growth does not count in t (RFC 9438 5.8).
		c.frozen = false
		if d := a.Now - c.frozenSince; d > idle {
			c.curve.epochValid = false
		} else if c.curve.epochValid {
			c.curve.epochStart += d
		}
	}
	acked := a.Acked
	if c.cwnd < float64(c.ssthresh) {
		acked = c.slowStart(a)
		if acked == 0 {
			return
		}
	}
	c.congestionAvoidance(acked, a)
}

// slowStart applies one ACK in slow start and returns the bytes left for
// congestion avoidance.
func (c *Cubic) slowStart(a Ack) int {
	inc := float64(min(a.Acked, abcL*c.mss))
	if !c.cfg.NoHyStart && c.ssthresh == InfiniteSsthresh {
		var exit bool
		inc, exit = c.hy.onAck(a.Acked, a.Inflight, a.RTT, inc)
		if exit {
			c.cwnd = min(c.cwnd+inc, maxCwnd)
			c.ssthresh = int(c.cwnd)
			return 0
		}
	}
	ss := float64(c.ssthresh)
	if c.cwnd+inc < ss {
		c.cwnd += inc
		return 0
	}
	used := ss - c.cwnd
	c.cwnd = ss
	return max(a.Acked-int(used), 0)
}

// wCubic is W_cubic(t) in bytes for t seconds into the epoch.
func (c *Cubic) wCubic(t float64) float64 {
	d := t - c.curve.k
	return cubicC*d*d*d*float64(c.mss) + c.curve.wMax
}

func (c *Cubic) startEpoch(now int64) {
	cv := &c.curve
	cv.epochValid, cv.epochStart = true, now
	cv.cwndEpoch, cv.wEst = c.cwnd, c.cwnd
	if cv.wMax <= 0 {
		// First epoch without a congestion event (after slow start or
		// an RTO): the curve starts at its plateau (RFC 9438 4.8, 4.10).
		cv.wMax = c.cwnd
	}
	cv.k = math.Cbrt((cv.wMax - cv.cwndEpoch) / (cubicC * float64(c.mss)))
}

func (c *Cubic) congestionAvoidance(acked int, a Ack) {
	cv := &c.curve
	if !cv.epochValid {
		c.startEpoch(a.Now)
	}
	mss := float64(c.mss)
	t := float64(a.Now-cv.epochStart) / 1e9

	// Reno-friendly estimate (RFC 9438 4.3): alpha_cubic until W_est
	// reaches the window before the last reduction, then 1.
	alpha := cubicAlpha
	if cv.wEst >= cv.cwndPrior {
		alpha = 1
	}
	cv.wEst += alpha * float64(acked) * mss / c.cwnd

	if c.wCubic(t) < cv.wEst {
		c.cwnd = min(max(c.cwnd, cv.wEst), maxCwnd)
		return
	}
	rtt := a.MinRTT
	if rtt <= 0 {
		rtt = a.RTT
	}
	target := c.wCubic(t + float64(rtt)/1e9)
	target = min(max(target, c.cwnd), 1.5*c.cwnd)
	c.cwnd = min(c.cwnd+(target-c.cwnd)*float64(acked)/c.cwnd, maxCwnd)
}

func (c *Cubic) saveUndo() {
	c.undoValid = true
	c.undoCwnd, c.undoSsthresh, c.undoCurve = c.cwnd, c.ssthresh, c.curve
}

// reduce is the multiplicative decrease of a congestion event
// (RFC 9438 4.6, 4.7).
func (c *Cubic) reduce() {
	cv := &c.curve
	cv.epochValid = false
	cv.cwndPrior = c.cwnd
	if !c.cfg.NoFastConvergence && c.cwnd < cv.wMax {
		cv.wMax = c.cwnd * (1 + cubicBeta) / 2
	} else {
		cv.wMax = c.cwnd
	}
	c.ssthresh = max(int(c.cwnd*cubicBeta), 2*c.mss)
}

// EnterRecovery reduces the window once per loss event:
// ssthresh = max(cwnd*0.7, 2*MSS), cwnd = ssthresh.
func (c *Cubic) EnterRecovery(inflight int, now int64) {
	if c.state != stateOpen {
		return // one reduction per loss event, an RTO's included
	}
	c.saveUndo()
	c.reduce()
	c.cwnd = float64(c.ssthresh)
	c.state = stateRecovery
}

// ExitRecovery sets cwnd to ssthresh; the next ACK starts a new epoch.
func (c *Cubic) ExitRecovery(now int64) {
	if c.state != stateRecovery {
		return
	}
	c.cwnd = float64(max(c.ssthresh, c.mss))
	c.state = stateOpen
}

// OnRTO reduces ssthresh as for a loss (not again while the timer backs
// off or when the timeout ends a fast recovery), sets cwnd to one MSS, and
// makes the first epoch after slow start begin at its plateau
// (RFC 9438 4.8: K=0, W_max = cwnd at the start of congestion avoidance).
func (c *Cubic) OnRTO(inflight int, now int64) {
	if c.state == stateOpen {
		c.saveUndo()
		c.reduce()
	}
	c.curve.wMax = 0
	c.curve.epochValid = false
	c.cwnd = float64(c.mss)
	c.state = stateLoss
}

// UndoRecovery restores the window and the cubic curve saved by the last
// reduction, keeping any growth since.
func (c *Cubic) UndoRecovery() {
	if !c.undoValid {
		return
	}
	c.cwnd = max(c.cwnd, c.undoCwnd)
	c.ssthresh = max(c.ssthresh, c.undoSsthresh)
	c.curve = c.undoCurve
	c.undoValid = false
	c.state = stateOpen
}

// Cwnd returns the congestion window in bytes.
func (c *Cubic) Cwnd() int { return max(int(c.cwnd), c.mss) }

// Ssthresh returns the slow-start threshold in bytes.
func (c *Cubic) Ssthresh() int { return c.ssthresh }
