package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/xdpengine/engine/bench/report"
)

// bench2544Report builds the RFC 2544 report: a table per size, throughput
// and latency against the frame size, and the frame loss curves.
func bench2544Report(b *bench2544Out) *report.Report {
	j := b.json()
	r := report.New("engine bench rfc2544 " + b.o.argString)
	r.Table("Test", []report.Row{
		{Name: "interface", Value: fmt.Sprintf("%s (%s, %d queues)", j.Interface, j.Mode, j.Queues)},
		{Name: "from, to", Value: j.Source + " -> " + j.Target},
		{Name: "loss tolerance", Value: fmt.Sprintf("%.3f%%", 100*j.Loss)},
		{Name: "trials", Value: fmt.Sprintf("%g s", j.TrialS)},
	})
	var rows []report.Row
	thr := report.Series{Name: "throughput"}
	peak := report.Series{Name: "maximum rate"}
	mbps := report.Series{Name: "throughput (L1)"}
	p50, p99 := report.Series{Name: "p50"}, report.Series{Name: "p99"}
	var loss []report.Series
	for _, res := range j.Results {
		x := float64(res.FrameSize)
		note := ""
		if res.GeneratorLimited {
			note = ", generator-limited"
		}
		rows = append(rows, report.Row{Name: strconv.Itoa(res.FrameSize) + " bytes",
			Value: fmt.Sprintf("%s of %s (%.1f Mb/s), latency p50 %s p99 %s%s", benchRate(res.Throughput), benchRate(res.MaxRate),
				res.ThroughputBps/1e6, benchDur(time.Duration(res.Latency.P50)), benchDur(time.Duration(res.Latency.P99)), note)})
		thr.Points = append(thr.Points, report.Point{X: x, Y: res.Throughput})
		peak.Points = append(peak.Points, report.Point{X: x, Y: res.MaxRate})
		mbps.Points = append(mbps.Points, report.Point{X: x, Y: res.ThroughputBps / 1e6})
		if res.Latency.Count > 0 {
			p50.Points = append(p50.Points, report.Point{X: x, Y: float64(res.Latency.P50) / 1e3})
			p99.Points = append(p99.Points, report.Point{X: x, Y: float64(res.Latency.P99) / 1e3})
		}
		l := report.Series{Name: strconv.Itoa(res.FrameSize) + " B"}
		for _, fl := range res.FrameLoss {
			l.Points = append(l.Points, report.Point{X: fl.Percent, Y: 100 * fl.Loss})
		}
		loss = append(loss, l)
	}
	r.Table("Results", rows)
	r.XY("Throughput", "frame size (bytes)", "frames/s", true, thr, peak)
	r.XY("Throughput on the wire", "frame size (bytes)", "Mb/s", true, mbps)
	r.XY("Latency at the throughput rate", "frame size (bytes)", "µs", true, p50, p99)
	r.XY("Frame loss rate", "offered load (% of the maximum rate)", "% of frames lost", false, loss...)
	return r
}
