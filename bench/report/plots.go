package report

import (
	"bytes"
	"errors"
	"html/template"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// errNoData is shown in place of a plot that has nothing to draw.
var errNoData = errors.New("no data to plot")

// Plot size in the page.
const (
	plotW = 15 * vg.Centimeter
	plotH = 8.5 * vg.Centimeter
)

// binsPerDecade is the resolution of the latency histogram.
const binsPerDecade = 20

// svgOf draws p and returns the inline <svg> element.
func svgOf(p *plot.Plot) (template.HTML, error) {
	c := vgsvg.New(plotW, plotH)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", err
	}
	b := buf.Bytes()
	if i := bytes.Index(b, []byte("<svg")); i > 0 {
		b = b[i:] // drop the XML declaration and comment: the SVG is inline
	}
	return template.HTML(b), nil // drawn by vgsvg; every text in it is escaped by svgo
}

func newPlot(title, xLabel, yLabel string, logX bool) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = logTicks{}
	}
	p.Legend.Top = true
	return p
}

// linePlot draws series as lines with markers.
func linePlot(title, xLabel, yLabel string, logX bool, series []Series) (template.HTML, error) {
	if logX && !spansX(series) {
		logX = false // one X value: a logarithmic axis would have no ticks
	}
	p := newPlot(title, xLabel, yLabel, logX)
	n, named := 0, 0
	for i, s := range series {
		var xys plotter.XYs
		for _, pt := range s.Points {
			if logX && !(pt.X > 0) || math.IsNaN(pt.X) || math.IsNaN(pt.Y) || math.IsInf(pt.Y, 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: pt.X, Y: pt.Y})
		}
		if len(xys) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return "", err
		}
		l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		pts.Radius = vg.Points(2)
		p.Add(l, pts)
		if s.Name != "" {
			p.Legend.Add(s.Name, l, pts)
			named++
		}
		n++
	}
	if n == 0 {
		return "", errNoData
	}
	p.Y.Min = min(p.Y.Min, 0)
	if named > 0 { // room for the legend above the curves, on their lower side
		p.Y.Max += 0.08 * float64(named+1) * (p.Y.Max - p.Y.Min)
		p.Legend.Left = risesRight(series, p.X.Min, p.X.Max)
	}
	return svgOf(p)
}

// risesRight reports whether the series' points in the right half of
// [lo, hi] are higher, on average, than those in the left half.
func risesRight(series []Series, lo, hi float64) bool {
	mid := (lo + hi) / 2
	var l, r float64
	var nl, nr int
	for _, s := range series {
		for _, pt := range s.Points {
			if pt.X < mid {
				l, nl = l+pt.Y, nl+1
			} else {
				r, nr = r+pt.Y, nr+1
			}
		}
	}
	return nl > 0 && nr > 0 && r/float64(nr) > l/float64(nl)
}

// spansX reports whether the series' positive X values are not all one.
func spansX(series []Series) bool {
	first := math.NaN()
	for _, s := range series {
		for _, pt := range s.Points {
			if !(pt.X > 0) {
				continue
			}
			if math.IsNaN(first) {
				first = pt.X
			} else if pt.X != first {
				return true
			}
		}
	}
	return false
}

// latencyPlots draws a histogram over logarithmic bins and the cumulative
// distribution of buckets, latency in microseconds.
func latencyPlots(buckets []Bucket) ([]template.HTML, error) {
	bs := slices.Clone(buckets)
	slices.SortFunc(bs, func(a, b Bucket) int { return int(a.Lo - b.Lo) })
	var total uint64
	lo, hi := math.Inf(1), 0.0
	for _, b := range bs {
		if b.Count == 0 {
			continue
		}
		total += b.Count
		lo = min(lo, max(float64(b.Lo), 1)/1e3)
		hi = max(hi, float64(b.Hi)/1e3)
	}
	if total == 0 {
		return nil, errNoData
	}
	// Histogram: each bucket's count goes to the logarithmic bin that
	// holds its middle, as a percentage of all samples.
	first := math.Floor(math.Log10(lo) * binsPerDecade)
	last := math.Ceil(math.Log10(hi) * binsPerDecade)
	nb := max(int(last-first), 1)
	bins := make([]plotter.HistogramBin, nb)
	for i := range bins {
		bins[i].Min = math.Pow(10, (first+float64(i))/binsPerDecade)
		bins[i].Max = math.Pow(10, (first+float64(i)+1)/binsPerDecade)
	}
	for _, b := range bs {
		mid := (max(float64(b.Lo), 1) + float64(b.Hi)) / 2e3
		i := int(math.Floor(math.Log10(mid)*binsPerDecade - first))
		i = min(max(i, 0), nb-1)
		bins[i].Weight += 100 * float64(b.Count) / float64(total)
	}
	h := &plotter.Histogram{Bins: bins, FillColor: plotutil.Color(0), LineStyle: plotter.DefaultLineStyle}
	h.LineStyle.Width = vg.Points(0.5)
	ph := newPlot("Latency histogram", "latency (µs)", "% of samples", true)
	ph.Add(h)
	ph.Y.Min = 0
	hist, err := svgOf(ph)
	if err != nil {
		return nil, err
	}
	// CDF: the share of samples at or below each bucket's upper end.
	cdf := make([]Point, 0, len(bs)+1)
	var acc uint64
	cdf = append(cdf, Point{X: lo, Y: 0})
	for _, b := range bs {
		acc += b.Count
		cdf = append(cdf, Point{X: float64(b.Hi) / 1e3, Y: 100 * float64(acc) / float64(total)})
	}
	c, err := linePlotNoMarks("Latency CDF", "latency (µs)", "% of samples at or below", cdf)
	if err != nil {
		return nil, err
	}
	return []template.HTML{hist, c}, nil
}

// linePlotNoMarks draws one curve of many points, log X, without markers.
func linePlotNoMarks(title, xLabel, yLabel string, pts []Point) (template.HTML, error) {
	p := newPlot(title, xLabel, yLabel, true)
	xys := make(plotter.XYs, 0, len(pts))
	for _, pt := range pts {
		if pt.X > 0 {
			xys = append(xys, plotter.XY{X: pt.X, Y: pt.Y})
		}
	}
	if len(xys) == 0 {
		return "", errNoData
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return "", err
	}
	l.Color = plotutil.Color(0)
	p.Add(l)
	p.Y.Min, p.Y.Max = 0, 100
	return svgOf(p)
}

// logTicks marks 1, 2 and 5 times each power of ten, labelling the
// powers of ten and, across less than two decades, the others too.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	few := hi/lo < 100
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || few {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ts = append(ts, t)
		}
	}
	return ts
}
