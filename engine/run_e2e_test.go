package engine_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// panicHook panics on a UDP datagram to port 7999 and passes the rest.
type panicHook struct{}

func (panicHook) Packet(p *engine.Packet) engine.Verdict {
	if p.IP.Protocol() == header.ProtocolUDP {
		if l4 := p.IP.Payload(); len(l4) >= 4 && l4[2] == 7999>>8 && l4[3] == 7999&0xff {
			panic("boom")
		}
	}
	return engine.Pass
}

// TestRunWorkerPanic: a worker whose loop panics (here in the Hook) stops
// its queue; Done fires, Err says which queue and why, and Run closes the
// engine and returns that error.
func TestRunWorkerPanic(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng, err := engine.New(enginetest.ConfigFor(bed, engine.Config{Hook: panicHook{}}))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	done := make(chan error, 1)
	go func() { done <- eng.Run(context.Background()) }()
	select {
	case <-eng.Done():
		t.Fatalf("Done before any failure: %v", eng.Err())
	default:
	}
	if eng.Err() != nil {
		t.Fatalf("Err before any failure: %v", eng.Err())
	}
	peer := enginetest.PeerUDP(t, bed, 7999)
	deadline := time.Now().Add(10 * time.Second)
	for fired := false; !fired; {
		peer.Write([]byte("x")) // until the worker runs and sees one
		select {
		case <-eng.Done():
			fired = true
		case <-time.After(50 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("Done did not fire after the Hook panicked")
			}
		}
	}
	var we *engine.WorkerError
	err = eng.Err()
	if !errors.As(err, &we) || we.Queue != 0 || !errors.Is(err, engine.ErrWorkerPanic) ||
		!strings.Contains(err.Error(), "queue 0") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Err = %v, want a *WorkerError of queue 0 wrapping ErrWorkerPanic and the panic's value", err)
	}
	select {
	case rerr := <-done:
		if !errors.As(rerr, &we) || we.Queue != 0 {
			t.Errorf("Run returned %v, want the worker's error", rerr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the failure")
	}
	if _, err := eng.ListenPacket("udp4", ":8000"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("after Run returned, ListenPacket: %v, want net.ErrClosed", err)
	}
	if !errors.As(eng.Err(), &we) {
		t.Errorf("after Close, Err = %v, still want the worker's error", eng.Err())
	}
}

// synAckPanicHook panics on the SYN-ACK from port 7998: the worker fails
// in the middle of a dial's handshake.
type synAckPanicHook struct{}

func (synAckPanicHook) Packet(p *engine.Packet) engine.Verdict {
	if p.IP.Protocol() == header.ProtocolTCP {
		if l4 := p.IP.Payload(); len(l4) >= 4 && l4[0] == 7998>>8 && l4[1] == 7998&0xff {
			panic("boom in the handshake")
		}
	}
	return engine.Pass
}

// TestDialWorkerPanic: a dial whose worker panics before the handshake
// ends returns net.ErrClosed at once (the failed worker drains, as a
// stopped one does), instead of waiting for a loop that is gone: here
// until its context's deadline.
func TestDialWorkerPanic(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	enginetest.PeerListenTCP(t, bed, 7998)
	eng := enginetest.Start(t, bed, engine.Config{Hook: synAckPanicHook{}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := eng.DialContext(ctx, "tcp4", netip.AddrPortFrom(bed.PeerAddr, 7998).String())
	if !errors.Is(err, net.ErrClosed) || time.Since(start) > 10*time.Second {
		t.Fatalf("dial through a worker that panicked: %v after %v, want net.ErrClosed at once", err, time.Since(start).Round(time.Millisecond))
	}
	select {
	case <-eng.Done(): // the loop reports the failure once its goroutine ends
	case <-time.After(10 * time.Second):
		t.Fatal("Done did not fire after the worker panicked")
	}
	var we *engine.WorkerError
	if !errors.As(eng.Err(), &we) || !errors.Is(eng.Err(), engine.ErrWorkerPanic) {
		t.Errorf("Err = %v, want the worker's panic", eng.Err())
	}
}

// TestRunInterfaceGone: the interface deleted under a running engine
// fails its worker with ENETDOWN (the AF_XDP socket's SO_ERROR).
func TestRunInterfaceGone(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng, err := engine.New(enginetest.ConfigFor(bed, engine.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := eng.Close(); err != nil {
			t.Logf("Close after the interface went: %v", err)
		}
	}()
	if out, err := exec.Command("ip", "link", "del", bed.HostIf).CombinedOutput(); err != nil {
		t.Fatalf("ip link del %s: %v\n%s", bed.HostIf, err, out)
	}
	select {
	case <-eng.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done did not fire after the interface was deleted")
	}
	var we *engine.WorkerError
	if err := eng.Err(); !errors.As(err, &we) || we.Queue != 0 || !errors.Is(err, syscall.ENETDOWN) {
		t.Fatalf("Err = %v, want a *WorkerError of queue 0 wrapping ENETDOWN", err)
	}
	t.Logf("Err: %v", eng.Err())
}

// TestRunContext: Run serves until its context is done, then closes the
// engine and returns nil; Done fires with ErrClosed.
func TestRunContext(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng, err := engine.New(enginetest.ConfigFor(bed, engine.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	// Sockets opened before Run serve once it starts.
	c, err := eng.ListenUDP("udp4", ":7600", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go enginetest.ServeUDPEcho(c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	echoOnce(t, enginetest.PeerUDP(t, bed, 7600), "before cancel")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	select {
	case <-eng.Done():
	default:
		t.Error("Done open after Run returned")
	}
	if !errors.Is(eng.Err(), engine.ErrClosed) {
		t.Errorf("Err = %v, want ErrClosed", eng.Err())
	}
	if err := eng.Run(context.Background()); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Run on a closed engine: %v, want ErrClosed", err)
	}
}
