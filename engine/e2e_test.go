package engine_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestEchoEverySize sends a datagram of every size from 1 to 65,507 bytes
// (the largest UDP payload over IPv4) from the kernel peer and checks that
// each comes back byte-identical. Sizes above the MTU cross the link as
// fragments both ways: the kernel fragments, the engine reassembles, echoes
// and fragments again, and the kernel reassembles.
func TestEchoEverySize(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{BindService: true, RecvBuffer: 4 << 20})
	enginetest.EchoUDP(t, eng, ":7")
	c := enginetest.PeerUDP(t, bed, 7)
	enginetest.ForceReadBuffer(t, c, 4<<20)
	enginetest.PeerResolve(t, bed)

	const maxSize = 65507
	step := 1
	if testing.Short() {
		step = 97 // still crosses every fragment count
	}
	// Keep a window of datagrams in flight (bounded in bytes so that
	// neither side's receive buffer overflows); answers come back in order
	// on this path, and a missing one is resent after a timeout.
	const window = 256 << 10
	sent := make(map[int]time.Time)
	inflight := 0
	next, done, resent := 1, 0, 0
	total := (maxSize-1)/step + 1
	buf := make([]byte, 65536)
	want := make([]byte, 65536)
	send := func(size int) {
		enginetest.Pattern(want[:size], 0)
		if _, err := c.Write(want[:size]); err != nil {
			t.Fatalf("send %d bytes: %v", size, err)
		}
		if _, ok := sent[size]; !ok {
			inflight += size
		}
		sent[size] = time.Now()
	}
	for done < total {
		for next <= maxSize && (inflight+next <= window || len(sent) == 0) {
			send(next)
			next += step
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			for size, at := range sent {
				if time.Since(at) > 400*time.Millisecond {
					resent++
					if resent > 50 {
						t.Fatalf("%d answers missing after 50 resends (first sizes %v)", len(sent), firstKeys(sent))
					}
					send(size)
				}
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := sent[n]; !ok {
			continue // a duplicate answer to a resent datagram
		}
		enginetest.Pattern(want[:n], 0)
		if !bytes.Equal(buf[:n], want[:n]) {
			t.Fatalf("answer of %d bytes differs from what was sent (first difference at %d)", n, enginetest.FirstDiff(buf[:n], want[:n]))
		}
		delete(sent, n)
		inflight -= n
		done++
	}
	st := eng.Stats().Total
	t.Logf("%d sizes echoed (%d resent); engine: rx %d pkts, tx %d pkts, reassembled %d, fragments created %d, receive-buffer drops %d",
		total, resent, st.RxPackets, st.TxPackets, st.Reasm.ReasmOKs, st.Frag.FragCreates, st.DropRecvBuffer)
	if st.Reasm.ReasmOKs == 0 || st.Frag.FragCreates == 0 {
		t.Errorf("no reassembly (%d) or fragmentation (%d) happened", st.Reasm.ReasmOKs, st.Frag.FragCreates)
	}
}

func firstKeys(m map[int]time.Time) []int {
	var ks []int
	for k := range m {
		if len(ks) == 5 {
			break
		}
		ks = append(ks, k)
	}
	return ks
}

// TestManyPeers: 100 kernel sockets send 100 datagrams each, concurrently;
// every one of the 10,000 is answered to the socket that sent it.
func TestManyPeers(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{BindService: true})
	enginetest.EchoUDP(t, eng, ":7")

	manyPeers(t, bed, 100, 100)
	st := eng.Stats().Total
	t.Logf("engine: rx %d tx %d, receive-buffer drops %d", st.RxPackets, st.TxPackets, st.DropRecvBuffer)
}

