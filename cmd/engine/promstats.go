package main

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/hist"
	"github.com/xdpengine/engine/lb"
	"github.com/xdpengine/engine/stack/socktab"
)

// metricPrefix starts every family the engine exports.
const metricPrefix = "engine_"

// counterDescs[i] is the Prometheus description of counters[i]: one per
// family, shared by its rows, with the label queue first (none for an
// engine-wide figure) and then the rows' own labels.
var counterDescs = describeCounters(counters)

func describeCounters(cs []counter) []*prometheus.Desc {
	descs := make([]*prometheus.Desc, len(cs))
	byFamily := map[string]int{} // family -> its first row
	for i := range cs {
		c := &cs[i]
		if first, ok := byFamily[c.family]; ok {
			f := &cs[first]
			if !sameLabelNames(f.labels, c.labels) || f.global != c.global || f.gauge != c.gauge {
				panic(fmt.Sprintf("counters: row %q of family %s differs from row %q in its labels or kind", c.row, c.family, f.row))
			}
			descs[i] = descs[first]
			continue
		}
		byFamily[c.family] = i
		var names []string
		if !c.global {
			names = append(names, "queue")
		}
		for _, l := range c.labels {
			names = append(names, l.name)
		}
		descs[i] = prometheus.NewDesc(metricPrefix+c.family, c.help, names, nil)
	}
	return descs
}

func sameLabelNames(a, b []label) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].name != b[i].name {
			return false
		}
	}
	return true
}

// histogram is a worker distribution (stats.Histograms) as a Prometheus
// histogram per queue: the cumulative counts at the bounds 2^lo to 2^hi
// of its log2 buckets, divided by div to get the unit of the name.
type histogram struct {
	desc   *prometheus.Desc
	div    float64
	lo, hi int
	get    func(*engine.WorkerStats) *hist.Log2
}

var histograms = []histogram{
	{desc: prometheus.NewDesc(metricPrefix+"worker_round_seconds",
		"Time of the workers' rounds that did work (receive, steered packets, the layers' rounds, transmission), from start to the next round's start.",
		[]string{"queue"}, nil),
		div: 1e9, lo: 7, hi: 26, // 128 ns to 67 ms
		get: func(w *engine.WorkerStats) *hist.Log2 { return &w.Hist.Round }},
	{desc: prometheus.NewDesc(metricPrefix+"rx_burst_frames",
		"Frames per non-empty receive burst (at most 64).",
		[]string{"queue"}, nil),
		div: 1, lo: 0, hi: 6, // 1 to 64
		get: func(w *engine.WorkerStats) *hist.Log2 { return &w.Hist.RxBurst }},
	{desc: prometheus.NewDesc(metricPrefix+"tcp_rtt_seconds",
		"Smoothed round-trip time (SRTT) of the TCP connections, observed at every RTT sample a connection takes.",
		[]string{"queue"}, nil),
		div: 1e6, lo: 3, hi: 24, // 8 µs to 16.8 s
		get: func(w *engine.WorkerStats) *hist.Log2 { return &w.Hist.TCPRTT }},
}

// collectStats emits the engine's counters, one sample per queue (label
// queue="N"; sums over queues are left to the query: sum by (reason)
// (rate(engine_drops_total[1m]))) or, for an engine-wide figure
// (engine_tcp_memory_bytes, ...), one sample without a queue label; and
// the workers' histograms per queue.
func collectStats(ch chan<- prometheus.Metric, st engine.Stats) {
	var values []string
	for i := range counters {
		c := &counters[i]
		typ := prometheus.CounterValue
		if c.gauge {
			typ = prometheus.GaugeValue
		}
		values = values[:0]
		if c.global {
			for _, l := range c.labels {
				values = append(values, l.value)
			}
			ch <- prometheus.MustNewConstMetric(counterDescs[i], typ, float64(c.value(st.Workers)), values...)
			continue
		}
		for j := range st.Workers {
			w := &st.Workers[j]
			values = append(values[:0], strconv.Itoa(w.Queue))
			for _, l := range c.labels {
				values = append(values, l.value)
			}
			ch <- prometheus.MustNewConstMetric(counterDescs[i], typ, float64(c.get(w)), values...)
		}
	}
	for _, h := range histograms {
		for j := range st.Workers {
			w := &st.Workers[j]
			ch <- h.metric(h.get(w), strconv.Itoa(w.Queue))
		}
	}
}

