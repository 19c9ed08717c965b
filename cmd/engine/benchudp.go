package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/xdpengine/engine/bench/kernelgen"
	"github.com/xdpengine/engine/bench/pacer"
	"github.com/xdpengine/engine/bench/stream"
	"github.com/xdpengine/engine/bench/xdpgen"
	"github.com/xdpengine/engine/header"
)

const benchUDPSynopsis = `
Usage: engine bench udp -i IFACE --addr CIDR --to IP:PORT [--rate PPS | --rate-bps BPS]
                        [--duration 10s | --count N] [--size 64|imix|64-1518] [--flows N]
                        [--streams FILE.yaml] [--json FILE] [--report FILE.html]
                        [--compare kernel] [flags]

Send UDP frames from --addr to --to through AF_XDP on IFACE, one worker per
queue, each frame signed (stream, sequence number, transmit time), and
measure what comes back: against any UDP echo (the kernel's, the engine's,
'engine bench reflect') that is the round trip. Frame sizes count as RFC
2544 counts them: Ethernet with the FCS (64 is 60 bytes on the link plus
the FCS the NIC adds). --flows varies the source port over N ports.

A progress line every second on a terminal: offered and received rate,
loss so far (frames in flight included), p50/p99 latency of the second,
errors (kernel drops, and frames that were not the run's). SIGINT stops
the sending early; the results so far are printed.

--json FILE writes every figure (snake_case): sent, received, lost,
loss_ratio, duplicates, reordered, other, errors, rate_pps (frames sent per
second), received_pps, tx_bps (bits of the frames sent, FCS included),
duration_s, cpu_s, pps_per_core, latency_ns {count, min, mean, p50, p90,
p99, p999, max}, intervals [{t_s, sent_pps, received_pps, loss_ratio,
p50_ns, p99_ns, errors}], and with --compare kernel the same for "kernel"
and their "ratio" (engine/kernel). --report FILE.html writes a
self-contained page with the rate over time, latency per second and the
latency distribution.

--compare kernel then runs the same test through kernel UDP sockets
(sendmmsg/recvmmsg, bound to IFACE) from the kernel's address on IFACE in
--addr's subnet; if IFACE has none, --addr's address is added to IFACE for
that run and removed afterwards.

--rate-bps sets the rate in bits per second on the wire (frames with the
FCS, plus preamble and inter-frame gap: 10e9 is 14.88 Mpps of 64-byte
frames) instead of frames per second.

` + benchStreamsHelp + `

--json FILE then also has "streams": per stream template, offered,
measured (signed), sent, received, lost, loss_ratio, duplicates, reordered, rate_pps, received_pps
and, with one queue, latency_ns.

Example:
  engine bench udp -i eth1 --addr 198.18.0.1/24 --to 198.18.0.2:7 --rate 100000 --duration 10s --report udp.html`

type benchUDPOptions struct {
	port      benchPortFlags
	target    benchTargetFlags
	rate      float64
	rateBPS   float64         // --rate-bps: bits per second on the wire, instead of rate
	streams   []xdpgen.Stream // --streams: several streams instead of the one the flags describe
	duration  time.Duration
	count     uint64
	size      stream.Sizes
	flows     int
	srcPort   uint16
	catchUp   time.Duration
	drain     time.Duration
	jsonPath  string
	report    string
	compare   string
	argString string
}

func init() {
	benchCommands["udp"] = benchCommand{
		summary: "UDP frames through AF_XDP at a rate, measured on return (loss, order, latency)",
		run:     runBenchUDP,
	}
}

