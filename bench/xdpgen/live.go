package xdpgen

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/bench/signature"
	"github.com/xdpengine/engine/bench/stream"
)

// Live mode (Config.Live): the workers do not write frames into their
// transmit rings. The kernel sends them: a worker runs a small XDP program
// on its stream's first frame with BPF_PROG_RUN in live-frame mode (Linux
// 5.18), as many times as the pacer allows (BatchSize frames of a page
// pool at a time), and the program's XDP_TX sends each run's frame out of
// the interface, no socket buffer and no copy to or from user space. Each
// run writes what changes from frame to frame: the IPv4 ID (the sequence
// number's low 16 bits, as the stream does), the source port when it walks
// a range (Inc), and the signature's sequence number and time (the
// kernel's CLOCK_MONOTONIC, shifted to the port's clock), and sets the
// IPv4 and UDP checksums from sums the worker made of the first frame.
// Receiving, measuring and ARP are as in the default mode.
//
// It takes streams of untagged IPv4 UDP frames of one size with a
// signature, one source and destination address and destination port,
// and a fixed or incrementing source port. On veth, the peer end must
// have NAPI (an XDP program of its own, or GRO on) for XDP_TX frames to
// reach it; a NIC needs nothing.

// Offsets in a live frame: Ethernet, IPv4 without options, UDP, signature.
const (
	liveIP  = 14
	liveUDP = liveIP + 20
	liveSig = liveUDP + 8
	liveMin = liveSig + signature.Len
)

// liveState is a stream's entry in the program's map (layout: the
// program's offsets; TestLiveStateLayout).
type liveState struct {
	Seq        uint64 // the next frame's sequence number
	ClockOff   uint64 // CLOCK_MONOTONIC less the port's clock
	IPBase     uint32 // ~checksum + ~ID of the first frame, as loaded
	L4Base     uint32 // ~checksum + ~(the words a frame rewrites) of the first frame
	SportFirst uint16 // host order
	SportN     uint16 // ports in the range; 0 or 1: fixed
	_          uint32
}

// liveSender is the port's live-frame state: the map of stream states (by
// stream id) that the steering program's live prelude reads.
type liveSender struct {
	states  *ebpf.Map
	ifindex uint32
}

// liveMagic marks a live frame, in the 4 bytes of metadata in front of it
// (as the program loads them): received frames have none.
const liveMagic = 0x6c697665

// liveMeta is the metadata's length.
const liveMeta = 4

func newLiveSender(ifindex int) (*liveSender, error) {
	states, err := ebpf.NewMap(&ebpf.MapSpec{Name: "xdpgen_live", Type: ebpf.Array, KeySize: 4, ValueSize: 32, MaxEntries: 1 << 16})
	if err != nil {
		return nil, fmt.Errorf("xdpgen: live mode: state map: %w", err)
	}
	return &liveSender{states: states, ifindex: uint32(ifindex)}, nil
}

func (l *liveSender) close() error { return l.states.Close() }

// checkLive reports why sp cannot be sent in live mode, if it cannot.
func checkLive(sp *stream.Spec) error {
	single := func(r stream.AddrRange) bool { return !r.Last.IsValid() || r.Last == r.First }
	switch {
	case sp.Kind != stream.UDP:
		return fmt.Errorf("%v frames (UDP only)", sp.Kind)
	case sp.Size.Min() != sp.Size.Max() || sp.Size.Min()-stream.FCSLen < liveMin:
		return fmt.Errorf("sizes %d to %d (one size of %d bytes or more)", sp.Size.Min(), sp.Size.Max(), liveMin+stream.FCSLen)
	case sp.VLAN.First != 0 || sp.VLAN.Last != 0:
		return errors.New("a VLAN tag (untagged only)")
	case sp.Sign == stream.SignOff:
		return errors.New("no signature")
	case !single(sp.Src) || !single(sp.Dst):
		return errors.New("an address range (one source and one destination)")
	case sp.DstPort.Last != 0 && sp.DstPort.Last != sp.DstPort.First:
		return errors.New("a destination port range")
	case sp.SrcPort.Last != 0 && sp.SrcPort.Last != sp.SrcPort.First && sp.SrcPort.Mode != stream.Inc:
		return errors.New("a random source port range (incrementing only)")
	}
	return nil
}

// liveStream is a worker's stream in live mode: its first frame, which
// every run starts from, behind its metadata.
type liveStream struct {
	frame []byte
	id    uint32
}

