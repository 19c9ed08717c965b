package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xdpengine/engine/bench/report"
	"github.com/xdpengine/engine/bench/tcpload"
)

// benchTCPJSON is --json's document: the engine's figures at the top
// level, the kernel's and the ratios beside them with --compare kernel.
type benchTCPJSON struct {
	Stack string `json:"stack"`
	// Poll and NapUS are how the engine's workers waited (--poll, --nap;
	// the nap in microseconds, 0: they spun); NapTookUS how long the nap
	// --nap auto would choose lasted here (0 when it chose none).
	Poll      string  `json:"poll"`
	NapUS     float64 `json:"nap_us"`
	NapTookUS float64 `json:"nap_took_us,omitempty"`
	tcpload.Result
	Kernel *benchTCPStackJSON `json:"kernel,omitempty"`
	Ratio  *benchTCPRatio     `json:"ratio,omitempty"`
}

type benchTCPStackJSON struct {
	Stack string `json:"stack"`
	tcpload.Result
}

// benchTCPRatio is engine / kernel for the headline figures.
type benchTCPRatio struct {
	RequestsPerS float64 `json:"requests_per_s"`
	ConnectsPerS float64 `json:"connects_per_s"`
	BitsPerS     float64 `json:"bits_per_s"`
	LatencyP50   float64 `json:"latency_p50"`
	LatencyP99   float64 `json:"latency_p99"`
	// CPU per request, this process's and the machine's.
	ProcessUsPerRequest float64 `json:"process_us_per_request"`
	MachineUsPerRequest float64 `json:"machine_us_per_request"`
}

func benchTCPDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func benchTCPRatioOf(e, k *tcpload.Result) *benchTCPRatio {
	return &benchTCPRatio{
		RequestsPerS: benchTCPDiv(e.RequestsPerS, k.RequestsPerS),
		ConnectsPerS: benchTCPDiv(e.ConnectsPerS, k.ConnectsPerS),
		BitsPerS:     benchTCPDiv(e.BitsPerS, k.BitsPerS),
		LatencyP50:   benchTCPDiv(float64(e.Latency.P50), float64(k.Latency.P50)),
		LatencyP99:   benchTCPDiv(float64(e.Latency.P99), float64(k.Latency.P99)),

		ProcessUsPerRequest: benchTCPDiv(e.CPU.ProcessUsPerRequest, k.CPU.ProcessUsPerRequest),
		MachineUsPerRequest: benchTCPDiv(e.CPU.MachineUsPerRequest, k.CPU.MachineUsPerRequest),
	}
}

// benchTCPWaiting says how the engine's workers waited: the poll mode and
// the nap (--nap).
func benchTCPWaiting(o *benchTCPOptions) string {
	w := "poll " + o.cfg.Poll.String()
	switch {
	case o.cfg.Nap > 0 && o.napTook > 0:
		w += fmt.Sprintf(", nap %v (lasts %v here)", o.cfg.Nap, o.napTook.Round(time.Microsecond))
	case o.cfg.Nap > 0:
		w += fmt.Sprintf(", nap %v", o.cfg.Nap)
	case o.napTook > 0:
		w += fmt.Sprintf(", no nap (one lasts %v here: timers fire late)", o.napTook.Round(time.Microsecond))
	}
	return w
}