// metric is l as a constant Prometheus histogram.
func (h *histogram) metric(l *hist.Log2, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, h.hi-h.lo+1)
	for i := h.lo; i <= h.hi; i++ {
		buckets[float64(hist.Bound(i))/h.div] = l.Cumulative(i)
	}
	return prometheus.MustNewConstHistogram(h.desc, l.Count, float64(l.Sum)/h.div, buckets, labels...)
}

// The families of engine serve besides the counters.
var (
	infoDesc = prometheus.NewDesc(metricPrefix+"info", "What the engine runs as; the value is always 1.",
		[]string{"interface", "version", "go_version", "mode", "poll"}, nil)
	startDesc = prometheus.NewDesc(metricPrefix+"start_time_seconds", "When the engine started, in seconds since the Unix epoch.", nil, nil)
	sockDesc  = prometheus.NewDesc(metricPrefix+"sockets", "Sockets holding a port, by protocol and state.", []string{"proto", "state"}, nil)

	tcpLimitDesc = prometheus.NewDesc(metricPrefix+"tcp_memory_limit_bytes",
		"The TCP memory thresholds (--tcp-mem, like net.ipv4.tcp_mem): pressure starts above pressure and ends below low; above high new connections are refused.",
		[]string{"threshold"}, nil)
	somaxconnDesc = prometheus.NewDesc(metricPrefix+"tcp_somaxconn",
		"The largest backlog a TCP listener gets, per worker (--somaxconn, like net.core.somaxconn).", nil, nil)

	echoDatagramsDesc = prometheus.NewDesc(metricPrefix+"echo_datagrams_total", "Datagrams echoed by the built-in echo services.", []string{"service"}, nil)
	echoBytesDesc     = prometheus.NewDesc(metricPrefix+"echo_bytes_total", "Payload bytes echoed by the built-in echo services.", []string{"service"}, nil)
	echoErrorsDesc    = prometheus.NewDesc(metricPrefix+"echo_errors_total", "Failed reads and writes of the built-in echo services.", []string{"service", "op"}, nil)

	svcConnsDesc  = prometheus.NewDesc(metricPrefix+"service_connections_total", "Connections accepted by the built-in TCP services.", []string{"service"}, nil)
	svcOpenDesc   = prometheus.NewDesc(metricPrefix+"service_open_connections", "Connections the built-in TCP services have open.", []string{"service"}, nil)
	svcBytesDesc  = prometheus.NewDesc(metricPrefix+"service_bytes_total", "Bytes received by the built-in TCP services.", []string{"service"}, nil)
	svcErrorsDesc = prometheus.NewDesc(metricPrefix+"service_errors_total", "Failed accepts, reads and writes of the built-in TCP services.", []string{"service"}, nil)
)

// serverCollector is the prometheus.Collector of engine serve: at every
// scrape it takes one snapshot of the engine's counters (engine.Stats)
// and emits them as constant metrics, with the sockets, the built-in
// services, the load balancer and what the engine runs as. Scraping costs
// the packet path nothing: the workers publish their counters anyway.
type serverCollector struct{ s *server }

