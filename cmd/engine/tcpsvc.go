package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/stack/socktab"
)

// tcpBufs recycles the copy buffers of the TCP services. A connection
// takes one only while it has data to copy (readWaiter), so an idle
// connection holds none: 100,000 idle echo connections cost the service
// their goroutines, not 6.4 GB of buffers.
var tcpBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// readWaiter is a connection that can wait for data without a buffer
// (the engine's *tcpsock.Conn).
type readWaiter interface{ WaitReadable() error }

// tcpService is a TCP echo (RFC 862) or discard (RFC 863) service on the
// engine's TCP: one goroutine accepts, one goroutine per connection copies
// through a pooled buffer it holds only while data moves.
type tcpService struct {
	spec echoSpec
	ln   net.Listener
	log  *slog.Logger

	mu    sync.Mutex
	conns map[net.Conn]struct{} // open connections, closed on stop
	wg    sync.WaitGroup

	// Counters, added by the connection goroutines, read by metrics and
	// the final log; they order nothing.
	accepted atomic.Uint64
	open     atomic.Int64
	bytes    atomic.Uint64
	errs     atomic.Uint64
}

func newTCPService(eng *engine.Engine, spec echoSpec, log *slog.Logger) (*tcpService, error) {
	ln, err := eng.Listen("tcp", spec.listenAddr()) // the wildcard is dual-stack with IPv6 addresses
	if err != nil {
		return nil, err
	}
	return &tcpService{spec: spec, ln: ln, log: log, conns: map[net.Conn]struct{}{}}, nil
}

// run accepts until the listener closes, then waits for its connections.
func (s *tcpService) run(wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				break
			}
			s.errs.Add(1)
			time.Sleep(time.Millisecond) // never spin on a repeating error
			continue
		}
		s.accepted.Add(1)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
	s.wg.Wait()
}

func (s *tcpService) serve(c net.Conn) {
	defer s.wg.Done()
	s.open.Add(1)
	defer func() {
		s.open.Add(-1)
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	rw, _ := c.(readWaiter)
	for {
		if rw != nil {
			// Its error (closed, deadline) is the Read's below, at once.
			rw.WaitReadable()
		}
		bp := tcpBufs.Get().(*[]byte)
		n, err := c.Read(*bp)
		if n > 0 {
			s.bytes.Add(uint64(n))
			if s.spec.Kind == "echo" {
				if _, werr := c.Write((*bp)[:n]); werr != nil {
					tcpBufs.Put(bp)
					s.countErr(werr)
					return
				}
			}
		}
		tcpBufs.Put(bp)
		if err != nil {
			if errors.Is(err, io.EOF) && s.spec.Kind == "echo" {
				// The client is done sending: finish our half too.
				if cw, ok := c.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
			}
			if !errors.Is(err, io.EOF) {
				s.countErr(err)
			}
			return
		}
	}
}

func (s *tcpService) countErr(err error) {
	if !errors.Is(err, net.ErrClosed) {
		s.errs.Add(1)
		s.log.Debug("tcp service", "service", s.spec.label(), "err", err)
	}
}

// close stops accepting and closes every open connection.
func (s *tcpService) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
}

// httpService serves a small page over the engine's own TCP, on the
// data-plane addresses that anyone on the link reaches. By default the page
// says only that the engine serves: its counters, sockets and metrics would
// tell a stranger about the host's traffic and peers. With
// --http-expose-status it is the status page: the counters as `engine
// stats` prints them, the sockets as `engine ss`, the raw counters as JSON
// (/stats.json) and the Prometheus metrics (/metrics).
type httpService struct {
	srv *server
	ln  net.Listener
	hs  *http.Server
}

func newHTTPService(s *server, port uint16) (*httpService, error) {
	ln, err := s.eng.Listen("tcp", fmt.Sprintf(":%d", port)) // IPv4 and IPv6
	if err != nil {
		return nil, err
	}
	h := &httpService{srv: s, ln: ln}
	h.hs = &http.Server{Handler: h.mux(s.opts.httpExpose), ReadHeaderTimeout: 10 * time.Second}
	return h, nil
}

// mux routes the page; with expose, the status page, /stats.json and
// /metrics.
func (h *httpService) mux(expose bool) *http.ServeMux {
	mux := http.NewServeMux()
	if !expose {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, httpPlainPage)
		})
		return mux
	}
	mux.HandleFunc("GET /{$}", h.page)
	mux.HandleFunc("GET /stats.json", h.statsJSON)
	mux.Handle("GET /metrics", h.srv.metricsHandler())
	return mux
}

// httpPlainPage is all --http serves without --http-expose-status: no
// version, interface, counter or peer.
const httpPlainPage = "engine: this address is served by a kernel-bypass packet engine.\n"

func (h *httpService) run(wg *sync.WaitGroup) {
	defer wg.Done()
	if err := h.hs.Serve(h.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		h.srv.log.Warn("http service stopped", "err", err)
	}
}

func (h *httpService) close() { h.hs.Close() }

func (h *httpService) page(w http.ResponseWriter, _ *http.Request) {
	s := h.srv
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	ver, _ := buildVersion()
	fmt.Fprintf(w, "engine %s on %s, addresses %s, up %v\n\n", ver, s.opts.cfg.Interface,
		joinPrefixes(s.opts.cfg.Addrs), time.Since(s.started).Round(time.Second))
	if err := writeStatsTable(w, s.eng.Stats(), false); err != nil {
		return
	}
	for _, p := range []socktab.Proto{socktab.UDP, socktab.TCP} {
		fmt.Fprintf(w, "\n%s sockets\n", protoName(p))
		s.eng.WriteSS(w, p)
	}
}

func (h *httpService) statsJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(h.srv.eng.Stats())
}
