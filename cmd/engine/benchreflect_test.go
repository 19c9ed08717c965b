package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/bench/stream"
	"github.com/xdpengine/engine/bench/xdpgen"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestBenchReflectXDPCommand runs engine bench reflect --xdp in the peer
// namespace, on the peer kernel's own address, and a generator (xdpgen)
// on the engine side sends it 2,000 signed frames: every one comes back
// (the generator's XDP program gives the veth's engine end the NAPI that
// XDP_TX sends to). SIGINT detaches the program.
func TestBenchReflectXDPCommand(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	var out syncBuffer
	cmd := bed.Command(context.Background(), engineBinary(t), "bench", "reflect", "-i", bed.PeerIf, "--xdp",
		"--addr", fmt.Sprintf("%v/%d", bed.PeerAddr, bed.Prefix.Bits()))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("engine bench reflect output:\n%s", out.String())
		}
	})
	enginetest.WaitFor(t, "the reflector to start", func() bool { return strings.Contains(out.String(), "reflecting") })
	p, err := xdpgen.Open(xdpgen.Config{Interface: bed.HostIf, Addr: netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits())})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	mac, err := p.Resolve(context.Background(), bed.PeerAddr)
	if err != nil {
		t.Fatal(err)
	}
	sp := stream.Spec{
		Kind: stream.UDP, SrcMAC: p.MAC(), DstMAC: mac,
		Src: stream.AddrRange{First: bed.EngineAddr}, Dst: stream.AddrRange{First: bed.PeerAddr},
		SrcPort: stream.PortRange{First: 10000, Last: 10099}, DstPort: stream.PortRange{First: 7},
		Size: stream.Fixed(64), Sign: stream.SignOn,
	}
	r, err := p.Run(context.Background(), xdpgen.Traffic{Streams: []xdpgen.Stream{{Spec: sp}}, Count: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 2000 || r.Received != 2000 || r.Lost != 0 {
		t.Errorf("sent %d, received %d, lost %d: want 2000, 2000, 0", r.Sent, r.Received, r.Lost)
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGINT")
	}
	if !strings.Contains(out.String(), "detached the XDP reflector") {
		t.Errorf("output: %s", out.String())
	}
}
