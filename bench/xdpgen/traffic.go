package xdpgen

import (
	"fmt"
	"math"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/xdpengine/engine/bench/measure"
	"github.com/xdpengine/engine/bench/pacer"
	"github.com/xdpengine/engine/bench/stream"
)

// DefaultDrain is how long Run waits after sending for frames in flight.
const DefaultDrain = time.Second

// DefaultInterval is the period of Run's Interval reports.
const DefaultInterval = time.Second

// DefaultCatchUp is how much sending time a stream's token bucket holds
// when its Rate has no Burst: a worker the machine stalls for up to this
// long sends what it missed at once when it runs again, so that the
// average rate holds on a busy machine (at the cost of a burst).
const DefaultCatchUp = 20 * time.Millisecond

// Stream is one traffic stream of a run: its frames and its rate.
type Stream struct {
	// Spec describes the frames. Its ID is replaced (see Traffic); the
	// MACs are used as given (Port.MAC, Port.Resolve).
	Spec stream.Spec
	// Rate is the stream's rate over all workers (split evenly between
	// them); the zero Rate sends as fast as the workers go. A zero
	// Rate.Burst means DefaultCatchUp's worth of the rate; pacer's
	// DefaultBurst (50 µs) paces evenly but loses what a stalled worker
	// could not send.
	Rate pacer.Rate
	// CaptureTiming, for a Replay stream, sends its frames with the
	// capture's own timing (pacer.Timeline) played this many times as
	// fast (1: as captured) instead of at Rate, once through the capture,
	// or round and round with Loop. The first worker alone sends such a
	// stream. 0 means at Rate.
	CaptureTiming float64
	Loop          bool
}

// Traffic is what one Run sends. Streams is required; Duration, Count or
// both bound the run (neither: until the context ends).
type Traffic struct {
	Streams []Stream
	// Duration is how long to send (0: no limit).
	Duration time.Duration
	// Count is how many frames to send over all streams (0: no limit),
	// split evenly between the workers that send.
	Count uint64
	// Drain is how long to wait after sending for frames still in
	// flight; the wait ends as soon as every frame sent was received
	// back. 0 means DefaultDrain, a negative value no wait.
	Drain time.Duration
	// Interval is the period of the Progress reports (DefaultInterval).
	Interval time.Duration
	// Progress, if set, is called every Interval from Run's goroutine.
	Progress func(Interval)
	// MaxLatency bounds the latency histograms (measure.DefaultMaxLatency).
	MaxLatency time.Duration
}

// Interval is what happened during one report period of a run.
type Interval struct {
	Elapsed time.Duration // since the run started, at the end of the period
	Length  time.Duration // of the period

	Sent, Received           uint64 // frames during the period
	SentBytes, ReceivedBytes uint64 // their bytes, without FCS
	// Totals since the start of the run.
	TotalSent, TotalReceived uint64
	// TotalUnmeasured is the part of TotalSent from streams without a
	// signature, which Loss leaves out.
	TotalUnmeasured uint64
	Other           uint64 // frames received that carry none of the run's signatures
	Errors          uint64 // frames the kernel dropped on receive, transmit errors
	Latency         measure.Latency
}

// SentPPS returns the period's transmit rate in frames per second.
func (iv Interval) SentPPS() float64 { return perSecond(iv.Sent, iv.Length) }

// ReceivedPPS returns the period's receive rate in frames per second.
func (iv Interval) ReceivedPPS() float64 { return perSecond(iv.Received, iv.Length) }

// Loss returns the fraction of the measured frames sent so far not
// received yet (frames in flight count as missing).
func (iv Interval) Loss() float64 {
	measured := iv.TotalSent - iv.TotalUnmeasured
	if measured == 0 || iv.TotalReceived >= measured {
		return 0
	}
	return float64(measured-iv.TotalReceived) / float64(measured)
}