func parseBenchUDP(args []string, stdout io.Writer) (*benchUDPOptions, error) {
	o := &benchUDPOptions{size: stream.Fixed(64), flows: 1, srcPort: 10000, argString: strings.Join(args, " ")}
	fs := flagSet("bench udp", benchUDPSynopsis)
	o.port.add(fs)
	o.target.add(fs)
	fs.Float64Var(&o.rate, "rate", 0, "frames per second, all workers together (0: as fast as possible)")
	fs.Float64Var(&o.rateBPS, "rate-bps", 0, "bits per second on the wire, FCS, preamble and gap counted (instead of --rate)")
	var streamsPath string
	fs.StringVar(&streamsPath, "streams", "", "send the streams of YAML `FILE` (see above) instead of one UDP stream")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send (0 with --count: until the count)")
	fs.Uint64Var(&o.count, "count", 0, "frames to send (0: no limit)")
	fs.Func("size", "frame `size` with FCS: 64, imix (64/594/1518, 7:4:1), MIN-MAX (random) or MIN-MAX:inc (default 64)", func(v string) error {
		s, err := stream.ParseSizes(v)
		o.size = s
		return err
	})
	fs.IntVar(&o.flows, "flows", 1, "source ports to vary over, from --src-port (1 to 65535)")
	fs.Func("src-port", "first source `port` (default 10000)", func(v string) error {
		var p uint16
		_, err := fmt.Sscan(v, &p)
		if err != nil || p == 0 {
			return fmt.Errorf("%q: want a port, 1-65535", v)
		}
		o.srcPort = p
		return nil
	})
	fs.DurationVar(&o.catchUp, "catch-up", xdpgen.DefaultCatchUp, "sending time a stalled worker makes up for at once (0: frames evenly spaced, a stall is lost)")
	fs.DurationVar(&o.drain, "drain", time.Second, "wait for frames in flight after sending (cut short when every frame is back)")
	fs.StringVar(&o.jsonPath, "json", "", "write every figure to `FILE` as JSON")
	fs.StringVar(&o.report, "report", "", "write an HTML report with plots to `FILE`")
	fs.StringVar(&o.compare, "compare", "", "run the same test through `kernel` sockets on the same link and print the ratio")
	if err := parseFlags(fs, args, stdout); err != nil {
		return nil, err
	}
	if err := o.port.check(); err != nil {
		return nil, err
	}
	if err := o.target.check(o.port.cfg.Addr); err != nil {
		return nil, err
	}
	switch {
	case o.rate < 0 || o.rateBPS < 0:
		return nil, usagef("--rate %v, --rate-bps %v: want 0 (as fast as possible) or more", o.rate, o.rateBPS)
	case o.rate > 0 && o.rateBPS > 0:
		return nil, usagef("--rate and --rate-bps: give one of them")
	case o.duration < 0 || o.duration == 0 && o.count == 0:
		return nil, usagef("--duration %v: want a positive duration, or 0 with --count", o.duration)
	case o.flows < 1:
		return nil, usagef("--flows %d: want 1 or more", o.flows)
	case int(o.srcPort)+o.flows-1 > 65535:
		return nil, usagef("--flows %d from --src-port %d: ports past 65535", o.flows, o.srcPort)
	case o.size.Max() > xdpgen.DefaultFrameSize:
		return nil, usagef("--size %s: frames up to %d bytes (the UMEM's frame size)", o.size, xdpgen.DefaultFrameSize)
	case o.compare != "" && o.compare != "kernel":
		return nil, usagef("--compare %q: only kernel is supported", o.compare)
	case o.catchUp < 0 || o.drain < 0:
		return nil, usagef("--catch-up and --drain cannot be negative")
	}
	if _, err := stream.New(o.spec(header.MAC{}, header.MAC{})); err != nil {
		return nil, usagef("--size %s: %v", o.size, err)
	}
	if streamsPath != "" {
		for _, f := range []string{"size", "flows", "src-port", "rate", "rate-bps", "compare"} {
			if fs.Changed(f) {
				return nil, usagef("--%s does not apply with --streams: give it in the file, per stream", f)
			}
		}
		var err error
		o.streams, err = readBenchStreams(streamsPath, benchStreamsDefaults{src: o.port.cfg.Addr.Addr(),
			dst: o.target.to.Addr(), dstPort: o.target.to.Port(), catchUp: o.catchUp.Seconds()})
		if err != nil {
			return nil, err
		}
	}
	return o, nil
}

// spec is the stream the options describe.
func (o *benchUDPOptions) spec(src, dst header.MAC) stream.Spec {
	return stream.Spec{
		Kind: stream.UDP, SrcMAC: src, DstMAC: dst,
		Src:     stream.AddrRange{First: o.port.cfg.Addr.Addr()},
		Dst:     stream.AddrRange{First: o.target.to.Addr()},
		SrcPort: stream.PortRange{First: o.srcPort, Last: o.srcPort + uint16(o.flows-1)},
		DstPort: stream.PortRange{First: o.target.to.Port()},
		Size:    o.size, Sign: stream.SignOn,
	}
}

