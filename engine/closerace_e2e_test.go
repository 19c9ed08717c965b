package engine_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// xdpAttached reports whether the interface has an XDP program attached
// (one netlink request: quick enough to look right after a call returns).
func xdpAttached(ifname string) (bool, error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return false, err
	}
	x := link.Attrs().Xdp
	return x != nil && x.Attached, nil
}

// TestCloseWhileRunning: Run's own Close, after Done fires, races with the
// Close that fired it; Run returns only once the engine is torn down (the
// XDP program detached, the counters final), and so does a second Close.
func TestCloseWhileRunning(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	for i := range 5 {
		eng, err := engine.New(enginetest.ConfigFor(bed, engine.Config{}))
		if err != nil {
			t.Fatal(err)
		}
		// Each call reports its error and whether the program was still
		// attached the moment it returned.
		type result struct {
			err      error
			attached bool
			lookErr  error
		}
		returned := func(err error) result {
			a, lerr := xdpAttached(bed.HostIf)
			return result{err, a, lerr}
		}
		run := make(chan result, 1)
		go func() { run <- returned(eng.Run(context.Background())) }()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if a, err := xdpAttached(bed.HostIf); err != nil {
				t.Fatal(err)
			} else if a {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no XDP program on %s 10 s after Run", i, bed.HostIf)
			}
		}
		second := make(chan result, 1)
		go func() {
			<-eng.Done()
			second <- returned(eng.Close())
		}()
		if err := eng.Close(); err != nil {
			t.Fatal(err)
		}
		for name, ch := range map[string]chan result{"Run": run, "a second Close": second} {
			select {
			case r := <-ch:
				if r.err != nil || r.lookErr != nil {
					t.Errorf("round %d: %s: %v (link: %v)", i, name, r.err, r.lookErr)
				}
				if r.attached {
					t.Fatalf("round %d: %s returned with the XDP program still attached", i, name)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("round %d: %s did not return", i, name)
			}
		}
	}
}

// TestDialDuringClose: dials racing the engine's Close all return. A dial
// whose open command reached its worker's queue after the worker drained
// it waited for good; the window is narrow (the test did not hit it in
// runs of the code before the fix), so this holds the contract rather
// than reproducing that interleaving.
func TestDialDuringClose(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	go enginetest.ServeTCPEcho(enginetest.PeerListenTCP(t, bed, 7800))
	to := netip.AddrPortFrom(bed.PeerAddr, 7800).String()
	for i := range 5 {
		eng := enginetest.Start(t, bed, engine.Config{}) // its cleanup's Close returns nil
		var wg sync.WaitGroup
		first := make(chan struct{})
		var once sync.Once
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c, err := eng.Dial("tcp4", to) // no deadline: Close must end it
					if err != nil {
						if !errors.Is(err, net.ErrClosed) && !errors.Is(err, syscall.ECONNRESET) {
							t.Errorf("a dial while closing: %v, want net.ErrClosed or ECONNRESET", err)
						}
						return
					}
					c.Close()
					once.Do(func() { close(first) })
				}
			}()
		}
		select {
		case <-first:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: no dial succeeded in 10 s", i)
		}
		time.Sleep(20 * time.Millisecond) // dials in every stage when Close comes
		if err := eng.Close(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: dials still waiting 10 s after Close", i)
		}
	}
}

// TestOpenDuringClose: sockets opened while the engine closes are closed
// too (their blocked calls return net.ErrClosed), or fail to open with
// net.ErrClosed: none is left open with nothing to serve it, and none is
// closed while it is still being bound.
func TestOpenDuringClose(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	var nUDP, nTCP int
	for i := range 5 {
		eng := enginetest.Start(t, bed, engine.Config{}) // its cleanup's Close returns nil
		var wg sync.WaitGroup
		var mu sync.Mutex
		var udps []*engine.UDPConn
		var lns []net.Listener
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// At most 100 each: the ports and receive rings stay
				// few, whatever the machine's speed.
				for range 100 {
					if g%2 == 0 {
						c, err := eng.ListenUDP("udp4", ":0", engine.SocketOptions{})
						if err != nil {
							if !errors.Is(err, net.ErrClosed) {
								t.Errorf("ListenUDP while closing: %v, want net.ErrClosed", err)
							}
							return
						}
						mu.Lock()
						udps = append(udps, c)
						mu.Unlock()
					} else {
						ln, err := eng.Listen("tcp4", ":0")
						if err != nil {
							if !errors.Is(err, net.ErrClosed) {
								t.Errorf("Listen while closing: %v, want net.ErrClosed", err)
							}
							return
						}
						mu.Lock()
						lns = append(lns, ln)
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(50 * time.Millisecond)
		if err := eng.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		nUDP, nTCP = nUDP+len(udps), nTCP+len(lns)
		ended := make(chan error, len(udps)+len(lns))
		for _, c := range udps {
			go func() {
				_, _, err := c.ReadFromUDPAddrPort(make([]byte, 16))
				ended <- err
			}()
		}
		for _, ln := range lns {
			go func() {
				_, err := ln.Accept()
				ended <- err
			}()
		}
		timeout := time.After(10 * time.Second)
		for range len(udps) + len(lns) {
			select {
			case err := <-ended:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("round %d: a call on a socket opened while closing: %v, want net.ErrClosed", i, err)
				}
			case <-timeout:
				t.Fatalf("round %d: sockets opened while the engine closed are still open 10 s later", i)
			}
		}
	}
	if nUDP == 0 || nTCP == 0 {
		t.Errorf("%d UDP sockets and %d listeners opened in all, want some of each", nUDP, nTCP)
	}
	t.Logf("%d UDP sockets and %d listeners opened while closing", nUDP, nTCP)
}

// TestStartFailureIsFinal: a Start that fails (its interface deleted
// after New) closes the sockets opened before it, and a second Start says
// the engine is closed instead of starting workers whose descriptors are
// gone.
func TestStartFailureIsFinal(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng, err := engine.New(enginetest.ConfigFor(bed, engine.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	c, err := eng.ListenUDP("udp4", ":7801", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "link", "del", bed.HostIf).CombinedOutput(); err != nil {
		t.Fatalf("ip link del %s: %v\n%s", bed.HostIf, err, out)
	}
	if err := eng.Start(); err == nil {
		t.Fatal("Start on a deleted interface succeeded")
	} else {
		t.Logf("Start: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second)) // a socket left open would wait for good
	if _, _, err := c.ReadFromUDPAddrPort(make([]byte, 16)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("a socket opened before the failed Start: %v, want net.ErrClosed", err)
	}
	if err := eng.Start(); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Start after a failed Start: %v, want ErrClosed", err)
	}
	if err := eng.Run(context.Background()); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Run after a failed Start: %v, want ErrClosed", err)
	}
}
