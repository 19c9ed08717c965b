package xdpgen_test

import (
	"math"
	"testing"
	"time"

	"github.com/xdpengine/engine/bench/pacer"
	"github.com/xdpengine/engine/bench/xdpgen"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestEchoCountsAndSequence sends a paced stream through a kernel UDP echo
// in the peer namespace: every frame comes back, once, in order, with the
// sequence numbers the generator sent, and the figures add up.
func TestEchoCountsAndSequence(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	peerEcho(t, bed, echoPort)
	p := openPort(t, bed, xdpgen.Config{})
	const n = 40000
	var ivs []xdpgen.Interval
	r := run(t, p, xdpgen.Traffic{
		Streams:  []xdpgen.Stream{{Spec: udpSpec(t, bed, p, 64), Rate: pacer.Rate{Value: 20000}}},
		Count:    n,
		Progress: func(iv xdpgen.Interval) { ivs = append(ivs, iv) },
	})
	t.Logf("sent %d received %d in %v; latency %v; cpu %v; mode %s", r.Sent, r.Received, r.Duration, r.Latency, r.CPU, p.Mode())
	s := r.Streams[0]
	if r.Sent != n || s.Sent != n {
		t.Fatalf("sent %d (stream %d), want %d", r.Sent, s.Sent, n)
	}
	if r.Received != n || r.Lost != 0 || s.Duplicates != 0 || s.Reordered != 0 || s.Late != 0 {
		t.Fatalf("received %d lost %d duplicates %d reordered %d late %d, want %d and none", r.Received, r.Lost,
			s.Duplicates, s.Reordered, s.Late, n)
	}
	if r.Latency.Count != n || s.Latency.Count != n || uint64(r.Histogram.TotalCount()) != n {
		t.Errorf("latency samples %d (stream %d, histogram %d), want %d", r.Latency.Count, s.Latency.Count, r.Histogram.TotalCount(), n)
	}
	if r.Other != 0 || r.Errors != 0 {
		t.Errorf("other %d errors %d, want none", r.Other, r.Errors)
	}
	if r.SentBytes != n*60 || r.ReceivedBytes != n*60 {
		t.Errorf("bytes sent %d received %d, want %d each (60 bytes a frame without FCS)", r.SentBytes, r.ReceivedBytes, n*60)
	}
	// 40,000 frames at 20 kpps take 2 s (TestRateAccuracy checks rates
	// closely; a busy machine may stall the worker longer than its
	// catch-up here).
	if d := r.Duration; d < 1950*time.Millisecond || d > 2500*time.Millisecond {
		t.Errorf("sending took %v, want 2 s", d)
	}
	var ivSent, ivRecv uint64
	for _, iv := range ivs {
		ivSent += iv.Sent
		ivRecv += iv.Received
	}
	if len(ivs) < 2 || ivSent != n || ivRecv != n || ivs[len(ivs)-1].TotalSent != n {
		t.Errorf("%d intervals add up to %d sent, %d received, want %d", len(ivs), ivSent, ivRecv, n)
	}
	if c := p.Counters(); c.Sent != n || c.Received != n {
		t.Errorf("counters: %+v", c)
	}
}

// TestEchoTwoQueues runs one worker per queue of a two-queue link: the
// frames of both workers come back and the merged result counts each once.
func TestEchoTwoQueues(t *testing.T) {
	bed := testbed.New(t, testbed.Config{Queues: 2})
	peerEcho(t, bed, echoPort)
	p := openPort(t, bed, xdpgen.Config{})
	if p.Queues() != 2 {
		t.Fatalf("%d queues, want 2", p.Queues())
	}
	sp := udpSpec(t, bed, p, 128)
	sp.SrcPort.Last = sp.SrcPort.First + 63 // 64 flows
	const n = 20000
	r := run(t, p, xdpgen.Traffic{
		Streams: []xdpgen.Stream{{Spec: sp, Rate: pacer.Rate{Value: 20000}}},
		Count:   n,
	})
	if r.Sent != n || r.Received != n || r.Lost != 0 || r.Duplicates != 0 {
		t.Fatalf("sent %d received %d lost %d duplicates %d, want %d, %d, 0, 0", r.Sent, r.Received, r.Lost, r.Duplicates, n, n)
	}
}

// TestLossInjected drops 5% of the datagrams at random in the peer
// (nftables numgen) before its echo: the loss measured is the loss
// injected, within one percentage point, and matches the rule's counter.
func TestLossInjected(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	peerEcho(t, bed, echoPort)
	peerNft(t, bed, `counter dropped {}
	chain in { type filter hook input priority 0; policy accept;
		udp dport 7 numgen random mod 100 < 5 counter name dropped drop
	}`)
	p := openPort(t, bed, xdpgen.Config{})
	const n = 100000
	r := run(t, p, xdpgen.Traffic{
		Streams: []xdpgen.Stream{{Spec: udpSpec(t, bed, p, 64), Rate: pacer.Rate{Value: 20000}}},
		Count:   n,
		Drain:   500 * time.Millisecond,
	})
	dropped := nftCounter(t, bed, "dropped")
	t.Logf("sent %d received %d lost %d (%.3f%%), nftables dropped %d", r.Sent, r.Received, r.Lost, 100*r.Loss(), dropped)
	if r.Sent != n {
		t.Fatalf("sent %d, want %d", r.Sent, n)
	}
	if math.Abs(r.Loss()-0.05) > 0.01 {
		t.Errorf("loss %.3f%%, injected 5%% (±1 point)", 100*r.Loss())
	}
	if d := int64(r.Lost) - int64(dropped); d < -int64(n/1000) || d > int64(n/1000) {
		t.Errorf("lost %d, nftables dropped %d: more than 0.1%% apart", r.Lost, dropped)
	}
	if r.Duplicates != 0 || r.Reordered != 0 {
		t.Errorf("duplicates %d, reordered %d, want none", r.Duplicates, r.Reordered)
	}
}

// TestRateAccuracy offers 10k, 50k and 100k frames per second for 3 s and
// counts what the peer's end of the link receives: the rate it saw over
// the run is within ±1% of the rate asked for. The buckets hold 250 ms of
// catch-up instead of DefaultCatchUp's 20 ms: a machine shared with other
// test runs stalls a worker for longer than 20 ms now and then, which is
// the machine's doing, not the pacing's (and counting the whole run at the
// peer makes the catch-up bursts count where they belong).
func TestRateAccuracy(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	p := openPort(t, bed, xdpgen.Config{})
	sp := udpSpec(t, bed, p, 64)
	sp.DstPort.First = 9 // discard: nobody answers
	peerNft(t, bed, `chain in { type filter hook input priority 0; policy accept; udp dport 9 drop; }`)
	const d = 3 * time.Second
	for _, rate := range []float64{10000, 50000, 100000} {
		before := peerRxPackets(t, bed)
		r := run(t, p, xdpgen.Traffic{
			Streams:  []xdpgen.Stream{{Spec: sp, Rate: pacer.Rate{Value: rate, Burst: uint64(rate / 4)}}},
			Duration: d, Drain: 200 * time.Millisecond,
		})
		got := float64(peerRxPackets(t, bed)-before) / d.Seconds()
		t.Logf("rate %.0f: the peer received %.0f pps (%+.3f%%); the generator sent %d in %v (%.0f pps, %+.3f%%), cpu %v",
			rate, got, 100*(got/rate-1), r.Sent, r.Duration, r.SentPPS(), 100*(r.SentPPS()/rate-1), r.CPU)
		if math.Abs(got/rate-1) > 0.01 {
			t.Errorf("rate %.0f: the peer received %.0f pps, %+.2f%% off (want ±1%%)", rate, got, 100*(got/rate-1))
		}
		if math.Abs(r.SentPPS()/rate-1) > 0.01 {
			t.Errorf("rate %.0f: the generator sent %.0f pps, %+.2f%% off (want ±1%%)", rate, r.SentPPS(), 100*(r.SentPPS()/rate-1))
		}
	}
}
