package afxdp

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Sentinel errors. Errors returned by this package wrap one of these where it
// applies, and also the kernel's errno, so both
// errors.Is(err, afxdp.ErrPermission) and errors.Is(err, unix.EPERM) hold.
var (
	// ErrPermission: the process lacks CAP_NET_ADMIN/CAP_NET_RAW (sockets,
	// attaching XDP) or CAP_SYS_ADMIN (loading the program, listing BPF
	// links: CAP_BPF is not enough for the listing).
	ErrPermission = errors.New("afxdp: permission denied (run as root or grant CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN and CAP_IPC_LOCK)")
	// ErrNoInterface: no network interface with that name or index.
	ErrNoInterface = errors.New("afxdp: no such interface")
	// ErrQueueRange: the queue id is not below the interface's queue count.
	ErrQueueRange = errors.New("afxdp: queue out of range")
	// ErrZeroCopyUnsupported: Mode ZeroCopy was forced but the driver cannot
	// do zero-copy AF_XDP (veth, most virtual devices). Use ModeAuto or ModeCopy.
	ErrZeroCopyUnsupported = errors.New("afxdp: the driver does not support zero-copy AF_XDP (use mode auto or copy)")
	// ErrMemlock: the UMEM or a BPF object could not be locked in memory.
	// Raise RLIMIT_MEMLOCK (ulimit -l unlimited) or grant CAP_IPC_LOCK.
	ErrMemlock = errors.New("afxdp: cannot lock memory (raise RLIMIT_MEMLOCK, e.g. ulimit -l unlimited, or grant CAP_IPC_LOCK)")
	// ErrNoHugePages: Hugepages were asked for but none are free.
	ErrNoHugePages = errors.New("afxdp: no free huge pages (reserve some: echo 64 > /proc/sys/vm/nr_hugepages)")
	// ErrNotSupported: the kernel has no AF_XDP (CONFIG_XDP_SOCKETS) or no
	// XDP attach mode that works on this interface.
	ErrNotSupported = errors.New("afxdp: not supported by this kernel or driver")
	// ErrConfig: an invalid configuration value.
	ErrConfig = errors.New("afxdp: invalid configuration")
	// ErrClosed: the socket or program was closed.
	ErrClosed = errors.New("afxdp: use of closed socket or program")
	// ErrNoRSS: the driver reports no RSS key or indirection table (veth,
	// most virtual links), so the NIC's steering cannot be predicted and
	// software steering is used.
	ErrNoRSS = errors.New("afxdp: the driver reports no RSS key/indirection table; software steering will be used")
	// ErrNotToeplitz: the NIC's RSS hash is not plain Toeplitz (another hash
	// function, or a symmetric input transformation), so Toeplitz steering
	// would predict the wrong queue and software steering is used.
	ErrNotToeplitz = errors.New("afxdp: the NIC's RSS hash is not plain Toeplitz; software steering will be used")
)

// wrapErrno wraps a syscall failure: the message says what failed, and both
// the errno and, when one applies, a sentinel that says what to do.
func wrapErrno(what string, err error) error {
	var s error
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		s = ErrPermission
	case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		s = ErrNoInterface
	case errors.Is(err, unix.EAFNOSUPPORT):
		s = ErrNotSupported
	}
	if s == nil {
		return fmt.Errorf("afxdp: %s: %w", what, err)
	}
	return fmt.Errorf("%w: %s: %w", s, what, err)
}
