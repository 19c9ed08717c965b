package engine_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// The established path through the whole engine allocates nothing: tcp's
// TestEstablishedPathAllocs covers the endpoint alone; here an engine
// connection to an echo on the peer kernel (a child process, so that this
// process holds only the engine and the test) carries round trips: the
// application's Write and Read, the worker's command, receive, demux,
// endpoint, ACK and wakeup. testing.AllocsPerRun counts the whole
// process's allocations, the worker goroutine's included.

// echoConn dials an echo server on the peer (a child) from the engine,
// over IPv6 when v6 is set, and warms the connection up: its buffers
// grow, the pools fill.
func echoConn(tb testing.TB, v6 bool) (net.Conn, func()) {
	tb.Helper()
	bed := testbed.New(tb, testbed.Config{IPv6: v6})
	cfg := engine.Config{}
	to := netip.AddrPortFrom(bed.PeerAddr, 7600)
	if v6 {
		cfg = engine.Config{IPv6NoDAD: true, Addrs: []netip.Prefix{
			netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits()), netip.PrefixFrom(bed.EngineAddr6, 64)}}
		to = netip.AddrPortFrom(bed.PeerAddr6, 7600)
	}
	eng := enginetest.Start(tb, bed, cfg)
	if _, err := startPeerChild(tb, bed).ask(peerCmd{Op: "serve", To: to.String(), Mode: "echo"}); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var c net.Conn
	var err error
	if v6 {
		c, err = eng.DialContext(ctx, "tcp6", to.String())
	} else {
		c, err = eng.DialContext(ctx, "tcp4", to.String())
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	msg, buf := make([]byte, 64), make([]byte, 64)
	roundTrip := func() {
		if _, err := c.Write(msg); err != nil {
			tb.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			tb.Fatal(err)
		}
	}
	for range 2000 {
		roundTrip()
	}
	return c, roundTrip
}

// TestTCPEchoAllocs: a 64-byte round trip on an established engine
// connection allocates nothing, in the application or the worker, over
// IPv4 and over IPv6.
func TestTCPEchoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "IPv4", true: "IPv6"}[v6], func(t *testing.T) {
			_, roundTrip := echoConn(t, v6)
			if allocs := testing.AllocsPerRun(2000, roundTrip); allocs != 0 {
				t.Errorf("%.3f allocations per round trip on an established connection, want 0", allocs)
			}
		})
	}
}

// BenchmarkTCPEcho: one op is a 64-byte round trip through an engine
// connection and the peer kernel's echo, over IPv4 and IPv6; allocs/op is
// the whole process's, the engine worker's included.
//
//	go test ./engine -run '^$' -bench TCPEcho -benchtime=20000x
func BenchmarkTCPEcho(b *testing.B) {
	for _, v6 := range []bool{false, true} {
		b.Run(map[bool]string{false: "IPv4", true: "IPv6"}[v6], func(b *testing.B) {
			_, roundTrip := echoConn(b, v6)
			b.ReportAllocs()
			for b.Loop() {
				roundTrip()
			}
		})
	}
}
