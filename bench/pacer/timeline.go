package pacer

import (
	"fmt"
	"math"
	"time"
)

// Timeline releases the frames of a capture at their captured times,
// scaled by a speed, starting at a given time. See the package
// documentation.
type Timeline struct {
	at     []int64 // scaled offsets, ns
	period int64   // a loop's length; 0: no loop
	start  int64   // when the current loop began
	i      int     // the next frame
	done   bool
}

// NewTimeline returns a timeline for frames captured at offsets (from the
// first, non-decreasing), played speed times as fast (1: as captured; 2:
// twice as fast), from start. With loop, the capture starts over after its
// mean gap; a single frame does not loop.
func NewTimeline(offsets []time.Duration, speed float64, loop bool, start int64) (*Timeline, error) {
	if len(offsets) == 0 || !(speed > 0) || math.IsInf(speed, 0) {
		return nil, fmt.Errorf("%w: %d frames at speed %v", ErrRate, len(offsets), speed)
	}
	t := &Timeline{at: make([]int64, len(offsets)), start: start}
	for i, o := range offsets {
		t.at[i] = int64(float64(o-offsets[0]) / speed)
		if i > 0 && t.at[i] < t.at[i-1] {
			return nil, fmt.Errorf("%w: frame %d captured before frame %d", ErrRate, i, i-1)
		}
	}
	if n := len(t.at); loop && n > 1 {
		last := t.at[n-1]
		t.period = last + max(1, last/int64(n-1))
	}
	return t, nil
}

// Due reports whether the next frame's time has come at now, and if so
// moves on to the one after: the caller sends exactly one frame per true
// answer, in order.
func (t *Timeline) Due(now int64) bool {
	if t.done || now < t.start+t.at[t.i] {
		return false
	}
	if t.i++; t.i == len(t.at) {
		if t.period == 0 {
			t.done = true
		} else {
			t.i, t.start = 0, t.start+t.period
		}
	}
	return true
}

// Wait returns how long from now until the next frame is due (0: it is;
// math.MaxInt64: the capture is over).
func (t *Timeline) Wait(now int64) time.Duration {
	if t.done {
		return math.MaxInt64
	}
	return time.Duration(max(0, t.start+t.at[t.i]-now))
}

// Done reports whether a timeline without loop has released every frame.
func (t *Timeline) Done() bool { return t.done }
