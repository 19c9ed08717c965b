package enginetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/stack/inet4"
)

// Pattern fills p with bytes that depend on its length and on tag, so that
// an answer can be matched to its question and checked byte by byte. A p
// of 4 bytes or more starts with its length (big endian).
func Pattern(p []byte, tag uint32) {
	x := uint32(len(p))*2654435761 ^ tag*40503
	for i := range p {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		p[i] = byte(x)
	}
	if len(p) >= 4 {
		binary.BigEndian.PutUint32(p, uint32(len(p)))
	}
}

// FirstDiff returns the first index where a and b differ, or len(a) (b is
// at least as long as a).
func FirstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return len(a)
}

// Exchange writes msg on a connected datagram socket and returns the one
// answer, waiting at most 5 s; a failed send or no answer fails tb.
func Exchange(tb testing.TB, c net.Conn, msg []byte) []byte {
	tb.Helper()
	if _, err := c.Write(msg); err != nil {
		tb.Fatalf("send %d bytes: %v", len(msg), err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		tb.Fatalf("no answer to %d bytes: %v", len(msg), err)
	}
	return buf[:n]
}

// ForceReadBuffer sets a kernel socket's receive buffer to n bytes past
// net.core.rmem_max (SO_RCVBUFFORCE; the tests run as root), so that a
// test's burst does not depend on the machine's sysctls.
func ForceReadBuffer(tb testing.TB, c syscall.Conn, n int) {
	tb.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
	}); err != nil {
		tb.Fatal(err)
	}
	if serr != nil {
		tb.Fatalf("SO_RCVBUFFORCE %d: %v", n, serr)
	}
}

// RoundTrips writes messages of growing size on c, a connection to an echo
// server, and checks that each comes back byte-identical: 1 byte, one
// segment, one segment and a byte, several segments, and more than a
// 64 KiB window. The whole takes at most 20 s.
func RoundTrips(tb testing.TB, c net.Conn) {
	tb.Helper()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 70000)
	for i, size := range []int{1, 100, 1460, 1461, 4000, 65536, 70000} {
		msg := make([]byte, size)
		Pattern(msg, uint32(i))
		if _, err := c.Write(msg); err != nil {
			tb.Fatalf("write %d bytes: %v", size, err)
		}
		if _, err := io.ReadFull(c, buf[:size]); err != nil {
			tb.Fatalf("read echo of %d bytes: %v", size, err)
		}
		if !bytes.Equal(buf[:size], msg) {
			tb.Fatalf("echo of %d bytes differs at %d", size, FirstDiff(buf[:size], msg))
		}
	}
}

// Bulk sends size pseudo-random bytes from w to r (the writer on a
// goroutine of its own), checks that r received them all, with the same
// SHA-256, within 120 s, and returns the time it took.
func Bulk(tb testing.TB, w, r net.Conn, size int) time.Duration {
	tb.Helper()
	start := time.Now()
	sent := make(chan [32]byte, 1)
	errc := make(chan error, 1)
	go func() {
		h := sha256.New()
		buf := make([]byte, 64<<10)
		x := uint32(12345)
		for left := size; left > 0; {
			n := min(left, len(buf))
			for i := range buf[:n] {
				x ^= x << 13
				x ^= x >> 17
				x ^= x << 5
				buf[i] = byte(x)
			}
			h.Write(buf[:n])
			if _, err := w.Write(buf[:n]); err != nil {
				errc <- err
				return
			}
			left -= n
		}
		var s [32]byte
		copy(s[:], h.Sum(nil))
		sent <- s
		errc <- nil
	}()
	h := sha256.New()
	r.SetReadDeadline(time.Now().Add(120 * time.Second))
	n, err := io.CopyN(h, r, int64(size))
	if err != nil {
		tb.Fatalf("received %d of %d bytes: %v", n, size, err)
	}
	if err := <-errc; err != nil {
		tb.Fatalf("sender: %v", err)
	}
	want := <-sent
	if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
		tb.Fatalf("SHA-256 differs: sent %x, received %x", want, got)
	}
	return time.Since(start)
}

// BulkSize is size, or at most 4 MiB under -short.
func BulkSize(size int) int {
	if testing.Short() {
		return min(size, 4<<20)
	}
	return size
}

// ConnectFromPeer connects the peer kernel to an engine listener on port
// (closed once the connection is accepted) and returns the engine's end
// and the peer's; both close when tb ends.
func ConnectFromPeer(tb testing.TB, bed *testbed.Bed, eng *engine.Engine, port uint16) (engineSide, peerSide net.Conn) {
	tb.Helper()
	ln, err := eng.ListenTCP("tcp4", fmt.Sprintf(":%d", port), engine.TCPListenConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	kc, err := PeerDialTCP(tb, bed, EngineAddr(bed, port))
	if err != nil {
		tb.Fatal(err)
	}
	ln.SetDeadline(time.Now().Add(5 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c, kc
}

// ConnectToPeer connects the engine to a listener of the peer kernel on
// port and returns the engine's end and the peer's; both close when tb
// ends.
func ConnectToPeer(tb testing.TB, bed *testbed.Bed, eng *engine.Engine, port uint16) (engineSide *engine.TCPConn, peerSide net.Conn) {
	tb.Helper()
	pln := PeerListenTCP(tb, bed, port)
	c, err := eng.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, port)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	pc, err := pln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pc.Close() })
	return c, pc
}

// PutSYN writes an IPv4 packet carrying a TCP SYN (no options, window
// 64240, valid checksums) from src:sport to dst:dport with sequence number
// seq into b[:40], for a raw socket (PeerRawSocket) to send.
func PutSYN(b []byte, src, dst [4]byte, sport, dport uint16, seq uint32) {
	inet4.PutIPv4(b[:20], netip.AddrFrom4(src), netip.AddrFrom4(dst), 0, true, header.ProtocolTCP, 40, 64, 0)
	h := header.TCPFields{SrcPort: sport, DstPort: dport, Seq: seq, Flags: header.TCPFlagSYN, Window: 64240}
	h.Put(b[20:40])
	header.TCP(b[20:40]).UpdateChecksum(src, dst)
}
