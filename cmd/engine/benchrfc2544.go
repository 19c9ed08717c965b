package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xdpengine/engine/bench/pacer"
	"github.com/xdpengine/engine/bench/rfc2544"
	"github.com/xdpengine/engine/bench/stream"
	"github.com/xdpengine/engine/bench/xdpgen"
)

const bench2544Synopsis = `
Usage: engine bench rfc2544 -i IFACE --addr CIDR --to IP:PORT [--sizes 64,128,...] [--loss 0]
                            [--trial 2s] [--max-rate PPS] [--json FILE] [--report FILE.html] [flags]

RFC 2544 (section 26) through AF_XDP on IFACE against the UDP echo (or
reflector) at --to, for each frame size (Ethernet, FCS included): the
throughput (binary search for the highest rate losing at most --loss
percent), the latency at that rate, and the frame loss rate at 100%, 90%,
... of the maximum rate. Each trial sends one signed UDP stream for
--trial, then waits up to --wait for frames in flight (less when all are
back).

The maximum rate per size is --max-rate, or else the link's line rate
(sysfs speed) capped by what the generator sends in a 1 s trial at full
speed. The RFC's durations (60 s trials, 20 latency trials of 120 s) take
hours; the defaults here are shorter. A trial that sent under 99% of what
it asked for is marked short, and its size generator-limited: the figures
may be the harness's, not the device's.

--json FILE writes every figure (snake_case): per size frame_size,
max_rate_fps, throughput_fps, throughput_bps (on the wire, preamble and gap
included), latency_ns {count, min, mean, p50, p90, p99, p999, max},
frame_loss [{percent, rate_fps, loss_ratio}], generator_limited and every
trial. --report FILE.html plots throughput and latency against the frame
size and the frame loss curves.

Example:
  engine bench rfc2544 -i eth1 --addr 198.18.0.1/24 --to 198.18.0.2:7 --sizes 64,512,1518 --trial 5s --report rfc2544.html`

type bench2544Options struct {
	port      benchPortFlags
	target    benchTargetFlags
	cfg       rfc2544.Config
	maxRate   float64
	wait      time.Duration
	catchUp   time.Duration
	jsonPath  string
	report    string
	argString string
}

func init() {
	benchCommands["rfc2544"] = benchCommand{
		summary: "RFC 2544 throughput, latency and frame loss per frame size, through AF_XDP",
		run:     runBench2544,
	}
}

func parseBench2544(args []string, stdout io.Writer) (*bench2544Options, error) {
	o := &bench2544Options{argString: strings.Join(args, " ")}
	c := &o.cfg
	fs := flagSet("bench rfc2544", bench2544Synopsis)
	o.port.add(fs)
	o.target.add(fs)
	c.Sizes = rfc2544.DefaultSizes
	fs.Func("sizes", "frame `sizes` with FCS, comma-separated (default 64,128,256,512,1024,1280,1518)", func(v string) error {
		c.Sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < stream.MinFrameSize || n > xdpgen.DefaultFrameSize {
				return fmt.Errorf("%q: want sizes from %d to %d", f, stream.MinFrameSize, xdpgen.DefaultFrameSize)
			}
			c.Sizes = append(c.Sizes, n)
		}
		return nil
	})
	var lossPct float64
	fs.Float64Var(&lossPct, "loss", 0, "`percent` of frames a passing trial may lose (RFC 2544: 0)")
	fs.DurationVar(&c.TrialDuration, "trial", 2*time.Second, "duration of each throughput and frame loss trial (RFC 2544: 60s)")
	fs.DurationVar(&c.LatencyDuration, "latency-trial", 0, "duration of each latency trial (default: --trial; RFC 2544: 120s)")
	fs.IntVar(&c.LatencyTrials, "latency-trials", 1, "latency trials at the throughput rate (RFC 2544: 20)")
	fs.Float64Var(&c.Resolution, "resolution", rfc2544.DefaultResolution, "search precision, a fraction of the maximum rate")
	fs.Float64Var(&c.LossStep, "loss-step", rfc2544.DefaultLossStep, "frame loss steps, a fraction of the maximum rate")
	fs.Float64Var(&o.maxRate, "max-rate", 0, "maximum rate in frames per second, every size (default: line rate capped by the generator)")
	fs.DurationVar(&o.wait, "wait", xdpgen.DefaultTrialWait, "wait after each trial for frames in flight (RFC 2544: 2s)")
	fs.DurationVar(&o.catchUp, "catch-up", 0, "sending time a stalled worker may make up for at once (default 0: evenly spaced frames, as RFC 2544 asks)")
	fs.StringVar(&o.jsonPath, "json", "", "write every figure to `FILE` as JSON")
	fs.StringVar(&o.report, "report", "", "write an HTML report with plots to `FILE`")
	if err := parseFlags(fs, args, stdout); err != nil {
		return nil, err
	}
	if err := o.port.check(); err != nil {
		return nil, err
	}
	if err := o.target.check(o.port.cfg.Addr); err != nil {
		return nil, err
	}
	c.LossTolerance = lossPct / 100
	if c.LatencyDuration == 0 {
		c.LatencyDuration = c.TrialDuration
	}
	switch {
	case !(lossPct >= 0 && lossPct < 100):
		return nil, usagef("--loss %v: want a percentage from 0 to below 100", lossPct)
	case c.TrialDuration <= 0 || c.LatencyDuration < 0 || c.LatencyTrials < 0:
		return nil, usagef("--trial, --latency-trial and --latency-trials must be positive")
	case !(c.Resolution > 0 && c.Resolution < 1) || !(c.LossStep > 0 && c.LossStep <= 1):
		return nil, usagef("--resolution and --loss-step are fractions of the maximum rate, above 0 and below 1")
	case o.maxRate < 0 || o.catchUp < 0:
		return nil, usagef("--max-rate and --catch-up cannot be negative")
	}
	return o, nil
}