// trafficStreams are the streams to send: --streams' or the flags' one.
func (o *benchUDPOptions) trafficStreams(src, dst header.MAC) []xdpgen.Stream {
	if o.streams != nil {
		return withMACs(o.streams, src, dst)
	}
	return []xdpgen.Stream{{Spec: o.spec(src, dst), Rate: o.pacerRate()}}
}

// offeredPPS is the single stream's rate in frames per second (0: as
// fast as possible); from --rate-bps, at the mean frame size.
func (o *benchUDPOptions) offeredPPS() float64 {
	if o.rateBPS > 0 {
		return o.rateBPS / (8 * (o.size.Mean() + pacer.WireOverhead))
	}
	return o.rate
}

// pacerRate is the rate of the options, with --catch-up's burst.
func (o *benchUDPOptions) pacerRate() pacer.Rate {
	r := pacer.Rate{Value: o.rate}
	if o.rateBPS > 0 {
		r = pacer.Rate{Value: o.rateBPS, Unit: pacer.BitsL1}
	}
	if r.Value > 0 {
		r.Burst = burstFor(r, o.catchUp.Seconds())
	}
	return r
}

func runBenchUDP(args []string, stdout, stderr io.Writer) error {
	o, err := parseBenchUDP(args, stdout)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p, err := o.port.open()
	if err != nil {
		return err
	}
	res, err := o.runEngine(ctx, p, stderr)
	p.Close()
	if err != nil {
		return err
	}
	out := &benchUDPOut{o: o, engine: res, mode: p.Mode(), queues: p.Queues()}
	if o.compare == "kernel" && ctx.Err() == nil {
		if out.kernel, err = o.runKernel(ctx, stderr); err != nil {
			return fmt.Errorf("kernel comparison: %w", err)
		}
	}
	out.writeText(stdout)
	return out.writeFiles(stdout)
}

// runEngine runs the test on the port.
func (o *benchUDPOptions) runEngine(ctx context.Context, p *xdpgen.Port, stderr io.Writer) (*xdpgen.Result, error) {
	dst, err := o.target.resolve(ctx, p)
	if err != nil {
		return nil, err
	}
	t := xdpgen.Traffic{
		Streams:  o.trafficStreams(p.MAC(), dst),
		Duration: o.duration, Count: o.count, Drain: o.drain,
	}
	if o.drain == 0 {
		t.Drain = -1
	}
	show := o.port.showProgress(stderr)
	if show {
		t.Progress = func(iv xdpgen.Interval) { benchProgressLine(stderr, "engine", iv) }
	}
	res, err := p.Run(ctx, t)
	if show {
		fmt.Fprintln(stderr)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}
	return res, nil
}

// runKernel runs the same test through kernel sockets on the link.
func (o *benchUDPOptions) runKernel(ctx context.Context, stderr io.Writer) (*kernelgen.Result, error) {
	local, undo, err := benchKernelAddr(o.port.cfg.Interface, o.port.cfg.Addr)
	if err != nil {
		return nil, err
	}
	defer undo()
	cfg := kernelgen.Config{
		Interface: o.port.cfg.Interface, Local: local, FirstPort: o.srcPort, Target: o.target.to,
		Size: o.size, Flows: min(o.flows, kernelgen.MaxFlows), Rate: o.offeredPPS(), CatchUp: o.catchUp,
		Duration: o.duration, Count: o.count, Drain: o.drain,
	}
	if o.catchUp == 0 {
		cfg.CatchUp = -1
	}
	if o.drain == 0 {
		cfg.Drain = -1
	}
	show := o.port.showProgress(stderr)
	if show {
		cfg.Progress = func(iv kernelgen.Interval) {
			benchProgressLine(stderr, "kernel", xdpgen.Interval{Elapsed: iv.Elapsed, Length: iv.Length,
				Sent: iv.Sent, Received: iv.Received, TotalSent: iv.TotalSent, TotalReceived: iv.TotalReceived,
				Latency: iv.Latency})
		}
	}
	res, err := kernelgen.Run(ctx, cfg)
	if show {
		fmt.Fprintln(stderr)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}
	return res, nil
}
