package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/xdpengine/engine/bench/kernelgen"
	"github.com/xdpengine/engine/bench/measure"
	"github.com/xdpengine/engine/bench/report"
	"github.com/xdpengine/engine/bench/stream"
	"github.com/xdpengine/engine/bench/xdpgen"
)

// benchUDPOut is a finished bench udp: the engine's run and the kernel's.
type benchUDPOut struct {
	o      *benchUDPOptions
	engine *xdpgen.Result
	kernel *kernelgen.Result
	mode   string
	queues int
}

// benchUDPFigures is one path's figures, as JSON (see the synopsis).
type benchUDPFigures struct {
	Sent         uint64             `json:"sent"`
	Received     uint64             `json:"received"`
	Lost         uint64             `json:"lost"`
	LossRatio    float64            `json:"loss_ratio"`
	Duplicates   uint64             `json:"duplicates"`
	Reordered    uint64             `json:"reordered"`
	Other        uint64             `json:"other"`
	Errors       uint64             `json:"errors"`
	RatePPS      float64            `json:"rate_pps"`
	ReceivedPPS  float64            `json:"received_pps"`
	TxBPS        float64            `json:"tx_bps"`
	DurationS    float64            `json:"duration_s"`
	CPUS         float64            `json:"cpu_s"`
	PPSPerCore   float64            `json:"pps_per_core"`
	LatencyNs    benchLatencyJSON   `json:"latency_ns"`
	Intervals    []benchIntervalOut `json:"intervals"`
	latency      measure.Latency
	sentBytesFCS uint64
}

// benchIntervalOut is one second of a run.
type benchIntervalOut struct {
	T           float64 `json:"t_s"`
	SentPPS     float64 `json:"sent_pps"`
	ReceivedPPS float64 `json:"received_pps"`
	LossRatio   float64 `json:"loss_ratio"`
	P50         int64   `json:"p50_ns"`
	P99         int64   `json:"p99_ns"`
	Errors      uint64  `json:"errors"`
}

// benchUDPJSON is the whole --json document.
type benchUDPJSON struct {
	Test       string  `json:"test"`
	Interface  string  `json:"interface"`
	Mode       string  `json:"mode"`
	Queues     int     `json:"queues"`
	Source     string  `json:"source"`
	Target     string  `json:"target"`
	FrameSize  string  `json:"frame_size"`
	Flows      int     `json:"flows"`
	OfferedPPS float64 `json:"offered_pps"`
	benchUDPFigures
	Streams []benchStreamFigures `json:"streams,omitempty"`
	Kernel  *benchUDPFigures     `json:"kernel,omitempty"`
	Ratio   *benchUDPRatio       `json:"ratio,omitempty"`
}

// benchStreamFigures is one stream's figures (--streams).
type benchStreamFigures struct {
	Template    string            `json:"template"`
	Offered     string            `json:"offered"`
	Measured    bool              `json:"measured"`
	Sent        uint64            `json:"sent"`
	Received    uint64            `json:"received"`
	Lost        uint64            `json:"lost"`
	LossRatio   float64           `json:"loss_ratio"`
	Duplicates  uint64            `json:"duplicates"`
	Reordered   uint64            `json:"reordered"`
	RatePPS     float64           `json:"rate_pps"`
	ReceivedPPS float64           `json:"received_pps"`
	LatencyNs   *benchLatencyJSON `json:"latency_ns,omitempty"`
	latency     measure.Latency
}

func benchStreamsFigures(streams []xdpgen.Stream, r *xdpgen.Result) []benchStreamFigures {
	out := make([]benchStreamFigures, 0, len(r.Streams))
	for i, s := range r.Streams {
		f := benchStreamFigures{Offered: s.OfferedRate.String(), Measured: s.Measured, Sent: s.Sent, Received: s.Received, Lost: s.Lost,
			LossRatio: s.Loss, Duplicates: s.Duplicates, Reordered: s.Reordered, RatePPS: s.SentPPS,
			ReceivedPPS: s.ReceivedPPS, latency: s.Latency}
		if i < len(streams) {
			f.Template = streams[i].Spec.Kind.String()
			if streams[i].CaptureTiming > 0 {
				f.Offered = fmt.Sprintf("capture timing x%g", streams[i].CaptureTiming)
			}
		}
		if s.Latency.Count > 0 {
			l := benchLatencyOf(s.Latency)
			f.LatencyNs = &l
		}
		out = append(out, f)
	}
	return out
}