func runBench2544(args []string, stdout, stderr io.Writer) error {
	o, err := parseBench2544(args, stdout)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p, err := o.port.open()
	if err != nil {
		return err
	}
	defer p.Close()
	dst, err := o.target.resolve(ctx, p)
	if err != nil {
		return err
	}
	tr := &xdpgen.Trialer{Port: p, Wait: o.wait, CatchUp: o.catchUp, Spec: stream.Spec{
		Kind: stream.UDP, SrcMAC: p.MAC(), DstMAC: dst,
		Src: stream.AddrRange{First: o.port.cfg.Addr.Addr()}, Dst: stream.AddrRange{First: o.target.to.Addr()},
		SrcPort: stream.PortRange{First: 10000}, DstPort: stream.PortRange{First: o.target.to.Port()},
	}}
	if o.wait == 0 {
		tr.Wait = -1
	}
	show := o.port.showProgress(stderr)
	maxRates, err := o.maxRates(ctx, p, tr, stderr, show)
	if err != nil {
		return err
	}
	o.cfg.MaxRate = func(size int) float64 { return maxRates[size] }
	if show {
		o.cfg.Progress = func(t rfc2544.Trial) {
			fmt.Fprintf(stderr, "\r\033[K%4d B %-10s %s: sent %d, lost %.3f%%%s\n", t.Size, t.Phase, benchRate(t.Rate),
				t.Sent, 100*t.Loss, map[bool]string{true: " (short)"}[t.Short])
		}
		tr.Progress = func(iv xdpgen.Interval) { benchProgressLine(stderr, "trial", iv) }
	}
	res, err := rfc2544.Run(ctx, tr, o.cfg)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if len(res) > 0 && errors.Is(err, context.Canceled) {
		res = res[:len(res)-1] // the interrupted size is partial
	}
	out := bench2544Out{o: o, res: res, mode: p.Mode(), queues: p.Queues()}
	out.writeText(stdout)
	return out.writeFiles(stdout)
}

// maxRates returns the maximum rate of each size: --max-rate, or the line
// rate capped by what the generator sends in a 1 s trial at full speed.
func (o *bench2544Options) maxRates(ctx context.Context, p *xdpgen.Port, tr *xdpgen.Trialer, stderr io.Writer, show bool) (map[int]float64, error) {
	rates := map[int]float64{}
	if o.maxRate > 0 {
		for _, s := range o.cfg.Sizes {
			rates[s] = o.maxRate
		}
		return rates, nil
	}
	mbps := 0.0
	if b, err := os.ReadFile(filepath.Join("/sys/class/net", o.port.cfg.Interface, "speed")); err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64); err == nil && v > 0 {
			mbps = v
		}
	}
	for _, s := range o.cfg.Sizes {
		sp := tr.Spec
		sp.Size, sp.Sign = stream.Fixed(s), stream.SignOn
		r, err := p.Run(ctx, xdpgen.Traffic{Streams: []xdpgen.Stream{{Spec: sp, Rate: pacer.Rate{}}}, Duration: time.Second, Drain: 200 * time.Millisecond})
		if err != nil {
			return nil, fmt.Errorf("measuring the generator's rate: %w", err)
		}
		rates[s] = r.SentPPS()
		if mbps > 0 {
			rates[s] = min(rates[s], mbps*1e6/float64((s+rfc2544.WireOverhead)*8))
		}
		if show {
			fmt.Fprintf(stderr, "%4d B maximum rate %s (generator %s, link %.0f Mb/s)\n", s, benchRate(rates[s]), benchRate(r.SentPPS()), mbps)
		}
		if rates[s] < 1 {
			return nil, fmt.Errorf("%d-byte frames: the generator sent nothing in 1 s", s)
		}
	}
	return rates, nil
}

