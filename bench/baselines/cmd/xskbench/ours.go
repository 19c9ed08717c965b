package main

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/internal/udpframe"
)

type ours struct {
	c        string
	busyTime time.Duration
	prog     *afxdp.Program
	s        *afxdp.Socket
	batch    int
	ring     int
	spec     udpframe.Spec
}

func setupOurs(bed *testbed.Bed, o *options, c string) (worker, error) {
	prog, err := afxdp.AttachProgram(bed.HostIf, afxdp.ProgramConfig{Addrs: []netip.Addr{bed.EngineAddr}})
	if err != nil {
		return nil, err
	}
	s, err := afxdp.Open(bed.HostIf, afxdp.Config{
		RxSize: o.ring, TxSize: o.ring, FillSize: o.ring, CompSize: o.ring,
		UMEMConfig: afxdp.UMEMConfig{Frames: o.frames, FrameSize: o.frameSize},
	})
	if err != nil {
		prog.Close()
		return nil, err
	}
	if err := prog.Register(s); err != nil {
		s.Close()
		prog.Close()
		return nil, err
	}
	return &ours{c: c, prog: prog, s: s, batch: o.batch, ring: o.ring, spec: udpframe.Spec{
		SrcMAC: bed.HostMAC, DstMAC: bed.PeerMAC, Src: bed.EngineAddr, Dst: bed.PeerAddr,
		SrcPort: 1000, DstPort: 9}}, nil
}

func (w *ours) mode() string { return "xdp " + w.prog.Mode().String() + ", " + w.s.BindMode() }

func (w *ours) close() {
	w.s.Close()
	w.prog.Close()
}

func (w *ours) run(stop *atomic.Bool) uint64 {
	switch w.c {
	case "rxdrop":
		return w.rxdrop(stop, false)
	case "rxdrop-nap":
		return w.rxdrop(stop, true)
	case "txonly":
		return w.txonly(stop)
	}
	return w.l2fwd(stop)
}

// idle is how long a worker sleeps in poll(2) when there is nothing to do.
const idle = 10 * time.Millisecond

func (w *ours) rxdrop(stop *atomic.Bool, napping bool) uint64 {
	s, descs := w.s, make([]afxdp.Desc, w.batch)
	var n uint64
	for !stop.Load() {
		t0 := time.Now()
		k := s.Receive(descs)
		if k == 0 {
			if napping {
				nap()
			} else {
				s.Wait(idle)
			}
			continue
		}
		s.Release(descs[:k])
		s.Fill()
		w.busyTime += time.Since(t0)
		n += uint64(k)
	}
	return n
}

func (w *ours) busy() time.Duration { return w.busyTime }

func (w *ours) txonly(stop *atomic.Bool) uint64 {
	s := w.s
	addrs, descs := make([]uint64, w.batch), make([]afxdp.Desc, w.batch)
	// Write the frame once into every frame of the pool; completed frames
	// are sent again as they are.
	all := make([]uint64, 1<<16)
	k := s.Alloc(all)
	for _, a := range all[:k] {
		w.spec.Put(s.FrameBuffer(a), make([]byte, payloadLen))
		s.ReleaseAddr(a)
	}
	var n uint64
	for !stop.Load() {
		c := s.CompleteTo(addrs)
		n += uint64(c)
		if s.TxInFlight()+c < w.ring {
			// Take new frames only while the tx ring has room for them.
			c += s.Alloc(addrs[c:])
		}
		for i := range c {
			descs[i] = afxdp.Desc{Addr: addrs[i], Len: frameLen}
		}
		if t := s.Transmit(descs[:c]); t < c {
			s.Release(descs[t:c])
		}
	}
	return n
}

func (w *ours) l2fwd(stop *atomic.Bool) uint64 {
	s, descs := w.s, make([]afxdp.Desc, w.batch)
	var n uint64
	for !stop.Load() {
		s.Complete()
		k := s.Receive(descs)
		if k == 0 {
			if s.TxInFlight() == 0 {
				s.Wait(idle)
			}
			s.Fill()
			continue
		}
		for _, d := range descs[:k] {
			swapMAC(s.Frame(d))
		}
		t := s.Transmit(descs[:k])
		s.Release(descs[t:k])
		s.Fill()
		n += uint64(t)
	}
	return n
}

func swapMAC(b []byte) {
	var m [6]byte
	copy(m[:], b[0:6])
	copy(b[0:6], b[6:12])
	copy(b[6:12], m[:])
}

func (w *ours) xskDrops() (uint64, uint64, bool) {
	st, err := w.s.Stats()
	if err != nil {
		return 0, 0, false
	}
	return st.RxDropped + st.RxRingFull, st.RxFillRingEmptyDescs, true
}
