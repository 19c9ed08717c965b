// Package metrics is the listener of the engine's Prometheus metrics: it
// checks the address and serves a handler on it. What it serves (the
// exposition, built with prometheus/client_golang, and pprof when asked)
// is cmd/engine's; this package imports no Prometheus library, so that
// its rules stay cheap to test.
//
// The listener binds to 127.0.0.1 unless told otherwise. A wildcard address
// (":9090", "0.0.0.0:9090", "[::]:9090") exposes the counters to every
// network the host is on, so it needs an explicit opt-in and is logged.
package metrics

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// DefaultAddr is where metrics are served when no address is given.
const DefaultAddr = "127.0.0.1:9090"

// ErrWildcard is returned for a wildcard listen address without opt-in.
var ErrWildcard = errors.New("wildcard metrics address")

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

// Serve listens on addr and serves h until the returned server is closed.
func Serve(addr string, allowWildcard bool, h http.Handler, log *slog.Logger) (*http.Server, net.Addr, error) {
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
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return srv, ln.Addr(), nil
}