func perSecond(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// StreamResult is one stream's outcome, over all workers.
type StreamResult struct {
	// Measured: the stream's frames carry a signature (stream.Spec.Sign),
	// so what comes back is counted; an unmeasured stream's Received and
	// Lost stay 0 and it is left out of Result's Lost and Loss.
	Measured                   bool
	Sent, Received, Lost       uint64
	Duplicates, Reordered      uint64
	Late, MaxReorder, BadTime  uint64
	SentBytes, ReceivedBytes   uint64
	Latency                    measure.Latency // set with one worker only (see Result.Latency)
	OfferedRate                pacer.Rate
	Frames                     stream.Sizes
	ReceivedPPS, SentPPS, Loss float64
}

// Result is a run's outcome.
type Result struct {
	// Duration is how long the workers sent, from the start to the last
	// frame generated.
	Duration time.Duration
	// Sent and Received are frames over all streams; Received counts
	// each sequence number once (duplicates apart).
	Sent, Received, Lost uint64
	// Unmeasured is the part of Sent from streams without a signature
	// (StreamResult.Measured), which Lost and Loss leave out.
	Unmeasured               uint64
	SentBytes, ReceivedBytes uint64 // without FCS
	Duplicates, Reordered    uint64
	Other, Errors            uint64 // as in Interval
	// Latency is the distribution over every stream and worker.
	Latency measure.Latency
	// Histogram holds every latency sample in nanoseconds, for plots
	// (duplicates included).
	Histogram *hdrhistogram.Histogram
	Streams   []StreamResult
	Intervals []Interval
	// CPU is the workers' thread CPU time (user and system).
	CPU time.Duration
}

// SentPPS returns the average transmit rate.
func (r *Result) SentPPS() float64 { return perSecond(r.Sent, r.Duration) }

// ReceivedPPS returns the received frames per second of sending time.
func (r *Result) ReceivedPPS() float64 { return perSecond(r.Received, r.Duration) }

// Loss returns Lost/Sent.
// Loss returns the fraction of the measured streams' frames lost.
func (r *Result) Loss() float64 {
	if r.Sent == r.Unmeasured {
		return 0
	}
	return float64(r.Lost) / float64(r.Sent-r.Unmeasured)
}

// PPSPerCore returns frames sent per second of the workers' CPU time.
func (r *Result) PPSPerCore() float64 { return perSecond(r.Sent, r.CPU) }

// check validates t for a port with frames of frameSize bytes and w
// workers.
func (t *Traffic) check(frameSize, w int) error {
	switch {
	case len(t.Streams) == 0:
		return fmt.Errorf("%w: no stream", ErrConfig)
	case len(t.Streams)*w > 1<<16:
		return fmt.Errorf("%w: %d streams on %d workers (65536 in all)", ErrConfig, len(t.Streams), w)
	case t.Duration < 0:
		return fmt.Errorf("%w: duration %v", ErrConfig, t.Duration)
	}
	for i, s := range t.Streams {
		r := s.Rate.Value
		if r < 0 || math.IsNaN(r) || math.IsInf(r, 0) || (r > 0 && r/float64(w) < 1) {
			return fmt.Errorf("%w: stream %d: rate %v on %d workers", ErrConfig, i, s.Rate, w)
		}
		if s.CaptureTiming != 0 && (s.Spec.Kind != stream.Replay || !(s.CaptureTiming > 0) || math.IsInf(s.CaptureTiming, 0)) {
			return fmt.Errorf("%w: stream %d: capture timing %v for a %v stream", ErrConfig, i, s.CaptureTiming, s.Spec.Kind)
		}
		if s.Spec.Kind != stream.Replay && s.Spec.Size.Max()-stream.FCSLen > frameSize {
			return fmt.Errorf("%w: stream %d: %d-byte frames above the %d-byte UMEM frames", ErrConfig, i, s.Spec.Size.Max(), frameSize)
		}
	}
	return nil
}

// workerStreams builds worker w's streams: stream i gets the id w*n+i, a
// seed of its own and its share of the rate.
func (t *Traffic) workerStreams(w, workers int, frameSize int) ([]*stream.Stream, []pacer.Rate, error) {
	n := len(t.Streams)
	ss := make([]*stream.Stream, n)
	rates := make([]pacer.Rate, n)
	for i, s := range t.Streams {
		sp := s.Spec
		sp.ID = uint16(w*n + i)
		sp.Seed += uint64(w) * 0x9e3779b97f4a7c15
		st, err := stream.New(sp)
		if err != nil {
			return nil, nil, fmt.Errorf("stream %d: %w", i, err)
		}
		if st.MaxLen() > frameSize {
			return nil, nil, fmt.Errorf("%w: stream %d: %d-byte frames above the %d-byte UMEM frames", ErrConfig, i, st.MaxLen(), frameSize)
		}
		ss[i] = st
		r := s.Rate
		r.Value /= float64(workers)
		frame := r.Unit.Cost(st.MaxLen() + stream.FCSLen)
		switch {
		case r.Value == 0:
		case r.Burst > 0:
			r.Burst = max(r.Burst/uint64(workers), frame)
		default:
			r.Burst = uint64(r.Value*DefaultCatchUp.Seconds()) + frame
		}
		rates[i] = r
	}
	return ss, rates, nil
}
