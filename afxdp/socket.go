package afxdp

import (
	"errors"
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Mode selects how a socket binds to its queue.
type Mode int

const (
	// ModeAuto tries zero-copy and falls back to copy mode.
	ModeAuto Mode = iota
	// ModeZeroCopy requires zero-copy; it fails with ErrZeroCopyUnsupported
	// where the driver cannot do it.
	ModeZeroCopy
	// ModeCopy forces copy mode (works with any driver).
	ModeCopy
)

func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeZeroCopy:
		return "zerocopy"
	case ModeCopy:
		return "copy"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "auto", "zerocopy" or "copy".
func ParseMode(s string) (Mode, error) {
	for _, m := range []Mode{ModeAuto, ModeZeroCopy, ModeCopy} {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w: mode %q (use auto, zerocopy or copy)", ErrConfig, s)
}

// BusyPoll configures socket busy polling (SO_PREFER_BUSY_POLL,
// SO_BUSY_POLL, SO_BUSY_POLL_BUDGET). The zero value leaves it off.
type BusyPoll struct {
	Timeout time.Duration // SO_BUSY_POLL, in microseconds granularity
	Budget  int           // SO_BUSY_POLL_BUDGET (packets per busy poll)
}

// Config describes one socket.
type Config struct {
	// Queue is the interface queue to bind to.
	Queue int
	// Mode: ModeAuto (default), ModeZeroCopy or ModeCopy.
	Mode Mode
	// Ring sizes, powers of two (default 2048 each).
	RxSize, TxSize, FillSize, CompSize int
	// UMEM to share (XDP_SHARED_UMEM across queues). If nil the socket gets
	// its own, configured by UMEMConfig, and closes it with itself.
	UMEM *UMEM
	// Frames this socket takes from a shared UMEM (default FillSize+TxSize).
	Frames     int
	UMEMConfig UMEMConfig
	// NoNeedWakeup turns off XDP_USE_NEED_WAKEUP: the socket then makes a
	// syscall on every transmit and every empty receive.
	NoNeedWakeup bool
	// BusyPoll, if its Timeout is set, turns on busy polling.
	BusyPoll BusyPoll
}

func ringSize(name string, v *int) error {
	if *v == 0 {
		*v = 2048
	}
	if *v < 1 || *v > 1<<20 || *v&(*v-1) != 0 {
		return fmt.Errorf("%w: %s ring size %d (use a power of two up to 1M)", ErrConfig, name, *v)
	}
	return nil
}

// Socket is one AF_XDP socket bound to one queue, with its four rings and
// the frame pool of its UMEM range. Its methods are not safe for concurrent
// use: a socket belongs to one worker.
type Socket struct {
	fd      int
	ifindex int
	queue   int
	zc      bool
	umem    *UMEM
	ownUMEM bool
	pool    *framePool
	flags   uint16
	txOff   uint64 // where a transmitted packet starts in its frame: the UMEM's transmit metadata room
	txCsum  bool   // RequestTxChecksum works (TxChecksumOffload)
	// clearMeta: Transmit zeroes the metadata of descriptors without a
	// request (zero-copy with metadata; clearTxMetadata).
	clearMeta bool

	fill, comp ring[uint64]
	rx, tx     ring[Desc]
	maps       [4][]byte
	pfd        [1]unix.PollFd

	rxKicks, txKicks, txKickErrs uint64
	kicked                       bool // sendto made since the last Complete
	closed                       bool
}

// Open creates a socket on queue cfg.Queue of the interface ifname.
func Open(ifname string, cfg Config) (*Socket, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrNoInterface, ifname, unix.ENODEV)
	}
	return OpenIndex(ifi.Index, cfg)
}