// benchUDPRatio is the engine's figures over the kernel's.
type benchUDPRatio struct {
	ReceivedPPS float64 `json:"received_pps"`
	PPSPerCore  float64 `json:"pps_per_core"`
	LatencyP50  float64 `json:"latency_p50"`
	LatencyP99  float64 `json:"latency_p99"`
}

func benchDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func benchEngineFigures(r *xdpgen.Result) benchUDPFigures {
	f := benchUDPFigures{
		Sent: r.Sent, Received: r.Received, Lost: r.Lost, LossRatio: r.Loss(), Duplicates: r.Duplicates,
		Reordered: r.Reordered, Other: r.Other, Errors: r.Errors, RatePPS: r.SentPPS(), ReceivedPPS: r.ReceivedPPS(),
		DurationS: r.Duration.Seconds(), CPUS: r.CPU.Seconds(), PPSPerCore: r.PPSPerCore(),
		LatencyNs: benchLatencyOf(r.Latency), latency: r.Latency,
		sentBytesFCS: r.SentBytes + stream.FCSLen*r.Sent,
	}
	f.TxBPS = benchDiv(8*float64(f.sentBytesFCS), f.DurationS)
	for _, iv := range r.Intervals {
		f.Intervals = append(f.Intervals, benchIntervalOut{T: iv.Elapsed.Seconds(), SentPPS: iv.SentPPS(),
			ReceivedPPS: iv.ReceivedPPS(), LossRatio: iv.Loss(), P50: int64(iv.Latency.P50), P99: int64(iv.Latency.P99),
			Errors: iv.Errors + iv.Other})
	}
	return f
}

func benchKernelFigures(r *kernelgen.Result, meanSize float64) benchUDPFigures {
	f := benchUDPFigures{
		Sent: r.Sent, Received: r.Received, Lost: r.Lost, LossRatio: r.Loss(), Duplicates: r.Duplicates,
		Reordered: r.Reordered, Errors: r.SendErrors, RatePPS: r.SentPPS(), ReceivedPPS: r.ReceivedPPS(),
		DurationS: r.Duration.Seconds(), CPUS: r.CPU.Seconds(), PPSPerCore: benchDiv(float64(r.Sent), r.CPU.Seconds()),
		LatencyNs: benchLatencyOf(r.Latency), latency: r.Latency,
	}
	f.TxBPS = 8 * meanSize * f.RatePPS
	for _, iv := range r.Intervals {
		loss := 0.0
		if iv.TotalSent > iv.TotalReceived {
			loss = float64(iv.TotalSent-iv.TotalReceived) / float64(iv.TotalSent)
		}
		f.Intervals = append(f.Intervals, benchIntervalOut{T: iv.Elapsed.Seconds(),
			SentPPS: benchDiv(float64(iv.Sent), iv.Length.Seconds()), ReceivedPPS: benchDiv(float64(iv.Received), iv.Length.Seconds()),
			LossRatio: loss, P50: int64(iv.Latency.P50), P99: int64(iv.Latency.P99)})
	}
	return f
}

func (u *benchUDPOut) json() benchUDPJSON {
	o := u.o
	j := benchUDPJSON{
		Test: "udp", Interface: o.port.cfg.Interface, Mode: u.mode, Queues: u.queues,
		Source: o.port.cfg.Addr.Addr().String(), Target: o.target.to.String(), FrameSize: o.size.String(),
		Flows: o.flows, OfferedPPS: o.offeredPPS(), benchUDPFigures: benchEngineFigures(u.engine),
	}
	if o.streams != nil {
		j.FrameSize, j.Flows, j.OfferedPPS = "per stream", 0, 0
		j.Streams = benchStreamsFigures(o.streams, u.engine)
	}
	if u.kernel != nil {
		k := benchKernelFigures(u.kernel, o.size.Mean())
		j.Kernel = &k
		j.Ratio = &benchUDPRatio{
			ReceivedPPS: benchDiv(j.ReceivedPPS, k.ReceivedPPS), PPSPerCore: benchDiv(j.PPSPerCore, k.PPSPerCore),
			LatencyP50: benchDiv(float64(j.LatencyNs.P50), float64(k.LatencyNs.P50)),
			LatencyP99: benchDiv(float64(j.LatencyNs.P99), float64(k.LatencyNs.P99)),
		}
	}
	return j
}

