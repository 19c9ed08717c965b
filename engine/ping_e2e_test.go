package engine_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestPing: the engine pings the peer kernel over IPv4 and IPv6 (a small
// echo and a 3000-byte one, fragmented both ways), the replies are
// matched and counted; a ping to an address nobody holds times out with
// ErrNoEchoReply; bad arguments are refused at once.
func TestPing(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	for _, dst := range []netip.Addr{bed.PeerAddr, bed.PeerAddr6} {
		for seq, size := range []int{0, 3000, 56} {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			r, err := eng.Ping(ctx, dst, engine.PingOptions{ID: 0x4242, Seq: uint16(seq + 1), Size: size})
			cancel()
			if err != nil {
				t.Fatalf("ping %v -s %d: %v", dst, size, err)
			}
			if size == 0 {
				size = engine.DefaultPingSize
			}
			if r.Addr != dst || r.ID != 0x4242 || r.Seq != uint16(seq+1) || r.Bytes != 8+size || r.TTL != 64 || r.RTT <= 0 || r.RTT > 3*time.Second {
				t.Errorf("ping %v -s %d: %+v", dst, size, r)
			}
		}
	}
	st := eng.Stats().Total
	if st.ICMP.InEchoReps < 3 || st.IPv6.ICMP.InEchoReplies < 3 {
		t.Errorf("echo replies counted: IPv4 %d, IPv6 %d; want 3 each", st.ICMP.InEchoReps, st.IPv6.ICMP.InEchoReplies)
	}

	// Nobody holds these addresses on the link: no reply, a clear error.
	for _, dst := range []netip.Addr{bed.PeerAddr.Next().Next().Next(), bed.PeerAddr6.Next().Next().Next()} {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		begin := time.Now()
		_, err := eng.Ping(ctx, dst, engine.PingOptions{})
		cancel()
		var oe *net.OpError
		if !errors.Is(err, engine.ErrNoEchoReply) || !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &oe) || oe.Op != "ping" {
			t.Errorf("ping %v (nobody): %v, want ErrNoEchoReply and the deadline in a *net.OpError", dst, err)
		}
		if d := time.Since(begin); d > 2*time.Second {
			t.Errorf("ping %v (nobody) returned after %v", dst, d)
		}
		t.Logf("ping %v: %v", dst, err)
	}

	// Refused before sending.
	for _, c := range []struct {
		dst  netip.Addr
		opts engine.PingOptions
		want error
	}{
		{netip.MustParseAddr("203.0.113.1"), engine.PingOptions{}, syscall.EHOSTUNREACH}, // off the link, no gateway
		{bed.PeerAddr, engine.PingOptions{Size: 70000}, nil},
		{netip.IPv4Unspecified(), engine.PingOptions{}, nil},
	} {
		_, err := eng.Ping(context.Background(), c.dst, c.opts)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("ping %v %+v: %v, want an error (%v)", c.dst, c.opts, err, c.want)
		}
	}
}
