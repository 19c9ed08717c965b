package datapath

import (
	"encoding/binary"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/header"
)

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

// FrameBuffer returns the UMEM frame from addr (as AllocFrames returned
// it) to its end, to build into.
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

// TxChecksumOffload reports whether the UDP and TCP checksums of frames
// queued with QueueTxChecksum are computed on transmission (by the
// kernel in copy mode, by the NIC in zero-copy mode), not by the worker.
// Safe from any goroutine (senders ask it before building a datagram).
func (w *Worker) TxChecksumOffload() bool { return w.txCsum.Load() }

// QueueTxChecksum is QueueTx for a frame whose UDP or TCP checksum is
// left to finish: its transport header starts at byte start of the frame,
// and the checksum field, offset bytes further (UDP: 6, TCP: 16), holds
// the pseudo-header's sum (what Linux stores for CHECKSUM_PARTIAL). The
// socket's offload finishes it where the worker has one (counted in
// TxCsumOffload); otherwise the worker computes it here.
func (w *Worker) QueueTxChecksum(d afxdp.Desc, start, offset int) {
	if w.txCsum.Load() {
		w.sock.RequestTxChecksum(&d, uint16(start), uint16(offset))
		w.st.TxCsumOffload++
	} else {
		FinishChecksum(w.sock.Frame(d), start, offset)
	}
	w.QueueTx(d)
}

// CopyTx copies a queued frame into a fresh one, its checksum request
// (QueueTxChecksum) included, for a sender that transmits a frame twice
// (the fault injector's duplicates); false when no frame is free.
func (w *Worker) CopyTx(d afxdp.Desc) (afxdp.Desc, bool) {
	if w.AllocFrames(w.one) < 1 {
		return afxdp.Desc{}, false
	}
	c := afxdp.Desc{Addr: w.one[0], Len: uint32(copy(w.sock.FrameBuffer(w.one[0]), w.sock.Frame(d)))}
	if start, off, ok := w.sock.TxChecksumRequest(d); ok {
		w.sock.RequestTxChecksum(&c, start, off)
	}
	return c, true
}

// FinishChecksum computes a checksum left partial (see QueueTxChecksum)
// in place, as Linux's skb_checksum_help: the complement of the sum from
// start to the end of b, a zero result stored as 0xffff.
func FinishChecksum(b []byte, start, offset int) {
	sum := ^header.Checksum(b[start:], 0)
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(b[start+offset:], sum)
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
