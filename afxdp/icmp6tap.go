package afxdp

import (
	"errors"
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ICMPv6Tap receives a copy of the ICMPv6 Router Advertisements and MLD
// queries an interface receives. The XDP program leaves ff02::1 to the
// host kernel (it cannot copy a frame), so the engine reads them here while
// the kernel handles them too, as IGMPTap does for IGMP. Frames the host
// sends are not seen (PACKET_IGNORE_OUTGOING).
type ICMPv6Tap struct {
	fd int
}

// icmp6Filter accepts untagged IPv6 packets whose ICMPv6 message follows
// the fixed header (Router Advertisement 134, MLD query 130), or follows
// one 8-byte hop-by-hop header (the Router Alert that MLD carries: MLD
// queries only). Offsets are from the Ethernet header: next header at 20,
// the upper layer at 54, or at 62 behind the hop-by-hop header.
var icmp6Filter = []unix.SockFilter{
	/* 0 */ {Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 12}, // EtherType
	/* 1 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jf: 10, K: 0x86dd}, // not IPv6: drop
	/* 2 */ {Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 20}, // next header
	/* 3 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jf: 3, K: 58}, // not ICMPv6: try hop-by-hop
	/* 4 */ {Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 54}, // ICMPv6 type
	/* 5 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 7, K: 134},
	/* 6 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 6, Jf: 5, K: 130},
	/* 7 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jf: 4, K: 0}, // not hop-by-hop: drop
	/* 8 */ {Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 54}, // its next header, length
	/* 9 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jf: 2, K: 58 << 8}, // ICMPv6 behind 8 bytes, else drop
	/* 10 */ {Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 62}, // ICMPv6 type
	/* 11 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, K: 130},
	/* 12 */ {Code: unix.BPF_RET | unix.BPF_K, K: 0}, // drop
	/* 13 */ {Code: unix.BPF_RET | unix.BPF_K, K: 0xffff}, // accept
}

// OpenICMPv6Tap opens a tap on ifname. The filter is attached before the
// socket is bound, so no other frame is ever queued.
func OpenICMPv6Tap(ifname string) (_ *ICMPv6Tap, err error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrNoInterface, ifname, unix.ENODEV)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, wrapErrno("AF_PACKET socket for ICMPv6", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	prog := unix.SockFprog{Len: uint16(len(icmp6Filter)), Filter: unsafe.SliceData(icmp6Filter)}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return nil, wrapErrno("attach the ICMPv6 filter", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return nil, wrapErrno("PACKET_IGNORE_OUTGOING", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IPV6), Ifindex: ifi.Index}); err != nil {
		return nil, wrapErrno("bind the ICMPv6 tap to "+ifname, err)
	}
	return &ICMPv6Tap{fd: fd}, nil
}

// Recv copies the next waiting frame (a whole Ethernet frame) into buf and
// returns its length; 0 and no error when none is waiting: it never
// blocks.
func (t *ICMPv6Tap) Recv(buf []byte) (int, error) {
	n, _, err := unix.Recvfrom(t.fd, buf, unix.MSG_DONTWAIT)
	switch {
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		return 0, nil
	case err != nil:
		return 0, wrapErrno("receive from the ICMPv6 tap", err)
	}
	return n, nil
}

// Wait blocks in poll(2) until a frame is waiting or timeout passes; it
// reports whether one is.
func (t *ICMPv6Tap) Wait(timeout time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(t.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(timeout.Milliseconds()))
	return err == nil && n > 0
}

// FD returns the socket, for poll(2).
func (t *ICMPv6Tap) FD() int { return t.fd }

// Close closes the socket.
func (t *ICMPv6Tap) Close() error { return unix.Close(t.fd) }