// OpenIndex is Open by interface index.
func OpenIndex(ifindex int, cfg Config) (_ *Socket, err error) {
	for _, r := range []struct {
		n string
		v *int
	}{{"rx", &cfg.RxSize}, {"tx", &cfg.TxSize}, {"fill", &cfg.FillSize}, {"completion", &cfg.CompSize}} {
		if err := ringSize(r.n, r.v); err != nil {
			return nil, err
		}
	}
	if cfg.Mode < ModeAuto || cfg.Mode > ModeCopy {
		return nil, fmt.Errorf("%w: mode %v", ErrConfig, cfg.Mode)
	}
	nq, err := QueueCountIndex(ifindex)
	if err != nil {
		return nil, err
	}
	if cfg.Queue < 0 || cfg.Queue >= nq {
		return nil, fmt.Errorf("%w: queue %d, the interface has %d (0 to %d): %w", ErrQueueRange, cfg.Queue, nq, nq-1, unix.EINVAL)
	}

	s := &Socket{fd: -1, ifindex: ifindex, queue: cfg.Queue, umem: cfg.UMEM}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.umem == nil {
		if cfg.UMEMConfig.Frames == 0 {
			cfg.UMEMConfig.Frames = cfg.FillSize + cfg.TxSize
		}
		if s.umem, err = NewUMEM(cfg.UMEMConfig); err != nil {
			return nil, err
		}
		s.ownUMEM = true
		cfg.Frames = s.umem.Frames()
	} else if cfg.Frames == 0 {
		cfg.Frames = cfg.FillSize + cfg.TxSize
	}
	first, err := s.umem.take(cfg.Frames)
	if err != nil {
		if s.ownUMEM {
			s.umem.Close()
			s.ownUMEM = false
		}
		s.umem = nil
		return nil, err
	}
	s.pool = newFramePool(s.umem.shift, first, uint32(cfg.Frames))

	if s.fd, err = unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
		s.fd = -1
		return nil, wrapErrno("create AF_XDP socket (is CONFIG_XDP_SOCKETS set?)", err)
	}
	shareFD, err := s.umem.register(s.fd)
	if err != nil {
		return nil, err
	}
	for _, o := range []struct {
		opt  int
		size int
		name string
	}{
		{unix.XDP_UMEM_FILL_RING, cfg.FillSize, "fill"},
		{unix.XDP_UMEM_COMPLETION_RING, cfg.CompSize, "completion"},
		{unix.XDP_RX_RING, cfg.RxSize, "rx"},
		{unix.XDP_TX_RING, cfg.TxSize, "tx"},
	} {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, o.opt, o.size); err != nil {
			return nil, wrapErrno("set "+o.name+" ring size", err)
		}
	}
	if err := s.mapRings(cfg); err != nil {
		return nil, err
	}
	if cfg.BusyPoll.Timeout > 0 {
		if err := setBusyPoll(s.fd, cfg.BusyPoll); err != nil {
			return nil, err
		}
	}
	if !cfg.NoNeedWakeup {
		s.flags |= unix.XDP_USE_NEED_WAKEUP
	}
	if err := s.bind(cfg.Mode, shareFD); err != nil {
		return nil, err
	}
	s.txOff = s.umem.txMetaLen()
	s.txCsum = s.txOff != 0 && txChecksumWorks(s.ifindex, s.zc)
	s.clearMeta = s.txOff != 0 && s.zc
	s.pfd[0] = unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN}
	s.Fill()
	return s, nil
}

func (s *Socket) mapRings(cfg Config) error {
	var off unix.XDPMmapOffsets
	if err := getsockoptPtr(s.fd, unix.SOL_XDP, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off)); err != nil {
		return wrapErrno("get ring offsets (XDP_MMAP_OFFSETS)", err)
	}
	m := func(i int, pgoff int64, o unix.XDPRingOffset, n int, entry uintptr) ([]byte, error) {
		b, err := unix.Mmap(s.fd, pgoff, int(o.Desc)+n*int(entry), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return nil, wrapErrno("mmap ring", err)
		}
		s.maps[i] = b
		return b, nil
	}
	b, err := m(0, unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, cfg.FillSize, 8)
	if err != nil {
		return err
	}
	initRing(&s.fill, b, off.Fr, uint32(cfg.FillSize), true)
	if b, err = m(1, unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, cfg.CompSize, 8); err != nil {
		return err
	}
	initRing(&s.comp, b, off.Cr, uint32(cfg.CompSize), false)
	if b, err = m(2, unix.XDP_PGOFF_RX_RING, off.Rx, cfg.RxSize, sizeofDesc); err != nil {
		return err
	}
	initRing(&s.rx, b, off.Rx, uint32(cfg.RxSize), false)
	if b, err = m(3, unix.XDP_PGOFF_TX_RING, off.Tx, cfg.TxSize, sizeofDesc); err != nil {
		return err
	}
	initRing(&s.tx, b, off.Tx, uint32(cfg.TxSize), true)
	return nil
}

