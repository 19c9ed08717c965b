package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

const dashboardFile = "../../packaging/grafana/engine.json"

// dashboardQueries returns every PromQL expression of the dashboard: the
// panels' targets (rows' nested panels included) and the template
// variables' queries.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string  `json:"title"`
		Panels  []panel `json:"panels"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var exprs []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				if tg.Expr == "" {
					t.Errorf("panel %q: a target without an expression", p.Title)
				}
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			exprs = append(exprs, v.Definition)
		}
	}
	if len(exprs) < 20 {
		t.Fatalf("%s: %d expressions; is it the dashboard?", dashboardFile, len(exprs))
	}
	return exprs
}

// promqlFuncs are the PromQL functions and aggregations the dashboard may
// call (and Grafana's label_values); a name followed by "(" that is not
// here fails the test, so that a typo does not pass for a metric.
var promqlFuncs = map[string]bool{
	"sum": true, "avg": true, "min": true, "max": true, "count": true, "topk": true, "bottomk": true, "quantile": true,
	"rate": true, "irate": true, "increase": true, "delta": true, "deriv": true, "histogram_quantile": true,
	"clamp_min": true, "clamp_max": true, "abs": true, "time": true, "label_values": true, "vector": true, "scalar": true,
	"avg_over_time": true, "max_over_time": true, "min_over_time": true,
}

// promqlKeywords are PromQL words that are neither metrics nor functions;
// the grouping ones take a list of label names in parentheses.
var promqlKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "and": true, "or": true, "unless": true, "offset": true,
}

// promqlMetrics returns the metric names in expr: identifiers outside
// label matchers, ranges, strings and grouping lists that are not
// functions, keywords or Grafana variables. It errs on an unknown function.
func promqlMetrics(expr string) ([]string, error) {
	var names []string
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
	}
	skipTo := func(i int, open, close byte) int { // i at open; returns the index after its close
		depth := 0
		for ; i < len(expr); i++ {
			switch c := expr[i]; {
			case c == '"' || c == '\'' || c == '`':
				i++
				for i < len(expr) && expr[i] != c {
					if expr[i] == '\\' {
						i++
					}
					i++
				}
			case c == open:
				depth++
			case c == close:
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '{':
			i = skipTo(i, '{', '}')
		case c == '[':
			i = skipTo(i, '[', ']')
		case c == '"' || c == '\'' || c == '`':
			i = skipTo(i, 0, c) // a string: skipTo returns after the closing quote
		case c == '$':
			for i++; i < len(expr) && isIdent(expr[i], false); i++ {
			}
		case c >= '0' && c <= '9' || c == '.':
			for i++; i < len(expr) && (isIdent(expr[i], false) || expr[i] == '.' ||
				(expr[i] == '-' || expr[i] == '+') && (expr[i-1] == 'e' || expr[i-1] == 'E')); i++ {
			}
		case isIdent(c, true):
			j := i
			for j < len(expr) && isIdent(expr[j], false) {
				j++
			}
			word := expr[i:j]
			k := j
			for k < len(expr) && expr[k] == ' ' {
				k++
			}
			call := k < len(expr) && expr[k] == '('
			switch {
			case promqlKeywords[word] && call && word != "bool" && word != "and" && word != "or" && word != "unless":
				j = skipTo(k, '(', ')') // a list of label names
			case promqlKeywords[word]:
			case promqlFuncs[word]: // a call, or an aggregation before by/without
			case call:
				return nil, fmt.Errorf("%q: unknown function %s", expr, word)
			default:
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	return names, nil
}

func TestPromQLMetrics(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`sum by (direction) (rate(engine_packets_total{instance=~"$instance",x="a}b"}[$__rate_interval]))`, []string{"engine_packets_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(engine_tcp_rtt_seconds_bucket[5m]))) > 1e-3`, []string{"engine_tcp_rtt_seconds_bucket"}},
		{`sum(rate(a_sum[1m])) by (queue) / on(queue) group_left sum(b_count)`, []string{"a_sum", "b_count"}},
		{`time() - engine_start_time_seconds offset 5m`, []string{"engine_start_time_seconds"}},
		{`label_values(engine_info, instance)`, []string{"engine_info", "instance"}},
	} {
		got, err := promqlMetrics(c.expr)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("promqlMetrics(%q) = %q, %v; want %q", c.expr, got, err, c.want)
		}
	}
	if _, err := promqlMetrics(`sume(rate(x[1m]))`); err == nil {
		t.Error("an unknown function passed")
	}
}

// dashboardMetrics is every metric name the dashboard's queries use; the
// second argument of label_values is a label, not a metric.
func dashboardMetrics(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{} // metric -> the expressions that use it
	for _, e := range dashboardQueries(t) {
		names, err := promqlMetrics(e)
		if err != nil {
			t.Error(err)
			continue
		}
		if strings.HasPrefix(e, "label_values(") && len(names) == 2 {
			names = names[:1]
		}
		for _, n := range names {
			used[n] = append(used[n], e)
		}
	}
	return used
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// TestGrafanaDashboard: every metric the dashboard uses is one engine
// serve's registry describes (its own families, the histograms' series,
// the Go runtime's and the process's). TestServeMetricsScrape checks the
// same against a running engine's /metrics.
func TestGrafanaDashboard(t *testing.T) {
	described := map[string]bool{}
	ch := make(chan *prometheus.Desc, 1000)
	serverCollector{}.Describe(ch)
	collectors.NewGoCollector().Describe(ch)
	collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}).Describe(ch)
	close(ch)
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("desc %v: no name", d)
		}
		described[m[1]] = true
	}
	for name, exprs := range dashboardMetrics(t) {
		base := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suf); ok && described[b] {
				base = b
			}
		}
		if !described[base] {
			t.Errorf("the dashboard uses %s, which engine serve does not export (in %q)", name, exprs[0])
		}
	}
}

