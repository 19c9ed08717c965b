package afxdp

import (
	"unsafe"

	"github.com/xdpengine/engine/internal/caps"
	"golang.org/x/sys/unix"
)

const (
	sizeofUmemReg = unsafe.Sizeof(unix.XDPUmemReg{})
	sizeofDesc    = unsafe.Sizeof(Desc{})
)

func ptrOf[T any](v *T) unsafe.Pointer { return unsafe.Pointer(v) }

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func setsockoptPtr(fd, opt int, p unsafe.Pointer, n uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0)
	if e != 0 {
		return e
	}
	return nil
}

func getsockoptPtr(fd, level, opt int, p unsafe.Pointer, n uintptr) error {
	l := uint32(n)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// kickTx asks the kernel to transmit: sendto(fd, NULL, 0, MSG_DONTWAIT).
// It does not allocate.
func kickTx(fd int) unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return e
}

// kickRx asks the kernel to process the fill ring and receive:
// recvfrom(fd, NULL, 0, MSG_DONTWAIT).
func kickRx(fd int) unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return e
}

// hasCapIPCLock reports whether the process may lock memory beyond
// RLIMIT_MEMLOCK (false when its capabilities cannot be read).
func hasCapIPCLock() bool {
	eff, err := caps.Effective()
	return err == nil && eff.Has(caps.IPCLock)
}
