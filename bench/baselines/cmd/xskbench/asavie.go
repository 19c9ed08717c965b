package main

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/asavie/xdp"
	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/internal/udpframe"
)

// asavie drives github.com/asavie/xdp v0.3.3 the way its examples do
// (dumpframes, sendudp, l2fwd): Fill(GetDescs(NumFreeFillSlots())), Poll,
// Receive, Transmit. Its socket is registered in the same XDP program as
// ours, so only the userspace socket layer differs.
type asavie struct {
	c        string
	busyTime time.Duration
	prog     *afxdp.Program
	xsk      *xdp.Socket
	spec     udpframe.Spec
}

// pollMs is the timeout asavie's Poll gets: it blocks in poll(2) every
// iteration, as the library's examples do.
const pollMs = 10

func setupAsavie(bed *testbed.Bed, o *options, c string) (worker, error) {
	prog, err := afxdp.AttachProgram(bed.HostIf, afxdp.ProgramConfig{Addrs: []netip.Addr{bed.EngineAddr}})
	if err != nil {
		return nil, err
	}
	xsk, err := xdp.NewSocket(bed.HostIndex, 0, &xdp.SocketOptions{
		NumFrames: o.frames, FrameSize: o.frameSize,
		FillRingNumDescs: o.ring, CompletionRingNumDescs: o.ring,
		RxRingNumDescs: o.ring, TxRingNumDescs: o.ring,
	})
	if err != nil {
		prog.Close()
		return nil, err
	}
	if err := prog.RegisterFD(0, xsk.FD()); err != nil {
		xsk.Close()
		prog.Close()
		return nil, err
	}
	return &asavie{c: c, prog: prog, xsk: xsk, spec: udpframe.Spec{
		SrcMAC: bed.HostMAC, DstMAC: bed.PeerMAC, Src: bed.EngineAddr, Dst: bed.PeerAddr,
		SrcPort: 1000, DstPort: 9}}, nil
}

func (w *asavie) mode() string { return "xdp " + w.prog.Mode().String() + ", kernel's choice" }

func (w *asavie) busy() time.Duration { return w.busyTime }

func (w *asavie) close() { w.xsk.Close(); w.prog.Close() }

func (w *asavie) run(stop *atomic.Bool) uint64 {
	x := w.xsk
	var n uint64
	switch w.c {
	case "rxdrop":
		// As in the library's dumpframes example; the busy time covers
		// Receive and the refill that the next turn's Fill does.
		x.Fill(x.GetDescs(x.NumFreeFillSlots()))
		for !stop.Load() {
			numRx, _, err := x.Poll(pollMs)
			if err != nil {
				return n
			}
			if numRx > 0 {
				t0 := time.Now()
				n += uint64(len(x.Receive(numRx)))
				if k := x.NumFreeFillSlots(); k > 0 {
					x.Fill(x.GetDescs(k))
				}
				w.busyTime += time.Since(t0)
			}
		}
	case "rxdrop-nap":
		// The same idle strategy as ours: read the ring's fill level
		// without a syscall, sleep briefly when it is empty.
		x.Fill(x.GetDescs(x.NumFreeFillSlots()))
		for !stop.Load() {
			t0 := time.Now()
			numRx := x.NumReceived()
			if numRx == 0 {
				nap()
				continue
			}
			n += uint64(len(x.Receive(numRx)))
			if k := x.NumFreeFillSlots(); k > 0 {
				x.Fill(x.GetDescs(k))
			}
			w.busyTime += time.Since(t0)
		}
	case "txonly":
		// Write the frame into every frame once, as in sendudp.
		for _, d := range x.GetDescs(1 << 30) {
			w.spec.Put(x.GetFrame(xdp.Desc{Addr: d.Addr, Len: uint32(frameLen)}), make([]byte, payloadLen))
		}
		for !stop.Load() {
			descs := x.GetDescs(x.NumFreeTxSlots())
			for i := range descs {
				descs[i].Len = frameLen
			}
			x.Transmit(descs)
			_, c, err := x.Poll(pollMs)
			if err != nil {
				return n
			}
			n += uint64(c)
		}
	case "l2fwd":
		for !stop.Load() {
			if k := x.NumFreeFillSlots(); k > 0 {
				x.Fill(x.GetDescs(k))
			}
			numRx, _, err := x.Poll(pollMs)
			if err != nil {
				return n
			}
			if numRx == 0 {
				continue
			}
			rx := x.Receive(numRx)
			for _, d := range rx {
				swapMAC(x.GetFrame(d))
			}
			n += uint64(x.Transmit(rx))
		}
	}
	return n
}

func (w *asavie) xskDrops() (uint64, uint64, bool) {
	st, err := w.xsk.Stats()
	if err != nil {
		return 0, 0, false
	}
	k := st.KernelStats
	return k.Rx_dropped + k.Rx_ring_full, k.Rx_fill_ring_empty_descs, true
}
