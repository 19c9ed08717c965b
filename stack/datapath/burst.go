package datapath

import "github.com/xdpengine/engine/afxdp"

// BurstInput is an Input that also sees each burst received from the link
// as a whole, before its frames are handed over one by one: to start the
// memory accesses their processing will make (a load balancer's
// connection-table lookups) for the whole burst at once, so that their
// cache misses overlap instead of coming one per frame (see
// flowtable.Index.Prefetch).
type BurstInput interface {
	Input
	// PrefetchBurst is given the frames of a received burst, in the order
	// Frame will get them, once per burst and before the first of them
	// goes to Frame. It runs on the worker goroutine, must not block,
	// allocate, modify the frames or keep them (they alias UMEM frames
	// valid only during the call), and is a hint: it must not change what
	// Frame does. A malformed frame must be skipped, never trusted.
	//
	// Only bursts from the socket pass through it: not frames other
	// workers hand over (Input.Steered), and not the frames an Injector
	// delivers (tests: the worker has none in production).
	PrefetchBurst(frames [][]byte)
}

// receive delivers a burst received from the link: the input's burst
// pre-pass when it has one (BurstInput), then every frame (Deliver). An
// input without a pre-pass costs the nil check.
func (w *Worker) receive(descs []afxdp.Desc) {
	if len(descs) > 1 {
		w.touchFrames(descs)
	}
	if w.burstIn != nil {
		frames := w.frames[:len(descs)]
		for i, d := range descs {
			frames[i] = w.sock.Frame(d)
		}
		w.burstIn.PrefetchBurst(frames)
	}
	for _, d := range descs {
		w.Deliver(d)
	}
}

// Input returns the worker's input (SetInput).
func (w *Worker) Input() Input { return w.input }

// touchFrames reads a byte of each frame of a burst before the first is
// handled: the loads are independent, so their cache misses (the kernel
// wrote the frames, often on another CPU) overlap instead of coming one
// per frame, as a prefetch would make them. Measured on veth at one
// queue, 5-7 interleaved runs: TCP bulk received +2.2% and +3.6%, short
// connections +3% (16 and 64 in flight), UDP echo unchanged; touching a
// second line of each frame added nothing.
func (w *Worker) touchFrames(descs []afxdp.Desc) {
	var x byte
	for _, d := range descs {
		if f := w.sock.Frame(d); len(f) > 12 {
			x ^= f[12]
		}
	}
	w.touched = x
}
