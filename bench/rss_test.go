package bench

import (
	"context"
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
// the engine told the same key and table, each UDP flow from the peer,
// over IPv4 and over IPv6, arrives on the queue testbed.RSS.Queue gives,
// the ports peerPorts picks spread evenly, and TCP connections either way
// and over either family are owned by the worker their segments arrive
// on: nothing is handed between workers.
func TestRSSEmulation(t *testing.T) {
	const queues = 4
	bed := testbed.New(t, testbed.Config{Queues: queues, IPv6: true})
	r := testbed.DefaultRSS(queues)
	if err := bed.EmulateRSS(r); err != nil {
		t.Fatal(err)
	}
	eng := enginetest.Start(t, bed, engine.Config{Queues: queues, IPv6NoDAD: true,
		Addrs: []netip.Prefix{netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits()),
			netip.PrefixFrom(bed.EngineAddr6, bed.Prefix6.Bits())},
		RSS: &afxdp.RSSConfig{Key: r.Key[:], Indirection: r.Indirection, HashFunc: "toeplitz"}})
	if got := eng.Steering(); got != "rss-toeplitz" {
		t.Fatalf("engine steering %q, want rss-toeplitz", got)
	}
	enginetest.PeerResolve(t, bed)
	if out, err := bed.Command(context.Background(), "ping", "-6", "-c", "1", "-w", "10", bed.EngineAddr6.String()).CombinedOutput(); err != nil {
		t.Fatalf("ping the engine's IPv6 address from the peer: %v\n%s", err, out)
	}
	sink, err := eng.ListenPacket("udp", ":7100") // dual-stack
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
	for _, fam := range []struct {
		name     string
		peer, to netip.Addr
	}{{"ipv4", bed.PeerAddr, bed.EngineAddr}, {"ipv6", bed.PeerAddr6, bed.EngineAddr6}} {
		to := netip.AddrPortFrom(fam.to, 7100)
		ports := s.peerPorts(fam.peer, to, 20000, 4*queues)
		seen := make([]int, queues)
		for i, port := range ports {
			src := netip.AddrPortFrom(fam.peer, port)
			want := r.Queue(src, to)
			if want != i%queues {
				t.Fatalf("%s: peerPorts' port %d lands on queue %d, want %d", fam.name, port, want, i%queues)
			}
			before := rxByQueue(eng)
			peerSendUDP(t, bed, src, to)
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
				continue // another frame (ARP, NDP) came in meanwhile
			}
			if arrived != want {
				t.Errorf("%s: flow from port %d arrived on queue %d, want %d", fam.name, port, arrived, want)
			}
			seen[arrived]++
		}
		t.Logf("%s: flows per queue: %v", fam.name, seen)
	}

	// TCP both ways over both families: segments land on the owning worker.
	steered := eng.Stats().Total.Steered
	enginetest.EchoTCP(t, eng, ":7101", engine.TCPListenConfig{})
	enginetest.PeerEchoTCP(t, bed, 7102)
	ln6, err := eng.ListenTCP("tcp6", ":7103", engine.TCPListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln6.Close()
	go enginetest.ServeTCPEcho(ln6)
	var peer6 net.Listener
	if err := bed.Do(func() (err error) {
		peer6, err = net.Listen("tcp6", netip.AddrPortFrom(bed.PeerAddr6, 7104).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer peer6.Close()
	go enginetest.ServeTCPEcho(peer6)
	msg := make([]byte, 3000)
	for _, fam := range []struct {
		network      string
		engine, peer netip.AddrPort
	}{
		{network: "tcp4", engine: enginetest.EngineAddr(bed, 7101), peer: netip.AddrPortFrom(bed.PeerAddr, 7102)},
		{network: "tcp6", engine: netip.AddrPortFrom(bed.EngineAddr6, 7103), peer: netip.AddrPortFrom(bed.PeerAddr6, 7104)},
	} {
		for range 8 {
			var c net.Conn
			if err := bed.Do(func() (err error) {
				c, err = net.DialTimeout(fam.network, fam.engine.String(), 5*time.Second)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			echoTCP(t, c, msg)
			c.Close()
			e, err := eng.DialTCP(fam.network, nil, net.TCPAddrFromAddrPort(fam.peer))
			if err != nil {
				t.Fatal(err)
			}
			echoTCP(t, e, msg)
			e.CloseWrite()
			io.Copy(io.Discard, e)
			e.Close()
		}
	}
	if n := eng.Stats().Total.Steered - steered; n != 0 {
		t.Errorf("%d TCP segments were handed to another worker, want none with RSS emulated", n)
	}
}

// peerSendUDP sends one datagram from src, a kernel socket in the peer
// namespace, to to.
func peerSendUDP(t *testing.T, bed *testbed.Bed, src, to netip.AddrPort) {
	t.Helper()
	if err := bed.Do(func() error {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(src))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.WriteToUDPAddrPort([]byte("flow"), to)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

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
