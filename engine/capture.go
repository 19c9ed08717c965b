package engine

import (
	"errors"
	"time"

	"github.com/xdpengine/engine/stack/datapath"
)

// ErrCaptureBusy is returned by StartCapture while another capture runs:
// the engine runs one capture at a time.
var ErrCaptureBusy = errors.New("engine: a capture is already running (one at a time)")

// CaptureConfig configures StartCapture.
type CaptureConfig struct {
	Slots   int // frames each worker's ring holds (default datapath.DefaultTapSlots)
	Snaplen int // bytes kept of each frame (default and maximum datapath.MaxSnaplen)
	// NewMatch, if set, makes each worker's frame filter (called once per
	// worker; the filter runs on that worker's goroutine only).
	NewMatch func() func(frame []byte) bool
}

// CapturedFrame is one frame a capture drained.
type CapturedFrame struct {
	Time  time.Time
	Queue int
	Dir   datapath.Direction
	Len   int    // length on the wire
	Data  []byte // the first Snaplen bytes; valid only during the call
}

// Capture copies the frames the workers receive and send into one ring per
// worker (datapath.Tap); Drain empties them. Close stops it.
type Capture struct {
	e    *Engine
	taps []*datapath.Tap
}

// StartCapture starts capturing on every worker. One capture runs at a time
// (ErrCaptureBusy).
func (e *Engine) StartCapture(cfg CaptureConfig) (*Capture, error) {
	c := &Capture{e: e}
	for range e.workers {
		tc := datapath.TapConfig{Slots: cfg.Slots, Snaplen: cfg.Snaplen}
		if cfg.NewMatch != nil {
			tc.Match = cfg.NewMatch()
		}
		t, err := datapath.NewTap(tc)
		if err != nil {
			return nil, err
		}
		c.taps = append(c.taps, t)
	}
	for i, w := range e.workers {
		if err := w.SetTap(c.taps[i]); err != nil {
			for j := range i {
				e.workers[j].ClearTap(c.taps[j])
			}
			return nil, ErrCaptureBusy
		}
	}
	return c, nil
}

// Snaplen returns the most bytes kept of a frame.
func (c *Capture) Snaplen() int {
	if len(c.taps) == 0 {
		return datapath.MaxSnaplen
	}
	return c.taps[0].Snaplen()
}

// Queues returns the number of workers captured (queues 0 to Queues-1).
func (c *Capture) Queues() int { return len(c.taps) }

// Drain hands every frame the rings hold to fn, queue by queue, and returns
// how many. One goroutine at a time.
func (c *Capture) Drain(fn func(f *CapturedFrame)) int {
	n := 0
	f := CapturedFrame{}
	for q, t := range c.taps {
		n += t.Drain(func(r datapath.TapRecord) {
			f = CapturedFrame{Time: c.e.epoch.Add(time.Duration(r.Time)), Queue: q, Dir: r.Dir, Len: r.Len, Data: r.Data}
			fn(&f)
		})
	}
	return n
}

// Stats returns each queue's capture counters.
func (c *Capture) Stats() []datapath.TapStats {
	s := make([]datapath.TapStats, len(c.taps))
	for i, t := range c.taps {
		s[i] = t.Stats()
	}
	return s
}

// Close stops capturing and returns once every worker has finished the
// round it was in (a frame it was putting into its tap is in); frames still
// in the rings can be drained after.
func (c *Capture) Close() {
	for i, w := range c.e.workers {
		w.ClearTap(c.taps[i])
	}
	datapath.Gather(c.e.workers, func(*datapath.Worker) any { return nil }, time.Second)
}