// TestMetricsPprof: the profiles are on the metrics listener only when
// asked for.
func TestMetricsPprof(t *testing.T) {
	s := &server{log: slog.New(slog.DiscardHandler)}
	for _, on := range []bool{false, true} {
		srv := httptest.NewServer(s.metricsMux(on))
		resp, err := http.Get(srv.URL + "/debug/pprof/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: 404, true: 200}[on]; resp.StatusCode != want {
			t.Errorf("--metrics-pprof %v: /debug/pprof/cmdline answers %d, want %d", on, resp.StatusCode, want)
		}
		srv.Close()
	}
}

// TestServeMetricsScrape runs engine serve with TCP and UDP services and a
// load balancer VIP, sends TCP traffic, and scrapes /metrics: the scrape
// parses, the histograms have sane buckets, every metric the Grafana
// dashboard uses has samples, and --metrics-pprof serves profiles.
func TestServeMetricsScrape(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	hosts, err := bed.AddSegmentHosts(1)
	if err != nil {
		t.Fatal(err)
	}
	vip := enginetest.RouteVIP(t, bed, 0)
	dir := t.TempDir()
	file, sock := filepath.Join(dir, "lb.yaml"), filepath.Join(dir, "engine.sock")
	lbFile(t, file, vip, "{address: "+hosts[0].Addr.String()+"}")
	srv := startServe(t, sock, "-i", bed.HostIf, "--addr", netip.PrefixFrom(bed.EngineAddr, 24).String(), "--ctl", sock,
		"--queues", "1", "--lb", file, "--echo", "tcp:7", "--echo", "udp:7", "--metrics", "127.0.0.1:0", "--metrics-pprof")
	info := srv.waitControl(t, sock)

	// TCP traffic: RTT samples, receive bursts, busy rounds.
	msg := make([]byte, 256<<10)
	for range 3 {
		if err := bed.Do(func() error {
			c, err := net.Dial("tcp4", bed.EngineAddr.String()+":7")
			if err != nil {
				return err
			}
			defer c.Close()
			go func() { c.Write(msg); c.(*net.TCPConn).CloseWrite() }()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := io.Copy(io.Discard, c)
			if err == nil && n != int64(len(msg)) {
				err = fmt.Errorf("%d bytes echoed of %d", n, len(msg))
			}
			return err
		}); err != nil {
			t.Fatalf("tcp echo: %v", err)
		}
	}

	get := func(path string) (string, int) {
		t.Helper()
		resp, err := http.Get("http://" + info.Metrics + path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return string(b), resp.StatusCode
	}
	hist := func(fams map[string]*dto.MetricFamily, name string) *dto.Histogram {
		f := fams[name]
		if f == nil || f.GetType() != dto.MetricType_HISTOGRAM || len(f.Metric) != 1 {
			t.Fatalf("%s: %v, want one histogram", name, f)
		}
		return f.Metric[0].GetHistogram()
	}
	var fams map[string]*dto.MetricFamily
	// The workers publish every 100 ms.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		text, code := get("/metrics")
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		fams = parseExposition(t, text)
		if hist(fams, "engine_tcp_rtt_seconds").GetSampleCount() > 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, c := range []struct {
		name      string
		atMost    float64 // every observation is at most this
		minSample uint64
	}{
		{"engine_rx_burst_frames", 64, 10},
		{"engine_worker_round_seconds", math.Inf(1), 10},
		{"engine_tcp_rtt_seconds", 1.048576, 1},
	} {
		h := hist(fams, c.name)
		n := h.GetSampleCount()
		if n < c.minSample || h.GetSampleSum() <= 0 {
			t.Errorf("%s: %d samples, sum %v; want %d or more", c.name, n, h.GetSampleSum(), c.minSample)
		}
		prev, prevBound := uint64(0), 0.0
		for _, b := range h.Bucket {
			if b.GetCumulativeCount() < prev || b.GetUpperBound() <= prevBound || b.GetCumulativeCount() > n {
				t.Errorf("%s: bucket le=%v holds %d after le=%v with %d (count %d)", c.name, b.GetUpperBound(), b.GetCumulativeCount(), prevBound, prev, n)
			}
			if b.GetUpperBound() >= c.atMost && b.GetCumulativeCount() != n {
				t.Errorf("%s: %d of %d observations at most %v", c.name, b.GetCumulativeCount(), n, b.GetUpperBound())
			}
			prev, prevBound = b.GetCumulativeCount(), b.GetUpperBound()
		}
		t.Logf("%s: %d samples, mean %.3g", c.name, n, h.GetSampleSum()/float64(n))
	}
	if got := fams["engine_tcp_segments_total"]; got == nil || len(got.Metric) != 2 {
		t.Errorf("engine_tcp_segments_total: %v, want a series per direction", got)
	}

	// Every metric of the dashboard has samples in the scrape.
	series := map[string]bool{}
	for name, f := range fams {
		if len(f.Metric) == 0 {
			continue
		}
		series[name] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			series[name+"_bucket"], series[name+"_sum"], series[name+"_count"] = true, true, true
			delete(series, name)
		case dto.MetricType_SUMMARY:
			series[name+"_sum"], series[name+"_count"] = true, true
		}
	}
	for name, exprs := range dashboardMetrics(t) {
		if !series[name] {
			t.Errorf("the dashboard uses %s, which a running engine's /metrics lacks (in %q)", name, exprs[0])
		}
	}

	if body, code := get("/debug/pprof/cmdline"); code != 200 || !strings.Contains(body, "serve") {
		t.Errorf("/debug/pprof/cmdline with --metrics-pprof: %d %q", code, body)
	}
}
