package afxdp

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"

	"golang.org/x/sys/unix"
)

// UMEMConfig describes the packet memory shared with the kernel.
type UMEMConfig struct {
	// FrameSize is the size of one frame: 2048 or 4096 (default 4096).
	FrameSize int
	// Frames is the number of frames (default 4096).
	Frames int
	// Headroom is reserved in front of every received packet (default 0).
	Headroom int
	// TxMetadata registers the UMEM with room for transmit metadata
	// (TxMetadataLen bytes in front of every transmitted packet), so that
	// its sockets can offload checksums (Socket.TxChecksumOffload). A
	// kernel older than 6.11 refuses the registration flag; the UMEM is
	// then registered without it (UMEM.TxMetadata says which).
	TxMetadata bool
	// HugePages backs the UMEM with huge pages (MAP_HUGETLB); it fails with
	// ErrNoHugePages where none are reserved.
	HugePages bool
}

func (c *UMEMConfig) setDefaults() error {
	if c.FrameSize == 0 {
		c.FrameSize = 4096
	}
	if c.Frames == 0 {
		c.Frames = 4096
	}
	if c.FrameSize != 2048 && c.FrameSize != 4096 {
		return fmt.Errorf("%w: frame size %d (use 2048 or 4096)", ErrConfig, c.FrameSize)
	}
	if c.Frames < 1 || c.Frames > 1<<24 {
		return fmt.Errorf("%w: %d frames (use 1 to 16M)", ErrConfig, c.Frames)
	}
	if c.Headroom < 0 || c.Headroom > c.FrameSize/2 {
		return fmt.Errorf("%w: headroom %d (use 0 to %d)", ErrConfig, c.Headroom, c.FrameSize/2)
	}
	return nil
}

// UMEM is the packet memory: Frames frames of FrameSize bytes, mmap'd and
// registered with the kernel by the first socket that uses it. Several
// sockets (one per queue) may share one UMEM (XDP_SHARED_UMEM); each then
// gets its own disjoint range of frames, its own fill and completion rings
// and its own frame pool, so workers never contend for frames. A frame
// received on one socket must be given back or transmitted on that socket.
type UMEM struct {
	cfg   UMEMConfig
	mem   []byte
	shift uint

	mu       sync.Mutex
	regFD    int    // socket that registered the UMEM, or -1
	txMeta   uint64 // transmit metadata room in front of each sent packet (0 or TxMetadataLen)
	next     uint32 // first frame not yet given to a socket
	users    int
	released bool
}

// NewUMEM maps the memory. It is registered with the kernel when the first
// socket is opened on it. Close it after its sockets.
func NewUMEM(cfg UMEMConfig) (*UMEM, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	size := cfg.FrameSize * cfg.Frames
	flags := unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_POPULATE
	if cfg.HugePages {
		const huge = 2 << 20
		size = (size + huge - 1) &^ (huge - 1)
		flags |= unix.MAP_HUGETLB
	}
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, flags)
	if err != nil {
		if cfg.HugePages && errors.Is(err, unix.ENOMEM) {
			return nil, fmt.Errorf("%w: mmap %d bytes with MAP_HUGETLB: %w", ErrNoHugePages, size, err)
		}
		return nil, wrapErrno(fmt.Sprintf("mmap UMEM of %d bytes", size), err)
	}
	return &UMEM{cfg: cfg, mem: mem, shift: uint(bits.TrailingZeros(uint(cfg.FrameSize))), regFD: -1}, nil
}

// FrameSize returns the size of one frame.
func (u *UMEM) FrameSize() int { return u.cfg.FrameSize }

// Frames returns the number of frames.
func (u *UMEM) Frames() int { return u.cfg.Frames }

// TxMetadata reports whether the UMEM was registered with room for
// transmit metadata (false until a socket registered it).
func (u *UMEM) TxMetadata() bool { return u.txMetaLen() != 0 }

