package tcpload

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// ErrConfig reports a Config that Run cannot use.
var ErrConfig = errors.New("tcpload: bad configuration")

// DialFunc opens a TCP connection to address ("198.18.0.2:80"):
// (*engine.Dialer).DialContext, (*net.Dialer).DialContext.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Mode is the kind of load.
type Mode uint8

const (
	// HTTP sends HTTP/1.1 GET requests on keep-alive connections and
	// reads the responses.
	HTTP Mode = iota
	// Raw sends RequestSize bytes and reads ResponseSize bytes per
	// request, on long-lived connections.
	Raw
	// Connect opens a connection per request: connect, one exchange (an
	// HTTP GET with "Connection: close" when Path is set, else a raw
	// exchange), close.
	Connect
	// Bulk moves bytes as fast as the connections take them, in
	// Direction, on Conns streams (iperf3-like).
	Bulk
)

var modeNames = [...]string{HTTP: "http", Raw: "raw", Connect: "connect", Bulk: "bulk"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseMode parses "http", "raw", "connect" or "bulk".
func ParseMode(s string) (Mode, error) {
	for m, n := range modeNames {
		if n == s {
			return Mode(m), nil
		}
	}
	return 0, fmt.Errorf("%w: mode %q: want http, raw, connect or bulk", ErrConfig, s)
}

// Direction is where a Bulk stream's bytes go.
type Direction uint8

const (
	// Up: the client sends, the server reads (a discard server).
	Up Direction = iota
	// Down: the server sends, the client reads (a source server).
	Down
	// Both: each stream sends and reads at once (an echo server).
	Both
)

var dirNames = [...]string{Up: "up", Down: "down", Both: "both"}

func (d Direction) String() string {
	if int(d) < len(dirNames) {
		return dirNames[d]
	}
	return fmt.Sprintf("direction(%d)", uint8(d))
}

// ParseDirection parses "up", "down" or "both".
func ParseDirection(s string) (Direction, error) {
	for d, n := range dirNames {
		if n == s {
			return Direction(d), nil
		}
	}
	return 0, fmt.Errorf("%w: direction %q: want up, down or both", ErrConfig, s)
}

// Config describes one run. Dial and Target are required; zero values
// elsewhere take the defaults given.
type Config struct {
	// Dial opens the connections (the stack under test).
	Dial DialFunc
	// Target is the server. With Ports > 1 the connections are spread
	// over Ports consecutive ports from Target's, which lets one source
	// address hold more connections to one server address than the
	// ephemeral port range has ports: a connection is its 5-tuple.
	Target netip.AddrPort
	Ports  int // default 1
	Mode   Mode
	// Host and Path make the HTTP request line and Host field (defaults:
	// Target and "/"). Connect mode sends an HTTP request when Path is
	// set, else a raw exchange.
	Host, Path string
	// Header is extra request header lines, each without CRLF.
	Header []string
	// Conns is the number of connections (Bulk: streams) at once
	// (default 1).
	Conns int
	// Duration is how long requests are started (default 10 s); requests
	// in flight then are waited for, within Timeout.
	Duration time.Duration
	// Rate, in requests (Connect: connections) per second, makes the run
	// open-loop: request k is due at start + k/Rate whatever happened to
	// the earlier ones, and its latency counts from that time (wrk2's
	// correction for coordinated omission). 0 is closed-loop: each
	// connection sends its next request when the last one is answered.
	Rate float64
	// RequestSize and ResponseSize are the bytes a Raw (or raw Connect)
	// exchange sends and reads (defaults 64 and 64).
	RequestSize, ResponseSize int
	// Payload, when set, is what a raw exchange sends instead of
	// RequestSize bytes of a pattern.
	Payload []byte
	// Direction is a Bulk run's (default Up).
	Direction Direction
	// BufferSize is each connection's read buffer (default 4096; a
	// response's header lines must fit) and a Bulk stream's write and
	// read size (default 65536).
	BufferSize int
	// Timeout bounds a connect and a request (default 5 s); a request
	// past it is abandoned and its connection closed.
	Timeout time.Duration
	// MaxLatency is the histograms' upper bound (default 60 s); slower
	// requests are recorded as it.
	MaxLatency time.Duration
	// Progress, when set, is called every Interval (default 1 s) from the
	// goroutine that runs Run, with what happened since the last call.
	Progress func(Snapshot)
	Interval time.Duration
}

// Validate checks c and returns it with its defaults filled in; errors wrap
// ErrConfig.
func (c Config) Validate() (Config, error) {
	bad := func(format string, a ...any) (Config, error) {
		return c, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...)
	}
	if c.Dial == nil {
		return bad("no Dial function")
	}
	if !c.Target.IsValid() || c.Target.Port() == 0 {
		return bad("target %v: want an address and a port", c.Target)
	}
	if c.Ports == 0 {
		c.Ports = 1
	}
	if c.Ports < 0 || int(c.Target.Port())+c.Ports-1 > 65535 {
		return bad("%d ports from %d go past 65535", c.Ports, c.Target.Port())
	}
	if c.Mode > Bulk {
		return bad("mode %v", c.Mode)
	}
	if c.Conns == 0 {
		c.Conns = 1
	}
	if c.Conns < 0 || c.Conns > 1<<22 {
		return bad("%d connections: want 1 to %d", c.Conns, 1<<22)
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Rate < 0 || c.Duration < 0 || c.RequestSize < 0 || c.ResponseSize < 0 || c.Timeout < 0 {
		return bad("negative rate, duration, size or timeout")
	}
	if c.Rate > 0 && c.Mode == Bulk {
		return bad("a rate does not apply to bulk mode")
	}
	if c.RequestSize == 0 {
		c.RequestSize = 64
	}
	if c.ResponseSize == 0 {
		c.ResponseSize = 64
	}
	if c.Mode == Raw && c.RequestSize > 1<<30 {
		return bad("request size %d", c.RequestSize)
	}
	if c.Direction > Both {
		return bad("direction %v", c.Direction)
	}
	if c.BufferSize == 0 {
		c.BufferSize = 4096
		if c.Mode == Bulk {
			c.BufferSize = 65536
		}
	}
	if c.BufferSize < 256 || c.BufferSize > 16<<20 {
		return bad("buffer size %d: want 256 bytes to 16 MiB", c.BufferSize)
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.MaxLatency == 0 {
		c.MaxLatency = time.Minute
	}
	if c.MaxLatency < time.Millisecond {
		return bad("maximum latency %v", c.MaxLatency)
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Host == "" {
		c.Host = c.Target.String()
	}
	if c.Path == "" && c.Mode == HTTP {
		c.Path = "/"
	}
	if c.Path != "" && !strings.HasPrefix(c.Path, "/") {
		return bad("path %q: want one starting with /", c.Path)
	}
	for _, s := range append([]string{c.Host, c.Path}, c.Header...) {
		if strings.ContainsAny(s, "\r\n") {
			return bad("%q: a request field cannot hold CR or LF", s)
		}
	}
	return c, nil
}

// httpMode reports whether c's exchanges are HTTP requests.
func (c *Config) httpMode() bool {
	return c.Mode == HTTP || (c.Mode == Connect && c.Path != "")
}

// request builds the bytes every connection sends per request: an HTTP
// GET, or RequestSize bytes of a pattern.
func (c *Config) request() []byte {
	if !c.httpMode() {
		if c.Payload != nil {
			return c.Payload
		}
		b := make([]byte, c.RequestSize)
		for i := range b {
			b[i] = byte('a' + i%26)
		}
		return b
	}
	var sb strings.Builder
	sb.WriteString("GET " + c.Path + " HTTP/1.1\r\nHost: " + c.Host + "\r\nUser-Agent: engine-bench\r\n")
	if c.Mode == Connect {
		sb.WriteString("Connection: close\r\n")
	}
	for _, h := range c.Header {
		sb.WriteString(h + "\r\n")
	}
	sb.WriteString("\r\n")
	return []byte(sb.String())
}
