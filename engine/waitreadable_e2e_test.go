package engine_test

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestTCPWaitReadable: TCPConn.WaitReadable waits for data without a
// buffer, returns nil when a Read would not block (data, then the peer's
// FIN), and the Read's error once the deadline passed or the connection
// closed.
func TestTCPWaitReadable(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	ln, err := eng.ListenTCP("tcp4", ":7710", engine.TCPListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7710))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	ec := nc.(*engine.TCPConn)
	ec.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if err := ec.WaitReadable(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("WaitReadable with nothing to read: %v, want a deadline error", err)
	}
	ec.SetReadDeadline(time.Now().Add(5 * time.Second))
	done := make(chan error, 1)
	go func() { done <- ec.WaitReadable() }()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("WaitReadable returned %v before any data", err)
	default:
	}
	if _, err := pc.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitReadable after data: %v", err)
	}
	// Data waiting: it returns at once, as often as asked.
	if err := ec.WaitReadable(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := ec.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("Read: %q, %v", buf[:n], err)
	}
	pc.(*net.TCPConn).CloseWrite()
	if err := ec.WaitReadable(); err != nil {
		t.Fatalf("WaitReadable after the peer's FIN: %v", err)
	}
	if _, err := ec.Read(buf); err != io.EOF {
		t.Fatalf("Read after the peer's FIN: %v, want io.EOF", err)
	}
	ec.Close()
	if err := ec.WaitReadable(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WaitReadable after Close: %v, want net.ErrClosed", err)
	}
}