// Describe implements prometheus.Collector: every family, fixed labels.
func (c serverCollector) Describe(ch chan<- *prometheus.Desc) {
	seen := map[*prometheus.Desc]bool{}
	for _, d := range counterDescs {
		if !seen[d] {
			seen[d] = true
			ch <- d
		}
	}
	for _, h := range histograms {
		ch <- h.desc
	}
	for _, d := range []*prometheus.Desc{infoDesc, startDesc, sockDesc, tcpLimitDesc, somaxconnDesc,
		echoDatagramsDesc, echoBytesDesc, echoErrorsDesc, svcConnsDesc, svcOpenDesc, svcBytesDesc, svcErrorsDesc} {
		ch <- d
	}
	for _, d := range lbDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c serverCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	collectStats(ch, s.eng.Stats())
	v, goVersion := buildVersion()
	ch <- prometheus.MustNewConstMetric(infoDesc, prometheus.GaugeValue, 1,
		s.opts.cfg.Interface, v, goVersion, s.opts.cfg.Mode.String(), s.opts.cfg.Poll.String())
	ch <- prometheus.MustNewConstMetric(startDesc, prometheus.GaugeValue, float64(s.started.UnixNano())/1e9)
	for _, p := range []socktab.Proto{socktab.UDP, socktab.TCP} {
		count := map[string]int{}
		for _, e := range s.eng.Sockets(p) {
			count[e.StateName()]++
		}
		states := []string{"UNCONN", "ESTAB"}
		if p == socktab.TCP {
			states = []string{"LISTEN", "ESTAB"}
		}
		for _, st := range states {
			ch <- prometheus.MustNewConstMetric(sockDesc, prometheus.GaugeValue, float64(count[st]), protoName(p), st)
		}
	}
	collectTCPLimits(ch, s.eng.TCPMemLimits(), s.eng.TCPSomaxconn())
	for _, es := range s.echo {
		svc := es.spec.label()
		ch <- prometheus.MustNewConstMetric(echoDatagramsDesc, prometheus.CounterValue, float64(es.datagrams.Load()), svc)
		ch <- prometheus.MustNewConstMetric(echoBytesDesc, prometheus.CounterValue, float64(es.bytes.Load()), svc)
		ch <- prometheus.MustNewConstMetric(echoErrorsDesc, prometheus.CounterValue, float64(es.readErrors.Load()), svc, "read")
		ch <- prometheus.MustNewConstMetric(echoErrorsDesc, prometheus.CounterValue, float64(es.writeErrors.Load()), svc, "write")
	}
	for _, ts := range s.tcp {
		svc := ts.spec.label()
		ch <- prometheus.MustNewConstMetric(svcConnsDesc, prometheus.CounterValue, float64(ts.accepted.Load()), svc)
		ch <- prometheus.MustNewConstMetric(svcOpenDesc, prometheus.GaugeValue, float64(ts.open.Load()), svc)
		ch <- prometheus.MustNewConstMetric(svcBytesDesc, prometheus.CounterValue, float64(ts.bytes.Load()), svc)
		ch <- prometheus.MustNewConstMetric(svcErrorsDesc, prometheus.CounterValue, float64(ts.errs.Load()), svc)
	}
	if b := s.eng.Balancer(); b != nil {
		collectLB(ch, b.Stats())
		if fp, ok := b.FastPath(); ok {
			collectFastPath(ch, fp)
		}
	}
}

// collectTCPLimits emits the TCP limits the engine runs with: --tcp-mem's
// thresholds (label threshold) and --somaxconn, so that a dashboard draws
// engine_tcp_memory_bytes against them.
func collectTCPLimits(ch chan<- prometheus.Metric, m engine.TCPMemLimits, somaxconn int) {
	for _, t := range []struct {
		name string
		v    int64
	}{{"low", m.Low}, {"pressure", m.Pressure}, {"high", m.High}} {
		ch <- prometheus.MustNewConstMetric(tcpLimitDesc, prometheus.GaugeValue, float64(t.v), t.name)
	}
	ch <- prometheus.MustNewConstMetric(somaxconnDesc, prometheus.GaugeValue, float64(somaxconn))
}

// The load balancer's families: per VIP (label vip), per backend (labels
// vip, backend: families of their own, so that a sum over a family counts
// each packet once), drops per VIP and reason.
const (
	lbPackets = iota
	lbBytes
	lbNewFlows
	lbFlows
	lbDrops
	lbBackendPackets
	lbBackendBytes
	lbBackendNewFlows
	lbBackendFlows
	lbBackendUp
	lbBackendWeight
)

