package afxdp

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The data path. None of these methods allocates; each is O(burst).

// Fill moves free frames into the fill ring, as many as fit, so the kernel
// can receive into them, and wakes the kernel if it asked for it. It returns
// how many frames it added.
func (s *Socket) Fill() int {
	n := s.pool.counts[stateFree]
	if n > 0 {
		// Ask only for as many slots as there are frames, so the shared
		// consumer index is read only when the cached view falls short.
		n = min(n, s.fill.free(n))
	}
	if n == 0 {
		s.wakeRx()
		return 0
	}
	idx, _ := s.fill.reserve(n) // cannot fail: n <= free
	for i := range n {
		addr, _ := s.pool.pop(stateFill) // cannot fail: n <= free frames
		s.fill.set(idx+i, addr)
	}
	s.fill.submit(n)
	s.wakeRx()
	return int(n)
}

// wakeRx makes the recvfrom syscall only when the kernel set NEED_WAKEUP on
// the fill ring (or always, without XDP_USE_NEED_WAKEUP).
func (s *Socket) wakeRx() {
	if s.flags&unix.XDP_USE_NEED_WAKEUP == 0 || s.fill.needWakeup() {
		s.rxKicks++
		kickRx(s.fd)
	}
}

// Receive takes up to len(descs) received packets from the rx ring into
// descs and returns how many. Their frames belong to the caller until it
// passes them to Release or Transmit. Receive does not refill the fill
// ring; call Fill after releasing frames. When nothing is waiting it wakes
// the kernel if the kernel asked for it.
func (s *Socket) Receive(descs []Desc) int {
	n, idx := s.rx.peek(uint32(len(descs)))
	if n == 0 {
		s.wakeRx()
		return 0
	}
	k := 0
	for i := range n {
		d := s.rx.get(idx + i)
		// A descriptor for a frame not in the fill stage (a kernel or
		// driver bug, e.g. the same frame delivered twice) is refused and
		// counted, never handed to the application.
		if s.pool.move(d.Addr, stateFill, stateApp) {
			descs[k] = d
			k++
		}
	}
	s.rx.release(n)
	return k
}

// Frame returns the bytes of a descriptor's packet, inside the UMEM. The
// slice is valid while the caller owns the frame. Its capacity runs to the
// end of the UMEM frame, so a packet can grow in place (an encapsulation)
// before it is transmitted from the same frame with a longer Len.
func (s *Socket) Frame(d Desc) []byte {
	end := (d.Addr>>s.umem.shift + 1) << s.umem.shift
	return s.umem.mem[d.Addr : d.Addr+uint64(d.Len) : end]
}

// FrameBuffer returns the whole writable area of a frame from addr (as
// returned by Alloc) to its end, for building a packet to transmit.
func (s *Socket) FrameBuffer(addr uint64) []byte {
	end := (addr>>s.umem.shift + 1) << s.umem.shift
	return s.umem.mem[addr:end:end]
}

// Alloc takes up to len(addrs) free frames for the caller to fill and
// transmit; it returns how many. An address is its frame's start, or
// TxMetadataLen bytes into it where the UMEM has transmit metadata.
func (s *Socket) Alloc(addrs []uint64) int {
	n := 0
	for n < len(addrs) {
		a, ok := s.pool.pop(stateApp)
		if !ok {
			break
		}
		addrs[n] = a + s.txOff
		n++
	}
	return n
}

// Release gives frames the caller owns (received or allocated) back to the
// pool. A frame the caller does not own is refused and counted in
// FrameCounts.Refused.
func (s *Socket) Release(descs []Desc) {
	for i := range descs {
		s.pool.push(descs[i].Addr, stateApp)
	}
}

// ReleaseAddr is Release for one frame address.
func (s *Socket) ReleaseAddr(addr uint64) bool { return s.pool.push(addr, stateApp) }

// Transmit queues as many of descs as fit in the tx ring (a burst: it takes
// a prefix) and returns how many. The frames become the kernel's until
// Complete reclaims them. It wakes the kernel only if the kernel asked for
// it (always, without XDP_USE_NEED_WAKEUP). Descriptors whose frame the
// caller does not own are skipped, counted as refused, and reported as
// queued so that the caller does not retry them.
func (s *Socket) Transmit(descs []Desc) int {
	want := uint32(len(descs))
	n := min(want, s.tx.free(want))
	if n == 0 {
		s.wakeTx()
		return 0
	}
	idx, _ := s.tx.reserve(n)
	k := uint32(0)
	for i := range n {
		if s.pool.move(descs[i].Addr, stateApp, stateTx) {
			if s.clearMeta {
				s.clearTxMetadata(&descs[i])
			}
			s.tx.set(idx+k, descs[i])
			k++
		}
	}
	// Give back slots of refused descriptors: nothing was published yet.
	s.tx.cachedProd -= n - k
	if k > 0 {
		s.tx.submit(k)
	}
	s.wakeTx()
	return int(n)
}