// writeText prints the summary.
func (u *benchUDPOut) writeText(w io.Writer) {
	j := u.json()
	offered := "as fast as possible"
	if j.OfferedPPS > 0 {
		offered = benchRate(j.OfferedPPS) + " offered"
	}
	if j.Streams != nil {
		fmt.Fprintf(w, "engine bench udp: %d streams (--streams), -> %s on %s (%s, %d queue(s))\n",
			len(j.Streams), j.Target, j.Interface, j.Mode, j.Queues)
	} else {
		fmt.Fprintf(w, "engine bench udp: %s -> %s on %s (%s, %d queue(s)), %s-byte frames, %d flow(s), %s\n",
			j.Source, j.Target, j.Interface, j.Mode, j.Queues, j.FrameSize, j.Flows, offered)
	}
	line := func(name string, f *benchUDPFigures) {
		fmt.Fprintf(w, "%-7s sent %d in %.2fs (%s, %.1f Mb/s)  received %d (%s)  lost %d (%.3f%%)  duplicates %d  reordered %d  errors %d\n",
			name, f.Sent, f.DurationS, benchRate(f.RatePPS), f.TxBPS/1e6, f.Received, benchRate(f.ReceivedPPS),
			f.Lost, 100*f.LossRatio, f.Duplicates, f.Reordered, f.Errors+f.Other)
		fmt.Fprintf(w, "%-7s latency %s\n", "", benchLatencyText(f.latency))
		fmt.Fprintf(w, "%-7s cpu %.2fs (%s per core)\n", "", f.CPUS, benchRate(f.PPSPerCore))
	}
	line("engine", &j.benchUDPFigures)
	for i, s := range j.Streams {
		if !s.Measured {
			fmt.Fprintf(w, "stream %d %s (%s): sent %d (%s)  not measured (its frames have no room for a signature)\n",
				i+1, s.Template, s.Offered, s.Sent, benchRate(s.RatePPS))
			continue
		}
		fmt.Fprintf(w, "stream %d %s (%s): sent %d (%s)  received %d (%s)  lost %d (%.3f%%)  duplicates %d  reordered %d\n",
			i+1, s.Template, s.Offered, s.Sent, benchRate(s.RatePPS), s.Received, benchRate(s.ReceivedPPS),
			s.Lost, 100*s.LossRatio, s.Duplicates, s.Reordered)
		if s.LatencyNs != nil {
			fmt.Fprintf(w, "%-7s latency %s\n", "", benchLatencyText(s.latency))
		}
	}
	if j.Kernel != nil {
		line("kernel", j.Kernel)
		fmt.Fprintf(w, "ratio   engine/kernel: received rate x%.2f, rate per core x%.2f, latency p50 x%.2f, p99 x%.2f\n",
			j.Ratio.ReceivedPPS, j.Ratio.PPSPerCore, j.Ratio.LatencyP50, j.Ratio.LatencyP99)
	}
}

