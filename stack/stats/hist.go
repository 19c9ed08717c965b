package stats

import "github.com/xdpengine/engine/hist"

// Histograms are a worker's distributions, log2 histograms (hist.Log2)
// counted by the worker alone with plain additions and published with its
// other counters.
type Histograms struct {
	// Round is the time of the worker's rounds that did work, in
	// nanoseconds: from the start of such a round to the start of the
	// next (the received burst, the steered packets, the layers' rounds,
	// the transmissions, and the tick or calls that came with it). Idle
	// rounds are not counted. A worker that shares a loop with others
	// (engine.Engine.Loops) counts their rounds in between too.
	Round hist.Log2 `json:"round"`
	// RxBurst is the frames of each non-empty receive burst (1 to 64).
	RxBurst hist.Log2 `json:"rx_burst"`
	// TCPRTT is the smoothed round-trip time (SRTT) of the worker's TCP
	// connections in microseconds, taken at each RTT sample a connection
	// takes (an ACK of a timed segment, or a timestamp echo).
	TCPRTT hist.Log2 `json:"tcp_rtt"`
}

// Add adds w's counts to t.
func (t *Histograms) Add(w *Histograms) {
	t.Round.AddHist(&w.Round)
	t.RxBurst.AddHist(&w.RxBurst)
	t.TCPRTT.AddHist(&w.TCPRTT)
}
