package tcp

import "github.com/xdpengine/engine/tcp/cc"

// testReno is a minimal NewReno (RFC 5681) for the tests; the real
// algorithms live in package tcp/cc.
type testReno struct {
	mss, cwnd, ssthresh, acc int
	priorCwnd, priorSsthresh int
	enters, exits, rtos      int
}

func newTestReno() cc.Algorithm { return &testReno{} }

func (r *testReno) Name() string { return "testreno" }
func (r *testReno) Init(mss int, now int64) {
	r.mss, r.cwnd, r.ssthresh = mss, 10*mss, 1<<30
}
func (r *testReno) SetMSS(mss int) { r.mss = mss }
func (r *testReno) OnAck(a cc.Ack) {
	if a.AppLimited && r.cwnd > a.Inflight+2*r.mss {
		return
	}
	if r.cwnd < r.ssthresh {
		r.cwnd += min(a.Acked, 2*r.mss)
		return
	}
	r.acc += a.Acked
	if r.acc >= r.cwnd {
		r.acc -= r.cwnd
		r.cwnd += r.mss
	}
}
func (r *testReno) save() { r.priorCwnd, r.priorSsthresh = r.cwnd, r.ssthresh }
func (r *testReno) EnterRecovery(inflight int, now int64) {
	r.save()
	r.enters++
	r.ssthresh = max(inflight/2, 2*r.mss)
	r.cwnd = r.ssthresh
}
func (r *testReno) ExitRecovery(now int64) { r.exits++; r.cwnd = r.ssthresh }
func (r *testReno) OnRTO(inflight int, now int64) {
	r.save()
	r.rtos++
	r.ssthresh = max(inflight/2, 2*r.mss)
	r.cwnd = r.mss
}
func (r *testReno) UndoRecovery() { r.cwnd, r.ssthresh = r.priorCwnd, r.priorSsthresh }
func (r *testReno) Cwnd() int     { return max(r.cwnd, r.mss) }
func (r *testReno) Ssthresh() int { return r.ssthresh }
