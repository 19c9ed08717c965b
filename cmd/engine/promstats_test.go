package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/xdpengine/engine/engine"
)

// collectFunc is a collector of what f emits, unchecked (no Describe).
type collectFunc func(ch chan<- prometheus.Metric)

func (collectFunc) Describe(chan<- *prometheus.Desc)      {}
func (f collectFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

// exposition is what a registry with f serves, in the text format; the
// registry's consistency checks (one help and type per family, no
// duplicate series) fail the test.
func exposition(t *testing.T, f func(ch chan<- prometheus.Metric)) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectFunc(f))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range fams {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// parseExposition parses a scrape with Prometheus' text parser.
func parseExposition(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, text)
	}
	return fams
}

func TestStatsFamilies(t *testing.T) {
	st := sampleStats()
	st.Workers[0].Hist.RxBurst.Add(1)
	st.Workers[0].Hist.RxBurst.Add(64)
	st.Workers[1].Hist.Round.Add(1000) // 1 µs
	st.Workers[1].Hist.TCPRTT.Add(100) // 100 µs
	got := exposition(t, func(ch chan<- prometheus.Metric) { collectStats(ch, st) })
	for _, want := range []string{
		"# HELP engine_packets_total Frames received from the AF_XDP rx ring (direction rx) and handed to the tx ring (tx).\n" +
			"# TYPE engine_packets_total counter\n" +
			`engine_packets_total{direction="rx",queue="0"} 10` + "\n" + `engine_packets_total{direction="rx",queue="1"} 1.23456789e+08` + "\n",
		`engine_bytes_total{direction="tx",queue="0"} 1400`,
		`engine_drops_total{queue="1",reason="checksum"} 3`,
		`engine_drops_total{queue="0",reason="no_socket"} 1`,
		`engine_ipv4_reasm_overlaps_total{queue="1"} 2`,
		`engine_icmp_messages_total{direction="out",queue="0",type="dest_unreach"} 1`,
		`engine_tcp_connections{queue="0",state="established"} 2`,
		`engine_tcp_segments_total{direction="in",queue="0"} 12`,
		"# TYPE engine_xsk_frames gauge\n",
		"# TYPE engine_arp_entries gauge\n",
		"# TYPE engine_rx_burst_frames histogram\n",
		`engine_rx_burst_frames_bucket{queue="0",le="1"} 1` + "\n" + `engine_rx_burst_frames_bucket{queue="0",le="2"} 1`,
		`engine_rx_burst_frames_bucket{queue="0",le="64"} 2` + "\n" + `engine_rx_burst_frames_bucket{queue="0",le="+Inf"} 2`,
		`engine_rx_burst_frames_sum{queue="0"} 65` + "\n" + `engine_rx_burst_frames_count{queue="0"} 2`,
		`engine_worker_round_seconds_bucket{queue="1",le="5.12e-07"} 0` + "\n" + `engine_worker_round_seconds_bucket{queue="1",le="1.024e-06"} 1`,
		`engine_worker_round_seconds_sum{queue="1"} 1e-06`,
		`engine_tcp_rtt_seconds_bucket{queue="1",le="6.4e-05"} 0` + "\n" + `engine_tcp_rtt_seconds_bucket{queue="1",le="0.000128"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Every family once, with a help text and a type; samples per queue,
	// or one for an engine-wide figure.
	global := map[string]bool{}
	for _, c := range counters {
		global[metricPrefix+c.family] = c.global
	}
	fams := parseExposition(t, got)
	for name, f := range fams {
		if f.GetHelp() == "" {
			t.Errorf("family %s has no help", name)
		}
		typ := f.GetType()
		if strings.HasSuffix(name, "_total") != (typ == dto.MetricType_COUNTER) {
			t.Errorf("family %s of type %s: counters and only counters end in _total", name, typ)
		}
		if global[name] {
			if len(f.Metric) != 1 || len(f.Metric[0].Label) != 0 {
				t.Errorf("engine-wide family %s: %d samples, want one without labels", name, len(f.Metric))
			}
			continue
		}
		if len(f.Metric)%2 != 0 {
			t.Errorf("family %s: %d samples for 2 queues", name, len(f.Metric))
		}
		for _, m := range f.Metric {
			if !hasLabel(m, "queue") {
				t.Errorf("family %s: a sample without a queue label", name)
			}
		}
	}
	// Every row of the table is a sample.
	for _, c := range counters {
		if fams[metricPrefix+c.family] == nil {
			t.Errorf("counter %q: no family %s", c.row, c.family)
		}
	}
}

func hasLabel(m *dto.Metric, name string) bool {
	for _, l := range m.Label {
		if l.GetName() == name {
			return true
		}
	}
	return false
}

// TestCounterDescs: the rows of a family agree on their labels and kind;
// describeCounters refuses a table where they do not.
func TestCounterDescs(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a family whose rows differ in their labels was accepted")
		}
	}()
	describeCounters([]counter{
		{row: "a", family: "x_total", labels: []label{{"reason", "a"}}},
		{row: "b", family: "x_total", labels: []label{{"kind", "b"}}},
	})
}

// TestHistogramBuckets: the histograms' bounds grow by powers of two and
// the +Inf bucket holds what is above the last bound.
func TestHistogramBuckets(t *testing.T) {
	var w engine.WorkerStats
	w.Hist.Round.Add(1 << 40) // above every bound
	w.Hist.Round.Add(300)     // 300 ns: the 512 ns bucket
	ch := make(chan prometheus.Metric, 1)
	ch <- histograms[0].metric(&w.Hist.Round, "0")
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	h := m.GetHistogram()
	if h.GetSampleCount() != 2 {
		t.Fatalf("count %d", h.GetSampleCount())
	}
	prev := 0.0
	for i, b := range h.Bucket {
		if i > 0 && b.GetUpperBound() != 2*prev {
			t.Errorf("bucket %d: bound %v after %v", i, b.GetUpperBound(), prev)
		}
		prev = b.GetUpperBound()
		want := uint64(0)
		if b.GetUpperBound() >= 512e-9 {
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if n := len(h.Bucket); n != histograms[0].hi-histograms[0].lo+1 {
		t.Errorf("%d buckets", n)
	}
}
