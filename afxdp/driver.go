package afxdp

import (
	"bytes"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Driver returns the name of the kernel driver behind ifname, as `ethtool
// -i` prints it ("veth", "ixgbe", "mlx5_core", ...), read with the
// ETHTOOL_GDRVINFO ioctl in the calling thread's network namespace.
func Driver(ifname string) (string, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	info, err := unix.IoctlGetEthtoolDrvinfo(fd, ifname)
	if err == unix.ENODEV {
		return "", fmt.Errorf("%w: %s: %w", ErrNoInterface, ifname, err)
	}
	if err != nil {
		return "", fmt.Errorf("afxdp: driver of %s: %w", ifname, os.NewSyscallError("ioctl ETHTOOL_GDRVINFO", err))
	}
	name, _, _ := bytes.Cut(info.Driver[:], []byte{0})
	return string(name), nil
}

// virtualDrivers are the drivers of links whose frames never crossed a
// wire: a Linux sender on the other side hands them over with transmit
// checksum offload on (CHECKSUM_PARTIAL), the checksum field holding only
// the pseudo-header sum, and the kernel trusts them as it trusts its own
// memory. veth and netkit join namespaces, tun/tap and virtio_net join a
// virtual machine or a userspace program to the host, macvlan and ipvlan
// are children of another device on the same host.
var virtualDrivers = map[string]bool{
	"veth":       true,
	"netkit":     true,
	"tun":        true,
	"virtio_net": true,
	"macvlan":    true,
	"ipvlan":     true,
}

// VirtualDriver reports whether driver (as Driver returns it) is a virtual
// link that can deliver partial checksums, on which a receiver may accept
// them as the kernel does.
func VirtualDriver(driver string) bool { return virtualDrivers[driver] }
