package engine_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// idleConnBudget is the most an idle established connection may cost the
// engine in Go heap: control block, socket, congestion control, wakeup
// channels, map entries (its flow-table slot is outside the heap,
// allocated at New); measured: about 2.9 KB. The kernel's idle socket
// costs about 3.8 KB of slab here (kernelSocket: TCP 2520 with its slab's
// overhead, sock_inode_cache 862, filp and dentry 195 each; an epoll item
// more when a Go program holds it). Before buffers grew with use, the
// rings alone were 4.25 MiB of heap per connection.
const idleConnBudget = 3 << 10

// idleConns is how many connections TestTCPIdleConnections opens:
// ENGINE_TCP_IDLE_CONNS, or 10,000 (2,000 under the race detector, which
// slows the engine down about tenfold: its receive ring overflows with
// the peer's FINs, and connections whose FIN and retransmissions were all
// lost stay open; 1,000 under -short).
func idleConns(t *testing.T) int {
	if s := os.Getenv("ENGINE_TCP_IDLE_CONNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("ENGINE_TCP_IDLE_CONNS=%q: want a count", s)
		}
		return n
	}
	switch {
	case testing.Short():
		return 1000
	case raceEnabled:
		return 2000
	}
	return 10000
}

// TestTCPIdleConnections: N concurrent connections from the peer kernel
// to an echo on the engine, idle, then each exchanging a message, then
// idle again, then closed. The engine's memory is measured at each step
// and compared with what the peer kernel holds for its N sockets:
//
//   - idle: no ring memory at all (TCPStats.MemBytes 0) and at most
//     idleConnBudget bytes of Go heap per connection;
//   - after the exchange, once TCPBufferIdle passed, the buffers are back
//     (MemBytes 0 again) and the heap is what it was idle;
//   - after the close, the heap is back to where it started, and the
//     buffer pool decays to nothing.
//
// Each step's figures per connection are logged, the kernel's beside them
// (its slab and TCP memory deltas for the same N sockets).
func TestTCPIdleConnections(t *testing.T) {
	n := idleConns(t)
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{TCPMaxConnections: max(65536, 2*n), TCPBufferIdle: 500 * time.Millisecond})
	ln, err := eng.ListenTCP("tcp4", ":7500", engine.TCPListenConfig{Backlog: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go smallEcho(ln)
	srcs := peerSources(t, bed, n)
	enginetest.PeerResolve(t, bed)
	// A few connections first, so that lazily made structures (the
	// runtime's, the pools') are there before the baseline.
	warm := startPeerClients(t, bed, enginetest.EngineAddr(bed, 7500), srcs, 40000, 16)
	if err := warm.exchange([]byte("warm")); err != nil {
		t.Fatal(err)
	}
	if err := warm.close(16, func(int) {}); err != nil {
		t.Fatal(err)
	}
	waitStats(t, eng, "warm-up connections closed", 10*time.Second, func(s engine.TCPStats) bool { return s.CurrEstab == 0 })

	// The application's part, measured apart: a goroutine per connection
	// parked with a 512-byte array on its stack, as smallEcho's. Those
	// goroutines exit before the baseline, so the echo's reuse their
	// descriptors (the runtime keeps them) and the heap measured later
	// holds the engine's part only.
	app := appCost(t, bed, n)
	before := measureMem(t, bed)
	start := time.Now()
	peers := startPeerClients(t, bed, enginetest.EngineAddr(bed, 7500), srcs, 10000, n)
	st := waitStats(t, eng, fmt.Sprintf("%d connections established", n), 60*time.Second,
		func(s engine.TCPStats) bool { return s.CurrEstab == uint64(n) })
	t.Logf("%d connections in %v", n, time.Since(start).Round(time.Millisecond))
	idle := measureMem(t, bed)
	logPerConn(t, "idle", before, idle, n)
	t.Logf("the application's goroutine per connection: %d B of heap, %d B of stack", app.heap, app.stacks)
	if st.MemBytes != 0 {
		t.Errorf("idle connections hold %d bytes of buffers, want 0", st.MemBytes)
	}
	heap, _, _, _, _, _ := perConn(before, idle, n)
	kernel := idle.kernelSocket()
	t.Logf("an idle connection: the engine's %d B of Go heap (and its flow-table slot), the kernel's %d B of slab (%d TCP, %d inode, %d file, %d dentry)",
		heap, kernel, idle.objects["TCP"], idle.objects["sock_inode_cache"], idle.objects["filp"], idle.objects["dentry"])
	if heap > idleConnBudget || heap > kernel {
		t.Errorf("an idle connection costs %d bytes of Go heap, want at most %d and at most the kernel's %d", heap, idleConnBudget, kernel)
	}

	start = time.Now()
	if err := peers.exchange([]byte("ping: an echo through every connection")); err != nil {
		t.Fatal(err)
	}
	busy := eng.Stats().Total.TCP
	t.Logf("exchange through %d connections in %v: buffers %d KiB (peak %d KiB)",
		n, time.Since(start).Round(time.Millisecond), busy.MemBytes>>10, busy.MemPeakBytes>>10)
	st = waitStats(t, eng, "buffers back after the exchange", 30*time.Second, func(s engine.TCPStats) bool { return s.MemBytes == 0 })
	idle2 := measureMem(t, bed)
	pool := int64(eng.Stats().Total.TCP.PoolBytes)
	idle2.heap -= pool // the buffer pool's, not the connections' (bounded by TCPPoolMax; it decays)
	logPerConn(t, "idle after the exchange (less the buffer pool's "+fmt.Sprint(pool>>10)+" KiB)", before, idle2, n)
	// After the exchange the heap also holds what the exchange left for
	// the collector and the pools' reusable records (about 170 B a
	// connection at 100,000): the bound is the kernel's cost, the target.
	if heap, _, _, _, _, _ := perConn(before, idle2, n); heap > kernel {
		t.Errorf("after the exchange an idle connection costs %d bytes of Go heap, want at most the kernel's %d", heap, kernel)
	}
	if st.MemTrims == 0 || st.MemGrows == 0 {
		t.Errorf("buffers grown %d times, trimmed %d times: want both", st.MemGrows, st.MemTrims)
	}

	// Stats is a round trip to every worker (its counters are kept as
	// they count: about 0.1 ms with 100,000 connections as with a million,
	// TestTCPMillion); still, look no more than it takes.
	err = peers.close(250, func(open int) {
		deadline := time.Now().Add(5 * time.Second)
		for eng.Stats().Total.TCP.CurrEstab > uint64(open) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	waitStats(t, eng, "connections closed", 60*time.Second, func(s engine.TCPStats) bool { return s.CurrEstab == 0 })
	st = waitStats(t, eng, "the buffer pool decayed", 30*time.Second, func(s engine.TCPStats) bool { return s.PoolBytes == 0 })
	waitLent(t, eng, "closed connections")
	after := measureMem(t, bed)
	logPerConn(t, "closed", before, after, n)
	if d := after.heap - before.heap; d > 8<<20 {
		t.Errorf("the heap is %d KiB above its level before the connections", d>>10)
	}
	t.Logf("pool let go of %d KiB in all; resident set %d MiB before, %d MiB idle, %d MiB after",
		st.PoolReleased>>10, before.rss>>20, idle.rss>>20, after.rss>>20)
}

// appCost measures what n goroutines parked with a 512-byte array on
// their stacks cost (per goroutine), and lets them exit.
func appCost(t *testing.T, bed *testbed.Bed, n int) (per memFigures) {
	a := measureMem(t, bed)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b [512]byte
			<-stop
			b[0]++
			sink.Add(int64(b[0]))
		}()
	}
	b := measureMem(t, bed)
	close(stop)
	wg.Wait()
	return memFigures{heap: (b.heap - a.heap) / int64(n), stacks: (b.stacks - a.stacks) / int64(n)}
}

var sink atomic.Int64

// logPerConn logs one step's figures per connection, engine and kernel.
func logPerConn(t *testing.T, step string, a, b memFigures, n int) {
	heap, stacks, rss, slab, sockMem, caches := perConn(a, b, n)
	t.Logf("%s, per connection: engine heap %d B, application stacks %d B, process RSS %d B; "+
		"kernel peer: slab %d B (socket caches %d B), TCP memory %d B",
		step, heap, stacks, rss, slab, caches, sockMem)
}

// peerSources gives the peer enough source addresses for n connections
// to one engine port, 25,000 each (peerconns_e2e_test.go binds their
// ports from 10000 up): its own, and more of the bed's /24 from .100 up
// (a million: 40, .100 to .139).
func peerSources(t *testing.T, bed *testbed.Bed, n int) []netip.Addr {
	t.Helper()
	return append([]netip.Addr{bed.PeerAddr}, addPeerAddrs(t, bed, 100, (n-1)/25000)...)
}

// addPeerAddrs gives the peer n more addresses of the bed's /24, from
// .from up.
func addPeerAddrs(t *testing.T, bed *testbed.Bed, from, n int) []netip.Addr {
	t.Helper()
	if from+n > 255 {
		t.Fatalf("%d addresses from .%d: past the bed's /24", n, from)
	}
	var out []netip.Addr
	err := bed.Do(func() error {
		link, err := netlink.LinkByName(bed.PeerIf)
		if err != nil {
			return err
		}
		a := bed.Prefix.Addr().As4()
		for i := range n {
			a[3] = byte(from + i)
			addr := netip.AddrFrom4(a)
			nl := &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(bed.Prefix.Bits(), 32)}}
			if err := netlink.AddrAdd(link, nl); err != nil {
				return err
			}
			out = append(out, addr)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