// writeBenchTCPText prints the figures, one column per stack and the
// ratio when there are two.
func writeBenchTCPText(w io.Writer, o *benchTCPOptions, runs []benchTCPRun) {
	l := &o.load
	loop := "closed loop"
	if l.Rate > 0 {
		loop = fmt.Sprintf("open loop at %s/s", benchTCPNum(l.Rate))
	}
	if l.Mode == tcpload.Bulk {
		loop = "direction " + l.Direction.String()
	}
	fmt.Fprintf(w, "engine bench tcp: %s %s, %d connections, %s, %v; workers: %s\n", l.Mode, o.url, l.Conns, loop, l.Duration, benchTCPWaiting(o))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, f func(r *tcpload.Result) string, ratio func(e, k *tcpload.Result) float64) {
		fmt.Fprintf(tw, "%-14s\t", name) // padded: left-aligned in a right-aligned table
		for i := range runs {
			fmt.Fprintf(tw, "%s\t", f(&runs[i].res))
		}
		if len(runs) == 2 && ratio != nil {
			fmt.Fprintf(tw, "%.2f\t", ratio(&runs[0].res, &runs[1].res))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "%-14s\t", "")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t", r.stack)
	}
	if len(runs) == 2 {
		fmt.Fprintf(tw, "engine/kernel\t")
	}
	fmt.Fprintln(tw)
	u := func(f func(r *tcpload.Result) uint64) func(r *tcpload.Result) string {
		return func(r *tcpload.Result) string { return fmt.Sprint(f(r)) }
	}
	div := func(f func(r *tcpload.Result) float64) func(e, k *tcpload.Result) float64 {
		return func(e, k *tcpload.Result) float64 { return benchTCPDiv(f(e), f(k)) }
	}
	if l.Mode != tcpload.Bulk {
		row("requests", u(func(r *tcpload.Result) uint64 { return r.Requests }), nil)
		row("requests/s", func(r *tcpload.Result) string { return benchTCPNum(r.RequestsPerS) },
			div(func(r *tcpload.Result) float64 { return r.RequestsPerS }))
	}
	row("connects", u(func(r *tcpload.Result) uint64 { return r.Connects }), nil)
	if l.Mode == tcpload.Connect {
		row("connects/s", func(r *tcpload.Result) string { return benchTCPNum(r.ConnectsPerS) },
			div(func(r *tcpload.Result) float64 { return r.ConnectsPerS }))
	}
	row("peak open", func(r *tcpload.Result) string { return fmt.Sprint(r.PeakConns) }, nil)
	row("bytes sent", u(func(r *tcpload.Result) uint64 { return r.BytesSent }), nil)
	row("bytes received", u(func(r *tcpload.Result) uint64 { return r.BytesReceived }), nil)
	row("throughput", func(r *tcpload.Result) string { return benchTCPBits(r.BitsPerS) },
		div(func(r *tcpload.Result) float64 { return r.BitsPerS }))
	row("errors", func(r *tcpload.Result) string { return benchTCPErrors(r.Errors) }, nil)
	if l.Mode != tcpload.Bulk {
		// Per request: the figure to compare with another tool's (the
		// machine's includes a server on this machine).
		row("cpu/request", func(r *tcpload.Result) string {
			return fmt.Sprintf("%.1fµs", r.CPU.ProcessUsPerRequest)
		}, div(func(r *tcpload.Result) float64 { return r.CPU.ProcessUsPerRequest }))
		row("machine/request", func(r *tcpload.Result) string {
			return fmt.Sprintf("%.1fµs", r.CPU.MachineUsPerRequest)
		}, div(func(r *tcpload.Result) float64 { return r.CPU.MachineUsPerRequest }))
	}
	row("cpu", func(r *tcpload.Result) string {
		return fmt.Sprintf("%.2fs (machine %.2fs)", r.CPU.ProcessSeconds, r.CPU.MachineSeconds)
	}, nil)
	if l.Mode != tcpload.Bulk {
		for _, p := range []struct {
			name string
			f    func(r *tcpload.Result) time.Duration
		}{
			{"latency p50", func(r *tcpload.Result) time.Duration { return r.Latency.P50 }},
			{"latency p90", func(r *tcpload.Result) time.Duration { return r.Latency.P90 }},
			{"latency p99", func(r *tcpload.Result) time.Duration { return r.Latency.P99 }},
			{"latency p99.9", func(r *tcpload.Result) time.Duration { return r.Latency.P999 }},
			{"latency max", func(r *tcpload.Result) time.Duration { return r.Latency.Max }},
		} {
			row(p.name, func(r *tcpload.Result) string { return p.f(r).Round(time.Microsecond).String() },
				div(func(r *tcpload.Result) float64 { return float64(p.f(r)) }))
		}
	}
	if l.Rate > 0 && l.Mode != tcpload.Bulk {
		row("send lag", func(r *tcpload.Result) string {
			if r.SendLagNs == nil {
				return "-"
			}
			return fmt.Sprintf("p50 %v p99 %v", time.Duration(r.SendLagNs.P50).Round(time.Microsecond),
				time.Duration(r.SendLagNs.P99).Round(time.Microsecond))
		}, nil)
	}
	tw.Flush()
}

// benchTCPErrors is "0", or the total with its non-zero kinds.
func benchTCPErrors(e tcpload.Errors) string {
	if e.Total == 0 {
		return "0"
	}
	var parts []string
	for _, k := range []struct {
		name string
		n    uint64
	}{{"connect", e.Connect}, {"timeout", e.Timeout}, {"reset", e.Reset}, {"closed", e.Closed},
		{"bad response", e.BadResponse}, {"status", e.Status}, {"other", e.Other}} {
		if k.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k.name, k.n))
		}
	}
	return fmt.Sprintf("%d (%s)", e.Total, strings.Join(parts, ", "))
}