// manyPeers has peers kernel sockets exchange each datagrams with the echo
// service on port 7, concurrently (peerExchanges: with resends).
func manyPeers(t *testing.T, bed *testbed.Bed, peers, each int) {
	t.Helper()
	conns := make([]*net.UDPConn, peers)
	for i := range conns {
		conns[i] = enginetest.PeerUDP(t, bed, 7)
	}
	errs := make(chan error, peers)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { errs <- peerExchanges(c, uint32(i), each) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// peerExchanges sends n tagged datagrams one at a time on c and checks that
// each answer is the datagram c sent, resending after a timeout.
func peerExchanges(c *net.UDPConn, id uint32, n int) error {
	msg := make([]byte, 64)
	buf := make([]byte, 128)
	for k := 0; k < n; k++ {
		binary.BigEndian.PutUint32(msg[4:], id)
		binary.BigEndian.PutUint32(msg[8:], uint32(k))
		got := false
		for try := 0; try < 5 && !got; try++ {
			if _, err := c.Write(msg); err != nil {
				return fmt.Errorf("peer %d: send: %v", id, err)
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			for {
				m, err := c.Read(buf)
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				if err != nil {
					return fmt.Errorf("peer %d: %v", id, err)
				}
				if m != len(msg) || binary.BigEndian.Uint32(buf[4:]) != id {
					return fmt.Errorf("peer %d got an answer meant for peer %d", id, binary.BigEndian.Uint32(buf[4:]))
				}
				if binary.BigEndian.Uint32(buf[8:]) == uint32(k) {
					got = true
					break
				}
			}
		}
		if !got {
			return fmt.Errorf("peer %d: datagram %d never answered", id, k)
		}
	}
	return nil
}

// peerEcho runs a kernel UDP echo server in the peer namespace.
func peerEcho(t *testing.T, bed *testbed.Bed, port uint16) netip.AddrPort {
	t.Helper()
	var s *net.UDPConn
	ap := netip.AddrPortFrom(bed.PeerAddr, port)
	if err := bed.Do(func() (err error) {
		s, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	go enginetest.ServeUDPEcho(s)
	return ap
}

// TestTwoWorkersSteering runs the engine on two queues. Connected sockets
// made by the engine get ports whose replies belong to a chosen worker; the
// kernel peer's replies arrive on whichever queue the veth hashes them to,
// and a worker that receives a reply it does not own hands it over through
// its ring to the owner. Every reply must reach its socket.
func TestTwoWorkersSteering(t *testing.T) {
	bed := testbed.New(t, testbed.Config{Queues: 2})
	eng := enginetest.Start(t, bed, engine.Config{Queues: 2})
	srv := peerEcho(t, bed, 7000)

	const socks, each = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, socks)
	for i := range socks {
		c, err := eng.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(srv))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		wg.Go(func() {
			msg := make([]byte, 32)
			buf := make([]byte, 64)
			for k := 0; k < each; k++ {
				binary.BigEndian.PutUint32(msg, uint32(i))
				binary.BigEndian.PutUint32(msg[4:], uint32(k))
				ok := false
				for try := 0; try < 5 && !ok; try++ {
					if _, err := c.Write(msg); err != nil {
						errs <- fmt.Errorf("socket %d: %v", i, err)
						return
					}
					c.SetReadDeadline(time.Now().Add(time.Second))
					n, err := c.Read(buf)
					if errors.Is(err, os.ErrDeadlineExceeded) {
						continue
					}
					if err != nil {
						errs <- fmt.Errorf("socket %d: %v", i, err)
						return
					}
					ok = n == len(msg) && bytes.Equal(buf[:n], msg)
				}
				if !ok {
					errs <- fmt.Errorf("socket %d: exchange %d failed", i, k)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := eng.Stats()
	for _, w := range st.Workers {
		t.Logf("queue %d: rx %d tx %d steered out %d in %d", w.Queue, w.RxPackets, w.TxPackets, w.Steered, w.SteeredIn)
	}
	if len(st.Workers) != 2 {
		t.Fatalf("%d workers, want 2", len(st.Workers))
	}
	for _, w := range st.Workers {
		if w.RxPackets == 0 {
			t.Errorf("queue %d received nothing: the peer's traffic did not spread over both queues", w.Queue)
		}
	}
	if a := st.Total.ARP; a.Requests != a.OutRequests {
		t.Errorf("the neighbor tables asked for %d ARP requests, %d were sent", a.Requests, a.OutRequests)
	}
	if st.Total.Steered == 0 || st.Total.SteeredIn != st.Total.Steered {
		t.Errorf("steered %d, received by owners %d: want both equal and non-zero", st.Total.Steered, st.Total.SteeredIn)
	}
}

// TestCloseDuringTraffic closes the engine while the kernel peer floods it
// and the application echoes: Close returns, blocked reads end with
// net.ErrClosed, the application's goroutines finish, no XDP program is
// left on the link, and a new engine can start on the same interface.
func TestCloseDuringTraffic(t *testing.T) {
	bed := testbed.New(t, testbed.Config{Queues: 2})
	before := runtime.NumGoroutine()
	eng, err := engine.New(enginetest.ConfigFor(bed, engine.Config{Queues: 2, BindService: true}))
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	srv, err := eng.ListenUDP("udp4", ":7", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	appDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				appDone <- err
				return
			}
			srv.WriteToUDPAddrPort(buf[:n], from)
		}
	}()

	stop := make(chan struct{})
	var flood sync.WaitGroup
	for i := range 4 {
		c := enginetest.PeerUDP(t, bed, 7)
		flood.Go(func() {
			msg := make([]byte, 200+i*700)
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.Write(msg) // ECONNREFUSED once the engine is gone is fine
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	rx := eng.Stats().Total.RxPackets
	for deadline := time.Now().Add(10 * time.Second); rx < 1000 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		rx = eng.Stats().Total.RxPackets
	}
	if rx == 0 {
		t.Fatal("the flood did not reach the engine")
	}
	if err := eng.Close(); err != nil {
		t.Fatalf("close under traffic: %v", err)
	}
	select {
	case err := <-appDone:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked read ended with %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a blocked read did not return after Close")
	}
	final := eng.Stats().Total
	t.Logf("engine saw %d packets before close (%d at 300 ms), sent %d", final.RxPackets, rx, final.TxPackets)
	if final.RxPackets < rx {
		t.Errorf("final counters (%d) are behind the live ones (%d): not flushed", final.RxPackets, rx)
	}
	if _, err := eng.ListenPacket("udp4", ":8"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ListenPacket after Close: %v, want net.ErrClosed", err)
	}
	link, err := netlink.LinkByName(bed.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	if x := link.Attrs().Xdp; x != nil && x.Attached {
		t.Errorf("an XDP program (id %d) is still attached after Close", x.ProgId)
	}
	// A second engine starts on the same link while the flood goes on, and
	// answers once it is over.
	eng2 := enginetest.Start(t, bed, engine.Config{Queues: 2, BindService: true})
	enginetest.EchoUDP(t, eng2, ":7")
	time.Sleep(time.Second)
	close(stop)
	flood.Wait()
	t.Cleanup(func() {
		for _, w := range eng2.Stats().Workers {
			t.Logf("second engine, queue %d: rx %d tx %d, rx ring full %d, receive-buffer drops %d",
				w.Queue, w.RxPackets, w.TxPackets, w.XSK.RxRingFull, w.DropRecvBuffer)
		}
	})
	// What the flood left in the peer's socket buffers still drains into the
	// echo socket, whose receive buffer may be full when a datagram arrives:
	// like any UDP client, this one sends again after a second.
	c := enginetest.PeerUDP(t, bed, 7)
	if err := peerExchanges(c, 1, 3); err != nil {
		t.Errorf("echo from the second engine: %v", err)
	}
	eng2.Close()
	// Everything the engines started has ended (allow the runtime a moment).
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+1 {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after both engines closed:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// TestSocketErrors checks the errors a kernel socket would give, as
// *net.OpError values wrapping the errno.
func TestSocketErrors(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	a, err := eng.ListenPacket("udp4", bed.EngineAddr.String()+":5000")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := peerEcho(t, bed, 7001)
	other := bed.EngineAddr.Next().Next().Next().Next() // .5: in the prefix, not owned
	cases := []struct {
		name string
		open func() error
		want syscall.Errno
	}{
		{"same address and port", func() error { _, err := eng.ListenPacket("udp4", bed.EngineAddr.String()+":5000"); return err }, syscall.EADDRINUSE},
		{"wildcard over specific", func() error { _, err := eng.ListenPacket("udp4", ":5000"); return err }, syscall.EADDRINUSE},
		{"address not owned", func() error { _, err := eng.ListenPacket("udp4", other.String()+":5001"); return err }, syscall.EADDRNOTAVAIL},
		{"privileged port", func() error { _, err := eng.ListenPacket("udp4", ":53"); return err }, syscall.EACCES},
	}
	for _, tc := range cases {
		err := tc.open()
		var oe *net.OpError
		if !errors.As(err, &oe) || !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v (%T), want *net.OpError wrapping %v", tc.name, err, err, tc.want)
		}
	}

	c, err := eng.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(srv))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDontFragment(true)
	if _, err := c.Write(make([]byte, eng.MTU())); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("datagram over the MTU with DF: %v, want EMSGSIZE", err)
	}
	if _, err := c.Write(make([]byte, 65508)); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("datagram over 65,507 bytes: %v, want EMSGSIZE", err)
	}
	c.SetDontFragment(false)
	msg := bytes.Repeat([]byte{7}, 4000)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8192)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(buf); err != nil || !bytes.Equal(buf[:n], msg) {
		t.Errorf("fragmented exchange with the kernel echo: %d bytes, %v", n, err)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	c.Close()
	if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after close: %v, want net.ErrClosed", err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second close: %v, want net.ErrClosed", err)
	}
}

// TestListenerSendsThroughSteeredWorker: an unconnected socket's datagrams
// leave through the worker its peer's answers are steered to, so with
// many peers both workers transmit (they used to all leave through worker 0).
func TestListenerSendsThroughSteeredWorker(t *testing.T) {
	bed := testbed.New(t, testbed.Config{Queues: 2})
	eng := enginetest.Start(t, bed, engine.Config{Queues: 2, BindService: true})
	enginetest.EchoUDP(t, eng, ":7")
	enginetest.PeerResolve(t, bed)
	const peers, each = 32, 20
	manyPeers(t, bed, peers, each)
	st := eng.Stats()
	for _, w := range st.Workers {
		t.Logf("queue %d: rx %d tx %d", w.Queue, w.RxPackets, w.TxPackets)
		// Each worker owns about half of the 32 peers (fewer than 4 has a
		// probability near 1e-6); ARP and ICMP alone are a few frames.
		if w.TxPackets < 4*each {
			t.Errorf("queue %d transmitted %d frames of %d echoes", w.Queue, w.TxPackets, peers*each)
		}
	}
}
