package testbed

import (
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// PacketConn is a raw AF_PACKET socket bound to one link: it sees every frame
// the link receives or sends and can inject whole Ethernet frames. Tests use
// it to observe or forge traffic below the kernel's IP stack.
type PacketConn struct {
	fd      int
	ifindex int
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// ListenPacket opens a PacketConn on ifname in the calling thread's network
// namespace (wrap it in Bed.Do for the peer side).
func ListenPacket(ifname string) (*PacketConn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("testbed: interface %s: %w", ifname, err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, fmt.Errorf("testbed: AF_PACKET socket: %w", err)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("testbed: bind AF_PACKET to %s: %w", ifname, err)
	}
	return &PacketConn{fd: fd, ifindex: ifi.Index}, nil
}

// Recv reads one frame into buf, waiting at most timeout. It returns the
// frame's length and whether the frame was sent by this host (PACKET_OUTGOING).
// A receive interrupted by a signal (Go's runtime signals its threads; the
// kernel never restarts a socket receive that has a timeout) is retried
// for the rest of the timeout; a timeout gives an error matching EAGAIN.
func (p *PacketConn) Recv(buf []byte, timeout time.Duration) (n int, outgoing bool, err error) {
	deadline := time.Now().Add(timeout)
	for {
		left := max(time.Until(deadline), time.Microsecond) // 0 would mean "wait forever"
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(p.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return 0, false, err
		}
		n, from, err := unix.Recvfrom(p.fd, buf, 0)
		if err == unix.EINTR && time.Now().Before(deadline) {
			continue
		}
		if err != nil {
			return 0, false, fmt.Errorf("testbed: AF_PACKET receive: %w", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok {
			outgoing = ll.Pkttype == unix.PACKET_OUTGOING
		}
		return n, outgoing, nil
	}
}

// Send transmits one complete Ethernet frame on the link.
func (p *PacketConn) Send(frame []byte) error {
	sa := &unix.SockaddrLinklayer{Ifindex: p.ifindex, Halen: 6}
	copy(sa.Addr[:], frame[:6])
	if err := unix.Sendto(p.fd, frame, 0, sa); err != nil {
		return fmt.Errorf("testbed: AF_PACKET send: %w", err)
	}
	return nil
}

// Close closes the socket.
func (p *PacketConn) Close() error { return unix.Close(p.fd) }
