package engine_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/portalloc"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/tcp"
)

// waitLent waits until every ring buffer the engine lent came back.
func waitLent(t *testing.T, eng *engine.Engine, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for eng.TCPPools().RingsLent != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d ring buffers never returned to the pool (gets %d, puts %d)",
				what, eng.TCPPools().RingsLent, eng.TCPPools().RingGets, eng.TCPPools().RingPuts)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTCPRingReuse: short connections one after another, each echoing a
// request that names it; every reply is the connection's own request (no
// bytes of an earlier connection whose memory the rings reuse), the
// rings of every finished connection return to the pool, and later
// connections take them from it.
func TestTCPRingReuse(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	ln, err := eng.ListenTCP("tcp4", ":7100", engine.TCPListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var req [300]byte
				if _, err := io.ReadFull(c, req[:]); err != nil {
					return
				}
				c.Write(req[:])
				c.Read(req[:1]) // the client's FIN
			}()
		}
	}()
	const n = 60
	err = bed.Do(func() error {
		for i := range n {
			c, err := net.DialTimeout("tcp4", enginetest.EngineAddr(bed, 7100).String(), 5*time.Second)
			if err != nil {
				return err
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			var req, resp [300]byte
			for j := 0; j < len(req); j += 4 {
				binary.BigEndian.PutUint32(req[j:], uint32(i*1000+j))
			}
			if _, err := c.Write(req[:]); err != nil {
				c.Close()
				return err
			}
			if _, err := io.ReadFull(c, resp[:]); err != nil {
				c.Close()
				return err
			}
			c.Close()
			if resp != req {
				return fmt.Errorf("connection %d: reply is not its request", i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitLent(t, eng, "short connections")
	if g, r := eng.TCPPools().RingGets, eng.TCPPools().RingReused; g != 2*n || r == 0 {
		t.Errorf("ring buffers: %d taken (want %d), %d of them reused (want > 0)", g, 2*n, r)
	}
	if g, r := eng.TCPPools().EndpointGets, eng.TCPPools().EndpointReused; g != n || r == 0 {
		t.Errorf("endpoints: %d made (want %d), %d of them recycled (want > 0)", g, n, r)
	}
	t.Logf("ring buffers: %d taken, %d reused; endpoints: %d made, %d recycled",
		eng.TCPPools().RingGets, eng.TCPPools().RingReused, eng.TCPPools().EndpointGets, eng.TCPPools().EndpointReused)
}

// TestTCPCloseRacesRead: Close while another goroutine reads (data
// streaming in) and another writes; both return net.ErrClosed, every later
// call on the connection does too, and the rings go back to the pool.
// Run with -race.
func TestTCPCloseRacesRead(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	pln := enginetest.PeerListenTCP(t, bed, 7200)
	go func() {
		for {
			c, err := pln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				go io.Copy(io.Discard, c)
				buf := make([]byte, 32<<10)
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		nc, err := eng.DialContext(ctx, "tcp4", netip.AddrPortFrom(bed.PeerAddr, 7200).String())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		c := nc.(*engine.TCPConn)
		c.SetLinger(0) // reset on Close: the connection ends at once, no TIME-WAIT
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Add(2)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					errs[0] = err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				if _, err := c.Write(buf); err != nil {
					errs[1] = err
					return
				}
			}
		}()
		time.Sleep(time.Duration(i%5) * time.Millisecond)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		for k, err := range errs {
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("round %d: %s returned %v, want net.ErrClosed", i, []string{"Read", "Write"}[k], err)
			}
		}
		var b [8]byte
		if _, err := c.Read(b[:]); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
		if _, err := c.Write(b[:]); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write after Close: %v", err)
		}
		for name, err := range map[string]error{
			"CloseWrite": c.CloseWrite(), "SetNoDelay": c.SetNoDelay(true), "SetKeepAlive": c.SetKeepAlive(true),
			"SetDeadline": c.SetDeadline(time.Now()), "SetLinger": c.SetLinger(1), "Close": c.Close(),
		} {
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("%s after Close: %v", name, err)
			}
		}
	}
	waitLent(t, eng, "closed while reading")
}

// TestTCPRingsUnaccepted: connections that no Accept took hold no ring
// memory until data comes (then a receive ring each); discarded when the
// listener closes, and a Dial refused by the peer, they give it back.
func TestTCPRingsUnaccepted(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	ln, err := eng.ListenTCP("tcp4", ":7300", engine.TCPListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var peers []net.Conn
	for range 5 {
		c, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7300))
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, c)
	}
	enginetest.WaitFor(t, "5 connections queued", func() bool { return eng.Stats().Total.TCP.CurrEstab == 5 })
	if n := eng.TCPPools().RingsLent; n != 0 {
		t.Fatalf("%d ring buffers lent to 5 connections that moved no data, want 0", n)
	}
	for _, c := range peers {
		c.Write([]byte("queued"))
	}
	enginetest.WaitFor(t, "5 receive rings", func() bool { return eng.TCPPools().RingsLent == 5 })
	ln.Close()
	waitLent(t, eng, "listener closed with 5 connections in its queue")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = eng.DialContext(ctx, "tcp4", netip.AddrPortFrom(bed.PeerAddr, 7301).String())
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to a closed port: %v, want ECONNREFUSED", err)
	}
	waitLent(t, eng, "refused dial")
	if eng.TCPPools().RingGets != 5 {
		t.Errorf("%d ring buffers taken, want 5", eng.TCPPools().RingGets)
	}
}

