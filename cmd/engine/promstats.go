package main

import (
	"strconv"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/metrics"
	"github.com/xdpengine/engine/lb"
	"github.com/xdpengine/engine/stack/socktab"
)

// metricPrefix starts every family the engine exports.
const metricPrefix = "engine_"

// statsFamilies turns the engine's counters into Prometheus families, one
// sample per queue (label queue="N"); sums over queues are left to the
// query (sum by (reason) (rate(engine_drops_total[1m]))). An engine-wide
// figure (engine_tcp_memory_bytes, ...) is one sample without a queue
// label.
func statsFamilies(st engine.Stats) []metrics.Family {
	var fams []metrics.Family
	for _, c := range counters {
		if len(fams) == 0 || fams[len(fams)-1].Name != metricPrefix+c.family {
			typ := "counter"
			if c.gauge {
				typ = "gauge"
			}
			fams = append(fams, metrics.Family{Name: metricPrefix + c.family, Help: c.help, Type: typ})
		}
		f := &fams[len(fams)-1]
		if c.global {
			// Engine-wide: one sample, no queue label.
			f.Samples = append(f.Samples, metrics.Sample{Value: float64(c.value(st.Workers))})
			continue
		}
		for i := range st.Workers {
			w := &st.Workers[i]
			labels := []metrics.Label{{Name: "queue", Value: strconv.Itoa(w.Queue)}}
			if c.label.Name != "" {
				labels = append(labels, c.label)
			}
			f.Samples = append(f.Samples, metrics.Sample{Labels: labels, Value: float64(c.get(w))})
		}
	}
	return fams
}

// gather is the metrics.Gatherer of engine serve: the engine's counters,
// its sockets, its services, and what it runs as.
func (s *server) gather() []metrics.Family {
	fams := statsFamilies(s.eng.Stats())
	v, goVersion := buildVersion()
	fams = append(fams,
		metrics.Family{Name: metricPrefix + "info", Type: "gauge", Help: "What the engine runs as; the value is always 1.",
			Samples: []metrics.Sample{{Value: 1, Labels: []metrics.Label{
				{Name: "interface", Value: s.opts.cfg.Interface}, {Name: "version", Value: v}, {Name: "go_version", Value: goVersion},
				{Name: "mode", Value: s.opts.cfg.Mode.String()}, {Name: "poll", Value: s.opts.cfg.Poll.String()}}}}},
		metrics.Family{Name: metricPrefix + "start_time_seconds", Type: "gauge", Help: "When the engine started, in seconds since the Unix epoch.",
			Samples: []metrics.Sample{{Value: float64(s.started.UnixNano()) / 1e9}}},
	)
	socks := metrics.Family{Name: metricPrefix + "sockets", Type: "gauge", Help: "Sockets holding a port, by protocol and state."}
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
			socks.Samples = append(socks.Samples, metrics.Sample{Value: float64(count[st]),
				Labels: []metrics.Label{{Name: "proto", Value: protoName(p)}, {Name: "state", Value: st}}})
		}
	}
	fams = append(fams, socks)
	fams = append(fams, tcpLimitFamilies(s.eng.TCPMemLimits(), s.eng.TCPSomaxconn())...)
	echo := []metrics.Family{
		{Name: metricPrefix + "echo_datagrams_total", Type: "counter", Help: "Datagrams echoed by the built-in echo services."},
		{Name: metricPrefix + "echo_bytes_total", Type: "counter", Help: "Payload bytes echoed by the built-in echo services."},
		{Name: metricPrefix + "echo_errors_total", Type: "counter", Help: "Failed reads and writes of the built-in echo services."},
	}
	for _, es := range s.echo {
		svc := metrics.Label{Name: "service", Value: es.spec.label()}
		echo[0].Samples = append(echo[0].Samples, metrics.Sample{Labels: []metrics.Label{svc}, Value: float64(es.datagrams.Load())})
		echo[1].Samples = append(echo[1].Samples, metrics.Sample{Labels: []metrics.Label{svc}, Value: float64(es.bytes.Load())})
		echo[2].Samples = append(echo[2].Samples,
			metrics.Sample{Labels: []metrics.Label{svc, {Name: "op", Value: "read"}}, Value: float64(es.readErrors.Load())},
			metrics.Sample{Labels: []metrics.Label{svc, {Name: "op", Value: "write"}}, Value: float64(es.writeErrors.Load())})
	}
	fams = append(fams, echo...)
	tcp := []metrics.Family{
		{Name: metricPrefix + "service_connections_total", Type: "counter", Help: "Connections accepted by the built-in TCP services."},
		{Name: metricPrefix + "service_open_connections", Type: "gauge", Help: "Connections the built-in TCP services have open."},
		{Name: metricPrefix + "service_bytes_total", Type: "counter", Help: "Bytes received by the built-in TCP services."},
		{Name: metricPrefix + "service_errors_total", Type: "counter", Help: "Failed accepts, reads and writes of the built-in TCP services."},
	}
	for _, ts := range s.tcp {
		l := []metrics.Label{{Name: "service", Value: ts.spec.label()}}
		tcp[0].Samples = append(tcp[0].Samples, metrics.Sample{Labels: l, Value: float64(ts.accepted.Load())})
		tcp[1].Samples = append(tcp[1].Samples, metrics.Sample{Labels: l, Value: float64(ts.open.Load())})
		tcp[2].Samples = append(tcp[2].Samples, metrics.Sample{Labels: l, Value: float64(ts.bytes.Load())})
		tcp[3].Samples = append(tcp[3].Samples, metrics.Sample{Labels: l, Value: float64(ts.errs.Load())})
	}
	fams = append(fams, tcp...)
	if b := s.eng.Balancer(); b != nil {
		fams = append(fams, lbFamilies(b.Stats())...)
	}
	return fams
}

