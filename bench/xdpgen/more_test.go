package xdpgen_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/bench/pacer"
	"github.com/xdpengine/engine/bench/rfc2544"
	"github.com/xdpengine/engine/bench/stream"
	"github.com/xdpengine/engine/bench/xdpgen"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// captureFrames builds the frames of a capture: UDP, TCP SYN and ICMP echo
// frames of several sizes to the peer, each different, with correct
// checksums, some with the capture's irregular spacing.
func captureFrames(t *testing.T, bed *testbed.Bed) []stream.Frame {
	t.Helper()
	var out []stream.Frame
	kinds := []stream.Kind{stream.UDP, stream.TCPSYN, stream.ICMPEcho}
	for i := range 30 {
		sp := stream.Spec{
			Kind: kinds[i%3], SrcMAC: header.MAC(bed.HostMAC), DstMAC: header.MAC(bed.PeerMAC),
			Src:     stream.AddrRange{First: bed.EngineAddr},
			Dst:     stream.AddrRange{First: bed.PeerAddr},
			SrcPort: stream.PortRange{First: uint16(20000 + i)}, DstPort: stream.PortRange{First: 9},
			Size: stream.Fixed(64 + 47*i), Seed: uint64(i),
		}
		s, err := stream.New(sp)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, s.MaxLen())
		n := s.Next(buf, int64(i)*1000)
		out = append(out, stream.Frame{Data: buf[:n], Offset: time.Duration(i*i) * 100 * time.Microsecond})
	}
	return out
}

// startTcpdump captures n frames from src on the peer's link into a file,
// and returns a function that waits for it to end and reads the file.
func startTcpdump(t *testing.T, bed *testbed.Bed, n int, src net.HardwareAddr) func() []stream.Frame {
	t.Helper()
	enginetest.NeedTool(t, "tcpdump")
	path := filepath.Join(t.TempDir(), "peer.pcap")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cmd := bed.Command(ctx, "tcpdump", "-i", bed.PeerIf, "-n", "-U", "-c", fmt.Sprint(n), "-w", path,
		"ether src "+src.String()+" and not arp")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("tcpdump: %v", err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	var head strings.Builder
	for sc.Scan() {
		head.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "listening on") {
			break
		}
	}
	if !strings.Contains(head.String(), "listening on") {
		t.Fatalf("tcpdump did not start:\n%s", head.String())
	}
	go func() { // drain what else it says
		for sc.Scan() {
		}
	}()
	return func() []stream.Frame {
		t.Helper()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("tcpdump: %v (it captured fewer than %d frames in 30 s?)", err, n)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		frames, err := stream.ReadPcap(f)
		if err != nil {
			t.Fatal(err)
		}
		return frames
	}
}

// TestReplayByteForByte replays a capture file, at a rate and with the
// capture's own timing: tcpdump in the peer namespace captures the same
// frames, byte for byte, in order.
func TestReplayByteForByte(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	p := openPort(t, bed, xdpgen.Config{})
	frames := captureFrames(t, bed)
	var file bytes.Buffer
	if err := stream.WritePcap(&file, time.Now(), frames); err != nil {
		t.Fatal(err)
	}
	read, err := stream.ReadPcap(&file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		st   xdpgen.Stream
	}{
		{"rate", xdpgen.Stream{Rate: pacer.Rate{Value: 2000}}},
		{"capture-timing", xdpgen.Stream{CaptureTiming: 1, Loop: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wait := startTcpdump(t, bed, 2*len(read), bed.HostMAC)
			st := tc.st
			st.Spec = stream.Spec{Kind: stream.Replay, Frames: read}
			r := run(t, p, xdpgen.Traffic{Streams: []xdpgen.Stream{st}, Count: uint64(2 * len(read)), Drain: -1})
			if r.Sent != uint64(2*len(read)) {
				t.Fatalf("sent %d frames, want %d", r.Sent, 2*len(read))
			}
			got := wait()
			if len(got) != 2*len(read) {
				t.Fatalf("tcpdump captured %d frames, want %d", len(got), 2*len(read))
			}
			for i, g := range got {
				want := frames[i%len(frames)].Data
				if !bytes.Equal(g.Data, want) {
					t.Fatalf("frame %d: captured %d bytes, sent %d, first difference at %d", i, len(g.Data), len(want),
						enginetest.FirstDiff(g.Data, want))
				}
			}
		})
	}
}

