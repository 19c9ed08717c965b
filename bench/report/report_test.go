package report_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/xdpengine/engine/bench/report"
)

func sampleHDR() *hdrhistogram.Histogram {
	h := hdrhistogram.New(1, int64(10*time.Second), 3)
	for i := range 10000 {
		_ = h.RecordValue(int64(20*time.Microsecond) + int64(i%997)*100)
	}
	_ = h.RecordValue(int64(3 * time.Millisecond))
	return h
}

func TestWriteHTML(t *testing.T) {
	r := report.New("engine bench udp <test>")
	r.Table("Summary", []report.Row{{"sent", "1000"}, {"latency p99", "35µs"}})
	r.TimeSeries("Rate", "packets/s",
		report.Series{Name: "offered", Points: []report.Point{{1, 1000}, {2, 1000}, {3, 990}}},
		report.Series{Name: "received", Points: []report.Point{{1, 1000}, {2, 998}, {3, 990}}})
	r.Latency("Latency", report.FromHDR(sampleHDR()))
	r.XY("Throughput", "frame size (bytes)", "Mb/s", true,
		report.Series{Name: "throughput", Points: []report.Point{{64, 10}, {128, 20}, {1518, 200}}})
	r.Latency("Empty", nil)
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	if got := strings.Count(s, "<svg"); got != 4 {
		t.Errorf("%d inline SVG plots, want 4 (rate, histogram, CDF, throughput)", got)
	}
	for _, want := range []string{"<!DOCTYPE html>", "engine bench udp &lt;test&gt;", "latency p99", "no data to plot", "offered"} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Self-contained: nothing fetched from elsewhere (the SVG namespaces
	// are names, not fetched).
	bare := strings.NewReplacer(`"http://www.w3.org/2000/svg"`, "", `"http://www.w3.org/1999/xlink"`, "").Replace(s)
	for _, bad := range []string{"<?xml", "<script", "http://", "https://", "src=", "<link"} {
		if strings.Contains(bare, bad) {
			t.Errorf("page holds %q: it must be self-contained", bad)
		}
	}
}

func TestFromHDR(t *testing.T) {
	h := sampleHDR()
	bs := report.FromHDR(h)
	var n uint64
	for i, b := range bs {
		n += b.Count
		if b.Hi <= b.Lo || b.Count == 0 {
			t.Fatalf("bucket %d: %+v", i, b)
		}
		if i > 0 && b.Lo < bs[i-1].Hi {
			t.Fatalf("bucket %d overlaps the one before: %+v, %+v", i, bs[i-1], b)
		}
	}
	if n != uint64(h.TotalCount()) {
		t.Errorf("buckets hold %d samples, histogram %d", n, h.TotalCount())
	}
	if report.FromHDR(nil) != nil {
		t.Error("FromHDR(nil) is not empty")
	}
}

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.html")
	r := report.New("x")
	r.Text("hello")
	if err := r.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Contains(b, []byte("hello")) {
		t.Fatalf("file: %v, %q", err, b)
	}
}
