package testbed

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtool ioctl commands (linux/ethtool.h).
const (
	ethtoolSTXCSUM = 0x17 // set transmit checksum offload
	siocETHTOOL    = 0x8946
)

type ethtoolValue struct {
	cmd  uint32
	data uint32
}

type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

// disableTxChecksum turns off transmit checksum offload on ifname (in the
// calling thread's namespace), which also turns off TSO. A veth with the
// offload on hands its peer UDP and TCP packets whose checksums hold only
// the pseudo-header part (CHECKSUM_PARTIAL), because the kernel trusts the
// other end to be a kernel too; a userspace stack reading raw frames sees
// them as corrupt. With it off, frames carry final checksums, as on a wire.
func disableTxChecksum(ifname string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("testbed: ethtool socket: %w", err)
	}
	defer unix.Close(fd)
	v := &ethtoolValue{cmd: ethtoolSTXCSUM, data: 0}
	req := &ifreqData{data: unsafe.Pointer(v)}
	copy(req.name[:unix.IFNAMSIZ-1], ifname)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), siocETHTOOL, uintptr(unsafe.Pointer(req)))
	runtime.KeepAlive(v)
	runtime.KeepAlive(req)
	if errno != 0 {
		return fmt.Errorf("testbed: turn off tx checksum offload on %s: %w", ifname, errno)
	}
	return nil
}