// TestReflectKernelClient reflects what a kernel UDP client in the peer
// namespace sends: each datagram comes back from the address and port it
// was sent to, payload unchanged, addresses and ports swapped. The client
// resolves the reflector's address by ARP first, which the port answers.
func TestReflectKernelClient(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	p := openPort(t, bed, xdpgen.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan xdpgen.Counters, 1)
	go func() {
		c, err := p.Reflect(ctx, 0, nil)
		if err != nil {
			t.Error(err)
		}
		done <- c
	}()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()
	to := netip.AddrPortFrom(bed.EngineAddr, 7777)
	c := enginetest.PeerDialUDP(t, bed, to)
	local := c.LocalAddr().(*net.UDPAddr).AddrPort()
	buf := make([]byte, 2048)
	const n = 100
	for i := range n {
		msg := []byte(fmt.Sprintf("datagram %d %s", i, strings.Repeat("x", i*10)))
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if from != to || !bytes.Equal(buf[:k], msg) {
			t.Fatalf("datagram %d came back from %v as %q, want from %v as %q", i, from, buf[:k], to, msg)
		}
	}
	cancel()
	got := <-done
	stopped = true
	if got.Reflected != n || got.ARP < 1 || got.Errors != 0 {
		t.Errorf("counters %+v: want %d reflected, an ARP answered, no errors (client %v)", got, n, local)
	}
}