// writeFiles writes --json and --report.
func (u *benchUDPOut) writeFiles(stdout io.Writer) error {
	if u.o.jsonPath != "" {
		if err := benchWriteJSON(u.o.jsonPath, u.json()); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	if u.o.report != "" {
		if err := u.report().WriteFile(u.o.report); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		fmt.Fprintf(stdout, "report: %s\n", u.o.report)
	}
	return nil
}

// report builds the HTML report.
func (u *benchUDPOut) report() *report.Report {
	j := u.json()
	r := report.New("engine bench udp " + u.o.argString)
	type path struct {
		name string
		f    *benchUDPFigures
	}
	paths := []path{{"engine", &j.benchUDPFigures}}
	if j.Kernel != nil {
		paths = append(paths, path{"kernel", j.Kernel})
	}
	r.Table("Test", []report.Row{
		{Name: "interface", Value: fmt.Sprintf("%s (%s, %d queues)", j.Interface, j.Mode, j.Queues)},
		{Name: "from, to", Value: j.Source + " -> " + j.Target},
		{Name: "frames", Value: fmt.Sprintf("%s bytes, %d flow(s)", j.FrameSize, j.Flows)},
	})
	if j.Streams != nil {
		var rows []report.Row
		for i, s := range j.Streams {
			v := fmt.Sprintf("sent %d (%s), not measured", s.Sent, benchRate(s.RatePPS))
			if s.Measured {
				v = fmt.Sprintf("sent %d (%s), received %d, lost %d (%.3f%%)", s.Sent, benchRate(s.RatePPS), s.Received, s.Lost, 100*s.LossRatio)
				if s.LatencyNs != nil {
					v += ", latency " + benchLatencyText(s.latency)
				}
			}
			rows = append(rows, report.Row{Name: fmt.Sprintf("%d %s (%s)", i+1, s.Template, s.Offered), Value: v})
		}
		r.Table("Streams", rows)
	}
	var rate, lat []report.Series
	for _, p := range paths {
		f := p.f
		rows := []report.Row{
			{Name: "sent", Value: fmt.Sprintf("%d in %.2f s (%s, %.1f Mb/s)", f.Sent, f.DurationS, benchRate(f.RatePPS), f.TxBPS/1e6)},
			{Name: "received", Value: fmt.Sprintf("%d (%s)", f.Received, benchRate(f.ReceivedPPS))},
			{Name: "lost", Value: fmt.Sprintf("%d (%.3f%%)", f.Lost, 100*f.LossRatio)},
			{Name: "duplicates, reordered", Value: fmt.Sprintf("%d, %d", f.Duplicates, f.Reordered)},
			{Name: "latency", Value: benchLatencyText(f.latency)},
			{Name: "cpu", Value: fmt.Sprintf("%.2f s (%s per core)", f.CPUS, benchRate(f.PPSPerCore))},
		}
		if p.name == "engine" && j.Ratio != nil {
			rows = append(rows, report.Row{Name: "engine/kernel", Value: fmt.Sprintf("received rate x%.2f, per core x%.2f, p50 x%.2f, p99 x%.2f",
				j.Ratio.ReceivedPPS, j.Ratio.PPSPerCore, j.Ratio.LatencyP50, j.Ratio.LatencyP99)})
		}
		r.Table("Summary: "+p.name, rows)
		s := []report.Series{{Name: p.name + " offered"}, {Name: p.name + " received"}, {Name: p.name + " p50"}, {Name: p.name + " p99"}}
		for _, iv := range f.Intervals {
			s[0].Points = append(s[0].Points, report.Point{X: iv.T, Y: iv.SentPPS})
			s[1].Points = append(s[1].Points, report.Point{X: iv.T, Y: iv.ReceivedPPS})
			if iv.P50 > 0 {
				s[2].Points = append(s[2].Points, report.Point{X: iv.T, Y: float64(iv.P50) / 1e3})
				s[3].Points = append(s[3].Points, report.Point{X: iv.T, Y: float64(iv.P99) / 1e3})
			}
		}
		rate = append(rate, s[0], s[1])
		if len(s[2].Points) > 0 {
			lat = append(lat, s[2], s[3])
		}
	}
	r.TimeSeries("Rate", "frames/s", rate...)
	if len(lat) > 0 {
		r.TimeSeries("Latency per second", "µs", lat...)
	}
	r.Latency("Latency distribution: engine", report.FromHDR(u.engine.Histogram))
	if u.kernel != nil {
		r.Latency("Latency distribution: kernel", report.FromHDR(u.kernel.Histogram))
	}
	return r
}

// benchKernelAddr returns an IPv4 address the kernel has on ifname inside
// prefix; when it has none, it adds prefix's address to ifname and undo
// removes it.
func benchKernelAddr(ifname string, prefix netip.Prefix) (a netip.Addr, undo func(), err error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return a, nil, fmt.Errorf("%s: %w", ifname, err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return a, nil, fmt.Errorf("%s: addresses: %w", ifname, err)
	}
	for _, ad := range addrs {
		if ip, ok := netip.AddrFromSlice(ad.IP.To4()); ok && prefix.Contains(ip) {
			return ip, func() {}, nil
		}
	}
	nl := &netlink.Addr{IPNet: &net.IPNet{IP: prefix.Addr().AsSlice(), Mask: net.CIDRMask(prefix.Bits(), 32)}}
	if err := netlink.AddrAdd(link, nl); err != nil {
		return a, nil, fmt.Errorf("add %v to %s for the kernel's run: %w", prefix, ifname, err)
	}
	return prefix.Addr(), func() { _ = netlink.AddrDel(link, nl) }, nil
}
