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

// echoConn dials an echo server on the peer (a child) from the engine and
// warms the connection up: its buffers grow, the pools fill.
func echoConn(tb testing.TB) (net.Conn, func()) {
	tb.Helper()
	bed := testbed.New(tb, testbed.Config{})
	eng := enginetest.Start(tb, bed, engine.Config{})
	to := netip.AddrPortFrom(bed.PeerAddr, 7600)
	if _, err := startPeerChild(tb, bed).ask(peerCmd{Op: "serve", To: to.String(), Mode: "echo"}); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := eng.DialContext(ctx, "tcp4", to.String())
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
// connection allocates nothing, in the application or the worker.
func TestTCPEchoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	_, roundTrip := echoConn(t)
	if allocs := testing.AllocsPerRun(2000, roundTrip); allocs != 0 {
		t.Errorf("%.3f allocations per round trip on an established connection, want 0", allocs)
	}
}

// BenchmarkTCPEcho: one op is a 64-byte round trip through an engine
// connection and the peer kernel's echo; allocs/op is the whole
// process's, the engine worker's included.
//
//	go test ./engine -run '^$' -bench TCPEcho -benchtime=20000x
func BenchmarkTCPEcho(b *testing.B) {
	_, roundTrip := echoConn(b)
	b.ReportAllocs()
	for b.Loop() {
		roundTrip()
	}
}
