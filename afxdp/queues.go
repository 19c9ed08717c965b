package afxdp

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolChannels is struct ethtool_channels (linux/ethtool.h).
type ethtoolChannels struct {
	cmd                                         uint32
	maxRx, maxTx, maxOther, maxCombined         uint32
	rxCount, txCount, otherCount, combinedCount uint32
}

// ifreqData is struct ifreq with its ifr_data pointer member.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// QueueCount returns how many queues of ifname an AF_XDP socket can bind to:
// the ethtool channel count (ETHTOOL_GCHANNELS: combined channels, or
// rx channels that have a tx channel of the same number, if more),
// or, where the driver does not report channels, the number of
// /sys/class/net/IF/queues/rx-* directories.
func QueueCount(ifname string) (int, error) {
	if _, err := net.InterfaceByName(ifname); err != nil {
		return 0, fmt.Errorf("%w: %q: %w", ErrNoInterface, ifname, unix.ENODEV)
	}
	if n, err := ethtoolQueues(ifname); err == nil && n > 0 {
		return n, nil
	}
	if n := sysfsQueues(ifname); n > 0 {
		return n, nil
	}
	return 0, fmt.Errorf("%w: %s: no queues found in ethtool channels or /sys/class/net/%s/queues", ErrNotSupported, ifname, ifname)
}

// sysfsQueues counts /sys/class/net/IF/queues/rx-* (0 if none).
func sysfsQueues(ifname string) int {
	m, _ := filepath.Glob(filepath.Join("/sys/class/net", ifname, "queues", "rx-*"))
	return len(m)
}

// QueueCountIndex is QueueCount by interface index.
func QueueCountIndex(ifindex int) (int, error) {
	ifi, err := net.InterfaceByIndex(ifindex)
	if err != nil {
		return 0, fmt.Errorf("%w: index %d: %w", ErrNoInterface, ifindex, unix.ENODEV)
	}
	return QueueCount(ifi.Name)
}

func ethtoolQueues(ifname string) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	ch := ethtoolChannels{cmd: unix.ETHTOOL_GCHANNELS}
	var ifr ifreqData
	copy(ifr.name[:unix.IFNAMSIZ-1], ifname)
	ifr.data = unsafe.Pointer(&ch)
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	if e != 0 {
		return 0, os.NewSyscallError("ioctl ETHTOOL_GCHANNELS", e)
	}
	rx := ch.rxCount
	if ch.txCount > 0 && ch.txCount < rx {
		rx = ch.txCount // a socket needs both an rx and a tx queue
	}
	return int(max(ch.combinedCount, rx)), nil
}
