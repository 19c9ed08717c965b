package bench

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestRSSEmulation checks the bed the scaling benchmarks run on: on a veth
// of four queues with a NIC's RSS emulated (testbed.Bed.EmulateRSS) and
// the engine told the same key and table, each UDP flow from the peer
// arrives on the queue testbed.RSS.Queue gives, the ports peerPorts picks
// spread evenly, and TCP connections either way are owned by the worker
// their segments arrive on: nothing is handed between workers.
func TestRSSEmulation(t *testing.T) {
	const queues = 4
	bed := testbed.New(t, testbed.Config{Queues: queues})
	r := testbed.DefaultRSS(queues)
	if err := bed.EmulateRSS(r); err != nil {
		t.Fatal(err)
	}
	eng := enginetest.Start(t, bed, engine.Config{Queues: queues,
		RSS: &afxdp.RSSConfig{Key: r.Key[:], Indirection: r.Indirection, HashFunc: "toeplitz"}})
	if got := eng.Steering(); got != "rss-toeplitz" {
		t.Fatalf("engine steering %q, want rss-toeplitz", got)
	}
	enginetest.PeerResolve(t, bed)
	sink, err := eng.ListenPacket("udp4", ":7100")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := sink.ReadFrom(buf); err != nil {
				return
			}
		}
	}()

	s := &scaledBed{bed: bed, eng: eng, queues: queues, rss: &r}
	to := enginetest.EngineAddr(bed, 7100)
	ports := s.peerPorts(bed.PeerAddr, to, 20000, 4*queues)
	seen := make([]int, queues)
	for i, port := range ports {
		src := netip.AddrPortFrom(bed.PeerAddr, port)
		want := r.Queue(src, to)
		if want != i%queues {
			t.Fatalf("peerPorts' port %d lands on queue %d, want %d", port, want, i%queues)
		}
		before := rxByQueue(eng)
		k := enginetest.PeerKernelUDP(t, bed, src)
		if err := k.SendTo([]byte("flow"), to); err != nil {
			t.Fatal(err)
		}
		var after []uint64
		enginetest.WaitFor(t, "the datagram to arrive", func() bool {
			after = rxByQueue(eng)
			return sum(after) > sum(before)
		})
		arrived, moved := -1, 0
		for q := range after {
			if after[q] > before[q] {
				arrived, moved = q, moved+1
			}
		}
		if moved > 1 || after[arrived]-before[arrived] > 1 {
			continue // another frame (ARP) came in meanwhile
		}
		if arrived != want {
			t.Errorf("flow from port %d arrived on queue %d, want %d", port, arrived, want)
		}
		seen[arrived]++
	}
	t.Logf("flows per queue: %v", seen)

	// TCP both ways: segments land on the owning worker.
	steered := eng.Stats().Total.Steered
	enginetest.EchoTCP(t, eng, ":7101", engine.TCPListenConfig{})
	enginetest.PeerEchoTCP(t, bed, 7102)
	msg := make([]byte, 3000)
	for range 8 {
		c, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7101))
		if err != nil {
			t.Fatal(err)
		}
		echoTCP(t, c, msg)
		c.Close()
		e, err := eng.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, 7102)))
		if err != nil {
			t.Fatal(err)
		}
		echoTCP(t, e, msg)
		e.CloseWrite()
		io.Copy(io.Discard, e)
		e.Close()
	}
	if n := eng.Stats().Total.Steered - steered; n != 0 {
		t.Errorf("%d TCP segments were handed to another worker, want none with RSS emulated", n)
	}
}

// echoTCP writes msg on c and reads it back.
func echoTCP(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
		t.Fatal(err)
	}
}

func sum(v []uint64) uint64 {
	var s uint64
	for _, n := range v {
		s += n
	}
	return s
}
