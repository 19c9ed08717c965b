package engine_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/faultinject"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/stack/datapath"
)

// Sizes of the bulk transfers under injected faults, each way: the 256 MiB
// of the nftables loss test (TestTCPBulkLoss).
const (
	faultBulkSize     = 256 << 20
	faultLossBulkSize = 256 << 20
)

// faultBulk moves size bytes each way between the kernel and an engine
// whose workers inject faults, compares SHA-256, and checks that the
// injector did inject every kind of fault it was given.
func faultBulk(t *testing.T, f faultinject.Config, port uint16, size int) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.WithFaults(engine.Config{}, mustFaults(t, f)))
	size = enginetest.BulkSize(size)
	c, kc := enginetest.ConnectFromPeer(t, bed, eng, port)
	d := enginetest.Bulk(t, kc, c, size)
	t.Logf("kernel → engine: %d MiB in %v (%.0f MB/s)", size>>20, d, float64(size)/d.Seconds()/1e6)
	d = enginetest.Bulk(t, c, kc, size)
	t.Logf("engine → kernel: %d MiB in %v (%.0f MB/s)", size>>20, d, float64(size)/d.Seconds()/1e6)
	st := eng.Stats().Total
	t.Logf("faults: %+v", st.Faults)
	t.Logf("TCP: %+v", st.TCP)
	for _, c := range []struct {
		name string
		p    float64
		n    uint64
	}{
		{"rx dropped", f.Rx.Drop, st.Faults.RxDropped},
		{"rx duplicated", f.Rx.Duplicate, st.Faults.RxDuplicated},
		{"rx reordered", f.Rx.Reorder, st.Faults.RxReordered},
		{"tx dropped", f.Tx.Drop, st.Faults.TxDropped},
		{"tx duplicated", f.Tx.Duplicate, st.Faults.TxDuplicated},
		{"tx reordered", f.Tx.Reorder, st.Faults.TxReordered},
	} {
		if (c.p > 0) != (c.n > 0) {
			t.Errorf("%s: %d frames at probability %v", c.name, c.n, c.p)
		}
	}
	if f.Tx.Drop > 0 && st.TCP.RetransSegs == 0 {
		t.Errorf("no retransmission with %v of the transmitted frames dropped", f.Tx.Drop)
	}
}

// TestTCPBulkReorderDuplicate: 5% of the frames each way held back behind
// three later ones, 2% duplicated, on the engine's receive and transmit
// paths.
func TestTCPBulkReorderDuplicate(t *testing.T) {
	r := faultinject.Rates{Duplicate: 0.02, Reorder: 0.05}
	faultBulk(t, faultinject.Config{Seed: 1, Rx: r, Tx: r}, 5101, faultBulkSize)
}

// TestTCPBulkReorderDuplicateLoss adds 2% loss each way.
func TestTCPBulkReorderDuplicateLoss(t *testing.T) {
	r := faultinject.Rates{Drop: 0.02, Duplicate: 0.02, Reorder: 0.05}
	faultBulk(t, faultinject.Config{Seed: 2, Rx: r, Tx: r}, 5102, faultLossBulkSize)
}

// udpTagged fills p with a datagram numbered tag: the tag, then bytes
// derived from it (a corrupted datagram cannot pass for another).
func udpTagged(p []byte, tag uint32) {
	binary.BigEndian.PutUint32(p, tag)
	x := tag*2654435761 + 1
	for i := 4; i < len(p); i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		p[i] = byte(x)
	}
}

// udpCount reads datagrams until idle for a while and counts each tag; a
// datagram that is not exactly what udpTagged wrote is an error (udpCount
// runs on its own goroutine: it reports with Errorf).
func udpCount(t *testing.T, read func([]byte) (int, error), setDeadline func(time.Time) error, n, size int, got *atomic.Int64) []int {
	t.Helper()
	seen := make([]int, n)
	buf := make([]byte, 65536)
	want := make([]byte, size)
	for {
		setDeadline(time.Now().Add(time.Second))
		m, err := read(buf)
		if err != nil {
			return seen
		}
		got.Add(1)
		tag := binary.BigEndian.Uint32(buf)
		if m != size || int(tag) >= n {
			t.Errorf("datagram of %d bytes, tag %d", m, tag)
			continue
		}
		udpTagged(want, tag)
		if !bytes.Equal(buf[:m], want) {
			t.Errorf("datagram %d corrupted", tag)
			continue
		}
		seen[tag]++
	}
}

