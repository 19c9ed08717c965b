package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/bench/tcpload"
	"github.com/xdpengine/engine/engine"
)

const benchTCPSynopsis = `
Usage: engine bench tcp -i IFACE --addr CIDR --url http://IP:PORT/PATH [-c CONNS]
                        [--duration 10s] [--rate RPS] [--mode http|raw|connect|bulk]
                        [--nap auto|DURATION] [--json FILE] [--report FILE.html]
                        [--compare kernel] [flags]

Load a TCP server through the engine's own TCP stack on IFACE, from the
engine's address --addr, and measure it (package bench/tcpload):

  http     CONNS keep-alive connections send HTTP/1.1 GETs for PATH (wrk-like)
  raw      send --request-size bytes, read --response-size bytes, on long-lived
           connections (--url tcp://IP:PORT)
  connect  a connection per request: connect, one exchange, close (an HTTP GET
           with "Connection: close" for an http:// URL, else raw)
  bulk     CONNS streams move bytes --direction up (to a discard server), down
           (from a source) or both (through an echo server), iperf3-like

Without --rate the load is closed-loop (each connection sends its next
request when the last one is answered). --rate RPS makes it open-loop:
requests are due at a fixed rate and their latency counts from when they
were due, so a stalling server cannot hide behind fewer requests (wrk2's
correction for coordinated omission). --dst-ports N spreads the connections
over N consecutive ports from the URL's, so one source address can hold more
connections to one server address than the ephemeral port range has ports.

The engine's workers nap between empty polls instead of spinning (--nap auto:
10us for closed-loop requests with 16 or more connections per worker, where
the server's queue hides the wait and the batches save CPU; they spin for
fewer connections, open loop, connect and bulk, and where a nap lasts over
50us). --nap 0 always spins.

The CPU a run took is reported for this process (the engine, its workers and
the load) and for the whole machine (a server on it included), in total and
per request. A progress line is printed every second when stderr is a
terminal. --json writes every figure (snake_case keys: requests,
requests_per_s, errors, latency_ns, cpu, poll, nap_us, ...); --report an HTML
page with plots. --compare kernel runs the same load again through the
kernel's sockets on the same interface (the kernel needs an address of its
own on IFACE) and prints the ratio.

Example:
  engine bench tcp -i eth1 --addr 198.18.0.1/24 --url http://198.18.0.2:8080/ -c 64 --duration 10s --compare kernel`

// benchTCPOptions are engine bench tcp's parsed flags.
type benchTCPOptions struct {
	cfg        engine.Config
	load       tcpload.Config
	url        string
	jsonPath   string
	reportPath string
	compare    bool
	nap        string        // --nap: "auto" or a duration
	napTook    time.Duration // --nap auto: how long the nap it would choose lasts here (engine.NapLength)
}

// benchTCPNapSlow is the longest a nap may last for --nap auto to choose
// it: a quarter of the spin it replaces.
const benchTCPNapSlow = engine.DefaultSpinTime / 4

func init() {
	benchCommands["tcp"] = benchCommand{
		summary: "load a TCP or HTTP server through the engine's TCP (wrk/wrk2/iperf3-like), --compare kernel",
		run:     runBenchTCP,
	}
}