// take reserves n frames for a socket and returns the first one's index.
func (u *UMEM) take(n int) (uint32, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.released {
		return 0, ErrClosed
	}
	if n <= 0 || int(u.next)+n > u.cfg.Frames {
		return 0, fmt.Errorf("%w: %d frames asked, %d of %d left in the UMEM", ErrConfig, n, u.cfg.Frames-int(u.next), u.cfg.Frames)
	}
	first := u.next
	u.next += uint32(n)
	u.users++
	return first, nil
}

// register registers the UMEM on fd if no socket has yet; it returns the fd
// to share (XDP_SHARED_UMEM) or -1 if fd itself registered it.
func (u *UMEM) register(fd int) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.regFD >= 0 {
		return u.regFD, nil
	}
	if u.regFD == -2 {
		return -1, fmt.Errorf("%w: the socket that registered this UMEM was closed; sockets cannot join it any more (use a new UMEM)", ErrConfig)
	}
	reg := unix.XDPUmemReg{
		Addr:     uint64(uintptrOf(u.mem)),
		Len:      uint64(len(u.mem)),
		Size:     uint32(u.cfg.FrameSize),
		Headroom: uint32(u.cfg.Headroom),
	}
	if u.cfg.TxMetadata {
		reg.Flags, reg.Tx_metadata_len = unix.XDP_UMEM_TX_METADATA_LEN, TxMetadataLen
	}
	err := setsockoptPtr(fd, unix.XDP_UMEM_REG, ptrOf(&reg), sizeofUmemReg)
	if errors.Is(err, unix.EINVAL) && reg.Tx_metadata_len != 0 {
		// Before 6.11 the flag is unknown. 6.8 to 6.10 would take the
		// length without it, and older kernels ignore the length; do
		// without metadata rather than guess which.
		reg.Flags, reg.Tx_metadata_len = 0, 0
		err = setsockoptPtr(fd, unix.XDP_UMEM_REG, ptrOf(&reg), sizeofUmemReg)
	}
	if errors.Is(err, unix.ENOMEM) || (errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EPERM)) && !hasCapIPCLock() {
		// Without CAP_IPC_LOCK the kernel charges the UMEM to RLIMIT_MEMLOCK
		// (xdp_umem_account_pages answers ENOBUFS beyond it). Raise the
		// soft limit to the hard one and try once more.
		if raiseMemlock(uint64(len(u.mem))) {
			err = setsockoptPtr(fd, unix.XDP_UMEM_REG, ptrOf(&reg), sizeofUmemReg)
		}
		if err != nil {
			return -1, fmt.Errorf("%w: register UMEM of %d bytes: %w", ErrMemlock, len(u.mem), err)
		}
	}
	if err != nil {
		return -1, wrapErrno("register UMEM (XDP_UMEM_REG)", err)
	}
	u.regFD = fd
	u.txMeta = uint64(reg.Tx_metadata_len)
	return -1, nil
}

// release is called when a socket using the UMEM closes.
func (u *UMEM) release(fd int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.users--
	if u.regFD == fd {
		// The kernel keeps the UMEM registered while sockets sharing it
		// live; a new socket would share a closed fd, so stop sharing.
		u.regFD = -2
	}
}

// Close unmaps the memory. All sockets on it must be closed first.
func (u *UMEM) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.released {
		return nil
	}
	if u.users > 0 {
		return fmt.Errorf("%w: UMEM still used by %d sockets; close them first", ErrConfig, u.users)
	}
	u.released = true
	return unix.Munmap(u.mem)
}

// raiseMemlock raises RLIMIT_MEMLOCK's soft limit so that need more bytes
// fit, as far as the hard limit allows (or further with CAP_SYS_RESOURCE).
func raiseMemlock(need uint64) bool {
	var r unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &r) != nil || r.Cur == unix.RLIM_INFINITY {
		return false
	}
	want := r.Cur + need
	n := unix.Rlimit{Cur: min(want, r.Max), Max: r.Max}
	if r.Max != unix.RLIM_INFINITY && want > r.Max {
		n = unix.Rlimit{Cur: want, Max: want} // needs CAP_SYS_RESOURCE
	}
	return unix.Setrlimit(unix.RLIMIT_MEMLOCK, &n) == nil
}

// txMetaLen is the transmit metadata room, once registered.
func (u *UMEM) txMetaLen() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.txMeta
}
