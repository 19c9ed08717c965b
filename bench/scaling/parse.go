package scaling

import (
	"bufio"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Result is one benchmark result line of `go test -bench` output.
type Result struct {
	Name    string             // as printed, "BenchmarkUDPEcho/queues=2/adaptive/64B-2"
	N       int                // iterations
	Metrics map[string]float64 // by unit: "engine-echo/s", "q0-share", "ns/op", ...
}

// Parse reads benchmark output and returns its result lines in order.
// Lines that are not results are skipped; so is a result line whose
// metrics do not come in value-unit pairs.
func Parse(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if res, ok := ParseLine(sc.Text()); ok {
			out = append(out, res)
		}
	}
	return out, sc.Err()
}

// ParseLine parses one result line: a name starting with "Benchmark", the
// iteration count, then value-unit pairs.
func ParseLine(line string) (Result, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return Result{}, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return Result{}, false
	}
	r := Result{Name: f[0], N: n, Metrics: map[string]float64{}}
	for i := 2; i < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Result{}, false
		}
		r.Metrics[f[i+1]] = v
	}
	return r, true
}

// Row is one benchmark at one queue count: the JSON the report writes.
type Row struct {
	Benchmark string    `json:"benchmark"` // "UDPEcho/adaptive/64B"
	Queues    int       `json:"queues"`
	Engine    float64   `json:"engine"` // the engine's rate, in Unit
	Kernel    float64   `json:"kernel"` // the kernel's rate on the same bed, in Unit
	Ratio     float64   `json:"ratio"`  // engine/kernel
	Shares    []float64 `json:"shares"` // each queue's fraction of the packets the engine received
	Unit      string    `json:"unit"`   // "echo/s", "conn/s", "MB/s", "Mpps"
	Runs      int       `json:"runs"`   // results (-count) the medians are over
}

var (
	queuesElem = regexp.MustCompile(`(^|/)queues=(\d+)(/|$)`)
	procs      = regexp.MustCompile(`-\d+$`)
)

// split returns a result's benchmark (without "Benchmark", its queues=N
// element and the GOMAXPROCS suffix) and N (1 without the element).
func split(name string) (string, int) {
	name = procs.ReplaceAllString(strings.TrimPrefix(name, "Benchmark"), "")
	q := 1
	if m := queuesElem.FindStringSubmatch(name); m != nil {
		q, _ = strconv.Atoi(m[2])
		name = queuesElem.ReplaceAllStringFunc(name, func(s string) string {
			if strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/") {
				return "/"
			}
			return ""
		})
	}
	return name, q
}

type key struct {
	bench  string
	queues int
}

// sample is one result's contribution to a row.
type sample struct {
	engine, kernel, ratio float64
	shares                []float64
	unit                  string
}

// Collect makes the rows of results (see the package comment).
func Collect(results []Result) []Row {
	byKey := map[key][]Result{}
	var order []string
	for _, r := range results {
		b, q := split(r.Name)
		k := key{b, q}
		if !slices.Contains(order, b) {
			order = append(order, b)
		}
		byKey[k] = append(byKey[k], r)
	}
	samples := map[key][]sample{}
	for k, rs := range byKey {
		for i, r := range rs {
			s, ok := rowSample(k, r, i, byKey)
			if ok {
				samples[k] = append(samples[k], s)
			}
		}
	}
	var rows []Row
	for _, b := range order {
		var qs []int
		for k := range samples {
			if k.bench == b {
				qs = append(qs, k.queues)
			}
		}
		slices.Sort(qs)
		for _, q := range qs {
			rows = append(rows, aggregate(b, q, samples[key{b, q}]))
		}
	}
	return rows
}

// rowSample reads result r, the i-th of its key, as a row's sample; the
// kernel's figure of bulk and balancer results comes from the i-th run of
// their kernel sibling (the last one when it ran fewer times).
func rowSample(k key, r Result, i int, byKey map[key][]Result) (sample, bool) {
	s := sample{shares: shares(r.Metrics)}
	sibling := func(from, to string, unit string) (float64, bool) {
		rs := byKey[key{strings.Replace(k.bench, from, to, 1), k.queues}]
		if len(rs) == 0 {
			return 0, false
		}
		v, ok := rs[min(i, len(rs)-1)].Metrics[unit]
		return v, ok
	}
	for unit, v := range r.Metrics {
		if rate, ok := strings.CutPrefix(unit, "engine-"); ok && strings.HasSuffix(rate, "/s") {
			if kv, ok := r.Metrics["kernel-"+rate]; ok {
				s.engine, s.kernel, s.unit = v, kv, rate
				s.ratio = ratio(r.Metrics, v, kv)
				return s, true
			}
		}
	}
	base := k.bench[strings.LastIndex(k.bench, "/")+1:]
	switch {
	case strings.HasPrefix(k.bench, "TCPBulk/") && (base == "kernel-to-engine" || base == "engine-to-kernel"):
		e, ok := r.Metrics["MB/s-delivered"]
		kv, kok := sibling(base, "kernel-to-kernel", "MB/s-delivered")
		if ok && kok {
			return sample{engine: e, kernel: kv, ratio: e / kv, shares: s.shares, unit: "MB/s"}, true
		}
	case strings.HasPrefix(k.bench, "LBForward/") && !strings.Contains(k.bench, "/kernel-dnat/"):
		mode := strings.Split(k.bench, "/")[1]
		e, ok := r.Metrics["Mpps"]
		kv, kok := sibling("/"+mode+"/", "/kernel-dnat/", "Mpps")
		if ok && kok {
			// The benchmark's own ratio, which it leaves out when the
			// kernel's rate was the generator's limit (0 here then).
			x, ok := r.Metrics["x-kernel-Mpps"]
			if !ok {
				x = r.Metrics["x-kernel-Mpps-min"]
			}
			return sample{engine: e, kernel: kv, ratio: x, shares: s.shares, unit: "Mpps"}, true
		}
	}
	return sample{}, false
}

// ratio is the benchmark's own engine/kernel metric (a median of per-round
// ratios), else the ratio of the rates.
func ratio(m map[string]float64, e, k float64) float64 {
	if v, ok := m["engine/kernel"]; ok {
		return v
	}
	return e / k
}

// shares returns q0-share, q1-share, ... in order, nil when there are none.
func shares(m map[string]float64) []float64 {
	var s []float64
	for q := 0; ; q++ {
		v, ok := m["q"+strconv.Itoa(q)+"-share"]
		if !ok {
			return s
		}
		s = append(s, v)
	}
}

func aggregate(b string, q int, ss []sample) Row {
	r := Row{Benchmark: b, Queues: q, Unit: ss[0].unit, Runs: len(ss)}
	var es, ks, rs []float64
	for _, s := range ss {
		es, ks, rs = append(es, s.engine), append(ks, s.kernel), append(rs, s.ratio)
		for i, v := range s.shares {
			for len(r.Shares) <= i {
				r.Shares = append(r.Shares, 0)
			}
			r.Shares[i] += v / float64(len(ss))
		}
	}
	r.Engine, r.Kernel, r.Ratio = median(es), median(ks), median(rs)
	return r
}

// median of v (the upper one of an even count, as the benchmarks take it).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