// prepareLive builds the first frame of each of the worker's streams and
// writes their states; sequence numbers start at 0.
func (w *worker) prepareLive(t *Traffic, streams []*stream.Stream) error {
	l := w.p.live
	w.lives, w.liveN, w.liveErrs, w.liveErr = w.lives[:0], make([]int, len(streams)), 0, nil
	off := uint64(afxdp.MonotonicOffset(w.p.Now))
	for i, st := range streams {
		sp := &t.Streams[i].Spec
		if err := checkLive(sp); err != nil {
			return fmt.Errorf("%w: stream %d: live mode cannot send %v", ErrConfig, i, err)
		}
		buf := make([]byte, liveMeta+st.MaxLen())
		binary.NativeEndian.PutUint32(buf, liveMagic)
		n := st.Next(buf[liveMeta:], 0)
		st.Reset()
		f := buf[liveMeta : liveMeta+n]
		s := liveState{ClockOff: off, IPBase: liveSum(f, liveIP+10, liveIP+4), L4Base: liveSum(f, liveUDP+6,
			liveSig+4, liveSig+6, liveSig+8, liveSig+10, liveSig+12, liveSig+14)}
		if r := sp.SrcPort; r.Last != 0 && r.Last != r.First {
			s.L4Base = fold16(s.L4Base + liveSum(f, liveUDP))
			s.SportFirst, s.SportN = r.First, r.Last-r.First+1
		}
		if err := l.states.Put(uint32(st.ID()), &s); err != nil {
			return fmt.Errorf("xdpgen: live mode: stream %d state: %w", i, err)
		}
		w.lives = append(w.lives, liveStream{frame: buf[:liveMeta+n], id: uint32(st.ID())})
	}
	return nil
}

// liveSum is the one's complement sum of the complements of f's 16-bit
// words at offs, as the program loads them (the host's order).
func liveSum(f []byte, offs ...int) uint32 {
	var s uint32
	for _, o := range offs {
		s += uint32(^binary.NativeEndian.Uint16(f[o:]))
	}
	return fold16(s)
}

func fold16(s uint32) uint32 {
	s = s&0xffff + s>>16
	return s&0xffff + s>>16
}

// transmitLive sends what the pacer allows now, up to a batch per stream
// in one BPF_PROG_RUN each.
func (w *worker) transmitLive(now int64) {
	room := afxdp.LiveBatchMax * len(w.lives)
	if w.limited {
		room = min(room, int(min(w.budget-w.sent, uint64(room))))
	}
	clear(w.liveN)
	n := 0
	for n < room {
		i, ok := w.mux.Next(now)
		if !ok {
			break
		}
		w.liveN[i]++
		n++
		if w.liveN[i] == afxdp.LiveBatchMax {
			break
		}
	}
	for i, k := range w.liveN {
		if k == 0 {
			continue
		}
		ls := &w.lives[i]
		if err := w.liveRun.Run(ls.frame, liveMeta, k); err != nil {
			w.liveErrs += uint64(k)
			if w.liveErr == nil {
				w.liveErr = err
			}
			continue
		}
		w.streams[i].Advance(uint64(k))
		w.sent += uint64(k)
		w.sentBytes += uint64(k * (len(ls.frame) - liveMeta))
	}
	if n > 0 {
		w.lastTx = now
	}
}

// initLive readies the worker's live runs.
func (w *worker) initLive() {
	w.liveRun = w.p.prog.NewLiveRunner(int(w.p.live.ifindex), w.queue)
}

