package datapath

import "github.com/xdpengine/engine/afxdp"

// Transmission. Layers build their frames straight into UMEM frames
// (AllocFrames, FrameBuffer) and queue them (QueueTx); the worker
// transmits a round's frames in one batch at its end: one tx-ring update
// and at most one wakeup per batch, not per frame.

// AllocFrames takes free UMEM frames for transmission into addrs,
// reclaiming completed ones if the pool is short; it returns how many it
// got.
func (w *Worker) AllocFrames(addrs []uint64) int {
	got := w.sock.Alloc(addrs)
	for tries := 0; got < len(addrs) && tries < 3; tries++ {
		w.sock.Complete()
		got += w.sock.Alloc(addrs[got:])
	}
	return got
}

// ReleaseAddrs gives frames taken with AllocFrames back unsent.
func (w *Worker) ReleaseAddrs(addrs []uint64) {
	for _, a := range addrs {
		w.sock.ReleaseAddr(a)
	}
}

// Release gives one frame back (unsent, or received and handled).
func (w *Worker) Release(addr uint64) { w.sock.ReleaseAddr(addr) }

// FrameBuffer returns the whole UMEM frame at addr, to build into.
func (w *Worker) FrameBuffer(addr uint64) []byte { return w.sock.FrameBuffer(addr) }

// Frame returns the bytes of a descriptor.
func (w *Worker) Frame(d afxdp.Desc) []byte { return w.sock.Frame(d) }

// SendFrame copies a complete Ethernet frame into a UMEM frame and queues
// it; a full frame pool is counted as DropTxRing.
func (w *Worker) SendFrame(f []byte) {
	if w.AllocFrames(w.one) < 1 {
		w.st.DropTxRing++
		return
	}
	n := copy(w.sock.FrameBuffer(w.one[0]), f)
	w.QueueTx(afxdp.Desc{Addr: w.one[0], Len: uint32(n)})
}

// QueueTx adds a frame to the batch transmitted at the end of the round; a
// full batch is transmitted at once.
func (w *Worker) QueueTx(d afxdp.Desc) {
	if len(w.txDescs) == cap(w.txDescs) {
		w.FlushTx()
	}
	w.txDescs = append(w.txDescs, d)
}

// FlushTx transmits the batch; what the tx ring cannot take after a few
// completion rounds is dropped and counted.
func (w *Worker) FlushTx() {
	descs := w.txDescs
	if w.inj != nil {
		descs = w.inj.Transmit(descs)
	}
	// The tap is read before the frames go: on veth they reach the peer
	// inside Transmit, and a capture the peer's answer stops must still
	// see them (Capture.Close waits for the round to end).
	t := w.tap.Load()
	for tries := 0; len(descs) > 0 && tries < 8; tries++ {
		n := w.sock.Transmit(descs)
		if t != nil {
			w.tapTx(t, descs[:n])
		}
		for _, d := range descs[:n] {
			w.st.TxPackets++
			w.st.TxBytes += uint64(d.Len)
		}
		descs = descs[n:]
		if len(descs) > 0 {
			w.sock.Complete()
		}
	}
	for _, d := range descs {
		w.sock.ReleaseAddr(d.Addr)
		w.st.DropTxRing++
	}
	w.txDescs = w.txDescs[:0]
}
