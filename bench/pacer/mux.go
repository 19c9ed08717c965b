package pacer

import (
	"fmt"
	"math"
	"time"
)

// Rate is a stream's rate. The zero value means as fast as the sender
// goes.
type Rate struct {
	Value float64 // per second, in Unit; 0: unlimited
	Unit  Unit
	// Burst is the bucket's size in Unit (packets or bits); 0 means
	// DefaultBurst, with the largest frame of the stream.
	Burst uint64
}

// String formats r as "14880952 pps".
func (r Rate) String() string {
	if r.Value == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%.0f %s", r.Value, r.Unit)
}

// Flow is what a Mux paces: it tells the size, FCS included, of the frame
// it sends next. stream.Stream is one.
type Flow interface {
	NextSize() int
}

// lane is one stream of a Mux.
type lane struct {
	flow      Flow
	unit      Unit
	unlimited bool
	bucket    Bucket
}

// Mux paces several flows, each at its own rate, onto one sender. It is not
// safe for concurrent use: it belongs to the sending goroutine.
type Mux struct {
	lanes []lane
	next  int // the lane round robin asks first
}

// Add adds a flow at rate r from now on and returns its index, which Next
// returns when it is the flow's turn. maxSize is the largest frame (FCS
// included) the flow sends, for the default burst.
func (m *Mux) Add(f Flow, r Rate, maxSize int, now int64) (int, error) {
	l := lane{flow: f, unit: r.Unit, unlimited: r.Value == 0}
	if !l.unlimited {
		if r.Value < 1 || math.IsInf(r.Value, 0) || math.IsNaN(r.Value) || r.Unit > BitsL2 {
			return 0, fmt.Errorf("%w: %v", ErrRate, r)
		}
		rate := uint64(math.Round(r.Value))
		burst := r.Burst
		if burst == 0 {
			burst = DefaultBurst(rate, r.Unit.Cost(maxSize))
		}
		if burst < r.Unit.Cost(maxSize) {
			return 0, fmt.Errorf("%w: burst %d %s below one %d-byte frame", ErrRate, burst, r.Unit, maxSize)
		}
		if err := l.bucket.SetRate(rate, burst, now); err != nil {
			return 0, err
		}
		l.bucket.last = now
	}
	m.lanes = append(m.lanes, l)
	return len(m.lanes) - 1, nil
}

// Len returns the number of flows.
func (m *Mux) Len() int { return len(m.lanes) }

// Next returns the flow whose turn it is to send one frame at now, having
// taken that frame's tokens; ok is false when no flow may send yet. Flows
// take turns round robin, so each keeps its own rate while the sender
// keeps up with their sum. The caller sends exactly one frame of the flow
// per true answer.
func (m *Mux) Next(now int64) (flow int, ok bool) {
	n := len(m.lanes)
	for k := 0; k < n; k++ {
		i := m.next + k
		if i >= n {
			i -= n
		}
		l := &m.lanes[i]
		if l.unlimited || l.bucket.Take(now, l.unit.Cost(l.flow.NextSize())) {
			if m.next = i + 1; m.next == n {
				m.next = 0
			}
			return i, true
		}
	}
	return 0, false
}

// Wait returns how long from now until some flow may send (0: one may
// now), for a sender that sleeps instead of polling.
func (m *Mux) Wait(now int64) time.Duration {
	w := time.Duration(math.MaxInt64)
	for i := range m.lanes {
		l := &m.lanes[i]
		if l.unlimited {
			return 0
		}
		w = min(w, l.bucket.Wait(now, l.unit.Cost(l.flow.NextSize())))
	}
	return w
}

// SetRate changes flow i's rate from now on (an RFC 2544 search steps the
// rate between trials; so may a user at run time).
func (m *Mux) SetRate(i int, r Rate, maxSize int, now int64) error {
	var tmp Mux
	if _, err := tmp.Add(m.lanes[i].flow, r, maxSize, now); err != nil {
		return err
	}
	l := tmp.lanes[0]
	if !l.unlimited && !m.lanes[i].unlimited {
		l.bucket.level = min(m.lanes[i].bucket.level, l.bucket.cap) // keep the tokens
	}
	m.lanes[i] = l
	return nil
}