func (s *Socket) bind(mode Mode, shareFD int) error {
	sa := &unix.SockaddrXDP{Ifindex: uint32(s.ifindex), QueueID: uint32(s.queue)}
	if shareFD >= 0 {
		sa.SharedUmemFD = uint32(shareFD)
		s.flags |= unix.XDP_SHARED_UMEM
	}
	try := func(f uint16) error {
		sa.Flags = s.flags | f
		// EBUSY: another socket holds the queue, or one just closed is
		// still being released (the kernel frees a queue's buffer pool in
		// deferred work after close). Retry briefly for the second case.
		var err error
		for wait := time.Millisecond; ; wait *= 2 {
			if err = unix.Bind(s.fd, sa); !errors.Is(err, unix.EBUSY) || wait > 256*time.Millisecond {
				break
			}
			time.Sleep(wait)
		}
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("queue %d is held by another AF_XDP socket (close it, or use another queue): %w", s.queue, err)
		}
		return err
	}
	switch {
	case shareFD >= 0:
		// A socket joining a UMEM may pass no other flag: it inherits the
		// copy/zero-copy and need-wakeup settings of the UMEM's first
		// socket (xsk_bind returns EINVAL otherwise).
		sa.Flags = unix.XDP_SHARED_UMEM
		if err := unix.Bind(s.fd, sa); err != nil {
			return wrapErrno(fmt.Sprintf("bind to ifindex %d queue %d sharing a UMEM", s.ifindex, s.queue), err)
		}
	case mode == ModeCopy:
		if err := try(unix.XDP_COPY); err != nil {
			return wrapErrno(fmt.Sprintf("bind to ifindex %d queue %d in copy mode", s.ifindex, s.queue), err)
		}
	default: // ModeZeroCopy, ModeAuto
		err := try(unix.XDP_ZEROCOPY)
		if err == nil {
			break
		}
		if mode == ModeZeroCopy {
			if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("%w: ifindex %d queue %d: %w", ErrZeroCopyUnsupported, s.ifindex, s.queue, err)
			}
			return wrapErrno("bind in zero-copy mode", err)
		}
		if err := try(unix.XDP_COPY); err != nil {
			return wrapErrno(fmt.Sprintf("bind to ifindex %d queue %d (zero-copy refused, copy mode too)", s.ifindex, s.queue), err)
		}
	}
	// Ask the kernel what it chose rather than trusting our flags.
	var opts uint32
	if err := getsockoptPtr(s.fd, unix.SOL_XDP, unix.XDP_OPTIONS, unsafe.Pointer(&opts), 4); err != nil {
		return wrapErrno("get XDP_OPTIONS", err)
	}
	s.zc = opts&unix.XDP_OPTIONS_ZEROCOPY != 0
	if mode == ModeZeroCopy && !s.zc {
		return fmt.Errorf("%w: the shared UMEM's first socket is in copy mode", ErrZeroCopyUnsupported)
	}
	return nil
}

func setBusyPoll(fd int, bp BusyPoll) error {
	us := int(bp.Timeout / time.Microsecond)
	if us < 1 {
		us = 1
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PREFER_BUSY_POLL, 1); err != nil {
		return wrapErrno("set SO_PREFER_BUSY_POLL", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BUSY_POLL, us); err != nil {
		return wrapErrno("set SO_BUSY_POLL", err)
	}
	if bp.Budget > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BUSY_POLL_BUDGET, bp.Budget); err != nil {
			return wrapErrno("set SO_BUSY_POLL_BUDGET", err)
		}
	}
	return nil
}

// FD returns the socket's file descriptor (for the XSKMAP).
func (s *Socket) FD() int { return s.fd }

// Err returns the socket's pending error (SO_ERROR, which reading
// clears), nil when it has none: ENETDOWN once its interface went away
// (the kernel unbinds the socket then, and it never receives again).
func (s *Socket) Err() error {
	v, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return wrapErrno("get SO_ERROR", err)
	}
	if v != 0 {
		return wrapErrno("socket error", unix.Errno(v))
	}
	return nil
}

// Queue returns the queue the socket is bound to.
func (s *Socket) Queue() int { return s.queue }

// ZeroCopy reports whether the kernel bound the socket in zero-copy mode
// (false: copy mode).
func (s *Socket) ZeroCopy() bool { return s.zc }

// BindMode returns "zerocopy" or "copy": the mode the kernel chose.
func (s *Socket) BindMode() string {
	if s.zc {
		return "zerocopy"
	}
	return "copy"
}

// UMEM returns the socket's UMEM.
func (s *Socket) UMEM() *UMEM { return s.umem }

// Close releases the rings and the socket, and the UMEM if it was the
// socket's own. Frames it held go back with the UMEM.
func (s *Socket) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	for i, b := range s.maps {
		if b != nil {
			unix.Munmap(b)
			s.maps[i] = nil
		}
	}
	var err error
	if s.fd >= 0 {
		err = unix.Close(s.fd)
	}
	if s.umem != nil && s.pool != nil {
		s.umem.release(s.fd)
	}
	if s.ownUMEM {
		if e := s.umem.Close(); err == nil {
			err = e
		}
	}
	s.fd = -1
	return err
}
