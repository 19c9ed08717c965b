package kernelgen_test

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpengine/engine/bench/kernelgen"
	"github.com/xdpengine/engine/bench/stream"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestEcho sends paced datagrams from the host kernel's address on the
// bed's link to a UDP echo in the peer namespace: every one comes back,
// measured.
func TestEcho(t *testing.T) {
	bed := testbed.New(t, testbed.Config{HostKernelAddr: true})
	var ln *net.UDPConn
	if err := bed.Do(func() (err error) {
		ln, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 7})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	enginetest.ForceReadBuffer(t, ln, 8<<20) // an echo the machine stalls does not drop
	go enginetest.ServeUDPEcho(ln)
	var ivs []kernelgen.Interval
	r, err := kernelgen.Run(t.Context(), kernelgen.Config{
		Interface: bed.HostIf, Local: bed.HostAddr, FirstPort: 20000, Flows: 2,
		Target: netip.AddrPortFrom(bed.PeerAddr, 7), Size: stream.Fixed(64),
		Rate: 5000, Count: 10000, Interval: 500 * time.Millisecond,
		CatchUp:  250 * time.Millisecond, // a machine running other tests stalls the sender now and then
		Progress: func(iv kernelgen.Interval) { ivs = append(ivs, iv) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d received %d in %v (%.0f pps); latency %v; cpu %v", r.Sent, r.Received, r.Duration, r.SentPPS(), r.Latency, r.CPU)
	if r.Sent != 10000 || r.Received != 10000 || r.Lost != 0 || r.Duplicates != 0 {
		t.Errorf("sent %d received %d lost %d duplicates %d, want 10000 back", r.Sent, r.Received, r.Lost, r.Duplicates)
	}
	if r.Latency.Count != 10000 || uint64(r.Histogram.TotalCount()) != 10000 {
		t.Errorf("latency samples %d (histogram %d), want 10000", r.Latency.Count, r.Histogram.TotalCount())
	}
	if d := r.Duration; d < 1950*time.Millisecond || d > 2200*time.Millisecond {
		t.Errorf("10,000 datagrams at 5,000/s took %v, want 2 s", d)
	}
	if len(ivs) < 3 {
		t.Errorf("%d intervals of 0.5 s in 2 s", len(ivs))
	}
	var samples uint64
	for i, iv := range ivs {
		samples += iv.Latency.Count
		if iv.Received > 0 && (iv.Latency.Count == 0 || iv.Latency.P50 <= 0 || iv.Latency.P99 < iv.Latency.P50) {
			t.Errorf("interval %d: %d received, latency %+v", i, iv.Received, iv.Latency)
		}
	}
	if samples == 0 || samples > 10000 {
		t.Errorf("%d latency samples over the intervals, want some and at most 10000", samples)
	}
}

func TestConfigErrors(t *testing.T) {
	ok := kernelgen.Config{Local: netip.MustParseAddr("198.18.0.3"), Target: netip.MustParseAddrPort("198.18.0.2:7"), Count: 1}
	for _, mod := range []func(*kernelgen.Config){
		func(c *kernelgen.Config) { c.Local = netip.Addr{} },
		func(c *kernelgen.Config) { c.Target = netip.MustParseAddrPort("198.18.0.2:0") },
		func(c *kernelgen.Config) { c.Flows = kernelgen.MaxFlows + 1 },
		func(c *kernelgen.Config) { c.Count = 0 },
		func(c *kernelgen.Config) { c.Rate = -1 },
	} {
		c := ok
		mod(&c)
		if _, err := kernelgen.Run(t.Context(), c); !errors.Is(err, kernelgen.ErrConfig) {
			t.Errorf("Run(%+v): %v, want ErrConfig", c, err)
		}
	}
}
