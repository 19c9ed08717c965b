package scaling

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Speedup is r's engine rate over the engine rate of the same benchmark
// at its smallest queue count in rows, 0 when there is none.
func Speedup(rows []Row, r Row) float64 {
	base := math.NaN()
	least := math.MaxInt
	for _, o := range rows {
		if o.Benchmark == r.Benchmark && o.Queues < least {
			least, base = o.Queues, o.Engine
		}
	}
	if !(base > 0) {
		return 0
	}
	return r.Engine / base
}

// Imbalance is the largest deviation of a share from an even split,
// relative to it: 0.2 means a queue got 20% more or less than 1/N.
func Imbalance(shares []float64) float64 {
	if len(shares) == 0 {
		return 0
	}
	even := 1 / float64(len(shares))
	var d float64
	for _, s := range shares {
		d = max(d, math.Abs(s-even)/even)
	}
	return d
}

// WriteTable prints rows as an aligned table: the rates, the ratio, the
// speedup over the benchmark's smallest queue count and each queue's
// share with the imbalance.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "benchmark\tqueues\tengine\tkernel\tunit\tengine/kernel\tspeedup\tshares\timbalance\truns\t")
	for _, r := range rows {
		sh := make([]string, len(r.Shares))
		for i, s := range r.Shares {
			sh[i] = fmt.Sprintf("%.2f", s)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%.2f\t%.2f\t%s\t%.0f%%\t%d\t\n", r.Benchmark, r.Queues,
			rate(r.Engine), rate(r.Kernel), r.Unit, r.Ratio, Speedup(rows, r), strings.Join(sh, " "), 100*Imbalance(r.Shares), r.Runs)
	}
	return tw.Flush()
}

// rate formats a rate with three significant figures or more.
func rate(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// WriteJSON writes rows as a JSON list, indented.
func WriteJSON(w io.Writer, rows []Row) error {
	if rows == nil {
		rows = []Row{}
	}
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ErrNoData is WritePlot's error when no benchmark has a row to draw.
var ErrNoData = errors.New("scaling: no rows to plot")

// WritePlot draws two plots side by side into path (.svg or .png): the
// engine/kernel ratio and the engine's speedup over the smallest queue
// count (with the ideal, linear speedup), each against the queue count,
// one line per benchmark.
func WritePlot(path string, rows []Row) error {
	if len(rows) == 0 {
		return ErrNoData
	}
	ratio := newPlot("Engine / kernel", "engine/kernel (×)")
	speed := newPlot("Engine scaling", "speedup over the fewest queues (×)")
	var benches []string
	for _, r := range rows {
		if !slices.Contains(benches, r.Benchmark) {
			benches = append(benches, r.Benchmark)
		}
	}
	lo, hi := math.MaxInt, 0
	for i, b := range benches {
		var rs, ss plotter.XYs
		for _, r := range rows {
			if r.Benchmark == b {
				if r.Ratio > 0 { // 0: the benchmark claimed no ratio
					rs = append(rs, plotter.XY{X: float64(r.Queues), Y: r.Ratio})
				}
				ss = append(ss, plotter.XY{X: float64(r.Queues), Y: Speedup(rows, r)})
				lo, hi = min(lo, r.Queues), max(hi, r.Queues)
			}
		}
		for _, c := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{ratio, rs}, {speed, ss}} {
			if len(c.xys) == 0 {
				continue
			}
			l, pts, err := plotter.NewLinePoints(c.xys)
			if err != nil {
				return err
			}
			l.Color, pts.Color, pts.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
			c.p.Add(l, pts)
			c.p.Legend.Add(b, l, pts)
		}
	}
	ideal, err := plotter.NewLine(plotter.XYs{{X: float64(lo), Y: 1}, {X: float64(hi), Y: float64(hi) / float64(lo)}})
	if err != nil {
		return err
	}
	ideal.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	speed.Add(ideal)
	speed.Legend.Add("linear", ideal)
	even := plotter.NewFunction(func(float64) float64 { return 1 })
	even.Dashes = ideal.Dashes
	ratio.Add(even)
	for _, p := range []*plot.Plot{ratio, speed} {
		p.X.Min, p.X.Max = float64(lo)-0.25, float64(hi)+0.25
		p.Y.Min = 0
		p.X.Tick.Marker = queueTicks{}
	}
	// Room above the curves for the legends, one line per entry.
	ratio.Y.Max = max(ratio.Y.Max, 1.1)
	ratio.Y.Max += 0.08 * float64(len(benches)+1) * ratio.Y.Max
	speed.Y.Max += 0.08 * float64(len(benches)+2) * speed.Y.Max

	const w, h = 30 * vg.Centimeter, 11 * vg.Centimeter
	var c interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".svg":
		c = vgsvg.New(w, h)
	case ".png":
		c = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	default:
		return fmt.Errorf("scaling: plot %s: want .svg or .png", path)
	}
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Centimeter, PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3,
		PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	plots := [][]*plot.Plot{{ratio, speed}}
	canvases := plot.Align(plots, tiles, dc)
	ratio.Draw(canvases[0][0])
	speed.Draw(canvases[0][1])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newPlot(title, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "queues (workers)"
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	return p
}

// queueTicks marks the whole queue counts.
type queueTicks struct{}

func (queueTicks) Ticks(lo, hi float64) []plot.Tick {
	var t []plot.Tick
	step := max(1, math.Floor((hi-lo)/8))
	for v := math.Ceil(lo); v <= hi; v += step {
		t = append(t, plot.Tick{Value: v, Label: fmt.Sprintf("%.0f", v)})
	}
	return t
}