// bench2544Out is a finished bench rfc2544.
type bench2544Out struct {
	o      *bench2544Options
	res    []rfc2544.Result
	mode   string
	queues int
}

type bench2544JSON struct {
	Test      string            `json:"test"`
	Interface string            `json:"interface"`
	Mode      string            `json:"mode"`
	Queues    int               `json:"queues"`
	Source    string            `json:"source"`
	Target    string            `json:"target"`
	Loss      float64           `json:"loss_tolerance"`
	TrialS    float64           `json:"trial_s"`
	Results   []bench2544Result `json:"results"`
}

type bench2544Result struct {
	FrameSize        int              `json:"frame_size"`
	MaxRate          float64          `json:"max_rate_fps"`
	Throughput       float64          `json:"throughput_fps"`
	ThroughputBps    float64          `json:"throughput_bps"`
	Latency          benchLatencyJSON `json:"latency_ns"`
	FrameLoss        []bench2544Loss  `json:"frame_loss"`
	GeneratorLimited bool             `json:"generator_limited"`
	Trials           []bench2544Trial `json:"trials"`
}

type bench2544Loss struct {
	Percent float64 `json:"percent"`
	Rate    float64 `json:"rate_fps"`
	Loss    float64 `json:"loss_ratio"`
}

type bench2544Trial struct {
	Phase     string  `json:"phase"`
	Rate      float64 `json:"rate_fps"`
	DurationS float64 `json:"duration_s"`
	Sent      uint64  `json:"sent"`
	Received  uint64  `json:"received"`
	Loss      float64 `json:"loss_ratio"`
	Pass      bool    `json:"pass"`
	Short     bool    `json:"short"`
}

func (b *bench2544Out) json() bench2544JSON {
	o := b.o
	j := bench2544JSON{Test: "rfc2544", Interface: o.port.cfg.Interface, Mode: b.mode, Queues: b.queues,
		Source: o.port.cfg.Addr.Addr().String(), Target: o.target.to.String(),
		Loss: o.cfg.LossTolerance, TrialS: o.cfg.TrialDuration.Seconds(), Results: []bench2544Result{}}
	for _, r := range b.res {
		jr := bench2544Result{FrameSize: r.Size, MaxRate: r.MaxRate, Throughput: r.Throughput, ThroughputBps: r.ThroughputBps,
			Latency: benchLatencyOf(r.Latency), GeneratorLimited: r.GeneratorLimited, FrameLoss: []bench2544Loss{}}
		for _, l := range r.FrameLoss {
			jr.FrameLoss = append(jr.FrameLoss, bench2544Loss(l))
		}
		for _, t := range r.Trials {
			jr.Trials = append(jr.Trials, bench2544Trial{Phase: string(t.Phase), Rate: t.Rate, DurationS: t.Duration.Seconds(),
				Sent: t.Sent, Received: t.Received, Loss: t.Loss, Pass: t.Pass, Short: t.Short})
		}
		j.Results = append(j.Results, jr)
	}
	return j
}

func (b *bench2544Out) writeText(w io.Writer) {
	j := b.json()
	fmt.Fprintf(w, "engine bench rfc2544: %s -> %s on %s (%s, %d queue(s)), loss tolerance %.3f%%, %gs trials\n",
		j.Source, j.Target, j.Interface, j.Mode, j.Queues, 100*j.Loss, j.TrialS)
	fmt.Fprintf(w, "%6s %14s %14s %11s %10s %10s %9s  %s\n", "size", "max rate", "throughput", "Mb/s (L1)", "lat p50", "lat p99", "loss@100%", "notes")
	for _, r := range j.Results {
		loss, note := "-", ""
		if len(r.FrameLoss) > 0 {
			loss = fmt.Sprintf("%.2f%%", 100*r.FrameLoss[0].Loss)
		}
		if r.GeneratorLimited {
			note = "generator-limited"
		}
		fmt.Fprintf(w, "%6d %14s %14s %11.1f %10s %10s %9s  %s\n", r.FrameSize, benchRate(r.MaxRate), benchRate(r.Throughput),
			r.ThroughputBps/1e6, benchDur(time.Duration(r.Latency.P50)), benchDur(time.Duration(r.Latency.P99)), loss, note)
	}
}

func (b *bench2544Out) writeFiles(stdout io.Writer) error {
	if b.o.jsonPath != "" {
		if err := benchWriteJSON(b.o.jsonPath, b.json()); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	if b.o.report != "" {
		if err := bench2544Report(b).WriteFile(b.o.report); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		fmt.Fprintf(stdout, "report: %s\n", b.o.report)
	}
	return nil
}
