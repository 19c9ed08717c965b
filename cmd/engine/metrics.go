package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// registry is engine serve's own Prometheus registry (never the global
// default one, which a program embedding the engine may fill with its
// own): the engine's collector, the Go runtime's and the process's.
func (s *server) registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		serverCollector{s},
	)
	return reg
}

// metricsHandler serves the registry's metrics in the format the scraper
// asks for (the text format by default). A collector's error is logged and
// the rest is served.
func (s *server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry(), promhttp.HandlerOpts{
		ErrorLog:      promLogger{s.log},
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// metricsMux is what the --metrics listener serves: the metrics at every
// path (/metrics by convention), and with --metrics-pprof Go's profiles
// under /debug/pprof/ (net/http/pprof: CPU, heap, goroutines, execution
// traces). Profiles are off by default: a CPU profile or a trace slows
// the workers while it runs, and the goroutine dump shows the program's
// internals.
func (s *server) metricsMux(withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s.metricsHandler())
	if !withPprof {
		mux.Handle("/debug/pprof/", http.NotFoundHandler())
	} else {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// promLogger is promhttp's error log on the server's logger.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) { l.log.Warn("metrics", "err", fmt.Sprint(v...)) }
