// Package pktgen is a traffic generator for tests and benchmarks of the
// packet I/O layer: an AF_PACKET socket that sends prebuilt frames in
// batches with sendmmsg(2), bypassing the qdisc (PACKET_QDISC_BYPASS). Open
// it inside the peer namespace (testbed.Bed.Do); Send does not allocate, so
// it does not disturb allocation counts of the code under test.
package pktgen

import (
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// Gen sends a fixed batch of frames per call.
type Gen struct {
	fd    int
	iovs  []unix.Iovec
	msgs  []mmsghdr
	bufs  [][]byte
	total uint64
}

// New opens a generator on ifname (in the calling thread's namespace) that
// sends batch frames per Send, cycling through frames.
func New(ifname string, frames [][]byte, batch int) (*Gen, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("pktgen: %s: %w", ifname, err)
	}
	// Protocol 0: the socket sends but receives nothing.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("pktgen: AF_PACKET socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pktgen: bind to %s: %w", ifname, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pktgen: PACKET_QDISC_BYPASS: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	g := &Gen{fd: fd, iovs: make([]unix.Iovec, batch), msgs: make([]mmsghdr, batch), bufs: make([][]byte, batch)}
	for i := range batch {
		g.bufs[i] = append([]byte(nil), frames[i%len(frames)]...)
		g.iovs[i].Base = &g.bufs[i][0]
		g.iovs[i].SetLen(len(g.bufs[i]))
		g.msgs[i].hdr.Iov = &g.iovs[i]
		g.msgs[i].hdr.Iovlen = 1
	}
	return g, nil
}

// Frame returns the i-th frame of the batch, to rewrite in place.
func (g *Gen) Frame(i int) []byte { return g.bufs[i] }

// Send sends one batch and returns how many frames the kernel took. ENOBUFS
// (the device queue is full) counts as 0 frames, not an error.
func (g *Gen) Send() (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(g.fd), uintptr(unsafe.Pointer(&g.msgs[0])),
		uintptr(len(g.msgs)), 0, 0, 0)
	switch e {
	case 0:
		g.total += uint64(n)
		return int(n), nil
	case unix.ENOBUFS, unix.EAGAIN, unix.EINTR:
		return 0, nil
	}
	return 0, fmt.Errorf("pktgen: sendmmsg: %w", e)
}

// Sent returns the total number of frames sent.
func (g *Gen) Sent() uint64 { return g.total }

// Close closes the socket.
func (g *Gen) Close() error { return unix.Close(g.fd) }