// TestRFC2544Converges searches the throughput of a peer whose echo is
// rate-limited by nftables to 5,000 datagrams per second: the throughput
// found is within 5% of it. The generator makes up for stalls of up to
// 10 ms (a machine running other tests stalls it), which the limit's
// burst of 100 frames (20 ms) absorbs; that burst also lets a 1 s trial
// pass 100 frames above the limit, 2%.
func TestRFC2544Converges(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	peerEcho(t, bed, echoPort)
	const limit = 5000
	peerNft(t, bed, fmt.Sprintf(`chain in { type filter hook input priority 0; policy accept;
		udp dport 7 limit rate over %d/second burst 100 packets drop
	}`, limit))
	p := openPort(t, bed, xdpgen.Config{})
	tr := &xdpgen.Trialer{Port: p, Spec: udpSpec(t, bed, p, 64), Wait: 300 * time.Millisecond, CatchUp: 10 * time.Millisecond}
	var trials []rfc2544.Trial
	res, err := rfc2544.RunSize(t.Context(), tr, 64, rfc2544.Config{
		MaxRate:       func(int) float64 { return 4 * limit },
		Resolution:    0.005,
		TrialDuration: time.Second, LatencyDuration: time.Second, LatencyTrials: 1,
		LossStep: 0.25,
		Progress: func(tl rfc2544.Trial) { trials = append(trials, tl) },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range trials {
		t.Logf("%-10s %6.0f fps: sent %d received %d loss %.3f%% pass %v short %v", tl.Phase, tl.Rate, tl.Sent, tl.Received, 100*tl.Loss, tl.Pass, tl.Short)
	}
	t.Logf("throughput %.0f fps (limit %d), latency %v", res.Throughput, limit, res.Latency)
	if math.Abs(res.Throughput/limit-1) > 0.05 {
		t.Errorf("throughput %.0f fps, want %d ±5%%", res.Throughput, limit)
	}
	if len(res.FrameLoss) == 0 || res.FrameLoss[0].Loss < 0.5 {
		t.Errorf("frame loss at 100%% (4× the limit): %+v, want about 75%%", res.FrameLoss)
	}
}

// TestZeroAllocsPerPacket checks that a run allocates the same whatever
// its length: nothing per packet sent, received and measured, nor per
// packet reflected (a second port reflects in the peer namespace).
func TestZeroAllocsPerPacket(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	refl := peerReflector(t, bed)
	p := openPort(t, bed, xdpgen.Config{})
	sp := udpSpec(t, bed, p, 64)
	mac, err := p.Resolve(t.Context(), refl.Addr().Addr())
	if err != nil {
		t.Fatal(err)
	}
	sp.DstMAC, sp.Dst.First = mac, refl.Addr().Addr()
	allocs := func(n uint64) (uint64, *xdpgen.Result) {
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		r := run(t, p, xdpgen.Traffic{Streams: []xdpgen.Stream{{Spec: sp, Rate: pacer.Rate{Value: 50000}}},
			Count: n, Drain: 200 * time.Millisecond, Interval: time.Hour})
		runtime.ReadMemStats(&b)
		return b.Mallocs - a.Mallocs, r
	}
	allocs(1000) // warm up: trackers and histograms are kept between runs
	short, _ := allocs(1000)
	long, r := allocs(21000)
	t.Logf("allocations: %d for 1,000 frames, %d for 21,000 (received %d)", short, long, r.Received)
	if r.Received != 21000 {
		t.Fatalf("received %d of 21,000", r.Received)
	}
	if long > short+100 {
		t.Errorf("%d more allocations for 20,000 more frames each way", long-short)
	}
}

// TestConfigErrors checks the errors of Open, Run and Resolve that need no
// traffic.
func TestConfigErrors(t *testing.T) {
	for _, cfg := range []xdpgen.Config{
		{},
		{Interface: "lo"},
		{Interface: "lo", Addr: netip.MustParsePrefix("2001:2::1/64")},
		{Interface: "lo", Addr: netip.MustParsePrefix("198.18.0.1/24"), Batch: 4096},
	} {
		if _, err := xdpgen.Open(cfg); !errors.Is(err, xdpgen.ErrConfig) {
			t.Errorf("Open(%+v): %v, want ErrConfig", cfg, err)
		}
	}
	if _, err := xdpgen.Open(xdpgen.Config{Interface: "xeb-none", Addr: netip.MustParsePrefix("198.18.0.1/24")}); !errors.Is(err, afxdp.ErrNoInterface) {
		t.Errorf("Open on a missing interface: %v, want afxdp.ErrNoInterface", err)
	}
	bed := testbed.New(t, testbed.Config{})
	p := openPort(t, bed, xdpgen.Config{})
	sp := stream.Spec{Kind: stream.UDP, Src: stream.AddrRange{First: bed.EngineAddr}, Dst: stream.AddrRange{First: bed.PeerAddr}}
	for _, tr := range []xdpgen.Traffic{
		{},
		{Streams: []xdpgen.Stream{{Spec: sp, Rate: pacer.Rate{Value: -1}}}},
		{Streams: []xdpgen.Stream{{Spec: sp, CaptureTiming: 1}}},
		{Streams: []xdpgen.Stream{{Spec: stream.Spec{Kind: stream.UDP, Size: stream.Fixed(9000)}}}},
	} {
		if _, err := p.Run(t.Context(), tr); !errors.Is(err, xdpgen.ErrConfig) {
			t.Errorf("Run(%+v): %v, want ErrConfig", tr, err)
		}
	}
	if _, err := p.Resolve(t.Context(), netip.MustParseAddr("198.19.255.1")); !errors.Is(err, xdpgen.ErrNotOnLink) {
		t.Errorf("Resolve off the link: %v, want ErrNotOnLink", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := p.Resolve(ctx, bed.Prefix.Addr().Next().Next().Next().Next()); !errors.Is(err, xdpgen.ErrNoARPReply) {
		t.Errorf("Resolve a silent address: %v, want ErrNoARPReply", err)
	}
	// A run stopped by its context returns what it did and the context's error.
	ctx, cancel = context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	sp.SrcMAC, sp.DstMAC = p.MAC(), header.MAC(bed.PeerMAC)
	r, err := p.Run(ctx, xdpgen.Traffic{Streams: []xdpgen.Stream{{Spec: sp, Rate: pacer.Rate{Value: 1000}}}, Drain: -1})
	if !errors.Is(err, context.DeadlineExceeded) || r == nil || r.Sent < 100 || r.Sent > 300 {
		t.Errorf("run ended by its context: %v, sent %v", err, r)
	}
}