// activeCloses makes n connections from the engine to an echo server in
// the peer, each closed by the engine first (after the echo and the
// peer's FIN), so TIME-WAIT is the engine's.
func activeCloses(t *testing.T, bed *testbed.Bed, eng *engine.Engine, port uint16, n int) {
	t.Helper()
	enginetest.PeerEchoTCP(t, bed, port)
	for i := range n {
		c, err := eng.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, port)))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := fmt.Appendf(nil, "connection %d", i)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
			t.Fatalf("echo %q, %v", got, err)
		}
		c.CloseWrite()
		if _, err := c.Read(got[:1]); err != io.EOF {
			t.Fatalf("read after the peer's FIN: %v", err)
		}
		c.Close()
	}
}

func timeWaits(eng *engine.Engine) int {
	tw := 0
	for _, s := range eng.Sockets(socktab.TCP) {
		if s.State == socktab.State(tcp.TimeWait) {
			tw++
		}
	}
	return tw
}

// TestTCPTimeWaitReleasesRings: connections the engine closes first wait
// in TIME-WAIT for 60 s, without their rings: those go back to the pool
// as soon as the connection enters TIME-WAIT.
func TestTCPTimeWaitReleasesRings(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	const n = 40
	activeCloses(t, bed, eng, 7300, n)
	waitLent(t, eng, "connections in TIME-WAIT")
	if tw := timeWaits(eng); tw != n {
		t.Fatalf("%d connections in TIME-WAIT, want %d", tw, n)
	}
}

// TestTCPTimeWaitLimit: beyond Config.TCPMaxTimeWait, a connection that
// would enter TIME-WAIT closes at once and is counted, as Linux does past
// tcp_max_tw_buckets.
func TestTCPTimeWaitLimit(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{TCPMaxTimeWait: 5})
	activeCloses(t, bed, eng, 7301, 12)
	if tw := timeWaits(eng); tw != 5 {
		t.Errorf("%d connections in TIME-WAIT, want 5 (the limit)", tw)
	}
	st := eng.Stats().Total.TCP
	if st.CurrTimeWait != 5 || st.TimeWaitOverflow != 7 {
		t.Errorf("TIME-WAIT gauge %d (want 5), overflows %d (want 7)", st.CurrTimeWait, st.TimeWaitOverflow)
	}
	waitLent(t, eng, "connections past the TIME-WAIT limit")
}

// TestTCPTimeWaitReuseForConnect: with every port toward the peer in
// TIME-WAIT, Dial fails with EADDRNOTAVAIL; a second later (tcp_tw_reuse's
// delay) the ports of connections with timestamps can be connected again,
// the new connection replaces the TIME-WAIT one and works.
func TestTCPTimeWaitReuseForConnect(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{Ports: portalloc.Range{First: 40000, Last: 40003}})
	activeCloses(t, bed, eng, 7302, 4) // the four ports, each now in TIME-WAIT
	if tw := timeWaits(eng); tw != 4 {
		t.Fatalf("%d connections in TIME-WAIT, want 4", tw)
	}
	to := net.TCPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, 7302))
	if _, err := eng.DialTCP("tcp4", nil, to); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("dial with every port in TIME-WAIT: %v, want EADDRNOTAVAIL", err)
	}
	time.Sleep(time.Second)
	for i := range 4 {
		// The worker frees the ports in its next TCP round past the delay.
		c, err := eng.DialTCP("tcp4", nil, to)
		for deadline := time.Now().Add(5 * time.Second); errors.Is(err, syscall.EADDRNOTAVAIL) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			c, err = eng.DialTCP("tcp4", nil, to)
		}
		if err != nil {
			t.Fatalf("dial %d after the reuse delay: %v", i, err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("again")); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 5)
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "again" {
			t.Fatalf("echo over a reused port: %q, %v", got, err)
		}
		defer c.Close()
	}
	if tw := timeWaits(eng); tw != 0 {
		t.Errorf("%d TIME-WAIT connections left beside the new ones on their tuples", tw)
	}
}