// parseBenchTCP parses and checks the flags; every error is a usage error.
func parseBenchTCP(args []string, stdout io.Writer) (*benchTCPOptions, error) {
	o := &benchTCPOptions{}
	c, l := &o.cfg, &o.load
	fs := flagSet("bench tcp", benchTCPSynopsis)
	fs.StringVarP(&c.Interface, "interface", "i", "", "`interface` to run the engine on (required)")
	fs.Func("addr", "IPv4 `CIDR` the engine owns and connects from, e.g. 198.18.0.1/24 (required, repeatable)", func(v string) error {
		p, err := parsePrefix(v)
		if err == nil {
			c.Addrs = append(c.Addrs, p)
		}
		return err
	})
	fs.StringVar(&o.url, "url", "", "the server: http://IP[:PORT]/PATH, or tcp://IP:PORT for raw, connect and bulk modes (required)")
	fs.IntVarP(&l.Conns, "connections", "c", 16, "connections (bulk: streams) at once")
	fs.DurationVar(&l.Duration, "duration", 10*time.Second, "how long requests are started")
	fs.Float64Var(&l.Rate, "rate", 0, "requests (connect mode: connections) per second, open-loop; 0: closed-loop")
	mode, dir, compare := "http", "up", ""
	fs.StringVar(&mode, "mode", mode, "load `kind`: http, raw, connect or bulk")
	fs.StringVar(&dir, "direction", dir, "bulk mode: up (the engine sends), down (the engine receives) or both (through an echo server)")
	fs.IntVar(&l.Ports, "dst-ports", 1, "spread the connections over `N` consecutive server ports from the URL's")
	fs.IntVar(&l.RequestSize, "request-size", 64, "raw exchanges: bytes sent per request")
	fs.IntVar(&l.ResponseSize, "response-size", 64, "raw exchanges: bytes read per request")
	fs.IntVar(&l.BufferSize, "buffer", 0, "read buffer per connection in bytes (default 4096; bulk: the write and read size, default 65536)")
	fs.DurationVar(&l.Timeout, "timeout", 5*time.Second, "a connect or a request with no answer within this is an error")
	fs.FuncP("header", "H", "extra request header `line` (repeatable), e.g. -H 'Accept: text/html'", func(v string) error {
		l.Header = append(l.Header, v)
		return nil
	})
	fs.StringVar(&o.jsonPath, "json", "", "write every figure as JSON to `file` (-: stdout, the summary then going to stderr)")
	fs.StringVar(&o.reportPath, "report", "", "write an HTML report with plots to `file`")
	fs.StringVar(&compare, "compare", "", "run the same load through `kernel` sockets on the same interface too, and print the ratio")
	// The engine's own settings, as engine serve takes them.
	fs.Func("gateway", "next hop `address` for servers outside every --addr subnet", func(v string) error {
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return fmt.Errorf("%q is not an IPv4 address", v)
		}
		c.Gateway = a
		return nil
	})
	fs.Func("neigh", "static ARP entry `ADDR=MAC` (repeatable)", func(v string) error {
		n, err := parseNeighbor(v)
		if err == nil {
			c.Neighbors = append(c.Neighbors, n)
		}
		return err
	})
	fs.IntVar(&c.Queues, "queues", 0, "queues (and workers) to use (default: all of the interface's queues)")
	fs.Func("cpus", "pin worker i to the i-th CPU of this `list`", func(v string) error {
		cpus, err := parseCPUs(v)
		c.CPUs = cpus
		return err
	})
	xsk, poll := "auto", "adaptive"
	fs.StringVar(&xsk, "xsk-mode", xsk, "AF_XDP bind `mode`: auto, zerocopy or copy (engine serve's --mode)")
	fs.StringVar(&poll, "poll", poll, "how workers wait: busy, adaptive or interrupt")
	o.nap = "auto"
	fs.StringVar(&o.nap, "nap", o.nap, "adaptive workers sleep this `auto|duration` on a timer between empty polls instead of spinning: "+
		"0 (spin), a duration up to 100us, or auto (10us for closed-loop requests with 16 or more connections per worker, "+
		"if a nap lasts at most 50us here; else spin)")
	fs.Func("ports", "the engine's ephemeral port `range` FIRST-LAST (default 32768-60999)", func(v string) error {
		r, err := parseRange(v)
		if err == nil && r.First < 1024 {
			err = fmt.Errorf("%q: the range must start at 1024 or above", v)
		}
		c.Ports = r
		return err
	})
	fs.IntVar(&c.TCPRecvBuffer, "tcp-rcvbuf", 0, "each connection's receive ring in `bytes`, a power of two (default 64 KiB; bulk: 4 MiB)")
	fs.IntVar(&c.TCPSendBuffer, "tcp-sndbuf", 0, "each connection's initial send ring in `bytes`, a power of two (default 16 KiB; bulk: 256 KiB)")
	fs.IntVar(&c.TCPMaxConnections, "tcp-max-connections", 0, "the engine's TCP connections, TIME-WAIT included (default: 65536, or twice -c)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return nil, err
	}

	if c.Interface == "" {
		return nil, usagef("no interface: give the one to load from with -i IFACE (list them with `ip -br link`)")
	}
	if len(c.Addrs) == 0 {
		return nil, usagef("no address: give the engine's own IPv4 address with --addr CIDR, e.g. --addr 198.18.0.1/24")
	}
	var err error
	if l.Mode, err = tcpload.ParseMode(mode); err != nil {
		return nil, usagef("--mode %q: want http, raw, connect or bulk", mode)
	}
	if l.Direction, err = tcpload.ParseDirection(dir); err != nil {
		return nil, usagef("--direction %q: want up, down or both", dir)
	}
	if err := benchTCPTarget(o.url, l); err != nil {
		return nil, err
	}
	switch compare {
	case "":
	case "kernel":
		o.compare = true
	default:
		return nil, usagef("--compare %q: the only comparison is --compare kernel", compare)
	}
	if c.Mode, err = afxdp.ParseMode(xsk); err != nil {
		return nil, usagef("--xsk-mode %q: want auto, zerocopy or copy", xsk)
	}
	if c.Poll, err = engine.ParsePollMode(poll); err != nil {
		return nil, usagef("--poll %q: want busy, adaptive or interrupt", poll)
	}
	if o.nap != "auto" {
		if c.Nap, err = time.ParseDuration(o.nap); err != nil || c.Nap < 0 || c.Nap > engine.MaxNap {
			return nil, usagef("--nap %q: want auto, 0 or a duration up to %v, e.g. 10us", o.nap, engine.MaxNap)
		}
		if c.Nap > 0 && c.Poll != engine.PollAdaptive {
			return nil, usagef("--nap %v: naps replace an adaptive worker's spin; drop --nap or use --poll adaptive", c.Nap)
		}
	}
	if l.Conns < 1 || l.Duration <= 0 || l.Rate < 0 || l.Timeout <= 0 || l.Ports < 1 {
		return nil, usagef("-c, --duration, --timeout and --dst-ports want positive values, --rate zero or more")
	}
	if l.Mode == tcpload.Bulk && l.Rate > 0 {
		return nil, usagef("--rate does not apply to --mode bulk (it moves bytes as fast as it can)")
	}
	if c.TCPRecvBuffer == 0 && l.Mode != tcpload.Bulk {
		c.TCPRecvBuffer = 64 << 10
	}
	if c.TCPSendBuffer == 0 && l.Mode != tcpload.Bulk {
		c.TCPSendBuffer = 16 << 10
	}
	if c.TCPMaxConnections == 0 {
		c.TCPMaxConnections = max(engine.DefaultTCPMaxConnections, 2*l.Conns)
	}
	if _, err := (tcpload.Config{Dial: (&net.Dialer{}).DialContext, Target: l.Target, Ports: l.Ports, Path: l.Path,
		Header: l.Header, BufferSize: l.BufferSize, Mode: l.Mode}).Validate(); err != nil {
		return nil, usagef("%v", err)
	}
	return o, nil
}

