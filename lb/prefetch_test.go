package lb

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/portalloc"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/inet4"
)

// TestPrefetchBurst runs the forwarder's burst pre-pass on two workers
// without sockets: each worker's IPv4 layer takes bursts (the balancer is
// a BurstForwarder), and a burst larger than a chunk whose flows belong to
// both workers, with a NAT flow's reply among them, goes through without
// allocating.
func TestPrefetchBurst(t *testing.T) {
	t.Cleanup(SetPrefetchMinKeys(1)) // the test's tables are tiny
	const workers = 2
	b, h := newUnitBalancer(t, workers)
	vip := netip.MustParseAddr("198.18.0.100")
	if err := b.SetConfig(Config{VIPs: []VIP{{Addr: vip, Port: 80, Proto: header.ProtocolTCP, Mode: NAT,
		Backends: []Backend{{Addr: netip.MustParseAddr("198.18.1.11"), Weight: 1}}}}}); err != nil {
		t.Fatal(err)
	}
	// A tracked NAT flow, so that some lookups hit: the client's key and
	// the backend's reply, each in its owner's table.
	key := flowtable.KeyFrom4([4]byte{198, 18, 2, 1}, vip.As4(), 40000, 80, header.ProtocolTCP)
	rev := flowtable.KeyFrom4([4]byte{198, 18, 1, 11}, [4]byte{198, 18, 0, 1}, 80, 50000, header.ProtocolTCP)
	fl := &flow{fwd: key, rev: rev}
	four := func(k flowtable.Key) flowtable.Key4 {
		return flowtable.MakeKey4([4]byte(k.Src[12:]), [4]byte(k.Dst[12:]), k.SrcPort, k.DstPort, k.Proto)
	}
	for i, k := range []flowtable.Key{key, rev} {
		if err := b.fwds[h.Owner(k).Queue()].ct4.Insert(four(k), uint64(i+1), 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	f := b.fwds[0]
	rng := rand.New(rand.NewPCG(1, 2))
	tuples := make([]inet4.Tuple, 150) // more than a chunk
	owners := map[int]int{}
	for i := range tuples {
		tu := inet4.Tuple{Src: [4]byte{198, 18, 2, byte(rng.IntN(256))}, Dst: vip.As4(),
			SrcPort: uint16(1024 + rng.IntN(60000)), DstPort: 80, Proto: header.ProtocolTCP}
		switch i % 10 {
		case 3:
			tu = inet4.Tuple{Src: [4]byte(fl.fwd.Src[12:]), Dst: vip.As4(), SrcPort: 40000, DstPort: 80, Proto: header.ProtocolTCP}
		case 7: // the backend's reply, to the NAT port
			tu = inet4.Tuple{Src: [4]byte(fl.rev.Src[12:]), Dst: [4]byte(fl.rev.Dst[12:]), SrcPort: fl.rev.SrcPort,
				DstPort: fl.rev.DstPort, Proto: header.ProtocolTCP}
		}
		tuples[i] = tu
		k := flowtable.KeyFrom4(tu.Src, tu.Dst, tu.SrcPort, tu.DstPort, tu.Proto)
		owners[h.Owner(k).Queue()]++
	}
	if len(owners) != workers {
		t.Fatalf("the burst's flows belong to %d workers, want %d", len(owners), workers)
	}
	f.PrefetchBurst(tuples)
	if a := testing.AllocsPerRun(100, func() { f.PrefetchBurst(tuples) }); a != 0 {
		t.Errorf("%.1f allocations per burst, want 0", a)
	}
	// Forward finds each key of the last chunk, in arrival order, with
	// its owner and its hash in the owner's table; a key not in the burst
	// is not found.
	f.PrefetchBurst(tuples)
	last := tuples[len(tuples)/prefetchChunk*prefetchChunk:]
	for i, tu := range last {
		k := flowtable.KeyFrom4(tu.Src, tu.Dst, tu.SrcPort, tu.DstPort, tu.Proto)
		if i%5 == 4 {
			continue // a packet the Hook dropped: the next is found all the same
		}
		q, hash, ok := f.burst.cached(four(k))
		if wq := h.Owner(k).Queue(); !ok || q != wq || hash != b.fwds[wq].ct4.Hash(four(k)) {
			t.Errorf("burst cache, tuple %d: %d, %#x, %v; want %d, %#x, true", i, q, hash, ok, wq, b.fwds[wq].ct4.Hash(four(k)))
		}
	}
	stray := flowtable.KeyFrom4([4]byte{203, 0, 113, 1}, vip.As4(), 1, 80, header.ProtocolTCP)
	if _, _, ok := f.burst.cached(four(stray)); ok {
		t.Errorf("burst cache: found a key of no burst")
	}
	// The pre-pass changed nothing.
	for i, k := range []flowtable.Key{key, rev} {
		if got, ok := b.fwds[h.Owner(k).Queue()].ct4.Lookup(four(k)); !ok || got != uint64(i+1) {
			t.Errorf("after the pre-pass: Lookup(%v) = %d, %v, want %d", k, got, ok, i+1)
		}
	}
}

// TestFlowLayout checks that the fields Forward reads first lie in the 16
// bytes of a flow record the flow table's batch prefetches.
func TestFlowLayout(t *testing.T) {
	var fl flow
	for name, end := range map[string]uintptr{
		"be":       unsafe.Offsetof(fl.be) + unsafe.Sizeof(fl.be),
		"snatPort": unsafe.Offsetof(fl.snatPort) + unsafe.Sizeof(fl.snatPort),
		"vport":    unsafe.Offsetof(fl.vport) + unsafe.Sizeof(fl.vport),
		"entropy":  unsafe.Offsetof(fl.entropy) + unsafe.Sizeof(fl.entropy),
		"class":    unsafe.Offsetof(fl.class) + unsafe.Sizeof(fl.class),
	} {
		if end > 16 {
			t.Errorf("flow.%s ends at byte %d, past the 16 prefetched", name, end)
		}
	}
}

// newUnitBalancer makes a balancer on workers workers that run no loop
// (the test calls their methods itself), on a host without sockets.
func newUnitBalancer(t *testing.T, workers int) (*Balancer, *inet4.Host) {
	t.Helper()
	steer := portalloc.Metro{Seed: 1, Workers: workers}
	h, err := inet4.NewHost(inet4.Config{
		Interface: "none", MAC: header.MAC{2, 0, 0, 0, 0, 1}, MTU: 1500,
		Addrs:      []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")},
		FragMemory: 1 << 20, TxQueue: 64, Steering: steer, Bufs: datapath.NewBufs(0), Epoch: time.Now(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ports := func(proto uint8) *portalloc.Allocator {
		a, err := portalloc.New(portalloc.Config{Proto: proto, Steering: steer})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	b := New(Params{Host: h, SNAT: netip.MustParseAddr("198.18.0.1"), TCPPorts: ports(header.ProtocolTCP),
		UDPPorts: ports(header.ProtocolUDP), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(b.Close)
	for q := range workers {
		dp, err := datapath.New(datapath.Config{Queue: q, CPU: -1, Bufs: datapath.NewBufs(0), Epoch: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dp.Close() })
		l, err := h.NewLayer(dp, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.AddWorker(l, 1024, Timeouts{}); err != nil {
			t.Fatal(err)
		}
		if _, ok := dp.Input().(datapath.BurstInput); !ok {
			t.Fatalf("worker %d: the balancer's layer takes no bursts", q)
		}
	}
	return b, h
}
