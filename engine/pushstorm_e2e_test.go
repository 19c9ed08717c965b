package engine_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// A push storm: more application goroutines than a worker's command queue
// has slots (4096) send it a command at the same moment. Those that find
// it full wait for room (sock.Queue). Before the wait list they retried in
// a loop (Gosched, then 20 µs sleeps): thousands of goroutines made
// runnable again and again by their own timers took every P, the worker
// that yielded its P waited behind them, and 15,000 closes at once on the
// 2-vCPU VM did not finish in 150 s (6,000 did, in 12 ms: one ring's worth
// of overflow drains in a round; the traffic harness saw the stall at
// 6,000 with its load around). Since: 0.1-0.2 s. The peer's connections
// are descriptors of this process (20,000 at most).
const (
	stormConns  = 15000
	stormBudget = 20 * time.Second // the storm itself; well under a second once fixed
)

// TestTCPCloseStorm: 15,000 connections from the peer kernel, accepted by
// the engine, are closed by the application from 15,000 goroutines at once;
// every Close returns within the budget and the peer sees every FIN.
func TestTCPCloseStorm(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	ln, err := eng.ListenTCP("tcp4", ":7300", engine.TCPListenConfig{Backlog: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, stormConns)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	peers := make([]net.Conn, 0, stormConns)
	t.Cleanup(func() {
		for _, c := range peers {
			c.Close()
		}
	})
	to := enginetest.EngineAddr(bed, 7300)
	dialStart := time.Now()
	if err := bed.Do(func() error {
		for len(peers) < stormConns {
			c, err := net.DialTimeout("tcp4", to.String(), 5*time.Second)
			if err != nil {
				return fmt.Errorf("connection %d: %w", len(peers), err)
			}
			peers = append(peers, c)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, 0, stormConns)
	for len(conns) < stormConns {
		select {
		case c := <-accepted:
			conns = append(conns, c)
		case <-time.After(10 * time.Second):
			t.Fatalf("accepted %d of %d connections", len(conns), stormConns)
		}
	}

	if opened := time.Since(dialStart); opened > 30*time.Second {
		// Here it takes 1-3 s; one CI run took 430 s (about 28 ms a
		// connection) and the storm then missed its budget too.
		t.Logf("%d connections opened and accepted in %v: slow; engine TCP counters %+v, XSK %+v",
			stormConns, opened, eng.Stats().Total.TCP, eng.Stats().Total.XSK)
	} else {
		t.Logf("%d connections opened and accepted in %v", stormConns, opened)
	}

	go0 := make(chan struct{})
	var ready, wg sync.WaitGroup
	for _, c := range conns {
		ready.Add(1)
		wg.Go(func() {
			ready.Done()
			<-go0
			c.Close()
		})
	}
	ready.Wait()
	start := time.Now()
	close(go0)
	if !waitGroupWithin(&wg, stormBudget) {
		tcp := eng.Stats().Total.TCP
		t.Fatalf("%d closes at once: not done in %v (%d goroutines; engine TCP counters %+v)",
			stormConns, stormBudget, runtime.NumGoroutine(), tcp)
	}
	closed := time.Since(start)
	// Every peer sees the FIN (EOF), in the budget too.
	var eofs sync.WaitGroup
	errc := make(chan error, len(peers))
	for i, c := range peers {
		eofs.Go(func() {
			c.SetReadDeadline(time.Now().Add(stormBudget))
			var b [1]byte
			if _, err := c.Read(b[:]); err != io.EOF {
				errc <- fmt.Errorf("peer connection %d: read %v, want EOF", i, err)
			}
		})
	}
	eofs.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	t.Logf("%d closes at once: all returned in %v, every peer had its FIN after %v",
		stormConns, closed, time.Since(start))
}

// TestTCPDialStorm: the application dials 15,000 connections to a peer
// kernel listener from 15,000 goroutines at once; all are established
// within the budget (the peer's SYN queue may drop some SYNs, which the
// engine retransmits after a second).
func TestTCPDialStorm(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	pl := enginetest.PeerListenTCP(t, bed, 7301)
	var held []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := pl.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	to := netip.AddrPortFrom(bed.PeerAddr, 7301).String()
	ctx, cancel := context.WithTimeout(context.Background(), stormBudget)
	defer cancel()

	go0 := make(chan struct{})
	var ready, wg sync.WaitGroup
	conns := make([]net.Conn, stormConns)
	errs := make([]error, stormConns)
	for i := range conns {
		ready.Add(1)
		wg.Go(func() {
			ready.Done()
			<-go0
			conns[i], errs[i] = eng.DialContext(ctx, "tcp4", to)
		})
	}
	ready.Wait()
	start := time.Now()
	close(go0)
	if !waitGroupWithin(&wg, stormBudget+5*time.Second) {
		t.Fatalf("%d dials at once: not done in %v", stormConns, stormBudget)
	}
	dialed := time.Since(start)
	failed := 0
	for i, err := range errs {
		if err != nil {
			if failed == 0 {
				t.Errorf("dial %d: %v", i, err)
			}
			failed++
			continue
		}
		defer conns[i].Close()
	}
	if failed > 0 {
		t.Errorf("%d of %d dials failed", failed, stormConns)
	}
	t.Logf("%d dials at once: all returned in %v", stormConns, dialed)
}

// waitGroupWithin waits for wg at most d and reports whether it finished.
func waitGroupWithin(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