// livePrelude is the steering program's prelude in live mode: a frame
// with liveMagic in 4 bytes of metadata is a live frame, which it writes
// and sends (XDP_TX); any other goes on to the steering ("steer"). r6 =
// ctx, r9 = the stream's state, r7 = the frame's sequence number, r8 =
// its time, r5 = the UDP sum.
func livePrelude() asm.Instructions {
	bounds := func() asm.Instructions {
		return asm.Instructions{
			asm.LoadMem(asm.R2, asm.R6, 0, asm.Word),
			asm.LoadMem(asm.R3, asm.R6, 4, asm.Word),
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, liveMin),
			asm.JGT.Reg(asm.R4, asm.R3, "live_drop"),
		}
	}
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, 8, asm.Word), // data_meta
		asm.LoadMem(asm.R3, asm.R6, 0, asm.Word), // data
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, liveMeta),
		asm.JGT.Reg(asm.R4, asm.R3, "live_not"),
		asm.LoadMem(asm.R4, asm.R2, 0, asm.Word),
		asm.JNE.Imm(asm.R4, liveMagic, "live_not"),
	}
	insns = append(insns, bounds()...)
	insns = append(insns,
		asm.LoadMem(asm.R4, asm.R2, liveSig+2, asm.Half), // the stream id
		asm.HostTo(asm.BE, asm.R4, asm.Half),
		asm.StoreMem(asm.RFP, -4, asm.R4, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference("xdpgen_live"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "live_drop"),
		asm.Mov.Reg(asm.R9, asm.R0),
		asm.LoadMem(asm.R7, asm.R9, 0, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R9, 0, asm.R1, asm.DWord),
		asm.FnKtimeGetNs.Call(),
		asm.LoadMem(asm.R1, asm.R9, 8, asm.DWord),
		asm.Sub.Reg(asm.R0, asm.R1),
		asm.Mov.Reg(asm.R8, asm.R0),
	)
	insns = append(insns, bounds()...)
	insns = append(insns,
		// IPv4 ID and header checksum.
		asm.Mov.Reg(asm.R4, asm.R7),
		asm.HostTo(asm.BE, asm.R4, asm.Half),
		asm.StoreMem(asm.R2, liveIP+4, asm.R4, asm.Half),
		asm.LoadMem(asm.R1, asm.R9, 16, asm.Word),
		asm.Add.Reg(asm.R1, asm.R4),
	)
	insns = append(insns, liveFold(asm.R1, asm.R4)...)
	insns = append(insns, liveFold(asm.R1, asm.R4)...)
	insns = append(insns,
		asm.Xor.Imm(asm.R1, 0xffff),
		asm.StoreMem(asm.R2, liveIP+10, asm.R1, asm.Half),
		asm.LoadMem(asm.R5, asm.R9, 20, asm.Word),
		// The source port, First + seq mod N.
		asm.LoadMem(asm.R4, asm.R9, 26, asm.Half),
		asm.JLE.Imm(asm.R4, 1, "live_sig"),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Mod.Reg(asm.R1, asm.R4),
		asm.LoadMem(asm.R4, asm.R9, 24, asm.Half),
		asm.Add.Reg(asm.R1, asm.R4),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.StoreMem(asm.R2, liveUDP, asm.R1, asm.Half),
		asm.Add.Reg(asm.R5, asm.R1),
		// The signature's sequence number (low 32 bits) and time.
		asm.Mov.Reg(asm.R4, asm.R7).WithSymbol("live_sig"),
		asm.HostTo(asm.BE, asm.R4, asm.Word),
		asm.StoreMem(asm.R2, liveSig+4, asm.R4, asm.Word),
	)
	insns = append(insns, liveAddWords(asm.R5, asm.R4, 2)...)
	insns = append(insns,
		asm.Mov.Reg(asm.R4, asm.R8),
		asm.HostTo(asm.BE, asm.R4, asm.DWord),
		asm.StoreMem(asm.R2, liveSig+8, asm.R4, asm.DWord),
	)
	insns = append(insns, liveAddWords(asm.R5, asm.R4, 4)...)
	insns = append(insns, liveFold(asm.R5, asm.R4)...)
	insns = append(insns, liveFold(asm.R5, asm.R4)...)
	return append(insns,
		asm.Xor.Imm(asm.R5, 0xffff),
		asm.JNE.Imm(asm.R5, 0, "live_csum"),
		asm.Mov.Imm(asm.R5, 0xffff), // UDP sends a computed 0 as all ones
		asm.StoreMem(asm.R2, liveUDP+6, asm.R5, asm.Half).WithSymbol("live_csum"),
		asm.Mov.Imm(asm.R0, 3), // XDP_TX
		asm.Return(),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("live_drop"), // XDP_DROP: a live frame too short, or of no stream
		asm.Return(),
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("live_not"),
		asm.Ja.Label("steer"),
	)
}

// liveFold adds the upper bits of r's sum to its lower 16 (tmp clobbered).
func liveFold(r, tmp asm.Register) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(tmp, r),
		asm.RSh.Imm(tmp, 16),
		asm.And.Imm(r, 0xffff),
		asm.Add.Reg(r, tmp),
	}
}

// liveAddWords adds the n low 16-bit words of v to sum (v is consumed).
func liveAddWords(sum, v asm.Register, n int) asm.Instructions {
	var insns asm.Instructions
	for i := range n {
		if i > 0 {
			insns = append(insns, asm.RSh.Imm(v, 16))
		}
		insns = append(insns,
			asm.Mov.Reg(asm.R1, v),
			asm.And.Imm(asm.R1, 0xffff),
			asm.Add.Reg(sum, asm.R1),
		)
	}
	return insns
}