// checkCopies checks that every datagram came once, or twice when the
// injector duplicated it, and returns the number of second copies.
func checkCopies(t *testing.T, dir string, seen []int) uint64 {
	t.Helper()
	var extra uint64
	for tag, c := range seen {
		switch c {
		case 1:
		case 2:
			extra++
		default:
			t.Errorf("%s: datagram %d delivered %d times", dir, tag, c)
		}
	}
	return extra
}

// udpWindow is how far TestUDPDuplicateReorder's sender runs ahead of its
// reader (datagrams; with 10% duplicated, well inside a 2048-frame ring).
const udpWindow = 512

// TestUDPDuplicateReorder sends tagged datagrams both ways through an
// engine that duplicates 10% and reorders 10% of the frames: each datagram
// is delivered once per copy on the wire, intact.
func TestUDPDuplicateReorder(t *testing.T) {
	const n, size = 3000, 1000
	bed := testbed.New(t, testbed.Config{})
	r := faultinject.Rates{Duplicate: 0.1, Reorder: 0.1}
	eng := enginetest.Start(t, bed, engine.WithFaults(engine.Config{RecvBuffer: 16 << 20}, mustFaults(t, faultinject.Config{Seed: 3, Rx: r, Tx: r})))
	ec, err := eng.ListenUDP("udp4", ":7300", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	kc := enginetest.PeerUDP(t, bed, 7300)
	enginetest.ForceReadBuffer(t, kc, 8<<20)
	// A burst sent before ARP resolves loses datagrams: the kernel queues
	// unres_qlen_bytes per unresolved neighbor, the engine arp.QueueLen
	// frames. A ping first resolves both ways; its frames pass the injector
	// too, so the counts below are taken from after it (held frames leave
	// within ReorderDelay).
	enginetest.PeerResolve(t, bed)
	time.Sleep(50 * time.Millisecond)
	base := eng.Stats().Total.Faults

	// The sender keeps at most udpWindow datagrams ahead of the reader, so
	// that a starved reader or worker cannot overflow a ring or a socket
	// buffer: what is lost here is lost to the injector alone.
	var got atomic.Int64
	pace := func(i int, got *atomic.Int64) {
		if i%50 != 49 {
			return
		}
		time.Sleep(200 * time.Microsecond)
		for deadline := time.Now().Add(5 * time.Second); int64(i+1)-got.Load() > udpWindow && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}

	// Kernel → engine.
	done := make(chan []int)
	go func() {
		done <- udpCount(t, func(b []byte) (int, error) {
			n, _, err := ec.ReadFromUDPAddrPort(b)
			return n, err
		}, ec.SetReadDeadline, n, size, &got)
	}()
	p := make([]byte, size)
	for i := range n {
		udpTagged(p, uint32(i))
		if _, err := kc.Write(p); err != nil {
			t.Fatal(err)
		}
		pace(i, &got)
	}
	seen := <-done
	st := eng.Stats().Total
	if st.DropRecvBuffer != 0 {
		t.Fatalf("engine receive buffer dropped %d datagrams", st.DropRecvBuffer)
	}
	extra := checkCopies(t, "kernel → engine", seen)
	t.Logf("kernel → engine: %d datagrams, %d second copies, faults %+v (before: %+v)", n, extra, st.Faults, base)
	if dup := st.Faults.RxDuplicated - base.RxDuplicated; extra == 0 || extra != dup {
		t.Errorf("kernel → engine: %d second copies, %d frames duplicated", extra, dup)
	}
	if st.Faults.RxReordered == base.RxReordered {
		t.Error("no frame reordered on receive")
	}

	// Engine → kernel, to the address the kernel sent from.
	to := kc.LocalAddr().(*net.UDPAddr).AddrPort()
	to = netip.AddrPortFrom(bed.PeerAddr, to.Port())
	got.Store(0)
	go func() {
		done <- udpCount(t, kc.Read, kc.SetReadDeadline, n, size, &got)
	}()
	for i := range n {
		udpTagged(p, uint32(i))
		if _, err := ec.WriteToUDPAddrPort(p, to); err != nil {
			t.Fatal(err)
		}
		pace(i, &got)
	}
	seen = <-done
	st = eng.Stats().Total
	extra = checkCopies(t, "engine → kernel", seen)
	t.Logf("engine → kernel: %d datagrams, %d second copies, faults %+v", n, extra, st.Faults)
	if dup := st.Faults.TxDuplicated - base.TxDuplicated; extra == 0 || extra != dup {
		t.Errorf("engine → kernel: %d second copies, %d frames duplicated", extra, dup)
	}
	if st.Faults.TxReordered == base.TxReordered {
		t.Error("no frame reordered on transmit")
	}
}

// mustFaults makes the injectors of c.
func mustFaults(t *testing.T, c faultinject.Config) datapath.NewInjector {
	t.Helper()
	f, err := faultinject.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