// writeBenchTCPFiles writes --json and --report.
func writeBenchTCPFiles(stdout io.Writer, o *benchTCPOptions, args []string, runs []benchTCPRun) error {
	if o.jsonPath != "" {
		doc := benchTCPJSON{Stack: runs[0].stack, Poll: o.cfg.Poll.String(),
			NapUS: float64(o.cfg.Nap) / float64(time.Microsecond), NapTookUS: float64(o.napTook) / float64(time.Microsecond), Result: runs[0].res}
		if len(runs) == 2 {
			doc.Kernel = &benchTCPStackJSON{Stack: runs[1].stack, Result: runs[1].res}
			doc.Ratio = benchTCPRatioOf(&runs[0].res, &runs[1].res)
		}
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		b = append(b, '\n')
		if o.jsonPath == "-" {
			_, err = stdout.Write(b)
		} else {
			err = os.WriteFile(o.jsonPath, b, 0o644)
		}
		if err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	if o.reportPath != "" {
		if err := benchTCPReport(o, args, runs).WriteFile(o.reportPath); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
	}
	return nil
}

// benchTCPReport makes the HTML report: a summary table, the rate and the
// latency percentiles over time, and each stack's latency distribution.
func benchTCPReport(o *benchTCPOptions, args []string, runs []benchTCPRun) *report.Report {
	r := report.New("engine bench tcp " + strings.Join(args, " "))
	bulk := o.load.Mode == tcpload.Bulk
	var rate, p50, p99 []report.Series
	for _, run := range runs {
		res := &run.res
		rows := []report.Row{
			{Name: "requests", Value: fmt.Sprintf("%d (%s/s)", res.Requests, benchTCPNum(res.RequestsPerS))},
			{Name: "connects", Value: fmt.Sprintf("%d (%s/s), peak %d open", res.Connects, benchTCPNum(res.ConnectsPerS), res.PeakConns)},
			{Name: "bytes", Value: fmt.Sprintf("%d sent, %d received, %s", res.BytesSent, res.BytesReceived, benchTCPBits(res.BitsPerS))},
			{Name: "errors", Value: benchTCPErrors(res.Errors)},
			{Name: "latency", Value: res.Latency.String()},
			{Name: "cpu", Value: fmt.Sprintf("%.2f s in this process (%.1f µs a request), %.2f s on the machine (%.1f µs)",
				res.CPU.ProcessSeconds, res.CPU.ProcessUsPerRequest, res.CPU.MachineSeconds, res.CPU.MachineUsPerRequest)},
		}
		if run.stack == "engine" {
			rows = append(rows, report.Row{Name: "workers", Value: benchTCPWaiting(o)})
		}
		r.Table("Summary: "+run.stack, rows)
		s := []report.Series{{Name: run.stack}, {Name: run.stack + " p50"}, {Name: run.stack + " p99"}}
		for _, iv := range res.Intervals {
			y := iv.RequestsPerS
			if bulk {
				y = iv.BitsPerS / 1e6
			}
			s[0].Points = append(s[0].Points, report.Point{X: iv.T, Y: y})
			s[1].Points = append(s[1].Points, report.Point{X: iv.T, Y: float64(iv.P50) / 1e3})
			s[2].Points = append(s[2].Points, report.Point{X: iv.T, Y: float64(iv.P99) / 1e3})
		}
		rate, p50, p99 = append(rate, s[0]), append(p50, s[1]), append(p99, s[2])
	}
	if bulk {
		r.TimeSeries("Throughput", "Mb/s", rate...)
		return r
	}
	r.TimeSeries("Answered requests per second", "requests/s", rate...)
	r.TimeSeries("Latency per second", "µs", append(p50, p99...)...)
	for _, run := range runs {
		r.Latency("Latency distribution: "+run.stack, report.FromHDR(run.res.Histogram))
	}
	return r
}

// benchTCPNum formats a rate with at most one decimal.
func benchTCPNum(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// benchTCPBits formats bits per second.
func benchTCPBits(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2f Gb/s", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.1f Mb/s", v/1e6)
	}
	return fmt.Sprintf("%.0f kb/s", v/1e3)
}
