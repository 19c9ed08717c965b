package afxdp

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// LiveRunner runs an attached Program on one frame in the kernel's
// live-frame mode (BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, Linux
// 5.18): the frames the program sends with XDP_TX leave through the
// interface. It allocates nothing per run (the traffic generator's live
// mode calls it thousands of times a second). One goroutine at a time.
//
// A program attached in native mode is in the kernel's XDP dispatcher, so
// a run does not wait for the dispatcher to be updated, as it does (tens
// of milliseconds, a grace period) for a program attached nowhere or in
// generic mode.
type LiveRunner struct {
	attr progRunAttr
	ctx  xdpMD
	prog *Program
}

// progRunAttr is bpf_attr's BPF_PROG_TEST_RUN member (linux/bpf.h).
type progRunAttr struct {
	progFD, retval, dataSizeIn, dataSizeOut uint32
	dataIn, dataOut                         uint64
	repeat, duration, ctxSizeIn, ctxSizeOut uint32
	ctxIn, ctxOut                           uint64
	flags, cpu, batchSize, _                uint32
}

// xdpMD is struct xdp_md, the context a run takes.
type xdpMD struct {
	data, dataEnd, dataMeta, ingressIfindex, rxQueueIndex, egressIfindex uint32
}

// LiveBatchMax is the kernel's largest live-frame batch.
const LiveBatchMax = 256

// NewLiveRunner makes a runner whose frames arrive, for the program, on
// queue of the interface with index ifindex.
func (p *Program) NewLiveRunner(ifindex, queue int) *LiveRunner {
	return &LiveRunner{prog: p, ctx: xdpMD{ingressIfindex: uint32(ifindex), rxQueueIndex: uint32(queue)}}
}

// Run runs the program repeat times on frame, whose first meta bytes are
// metadata (a multiple of 4, at most 32), the kernel sending what it
// sends BatchMax frames of a page pool at a time.
func (r *LiveRunner) Run(frame []byte, meta, repeat int) error {
	if repeat < 1 || meta < 0 || meta%4 != 0 || meta > 32 || len(frame) <= meta {
		return fmt.Errorf("%w: live run of %d frames of %d bytes (%d of metadata)", ErrConfig, repeat, len(frame), meta)
	}
	r.ctx.data, r.ctx.dataEnd = uint32(meta), uint32(len(frame))
	r.attr = progRunAttr{
		progFD: uint32(r.prog.prog.FD()), dataSizeIn: uint32(len(frame)),
		dataIn: uint64(uintptr(unsafe.Pointer(&frame[0]))), repeat: uint32(repeat),
		ctxSizeIn: uint32(unsafe.Sizeof(r.ctx)), ctxIn: uint64(uintptr(unsafe.Pointer(&r.ctx))),
		flags: unix.BPF_F_TEST_XDP_LIVE_FRAMES, batchSize: uint32(min(repeat, LiveBatchMax)),
	}
	_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(&r.attr)), unsafe.Sizeof(r.attr))
	runtime.KeepAlive(frame)
	runtime.KeepAlive(r)
	if errno != 0 {
		return fmt.Errorf("afxdp: live run: %w", errno)
	}
	return nil
}
