package engine_test

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// countingHook counts what it sees and applies a verdict per UDP
// destination port; workers call it concurrently.
type countingHook struct {
	tcp, udp, frags, whole atomic.Int64
	dropPort, reflectPort  uint16
}

func (h *countingHook) Packet(p *engine.Packet) engine.Verdict {
	ip := p.IP
	if ip.IsFragment() {
		h.frags.Add(1)
		return engine.Pass
	}
	switch ip.Protocol() {
	case header.ProtocolTCP:
		h.tcp.Add(1)
	case header.ProtocolUDP:
		h.udp.Add(1)
		if p.Frame == nil {
			h.whole.Add(1) // a reassembled datagram
		}
		u := header.UDP(ip.Payload())
		switch u.DstPort() {
		case h.dropPort:
			return engine.Drop
		case h.reflectPort:
			if p.Frame == nil {
				return engine.Pass
			}
			// Answer in place, as a harness reflector does: swap the
			// addresses and ports, and write a full checksum (a Linux
			// peer on veth sends only the pseudo-header sum).
			var mac [6]byte
			copy(mac[:], p.Frame[0:6])
			copy(p.Frame[0:6], p.Frame[6:12])
			copy(p.Frame[6:12], mac[:])
			src, dst := ip.Src4(), ip.Dst4()
			ip.SetSrc4(dst)
			ip.SetDst4(src)
			sp, dp := u.SrcPort(), u.DstPort()
			u.SetSrcPort(dp)
			u.SetDstPort(sp)
			u.SetChecksum(0)
			u.UpdateChecksum(ip.Src4(), ip.Dst4())
			return engine.Transmit
		}
	}
	return engine.Pass
}

// hookEngine starts an engine with h on a bed of queues queues.
func hookEngine(t *testing.T, queues int, h engine.Hook, fragments bool) (*testbed.Bed, *engine.Engine) {
	t.Helper()
	bed := testbed.New(t, testbed.Config{Queues: queues})
	return bed, enginetest.Start(t, bed, engine.Config{Queues: queues, Hook: h, HookFragments: fragments})
}

// hookPeerUDP sends msg from the peer kernel to the engine's port and
// returns what comes back within wait (nil: nothing).
func hookPeerUDP(t *testing.T, bed *testbed.Bed, port uint16, msg []byte, wait time.Duration) []byte {
	t.Helper()
	var got []byte
	err := bed.Do(func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.EngineAddr, port)))
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write(msg); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, 65536)
		if n, err := c.Read(buf); err == nil {
			got = buf[:n]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestHookOncePerSegment: on two workers, where segments that arrive on
// the worker that does not own their connection are handed over, the Hook
// sees every TCP segment exactly once (the owner does not hook a steered
// frame again): its count equals the segments TCP took in.
func TestHookOncePerSegment(t *testing.T) {
	h := &countingHook{}
	bed, eng := hookEngine(t, 2, h, false)
	enginetest.EchoTCP(t, eng, ":7300", engine.TCPListenConfig{})
	for i := range 20 {
		err := bed.Do(func() error {
			c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(bed.EngineAddr, 7300).String(), 5*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			msg := bytes.Repeat([]byte{byte(i)}, 3000)
			if _, err := c.Write(msg); err != nil {
				return err
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil {
				return err
			}
			if !bytes.Equal(got, msg) {
				t.Errorf("connection %d: echo differs", i)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	time.Sleep(200 * time.Millisecond) // the last FINs and ACKs
	st := eng.Stats().Total
	t.Logf("hooked %d TCP segments; TCP in %d, steered %d", h.tcp.Load(), st.TCP.InSegs, st.Steered)
	if st.Steered == 0 {
		t.Fatal("no segment was handed between the workers: the test did not exercise steering")
	}
	if got := uint64(h.tcp.Load()); got != st.TCP.InSegs {
		t.Errorf("the hook saw %d TCP segments, TCP took in %d (steered %d)", got, st.TCP.InSegs, st.Steered)
	}
}

// TestHookVerdicts: Drop keeps a datagram from its socket (counted as
// DropHook), Transmit sends the rewritten frame back out in place (the peer
// gets its datagram reflected), Pass delivers.
func TestHookVerdicts(t *testing.T) {
	h := &countingHook{dropPort: 7311, reflectPort: 7312}
	bed, eng := hookEngine(t, 1, h, false)
	enginetest.EchoUDP(t, eng, ":7310")
	enginetest.EchoUDP(t, eng, ":7311")
	if got := hookPeerUDP(t, bed, 7310, []byte("pass"), 3*time.Second); string(got) != "pass" {
		t.Errorf("passed datagram: echo %q", got)
	}
	if got := hookPeerUDP(t, bed, 7311, []byte("drop"), 300*time.Millisecond); got != nil {
		t.Errorf("dropped datagram reached its socket: echo %q", got)
	}
	if got := hookPeerUDP(t, bed, 7312, []byte("reflect"), 3*time.Second); string(got) != "reflect" {
		t.Errorf("reflected datagram: got %q", got)
	}
	if st := eng.Stats().Total; st.DropHook != 1 {
		t.Errorf("DropHook %d, want 1", st.DropHook)
	}
}

// TestHookFragments: a fragmented datagram is hooked once, reassembled
// (Frame nil, IP the whole datagram), and then delivered; with
// HookFragments the hook sees each fragment instead.
func TestHookFragments(t *testing.T) {
	for _, perFragment := range []bool{false, true} {
		h := &countingHook{}
		bed, eng := hookEngine(t, 1, h, perFragment)
		c := enginetest.EchoUDP(t, eng, ":7320")
		msg := bytes.Repeat([]byte("f"), 4000) // three fragments at MTU 1500
		if got := hookPeerUDP(t, bed, 7320, msg, 3*time.Second); !bytes.Equal(got, msg) {
			t.Fatalf("per fragment %v: echo of %d bytes came back as %d", perFragment, len(msg), len(got))
		}
		c.Close()
		frags, whole := h.frags.Load(), h.whole.Load()
		t.Logf("per fragment %v: hooked %d fragments, %d reassembled datagrams", perFragment, frags, whole)
		if perFragment && (frags != 3 || whole != 0) || !perFragment && (frags != 0 || whole != 1) {
			t.Errorf("per fragment %v: hooked %d fragments and %d whole datagrams", perFragment, frags, whole)
		}
	}
}