// benchTCPTarget reads --url into the load's target, host and path.
func benchTCPTarget(raw string, l *tcpload.Config) error {
	if raw == "" {
		return usagef("no server: give it with --url http://IP:PORT/PATH (or tcp://IP:PORT)")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "tcp") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return usagef("--url %q: want http://IP[:PORT]/PATH or tcp://IP:PORT", raw)
	}
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil || !a.Is4() {
		return usagef("--url %q: the host must be an IPv4 address (the engine resolves no names)", raw)
	}
	port := 80
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return usagef("--url %q: port %q: want 1-65535", raw, p)
		}
	} else if u.Scheme == "tcp" {
		return usagef("--url %q: a tcp:// URL needs a port", raw)
	}
	l.Target = netip.AddrPortFrom(a, uint16(port))
	switch {
	case u.Scheme == "http":
		l.Host = u.Host
		l.Path = u.RequestURI()
	case l.Mode == tcpload.HTTP:
		return usagef("--url %q: --mode http wants an http:// URL", raw)
	case u.Path != "" || u.RawQuery != "":
		return usagef("--url %q: a tcp:// URL has no path", raw)
	}
	return nil
}

func runBenchTCP(args []string, stdout, stderr io.Writer) error {
	o, err := parseBenchTCP(args, stdout)
	if err != nil {
		return err
	}
	o.cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := checkCapabilities(); err != nil {
		return err
	}
	if o.nap == "auto" && o.cfg.Poll == engine.PollAdaptive {
		if nap := o.load.WorkerNap(benchTCPWorkers(&o.cfg)); nap > 0 {
			// A nap far longer than asked (slow timers) costs latency
			// for nothing: spin then.
			o.napTook = engine.NapLength(nap, 21)
			if o.napTook <= benchTCPNapSlow {
				o.cfg.Nap = nap
			}
		}
	}
	eng, err := engine.New(o.cfg)
	if err != nil {
		if errors.Is(err, engine.ErrConfig) {
			return usagef("%v", err)
		}
		return withHint(err)
	}
	if err := eng.Start(); err != nil {
		return withHint(err)
	}
	defer eng.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	runs := []benchTCPRun{{stack: "engine", dial: (&engine.Dialer{Engine: eng}).DialContext}}
	if o.compare {
		runs = append(runs, benchTCPRun{stack: "kernel", dial: benchTCPKernelDialer(o.cfg.Interface).DialContext})
	}
	for i := range runs {
		r := &runs[i]
		load := o.load
		load.Dial = r.dial
		if f, ok := stderr.(*os.File); ok && benchTCPIsTerminal(f) {
			load.Progress = benchTCPProgress(stderr, r.stack, o.load.Mode)
		}
		r.res, r.err = tcpload.Run(ctx, load)
		if load.Progress != nil {
			fmt.Fprint(stderr, "\r\033[K")
		}
		if r.err != nil && ctx.Err() == nil {
			return fmt.Errorf("%s: %w", r.stack, r.err)
		}
		if ctx.Err() != nil {
			runs = runs[:i+1]
			break
		}
	}
	text := stdout
	if o.jsonPath == "-" { // stdout carries the JSON alone
		text = stderr
	}
	writeBenchTCPText(text, o, runs)
	if err := writeBenchTCPFiles(stdout, o, args, runs); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: the figures cover the run until then")
	}
	for _, r := range runs {
		if r.res.Connects > 0 {
			continue
		}
		hint := "is the server listening there, and does --addr share its subnet (or --gateway lead to it)?"
		if r.stack == "kernel" {
			hint = fmt.Sprintf("the kernel needs an address of its own on %s (ip addr add ADDR/LEN dev %s)", o.cfg.Interface, o.cfg.Interface)
		}
		return fmt.Errorf("%s: no connection to %s succeeded (%s): %s", r.stack, o.load.Target, benchTCPErrors(r.res.Errors), hint)
	}
	return nil
}