// tcpLimitFamilies are the TCP limits the engine runs with: --tcp-mem's
// thresholds (label threshold) and --somaxconn, so that a dashboard draws
// engine_tcp_memory_bytes against them.
func tcpLimitFamilies(m engine.TCPMemLimits, somaxconn int) []metrics.Family {
	lim := metrics.Family{Name: metricPrefix + "tcp_memory_limit_bytes", Type: "gauge",
		Help: "The TCP memory thresholds (--tcp-mem, like net.ipv4.tcp_mem): pressure starts above pressure and ends below low; above high new connections are refused."}
	for _, t := range []struct {
		name string
		v    int64
	}{{"low", m.Low}, {"pressure", m.Pressure}, {"high", m.High}} {
		lim.Samples = append(lim.Samples, metrics.Sample{Labels: []metrics.Label{{Name: "threshold", Value: t.name}}, Value: float64(t.v)})
	}
	return []metrics.Family{lim, {Name: metricPrefix + "tcp_somaxconn", Type: "gauge",
		Help:    "The largest backlog a TCP listener gets, per worker (--somaxconn, like net.core.somaxconn).",
		Samples: []metrics.Sample{{Value: float64(somaxconn)}}}}
}

// lbFamilies are the load balancer's counters: per VIP (label vip) and per
// backend (labels vip, backend); drops per VIP and reason (labels vip,
// reason), every reason, zeros included, so that a rate exists before the
// first drop.
func lbFamilies(st []lb.VIPStats) []metrics.Family {
	f := []metrics.Family{
		{Name: metricPrefix + "lb_packets_total", Type: "counter", Help: "Packets a VIP forwarded (both directions in NAT mode), and sent to each backend."},
		{Name: metricPrefix + "lb_bytes_total", Type: "counter", Help: "Bytes a VIP forwarded, and sent to each backend."},
		{Name: metricPrefix + "lb_new_flows_total", Type: "counter", Help: "Flows a VIP gave a backend."},
		{Name: metricPrefix + "lb_flows", Type: "gauge", Help: "Flows tracked now."},
		{Name: metricPrefix + "lb_drops_total", Type: "counter", Help: "Packets to a VIP dropped, by reason: no_backend (none takes new flows), " +
			"table_full (no room or no port for a new NAT flow), too_big (encapsulation over the MTU with DF set: ICMP sent), other."},
		{Name: metricPrefix + "lb_backend_up", Type: "gauge", Help: "1 when the backend passes its health checks (or has none)."},
		{Name: metricPrefix + "lb_backend_weight", Type: "gauge", Help: "The weight in use: 0 while drained or down."},
	}
	add := func(i int, v float64, l ...metrics.Label) {
		f[i].Samples = append(f[i].Samples, metrics.Sample{Labels: l, Value: v})
	}
	for _, v := range st {
		vl := metrics.Label{Name: "vip", Value: v.VIP}
		add(0, float64(v.Packets), vl)
		add(1, float64(v.Bytes), vl)
		add(2, float64(v.NewFlows), vl)
		add(3, float64(v.Flows), vl)
		for r, n := range v.DropsBy {
			add(4, float64(n), vl, metrics.Label{Name: "reason", Value: dropReasonName(lb.DropReason(r))})
		}
		for _, b := range v.Backends {
			bl := metrics.Label{Name: "backend", Value: b.Addr.String()}
			add(0, float64(b.Packets), vl, bl)
			add(1, float64(b.Bytes), vl, bl)
			add(2, float64(b.NewFlows), vl, bl)
			add(3, float64(b.Flows), vl, bl)
			up := 0.0
			if b.Up {
				up = 1
			}
			add(5, up, vl, bl)
			add(6, float64(b.Weight), vl, bl)
		}
	}
	return f
}

func protoName(p socktab.Proto) string {
	if p == socktab.TCP {
		return "tcp"
	}
	return "udp"
}
