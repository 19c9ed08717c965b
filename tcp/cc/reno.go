package cc

// Reno is NewReno's window arithmetic (RFC 5681, RFC 6582, RFC 3465).
// The zero value is not ready: use NewReno and Init.
type Reno struct {
	mss      int
	cwnd     int
	ssthresh int
	// caAcked counts bytes acknowledged in congestion avoidance; each
	// cwnd's worth adds one MSS (RFC 5681 3.1, byte counting).
	caAcked int
	state   lossState

	// Undo: the window before the reduction of the last loss event.
	undoValid    bool
	undoCwnd     int
	undoSsthresh int
}

var _ Algorithm = (*Reno)(nil)

// NewReno returns a NewReno controller; call Init before use.
func NewReno() *Reno { return &Reno{} }

// Name returns "reno", as Linux spells it.
func (r *Reno) Name() string { return "reno" }

// Reset implements Resetter: the state NewReno returns.
func (r *Reno) Reset() { *r = Reno{} }

// Init starts with RFC 6928's initial window and an infinite ssthresh.
func (r *Reno) Init(mss int, now int64) {
	r.mss = clampMSS(mss)
	*r = Reno{mss: r.mss, cwnd: InitialWindow(r.mss), ssthresh: InfiniteSsthresh}
}

// SetMSS applies a new sender MSS; the window in bytes is kept.
func (r *Reno) SetMSS(mss int) {
	r.mss = clampMSS(mss)
	r.cwnd = max(r.cwnd, r.mss)
	r.ssthresh = max(r.ssthresh, 2*r.mss)
}

// OnAck grows the window: slow start below ssthresh, then one MSS per
// window of acknowledged bytes.
func (r *Reno) OnAck(a Ack) {
	if r.state == stateRecovery || a.Acked <= 0 {
		return
	}
	r.state = stateOpen
	if a.AppLimited {
		return
	}
	acked := a.Acked
	if r.cwnd < r.ssthresh {
		r.cwnd, acked = slowStart(r.cwnd, r.ssthresh, acked, r.mss)
		if acked == 0 {
			return
		}
	}
	r.caAcked += acked
	if r.caAcked >= r.cwnd {
		n := r.caAcked / r.cwnd
		r.caAcked -= n * r.cwnd
		r.cwnd += n * r.mss
	}
}

func (r *Reno) saveUndo() {
	r.undoValid, r.undoCwnd, r.undoSsthresh = true, r.cwnd, r.ssthresh
}

func (r *Reno) reducedSsthresh(inflight int) int {
	return max(inflight/2, 2*r.mss)
}

// EnterRecovery halves the window once per loss event:
// ssthresh = max(inflight/2, 2*MSS), cwnd = ssthresh.
func (r *Reno) EnterRecovery(inflight int, now int64) {
	if r.state != stateOpen {
		return // one reduction per loss event, an RTO's included
	}
	r.saveUndo()
	r.ssthresh = r.reducedSsthresh(inflight)
	r.cwnd = r.ssthresh
	r.caAcked = 0
	r.state = stateRecovery
}

// ExitRecovery sets cwnd to ssthresh (RFC 6582 3.2 step 3, first option).
func (r *Reno) ExitRecovery(now int64) {
	if r.state != stateRecovery {
		return
	}
	r.cwnd = max(r.ssthresh, r.mss)
	r.state = stateOpen
}

// OnRTO reduces ssthresh (not again while the timer backs off or when the
// timeout ends a fast recovery) and sets cwnd to one MSS.
func (r *Reno) OnRTO(inflight int, now int64) {
	if r.state == stateOpen {
		r.saveUndo()
		r.ssthresh = r.reducedSsthresh(inflight)
	}
	r.cwnd = r.mss
	r.caAcked = 0
	r.state = stateLoss
}

// UndoRecovery restores the window saved by the last reduction, keeping
// any growth since (Linux's tcp_undo_cwnd_reduction).
func (r *Reno) UndoRecovery() {
	if !r.undoValid {
		return
	}
	r.cwnd = max(r.cwnd, r.undoCwnd)
	r.ssthresh = max(r.ssthresh, r.undoSsthresh)
	r.undoValid = false
	r.state = stateOpen
}

// Cwnd returns the congestion window in bytes.
func (r *Reno) Cwnd() int { return r.cwnd }

// Ssthresh returns the slow-start threshold in bytes.
func (r *Reno) Ssthresh() int { return r.ssthresh }
