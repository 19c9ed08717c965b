package engine_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// udp6RoundTrip returns a round trip over IPv6 between an engine socket
// and a kernel echo on the peer (in this process: Go's net over the
// kernel allocates nothing per datagram either), warmed up. mode
// "dual-stack-ipv4" makes the engine's socket a dual-stack one that talks
// to the peer over IPv4 (its peer named ::ffff:a.b.c.d) instead, "ipv4"
// an IPv4 socket (the comparison).
func udp6RoundTrip(tb testing.TB, mode string) func() {
	tb.Helper()
	bed := testbed.New(tb, testbed.Config{IPv6: true})
	eng := enginetest.Start(tb, bed, engine.Config{IPv6NoDAD: true, Addrs: []netip.Prefix{
		netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits()), netip.PrefixFrom(bed.EngineAddr6, 64)}})
	network, to := "udp6", netip.AddrPortFrom(bed.PeerAddr6, 7800)
	if mode != "ipv6" {
		network, to = "udp4", netip.AddrPortFrom(bed.PeerAddr, 7800)
	}
	peer := peerListenUDP(tb, bed, network, net.UDPAddrFromAddrPort(to))
	go enginetest.ServeUDPEcho(peer)
	local := "udp" // dual-stack: [::]:0
	if mode == "ipv4" {
		local = "udp4"
	}
	c, err := eng.ListenUDP(local, ":0", engine.SocketOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if mode == "dual-stack-ipv4" {
		to = netip.AddrPortFrom(netip.AddrFrom16(to.Addr().As16()), to.Port())
	}
	msg, buf := make([]byte, 64), make([]byte, 2048)
	roundTrip := func() {
		if _, err := c.WriteToUDPAddrPort(msg, to); err != nil {
			tb.Fatal(err)
		}
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil || n != len(msg) || from != to {
			tb.Fatalf("answer %d bytes from %v, %v", n, from, err)
		}
	}
	roundTrip6(tb, c, to, msg, buf) // the first one waits for neighbor resolution
	c.SetReadDeadline(time.Time{})
	for range 2000 {
		roundTrip()
	}
	return roundTrip
}

// TestUDP6EchoAllocs: a 64-byte round trip through an engine IPv6 socket
// (send: the packet built on the application's goroutine and queued;
// receive: checksum, lookup, copy into a pool buffer, wakeup) allocates
// nothing, in the application or the worker; nor does a dual-stack
// socket's IPv4 round trip, its peer named ::ffff:a.b.c.d.
func TestUDP6EchoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, mode := range []string{"ipv6", "dual-stack-ipv4"} {
		roundTrip := udp6RoundTrip(t, mode)
		if allocs := testing.AllocsPerRun(2000, roundTrip); allocs != 0 {
			t.Errorf("%s: %.3f allocations per round trip, want 0", mode, allocs)
		}
	}
}

// BenchmarkUDP6Echo: one op is a 64-byte round trip between an engine
// socket and the peer kernel's echo, over IPv6, over IPv4 from a
// dual-stack socket, and from an IPv4 socket for comparison; allocs/op
// is the whole process's, the engine worker's and the kernel echo's
// goroutine included.
//
//	go test ./engine -run '^$' -bench UDP6Echo -benchtime=20000x
func BenchmarkUDP6Echo(b *testing.B) {
	for _, mode := range []string{"ipv6", "dual-stack-ipv4", "ipv4"} {
		b.Run(mode, func(b *testing.B) {
			roundTrip := udp6RoundTrip(b, mode)
			b.ReportAllocs()
			for b.Loop() {
				roundTrip()
			}
		})
	}
}
