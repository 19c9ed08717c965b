package xdpgen_test

import (
	"errors"
	"testing"
	"time"

	"github.com/xdpengine/engine/bench/pacer"
	"github.com/xdpengine/engine/bench/stream"
	"github.com/xdpengine/engine/bench/xdpgen"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestLiveEcho: in live mode (the kernel sends, BPF_PROG_RUN) 40,000
// frames at 20 kpps to the peer kernel's UDP echo all come back in order,
// each measured: the peer's kernel verified every IPv4 and UDP checksum
// the program set, and the signatures' sequence numbers and times are the
// ones the program wrote. A second stream walks 100 source ports (each
// answered, so each port's checksum verified). The peer end has an XDP
// program: veth delivers XDP_TX frames only to a peer with NAPI.
func TestLiveEcho(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	peerEcho(t, bed, echoPort)
	detach, err := bed.AttachPeerPassXDP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { detach() })
	p := openPort(t, bed, xdpgen.Config{Live: true})
	flows := udpSpec(t, bed, p, 64)
	flows.SrcPort = stream.PortRange{First: 20000, Last: 20099, Mode: stream.Inc}
	const n = 40000
	r := run(t, p, xdpgen.Traffic{
		Streams: []xdpgen.Stream{
			{Spec: udpSpec(t, bed, p, 64), Rate: pacer.Rate{Value: 10000}},
			{Spec: flows, Rate: pacer.Rate{Value: 10000}},
		},
		Count: n,
	})
	t.Logf("live: sent %d received %d in %v; latency %v; cpu %v", r.Sent, r.Received, r.Duration, r.Latency, r.CPU)
	if r.Sent != n || r.Received != n || r.Lost != 0 || r.Errors != 0 || r.Other != 0 {
		t.Fatalf("sent %d received %d lost %d errors %d other %d, want %d, no loss", r.Sent, r.Received, r.Lost, r.Errors, r.Other, n)
	}
	for i, s := range r.Streams {
		if s.Sent != n/2 || s.Received != n/2 || s.Duplicates != 0 || s.Reordered != 0 || s.Latency.Count != n/2 {
			t.Errorf("stream %d: %+v", i, s)
		}
	}
	if r.Latency.Max <= 0 || r.Latency.Max > time.Second {
		t.Errorf("latency %+v: the signatures' times are not the port's clock", r.Latency)
	}
	if d := r.Duration; d < 1950*time.Millisecond || d > 2500*time.Millisecond {
		t.Errorf("sending took %v, want 2 s", d)
	}
}

// TestLiveRefuses: live mode takes untagged UDP of one size, one address
// each way, an incrementing source port range at most; anything else is
// refused before sending.
func TestLiveRefuses(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	p := openPort(t, bed, xdpgen.Config{Live: true})
	base := udpSpec(t, bed, p, 64)
	for name, mod := range map[string]func(*stream.Spec){
		"imix":        func(s *stream.Spec) { s.Size = stream.IMIX() },
		"tcp":         func(s *stream.Spec) { s.Kind, s.Size = stream.TCPSYN, stream.Fixed(128) },
		"random port": func(s *stream.Spec) { s.SrcPort = stream.PortRange{First: 1, Last: 9, Mode: stream.Random} },
		"vlan":        func(s *stream.Spec) { s.VLAN, s.Size = stream.VLANRange{First: 5}, stream.Fixed(128) },
	} {
		sp := base
		mod(&sp)
		_, err := p.Run(t.Context(), xdpgen.Traffic{Streams: []xdpgen.Stream{{Spec: sp}}, Count: 10})
		if !errors.Is(err, xdpgen.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}
