package engine_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// start6 runs an engine that owns the bed's IPv4 address and its IPv6
// EngineAddr6/64.
func start6(t *testing.T, bed *testbed.Bed, nodad bool) *engine.Engine {
	t.Helper()
	return enginetest.Start(t, bed, engine.Config{IPv6NoDAD: nodad, Addrs: []netip.Prefix{
		netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits()), netip.PrefixFrom(bed.EngineAddr6, 64)}})
}

// peerRun runs a command in the peer namespace and returns its output.
func peerRun(t *testing.T, bed *testbed.Bed, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := bed.Command(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// peerNeigh6 returns the peer kernel's neighbor entry for a (`ip -6 neigh`).
func peerNeigh6(t *testing.T, bed *testbed.Bed, a netip.Addr) string {
	t.Helper()
	out, err := peerRun(t, bed, "ip", "-6", "neigh", "show", a.String(), "dev", bed.PeerIf)
	if err != nil {
		t.Fatalf("ip -6 neigh: %v: %s", err, out)
	}
	return strings.TrimSpace(out)
}

// TestPing6 pings the engine from the peer kernel over IPv6, after the
// engine's duplicate address detection: small echoes answered in place,
// 4000-byte ones fragmented both ways. The peer learned the engine's MAC
// from our solicited advertisement (REACHABLE), and the engine lists the
// peer.
func TestPing6(t *testing.T) {
	enginetest.NeedTool(t, "ping")
	bed := testbed.New(t, testbed.Config{IPv6: true})
	begin := time.Now()
	eng := start6(t, bed, false)
	if d := time.Since(begin); d > 2500*time.Millisecond {
		t.Errorf("Start took %v with DAD, want about 1 s", d)
	}
	if got := eng.IPv6Addrs(); len(got) != 1 || got[0].Addr() != bed.EngineAddr6 {
		t.Fatalf("usable IPv6 addresses %v after DAD", got)
	}
	if out, err := peerRun(t, bed, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", bed.EngineAddr6.String()); err != nil {
		t.Fatalf("ping -6: %v\n%s\nstats %+v", err, out, eng.Stats().Total.IPv6)
	}
	if n := peerNeigh6(t, bed, bed.EngineAddr6); !strings.Contains(n, "REACHABLE") || !strings.Contains(n, bed.HostMAC.String()) {
		t.Errorf("peer's entry for the engine %q: want REACHABLE at %v", n, bed.HostMAC)
	}
	if out, err := peerRun(t, bed, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "-s", "4000", bed.EngineAddr6.String()); err != nil {
		t.Fatalf("ping -6 -s 4000: %v\n%s\nstats %+v", err, out, eng.Stats().Total.IPv6)
	}
	s := eng.Stats().Total.IPv6
	if s.ICMP.InEchos < 5 || s.ICMP.OutEchoReplies < 5 || s.Reasm.ReasmOKs < 2 || s.Frag.FragCreates < 6 {
		t.Errorf("echoes in %d out %d, reassembled %d, fragments created %d",
			s.ICMP.InEchos, s.ICMP.OutEchoReplies, s.Reasm.ReasmOKs, s.Frag.FragCreates)
	}
	if s.NDP.DADProbes != 1 || s.NDP.DADUnique != 1 || s.NDP.DADDuplicate != 0 {
		t.Errorf("DAD counters %+v", s.NDP)
	}
	if s.ICMP.OutNeighborAdvertisements == 0 {
		t.Error("no neighbor advertisement sent")
	}
	found := false
	for _, n := range eng.Neighbors() {
		if n.Addr == bed.PeerAddr6 {
			found = n.MAC.String() == bed.PeerMAC.String()
		}
	}
	if !found {
		t.Errorf("engine neighbors %+v: no %v at %v", eng.Neighbors(), bed.PeerAddr6, bed.PeerMAC)
	}
}

// TestNDPResolve6: the peer knows the engine's MAC without asking (a
// permanent entry), so the engine has heard nothing from it; the
// engine's fragmented echo reply goes through the send path, which
// solicits the peer, parks the reply, and sends it once the kernel's
// advertisement arrives.
func TestNDPResolve6(t *testing.T) {
	enginetest.NeedTool(t, "ping")
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	if out, err := peerRun(t, bed, "ip", "-6", "neigh", "replace", bed.EngineAddr6.String(), "lladdr", bed.HostMAC.String(),
		"dev", bed.PeerIf, "nud", "permanent"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := peerRun(t, bed, "ping", "-6", "-c", "1", "-W", "3", "-s", "3000", bed.EngineAddr6.String()); err != nil {
		t.Fatalf("ping -6 -s 3000: %v\n%s\nstats %+v", err, out, eng.Stats().Total.IPv6)
	}
	s := eng.Stats().Total.IPv6
	if s.ICMP.OutNeighborSolicits == 0 || s.ICMP.InNeighborAdvertisements == 0 || s.ICMP.InNeighborSolicits != 0 {
		t.Errorf("solicitations out %d, advertisements in %d, solicitations in %d: want the engine to have resolved the peer",
			s.ICMP.OutNeighborSolicits, s.ICMP.InNeighborAdvertisements, s.ICMP.InNeighborSolicits)
	}
	for _, n := range eng.Neighbors() {
		if n.Addr == bed.PeerAddr6 {
			if n.State != "REACHABLE" || n.MAC.String() != bed.PeerMAC.String() {
				t.Errorf("engine's entry for the peer %+v: want REACHABLE at %v", n, bed.PeerMAC)
			}
			return
		}
	}
	t.Errorf("engine neighbors %+v: no entry for %v", eng.Neighbors(), bed.PeerAddr6)
}

// syncBuffer is a log destination safe for the engine's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDAD6Duplicate: the peer kernel already holds the engine's IPv6
// address; the engine's probe is answered, the address is logged as a
// duplicate, counted, and not used (no echo answered from it).
func TestDAD6Duplicate(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	if out, err := peerRun(t, bed, "ip", "-6", "addr", "add", netip.PrefixFrom(bed.EngineAddr6, 64).String(),
		"dev", bed.PeerIf, "nodad"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var log syncBuffer
	cfg := enginetest.ConfigFor(bed, engine.Config{Addrs: []netip.Prefix{
		netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits()), netip.PrefixFrom(bed.EngineAddr6, 64)}})
	cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	eng, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	if got := eng.IPv6Addrs(); len(got) != 0 {
		t.Errorf("usable IPv6 addresses %v: the duplicate is used", got)
	}
	s := eng.Stats().Total.IPv6.NDP
	if s.DADDuplicate != 1 || s.DADUnique != 0 {
		t.Errorf("DAD counters %+v", s)
	}
	if !strings.Contains(log.String(), "duplicate address") || !strings.Contains(log.String(), bed.EngineAddr6.String()) {
		t.Errorf("log does not report the duplicate:\n%s", log.String())
	}
	// IPv4 still works.
	enginetest.EchoUDP(t, eng, ":7007")
	c := enginetest.PeerDialUDP(t, bed, netip.AddrPortFrom(bed.EngineAddr, 7007))
	enginetest.Exchange(t, c, []byte("still here"))
}

// TestUDP6PortUnreachable: a datagram to a port of the engine's IPv6
// address (no UDP over IPv6 yet: no socket) is answered with a port
// unreachable, which the peer's connected socket reports as
// ECONNREFUSED, as it would from a Linux host.
func TestUDP6PortUnreachable(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	var c *net.UDPConn
	if err := bed.Do(func() (err error) {
		c, err = net.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.EngineAddr6, 9999)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var err error
	for range 3 { // the first datagram may wait for neighbor discovery
		c.Write([]byte("anyone?"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err = c.Read(make([]byte, 64))
		if errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("read: %v, want ECONNREFUSED (stats %+v)", err, eng.Stats().Total.IPv6)
	}
	s := eng.Stats().Total.IPv6
	if s.InNoPorts == 0 || s.ICMP.OutDestUnreachs == 0 {
		t.Errorf("InNoPorts %d, OutDestUnreachs %d", s.InNoPorts, s.ICMP.OutDestUnreachs)
	}
}

// TestIPv6Only: an engine with an IPv6 address and no IPv4 one (`engine
// serve --addr 2001:2::1/64`) starts and answers ping.
func TestIPv6Only(t *testing.T) {
	enginetest.NeedTool(t, "ping")
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := enginetest.Start(t, bed, engine.Config{IPv6NoDAD: true, Addrs: []netip.Prefix{netip.PrefixFrom(bed.EngineAddr6, 64)}})
	if out, err := peerRun(t, bed, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", bed.EngineAddr6.String()); err != nil {
		t.Fatalf("ping -6: %v\n%s\nstats %+v", err, out, eng.Stats().Total.IPv6)
	}
	if _, err := eng.ListenUDP("udp4", "198.51.100.1:9", engine.SocketOptions{}); err == nil {
		t.Error("an IPv4 bind on an IPv6-only engine succeeded")
	}
}

// TestNeighborsShared6: with two workers, what one worker's queue
// receives of Neighbor Discovery is handed to the other: both caches know
// the peer, whichever queue its packets arrived on.
func TestNeighborsShared6(t *testing.T) {
	enginetest.NeedTool(t, "ping")
	bed := testbed.New(t, testbed.Config{IPv6: true, Queues: 2})
	eng := start6(t, bed, true)
	if out, err := peerRun(t, bed, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", bed.EngineAddr6.String()); err != nil {
		t.Fatalf("ping -6: %v\n%s", err, out)
	}
	queues := map[int]bool{}
	for _, n := range eng.Neighbors() {
		if n.Addr == bed.PeerAddr6 && n.MAC.String() == bed.PeerMAC.String() {
			queues[n.Queue] = true
		}
	}
	if !queues[0] || !queues[1] {
		t.Errorf("peer known on queues %v, want 0 and 1 (neighbors %+v)", queues, eng.Neighbors())
	}
}
