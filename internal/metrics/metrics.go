// Package metrics exposes the engine's counters in the Prometheus text
// exposition format (version 0.0.4) over HTTP.
//
// The engine's counters live in its packages as plain integers owned by the
// workers; a Gatherer turns a consistent-enough snapshot of them into
// families at scrape time, so scraping costs the packet path nothing.
//
// The listener binds to 127.0.0.1 unless told otherwise. A wildcard address
// (":9090", "0.0.0.0:9090", "[::]:9090") exposes the counters to every
// network the host is on, so it needs an explicit opt-in and is logged.
package metrics

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// DefaultAddr is where metrics are served when no address is given.
const DefaultAddr = "127.0.0.1:9090"

// ErrWildcard is returned for a wildcard listen address without opt-in.
var ErrWildcard = errors.New("wildcard metrics address")

// Label is one name="value" pair.
type Label struct{ Name, Value string }

// Sample is one value of a family, with its labels.
type Sample struct {
	Labels []Label
	Value  float64
}

// Family is a metric name with its help text, type and samples.
type Family struct {
	Name, Help string
	Type       string // "counter" or "gauge"
	Samples    []Sample
}

// Gatherer returns the families to expose; it is called once per scrape.
type Gatherer func() []Family

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// WriteText writes families in the text exposition format.
func WriteText(w io.Writer, fams []Family) error {
	bw := bufio.NewWriter(w)
	for _, f := range fams {
		if f.Help != "" {
			fmt.Fprintf(bw, "# HELP %s %s\n", f.Name, helpEscaper.Replace(f.Help))
		}
		if f.Type != "" {
			fmt.Fprintf(bw, "# TYPE %s %s\n", f.Name, f.Type)
		}
		for _, s := range f.Samples {
			bw.WriteString(f.Name)
			if len(s.Labels) > 0 {
				bw.WriteByte('{')
				for i, l := range s.Labels {
					if i > 0 {
						bw.WriteByte(',')
					}
					fmt.Fprintf(bw, `%s="%s"`, l.Name, labelEscaper.Replace(l.Value))
				}
				bw.WriteByte('}')
			}
			bw.WriteByte(' ')
			bw.WriteString(strconv.FormatFloat(s.Value, 'g', -1, 64))
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

// Handler serves the families from g at any path.
func Handler(g Gatherer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = WriteText(w, g())
	})
}

// CheckAddr validates a listen address. An empty host, 0.0.0.0 or :: is a
// wildcard and is refused unless allowWildcard is set.
func CheckAddr(addr string, allowWildcard bool) (wildcard bool, err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("metrics: address %q: %w (want HOST:PORT, e.g. %s)", addr, err, DefaultAddr)
	}
	if host == "" {
		wildcard = true
	} else if ip, perr := netip.ParseAddr(host); perr == nil && ip.IsUnspecified() {
		wildcard = true
	}
	if wildcard && !allowWildcard {
		return true, fmt.Errorf("metrics: %q listens on every address of this host: %w "+
			"(use 127.0.0.1:PORT, or pass --metrics-allow-wildcard to expose it on purpose)", addr, ErrWildcard)
	}
	return wildcard, nil
}

// Serve listens on addr and serves g until the returned server is closed.
func Serve(addr string, allowWildcard bool, g Gatherer, log *slog.Logger) (*http.Server, net.Addr, error) {
	if log == nil {
		log = slog.Default()
	}
	wildcard, err := CheckAddr(addr, allowWildcard)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	if wildcard {
		log.Warn("metrics are exposed on every address of this host", "addr", ln.Addr().String())
	}
	srv := &http.Server{Handler: Handler(g), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return srv, ln.Addr(), nil
}
