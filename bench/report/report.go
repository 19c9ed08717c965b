package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"os"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Point is one point of a Series.
type Point struct{ X, Y float64 }

// Series is a named curve. For TimeSeries, X is seconds since the start of
// the run.
type Series struct {
	Name   string
	Points []Point
}

// Bucket is one bucket of a latency distribution: Count samples in
// [Lo, Hi).
type Bucket struct {
	Lo, Hi time.Duration
	Count  uint64
}

// Row is a row of a Table.
type Row struct{ Name, Value string }

// sectionKind says how a section is rendered.
type sectionKind uint8

const (
	kindTable sectionKind = iota
	kindTime
	kindLatency
	kindXY
	kindText
)

type section struct {
	kind           sectionKind
	title          string
	xLabel, yLabel string
	logX           bool
	rows           []Row
	series         []Series
	buckets        []Bucket
	text           string
}

// Report is an HTML page of tables and plots. Add sections, then call
// WriteHTML or WriteFile. It is not safe for concurrent use.
type Report struct {
	Title    string
	Created  time.Time // shown under the title; the zero value hides it
	sections []section
}

// New returns an empty report titled title, created now.
func New(title string) *Report { return &Report{Title: title, Created: time.Now()} }

// Text adds a paragraph.
func (r *Report) Text(s string) { r.sections = append(r.sections, section{kind: kindText, text: s}) }

// Table adds a table of name and value rows.
func (r *Report) Table(title string, rows []Row) {
	r.sections = append(r.sections, section{kind: kindTable, title: title, rows: rows})
}

// TimeSeries adds a plot of series over time (X in seconds since the
// start), with yLabel on the vertical axis.
func (r *Report) TimeSeries(title, yLabel string, series ...Series) {
	r.sections = append(r.sections, section{kind: kindTime, title: title,
		xLabel: "time (s)", yLabel: yLabel, series: series})
}

// Latency adds a latency distribution: a histogram over logarithmic bins
// and the cumulative distribution, both with latency in microseconds on a
// logarithmic axis.
func (r *Report) Latency(title string, buckets []Bucket) {
	r.sections = append(r.sections, section{kind: kindLatency, title: title, buckets: buckets})
}

// XY adds a plot of curves, with a logarithmic X axis if logX.
func (r *Report) XY(title, xLabel, yLabel string, logX bool, series ...Series) {
	r.sections = append(r.sections, section{kind: kindXY, title: title,
		xLabel: xLabel, yLabel: yLabel, logX: logX, series: series})
}

// FromHDR returns h's distribution (values in nanoseconds) as Buckets,
// empty buckets left out.
func FromHDR(h *hdrhistogram.Histogram) []Bucket {
	if h == nil {
		return nil
	}
	var out []Bucket
	for _, b := range h.Distribution() {
		if b.Count > 0 {
			out = append(out, Bucket{Lo: time.Duration(b.From), Hi: time.Duration(b.To + 1), Count: uint64(b.Count)})
		}
	}
	return out
}

// figure is a rendered section.
type figure struct {
	Title string
	Rows  []Row
	SVG   []template.HTML
	Note  string
	Text  string
}

var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body{font-family:sans-serif;max-width:62em;margin:1em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse}td{padding:.15em .9em .15em 0;vertical-align:top}
td:first-child{color:#555}td:last-child{font-family:monospace}
.plots{display:flex;flex-wrap:wrap;gap:1em}.plots svg{max-width:100%;height:auto}
.note{color:#a00}
</style></head><body>
<h1>{{.Title}}</h1>
{{if .Created}}<p>{{.Created}}</p>{{end}}
{{range .Figures}}
{{if .Title}}<h2>{{.Title}}</h2>{{end}}
{{if .Text}}<p>{{.Text}}</p>{{end}}
{{if .Rows}}<table>{{range .Rows}}<tr><td>{{.Name}}</td><td>{{.Value}}</td></tr>{{end}}</table>{{end}}
{{if .SVG}}<div class="plots">{{range .SVG}}{{.}}{{end}}</div>{{end}}
{{if .Note}}<p class="note">{{.Note}}</p>{{end}}
{{end}}
</body></html>
`))

// WriteHTML renders the report as one HTML page to w.
func (r *Report) WriteHTML(w io.Writer) error {
	data := struct {
		Title, Created string
		Figures        []figure
	}{Title: r.Title}
	if !r.Created.IsZero() {
		data.Created = "Generated " + r.Created.Format(time.RFC3339)
	}
	for i := range r.sections {
		data.Figures = append(data.Figures, r.sections[i].render())
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, data); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// WriteFile writes the report to the file path (created or truncated).
func (r *Report) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (s *section) render() figure {
	f := figure{Title: s.title, Rows: s.rows, Text: s.text}
	var err error
	switch s.kind {
	case kindTime, kindXY:
		var svg template.HTML
		if svg, err = linePlot(s.title, s.xLabel, s.yLabel, s.logX, s.series); err == nil {
			f.SVG = []template.HTML{svg}
		}
	case kindLatency:
		f.SVG, err = latencyPlots(s.buckets)
	}
	if err != nil {
		f.Note = err.Error()
	}
	return f
}