func (s *Socket) wakeTx() {
	if s.pool.counts[stateTx] == 0 {
		return
	}
	s.kicked = true
	if s.flags&unix.XDP_USE_NEED_WAKEUP == 0 || s.tx.needWakeup() {
		s.txKicks++
		switch kickTx(s.fd) {
		case 0, unix.ENOBUFS, unix.EAGAIN, unix.EBUSY, unix.ENETDOWN:
			// Transient: the kernel is busy or out of buffers; the next
			// Transmit or Complete kicks again.
		default:
			s.txKickErrs++
		}
	}
}

// Complete reclaims transmitted frames from the completion ring into the
// pool and returns how many. While frames are still in flight it wakes the
// kernel if asked and Transmit has not since the last Complete (copy mode
// transmits only inside the sendto syscall, a bounded batch per call).
func (s *Socket) Complete() int {
	n, idx := s.comp.peek(s.comp.size)
	for i := range n {
		s.pool.push(s.comp.get(idx+i), stateTx)
	}
	if n > 0 {
		s.comp.release(n)
	}
	s.kickIfIdle()
	return int(n)
}

// CompleteTo is Complete that hands the reclaimed frames to the caller
// (state App) instead of the pool, for a sender that reuses its frames. It
// returns how many addresses it wrote to addrs.
func (s *Socket) CompleteTo(addrs []uint64) int {
	n, idx := s.comp.peek(uint32(len(addrs)))
	k := 0
	for i := range n {
		a := s.comp.get(idx + i)
		if s.pool.move(a, stateTx, stateApp) {
			addrs[k] = a
			k++
		}
	}
	if n > 0 {
		s.comp.release(n)
	}
	s.kickIfIdle()
	return k
}

// kickIfIdle wakes the kernel for transmission unless Transmit already did
// since the last Complete: a worker loop of Transmit and Complete makes at
// most one sendto per turn (as libxdp's samples do), while Complete called
// on its own keeps a draining transmit moving.
func (s *Socket) kickIfIdle() {
	if !s.kicked {
		s.wakeTx()
	}
	s.kicked = false
}

// TxInFlight returns how many frames are in the tx stage: queued or being
// sent, not yet reclaimed by Complete.
func (s *Socket) TxInFlight() int { return int(s.pool.counts[stateTx]) }

// Wait blocks in poll(2) until the socket has packets to receive or timeout
// passes (a negative timeout waits forever). Use it when a worker is idle.
func (s *Socket) Wait(timeout time.Duration) error {
	ms := -1
	if timeout >= 0 {
		ms = int(timeout / time.Millisecond)
	}
	_, _, e := unix.Syscall(unix.SYS_POLL, uintptr(unsafe.Pointer(&s.pfd[0])), 1, uintptr(ms))
	if e != 0 && e != unix.EINTR {
		return wrapErrno("poll", e)
	}
	return nil
}

// Stats are a socket's counters: the kernel's XDP_STATISTICS, the frame
// pool's stages, and the wakeup syscalls made.
type Stats struct {
	RxDropped            uint64      `json:"rx_dropped"` // dropped for reasons other than invalid descriptors
	RxInvalidDescs       uint64      `json:"rx_invalid_descs"`
	TxInvalidDescs       uint64      `json:"tx_invalid_descs"`
	RxRingFull           uint64      `json:"rx_ring_full"`             // dropped because the rx ring was full
	RxFillRingEmptyDescs uint64      `json:"rx_fill_ring_empty_descs"` // times the fill ring was empty when the kernel needed a frame
	TxRingEmptyDescs     uint64      `json:"tx_ring_empty_descs"`      // times the kernel found the tx ring empty
	Frames               FrameCounts `json:"frames"`
	RxWakeups            uint64      `json:"rx_wakeups"`       // recvfrom syscalls made
	TxWakeups            uint64      `json:"tx_wakeups"`       // sendto syscalls made
	TxWakeupErrors       uint64      `json:"tx_wakeup_errors"` // sendto failures other than ENOBUFS, EAGAIN, EBUSY, ENETDOWN
}

// Stats reads the kernel's statistics for the socket and adds the pool's.
func (s *Socket) Stats() (Stats, error) {
	var k unix.XDPStatistics
	if err := getsockoptPtr(s.fd, unix.SOL_XDP, unix.XDP_STATISTICS, unsafe.Pointer(&k), unsafe.Sizeof(k)); err != nil {
		return Stats{}, wrapErrno("get XDP_STATISTICS", err)
	}
	return Stats{
		RxDropped: k.Rx_dropped, RxInvalidDescs: k.Rx_invalid_descs, TxInvalidDescs: k.Tx_invalid_descs,
		RxRingFull: k.Rx_ring_full, RxFillRingEmptyDescs: k.Rx_fill_ring_empty_descs,
		TxRingEmptyDescs: k.Tx_ring_empty_descs,
		Frames:           s.pool.stats(),
		RxWakeups:        s.rxKicks, TxWakeups: s.txKicks, TxWakeupErrors: s.txKickErrs,
	}, nil
}
