package engine_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/tcp"
)

// TestTCPSetWriteBuffer: with SO_SNDBUF-like limit, Write blocks once that
// much waits in the send buffer (the peer reads nothing), where the
// default would queue the whole 256 KiB ring.
func TestTCPSetWriteBuffer(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	c, _ := enginetest.ConnectToPeer(t, bed, eng, 7500)
	if err := c.SetWriteBuffer(-1); err == nil {
		t.Error("SetWriteBuffer(-1) accepted")
	}
	if err := c.SetWriteBuffer(16384); err != nil {
		t.Fatal(err)
	}
	c.SetWriteDeadline(time.Now().Add(time.Second))
	n, err := c.Write(make([]byte, 64<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a peer that reads nothing: %d bytes, %v (want a deadline error)", n, err)
	}
	s := enginetest.TCPSocket(t, eng, c.LocalAddr())
	if s.SendQ == 0 || s.SendQ > 16384 {
		t.Errorf("send queue %d bytes with a 16384-byte send buffer", s.SendQ)
	}
	t.Logf("wrote %d bytes before blocking; send queue %d", n, s.SendQ)
}

// TestTCPSetReadBuffer: SO_RCVBUF fixes the receive window limit (ss
// shows it, auto-tuning stays off) and data still arrives whole.
func TestTCPSetReadBuffer(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	c, pc := enginetest.ConnectToPeer(t, bed, eng, 7501)
	if err := c.SetReadBuffer(32768); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i*31 + i>>11)
	}
	go func() {
		pc.Write(data)
		pc.Close()
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil || n != int64(len(data)) || !bytes.Equal(h.Sum(nil), sha256Of(data)) {
		t.Fatalf("received %d of %d bytes (%v), digest equal %v", n, len(data), err, bytes.Equal(h.Sum(nil), sha256Of(data)))
	}
	if s := enginetest.TCPSocket(t, eng, c.LocalAddr()); s.TCP.RcvSpace != 32768 {
		t.Errorf("receive window limit %d after the transfer, want 32768 (SetReadBuffer)", s.TCP.RcvSpace)
	}
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// TestTCPLinger: SetLinger(sec > 0) makes Close wait until the peer
// acknowledged the data and the FIN, at most sec seconds, as close(2)
// does on Linux.
func TestTCPLinger(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	// A peer that reads: Close returns once everything is acknowledged,
	// long before the 10 s.
	c, pc := enginetest.ConnectToPeer(t, bed, eng, 7502)
	go io.Copy(io.Discard, pc)
	c.SetLinger(10)
	c.Write(make([]byte, 1<<20))
	start := time.Now()
	c.Close()
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("lingering Close with a reading peer took %v", el)
	}
	s := enginetest.TCPSocket(t, eng, c.LocalAddr())
	if st := s.State; st != socktab.State(tcp.FinWait2) && st != socktab.State(tcp.TimeWait) {
		t.Errorf("after a lingering Close the connection is in %v, want FIN-WAIT-2 or TIME-WAIT", s.StateName())
	}
	// A peer that reads nothing: the data cannot all be acknowledged, so
	// Close gives up after the linger time.
	c2, _ := enginetest.ConnectToPeer(t, bed, eng, 7503)
	c2.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
	c2.Write(make([]byte, 8<<20)) // fills the peer's window and the send ring
	c2.SetLinger(1)
	start = time.Now()
	c2.Close()
	if el := time.Since(start); el < 900*time.Millisecond || el > 10*time.Second {
		t.Errorf("lingering Close with unacknowledged data returned after %v, want about 1 s", el)
	}
}