var lbDescs = func() []*prometheus.Desc {
	vip, backend := []string{"vip"}, []string{"vip", "backend"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(metricPrefix+name, help, labels, nil)
	}
	return []*prometheus.Desc{
		lbPackets:  d("lb_packets_total", "Packets a VIP forwarded (both directions in NAT mode).", vip),
		lbBytes:    d("lb_bytes_total", "Bytes a VIP forwarded.", vip),
		lbNewFlows: d("lb_new_flows_total", "Flows a VIP gave a backend.", vip),
		lbFlows:    d("lb_flows", "Flows a VIP tracks now.", vip),
		lbDrops: d("lb_drops_total", "Packets to a VIP dropped, by reason: no_backend (none takes new flows), "+
			"table_full (no room or no port for a new NAT flow), too_big (encapsulation over the MTU with DF set: ICMP sent), other.",
			[]string{"vip", "reason"}),
		lbBackendPackets:  d("lb_backend_packets_total", "Packets a VIP sent to each backend.", backend),
		lbBackendBytes:    d("lb_backend_bytes_total", "Bytes a VIP sent to each backend.", backend),
		lbBackendNewFlows: d("lb_backend_new_flows_total", "Flows a VIP gave each backend.", backend),
		lbBackendFlows:    d("lb_backend_flows", "Flows tracked now, by backend.", backend),
		lbBackendUp:       d("lb_backend_up", "1 when the backend passes its health checks (or has none).", backend),
		lbBackendWeight:   d("lb_backend_weight", "The weight in use: 0 while drained or down.", backend),
	}
}()

// collectLB emits the balancer's counters; drops for every reason, zeros
// included, so that a rate exists before the first drop.
func collectLB(ch chan<- prometheus.Metric, st []lb.VIPStats) {
	add := func(i int, typ prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(lbDescs[i], typ, v, labels...)
	}
	c, g := prometheus.CounterValue, prometheus.GaugeValue
	for _, v := range st {
		add(lbPackets, c, float64(v.Packets), v.VIP)
		add(lbBytes, c, float64(v.Bytes), v.VIP)
		add(lbNewFlows, c, float64(v.NewFlows), v.VIP)
		add(lbFlows, g, float64(v.Flows), v.VIP)
		for r, n := range v.DropsBy {
			add(lbDrops, c, float64(n), v.VIP, dropReasonName(lb.DropReason(r)))
		}
		for _, b := range v.Backends {
			be := b.Addr.String()
			add(lbBackendPackets, c, float64(b.Packets), v.VIP, be)
			add(lbBackendBytes, c, float64(b.Bytes), v.VIP, be)
			add(lbBackendNewFlows, c, float64(b.NewFlows), v.VIP, be)
			add(lbBackendFlows, g, float64(b.Flows), v.VIP, be)
			up := 0.0
			if b.Up {
				up = 1
			}
			add(lbBackendUp, g, up, v.VIP, be)
			add(lbBackendWeight, g, float64(b.Weight), v.VIP, be)
		}
	}
}

var (
	fastEntriesDesc = prometheus.NewDesc(metricPrefix+"lb_fast_path_entries",
		"Keys in the XDP fast path's tables now (a NAT flow has two).", nil, nil)
	fastInstallsDesc = prometheus.NewDesc(metricPrefix+"lb_fast_path_installs_total",
		"Keys the workers put in the XDP fast path's tables.", nil, nil)
	fastRefusedDesc = prometheus.NewDesc(metricPrefix+"lb_fast_path_refused_total",
		"Keys not put in the fast path, by reason: table_full, error (a failed system call).", []string{"reason"}, nil)
)

// collectFastPath emits the fast path's counters.
func collectFastPath(ch chan<- prometheus.Metric, fp lb.FastPathStats) {
	ch <- prometheus.MustNewConstMetric(fastEntriesDesc, prometheus.GaugeValue, float64(fp.Entries))
	ch <- prometheus.MustNewConstMetric(fastInstallsDesc, prometheus.CounterValue, float64(fp.Installs))
	ch <- prometheus.MustNewConstMetric(fastRefusedDesc, prometheus.CounterValue, float64(fp.Full), "table_full")
	ch <- prometheus.MustNewConstMetric(fastRefusedDesc, prometheus.CounterValue, float64(fp.Errors), "error")
}

func protoName(p socktab.Proto) string {
	if p == socktab.TCP {
		return "tcp"
	}
	return "udp"
}