// benchTCPWorkers is how many workers the engine will run: --queues, else
// every queue of the interface (1 if that cannot be read: engine.New then
// says what is wrong).
func benchTCPWorkers(c *engine.Config) int {
	if c.Queues > 0 {
		return c.Queues
	}
	if n, err := afxdp.QueueCount(c.Interface); err == nil && n > 0 {
		return n
	}
	return 1
}

// benchTCPRun is one load run through one stack.
type benchTCPRun struct {
	stack string
	dial  tcpload.DialFunc
	res   tcpload.Result
	err   error
}

// benchTCPKernelDialer dials through the kernel's sockets bound to ifname
// (SO_BINDTODEVICE), so the comparison runs on the same link.
func benchTCPKernelDialer(ifname string) *net.Dialer {
	return &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = unix.BindToDevice(int(fd), ifname) })
		return errors.Join(err, serr)
	}}
}

// benchTCPIsTerminal reports whether f is a terminal.
func benchTCPIsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// benchTCPProgress returns a progress function that rewrites one line of
// w every interval.
func benchTCPProgress(w io.Writer, stack string, mode tcpload.Mode) func(tcpload.Snapshot) {
	return func(s tcpload.Snapshot) {
		rate := fmt.Sprintf("%s req/s  p50 %v  p99 %v", benchTCPNum(s.RequestsPerS()),
			s.Latency.P50.Round(time.Microsecond), s.Latency.P99.Round(time.Microsecond))
		if mode == tcpload.Bulk {
			rate = benchTCPBits(s.BitsPerS())
		}
		fmt.Fprintf(w, "\r\033[K%s %5.1fs  %s  errors %d  open %d", stack, s.Elapsed.Seconds(), rate, s.TotalErr, s.Open)
	}
}
