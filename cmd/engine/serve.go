package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/ctl"
	"github.com/xdpengine/engine/internal/metrics"
	"github.com/xdpengine/engine/lb"
	"github.com/xdpengine/engine/lb/config"
	"github.com/xdpengine/engine/tcp"
)

const serveSynopsis = `
Usage: engine serve -i IFACE --addr CIDR [--addr CIDR ...] [--echo udp|tcp:PORT ...]
                    [--discard udp|tcp:PORT ...] [--http PORT] [--lb FILE] [flags]

Run the engine on IFACE: the XDP program takes the traffic to the --addr
addresses from the kernel, and the engine's userspace stack answers ARP and
ICMP echo for them and serves the built-in services: echo (RFC 862) and
discard (RFC 863) over UDP and TCP, and a small HTTP page. Everything else
on IFACE still reaches the kernel.

The --http page says only that the engine serves: anyone who reaches the
data-plane addresses reaches it. --http-expose-status makes it the status
page (/ with the counters and sockets, /stats.json, /metrics); --metrics
serves the metrics on an address of your choice (127.0.0.1 by default).

With --lb FILE it is also an L4 load balancer: FILE (YAML, described in
lb/config) lists the VIPs and their backends; 'engine lb' shows and changes
them, saving FILE; SIGHUP re-reads FILE (an invalid file is logged with its
line and the running configuration stays). A VIP's address is not answered
by the engine: route it to an --addr of the engine.

It serves a control socket (used by 'engine stats', 'engine ss', 'engine lb')
and, with --metrics, Prometheus metrics. SIGINT or SIGTERM stops it cleanly:
sockets closed, the XDP program detached, the final counters logged.

Example:
  engine serve -i eth1 --addr 198.18.0.1/24 --echo udp:7 --echo tcp:7 --http 80 --metrics 127.0.0.1:9090`

// serveOptions are the parsed flags of engine serve.
type serveOptions struct {
	cfg            engine.Config
	echo           []echoSpec // --echo and --discard, UDP and TCP
	httpPort       uint16
	httpExpose     bool // --http-expose-status
	ctlPath        string
	metricsAddr    string
	metricsAllowWC bool
	metricsPprof   bool
	logLevel       slog.Level
	logJSON        bool
	lbFile         string // --lb; loaded by runServe
	gomaxprocs     int    // --gomaxprocs (0: the engine's preference, see serveProcs)
}

// parseServe parses and checks the flags; every error is a usage error.
func parseServe(args []string, stdout io.Writer) (*serveOptions, error) {
	o := &serveOptions{}
	c := &o.cfg
	fs := flagSet("serve", serveSynopsis)
	fs.StringVarP(&c.Interface, "interface", "i", "", "`interface` to serve (required)")
	fs.Func("addr", "IPv4 or IPv6 `CIDR` the engine owns, e.g. 198.18.0.1/24 or 2001:db8::1/64 (required, repeatable)", func(v string) error {
		p, err := parsePrefix(v)
		if err == nil {
			c.Addrs = append(c.Addrs, p)
		}
		return err
	})
	fs.Func("gateway", "next hop `address` for destinations outside every --addr subnet of its family, IPv4 or IPv6 (repeat for both; default: none, such destinations are unreachable)", func(v string) error {
		a, err := netip.ParseAddr(v)
		switch {
		case err != nil || a.Zone() != "":
			return fmt.Errorf("%q is not an IP address (IPv4 or IPv6)", v)
		case a.Is4():
			c.Gateway = a
		default:
			c.Gateway6 = a
		}
		return nil
	})
	fs.BoolVar(&c.IPv6NoDAD, "nodad", false, "use the IPv6 --addr addresses at once, without duplicate address detection (like ip addr add ... nodad)")
	fs.Func("neigh", "static ARP entry `ADDR=MAC` for a next hop on the link, e.g. 198.18.0.2=02:00:00:00:00:02 (repeatable; like ip neigh ... nud permanent)", func(v string) error {
		n, err := parseNeighbor(v)
		if err == nil {
			c.Neighbors = append(c.Neighbors, n)
		}
		return err
	})
	fs.Func("echo", "run an echo service (RFC 862) on `PROTO:PORT` (udp or tcp, every engine address) or PROTO:ADDR:PORT (repeatable)", func(v string) error {
		s, err := parseService("echo", v)
		if err == nil {
			o.echo = append(o.echo, s)
		}
		return err
	})
	fs.Func("discard", "run a discard service (RFC 863) on `PROTO:PORT` or PROTO:ADDR:PORT (repeatable)", func(v string) error {
		s, err := parseService("discard", v)
		if err == nil {
			o.echo = append(o.echo, s)
		}
		return err
	})
	fs.Func("http", "serve a small HTTP page on TCP `PORT` of every engine address; it shows nothing of the engine's state unless --http-expose-status", func(v string) error {
		port, err := strconv.ParseUint(v, 10, 16)
		if err != nil || port == 0 {
			return fmt.Errorf("%q: want a TCP port, 1-65535", v)
		}
		o.httpPort = uint16(port)
		return nil
	})
	fs.BoolVar(&o.httpExpose, "http-expose-status", false, "make --http's page the status page (counters and sockets) and add /stats.json and /metrics: "+
		"anyone who reaches the data-plane addresses sees them (default: off; --metrics serves them on an address of your choice)")
	fs.IntVar(&c.Queues, "queues", 0, "queues (and workers) to use, from queue 0 (default: all of the interface's queues)")
	mode, xdpMode, poll, rxCsum, txCsum := "auto", "auto", "adaptive", "auto", "auto"
	fs.StringVar(&mode, "mode", mode, "AF_XDP bind `mode`: auto (zero-copy, else copy), zerocopy (fail where the driver cannot), copy")
	fs.StringVar(&xdpMode, "xdp-mode", xdpMode, "XDP attach `mode`: auto (native, else generic), native, generic")
	fs.StringVar(&poll, "poll", poll, "how workers wait: busy (one core each at 100%), adaptive (spin under load, sleep when idle), interrupt")
	fs.StringVar(&rxCsum, "rx-checksum", rxCsum, "UDP/TCP receive checksum `policy`: auto (trust-virtual on veth, tun, virtio_net and other virtual links, verify elsewhere), "+
		"verify (drop partial checksums), trust-virtual (accept partial checksums, the pseudo-header sum a Linux peer with its default offloads sends on a virtual link)")
	fs.StringVar(&txCsum, "tx-checksum", txCsum, "UDP/TCP transmit checksum `policy`: auto (left to the kernel in copy mode, to the NIC in zero-copy mode where its driver can; Linux 6.11+), "+
		"software (the workers compute every one)")
	fs.Func("tcp-mtu-probing", "TCP packetization-layer path MTU discovery (RFC 4821), like net.ipv4.tcp_mtu_probing: `0` off, 1 after an ICMP black hole, 2 always", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 2 {
			return fmt.Errorf("%q: want 0, 1 or 2", v)
		}
		c.TCPMTUProbing = tcp.MTUProbing(n)
		return nil
	})
	fs.IntVar(&c.TCPMaxConnections, "tcp-max-connections", engine.DefaultTCPMaxConnections,
		"TCP connections in any state, all workers together (each worker's table is sized for its share at start, about 150 bytes a connection)")
	tcpMemFlags(fs, c)
	tcpTuneFlags(fs, c)
	fs.BoolVar(&c.Decap.IPIP, "decap-ipip", false, "unwrap IPv4-in-IPv4 packets to the engine's addresses (a balancer's dsr-ipip: the engine as the backend, the VIP a transparent address of its sockets)")
	fs.BoolVar(&c.Decap.GUE, "decap-gue", false, "unwrap GUE variant 1 packets (a balancer's dsr-gue) arriving on UDP --decap-gue-port")
	fs.Func("decap-gue-port", "UDP `port` of GUE with --decap-gue (default 6080, Katran's)", func(v string) error {
		port, err := strconv.ParseUint(v, 10, 16)
		if err != nil || port == 0 {
			return fmt.Errorf("%q: want a UDP port, 1-65535", v)
		}
		c.Decap.GUEPort = uint16(port)
		return nil
	})
	fs.DurationVar(&c.SpinTime, "spin-time", engine.DefaultSpinTime, "how long an adaptive worker polls an empty ring before it sleeps")
	fs.DurationVar(&c.Nap, "nap", 0, "adaptive workers sleep this long on a timer between empty polls instead of spinning (0: spin; e.g. 10us: less CPU with many requests in flight, up to that much more latency per wait)")
	fs.IntVar(&o.gomaxprocs, "gomaxprocs", 0, "Go's GOMAXPROCS for the process (0: one per worker, two per pinned or busy-polling worker, unless GOMAXPROCS is set in the environment): best for packet and connection rates; bulk TCP transfers run faster with one more per worker (engine.Engine.PreferredProcs)")
	fs.DurationVar(&c.BusyPoll, "busy-poll", 0, "turn on the kernel's busy polling (SO_PREFER_BUSY_POLL) with this timeout (0: off)")
	fs.Func("cpus", "pin worker i to the i-th CPU of this `list` (e.g. 2,3 or 2-5; one per queue)", func(v string) error {
		cpus, err := parseCPUs(v)
		c.CPUs = cpus
		return err
	})
	fs.IntVar(&c.MTU, "mtu", 0, "link MTU the engine uses (default: the interface's MTU)")
	fs.IntVar(&c.FrameSize, "frame-size", engine.DefaultFrameSize, "UMEM frame size: 2048 or 4096")
	fs.IntVar(&c.RingSize, "ring-size", engine.DefaultRingSize, "entries of each AF_XDP ring (a power of two)")
	fs.IntVar(&c.FragMemory, "frag-memory", engine.DefaultFragMemory, "reassembly memory per worker, in `bytes`")
	fs.IntVar(&c.RecvBuffer, "rcvbuf", engine.DefaultRecvBuffer, "receive buffer of each socket, in `bytes` (like net.core.rmem_default)")
	fs.IntVar(&c.TxQueue, "tx-queue", engine.DefaultTxQueue, "datagrams waiting to be sent, per worker; a write that finds it full waits for room (within its deadline)")
	fs.Func("ports", "ephemeral port `range` FIRST-LAST, FIRST at least 1024 (default 32768-60999; change it later with `engine ports set`)", func(v string) error {
		r, err := parseRange(v)
		if err == nil && r.First < 1024 {
			err = fmt.Errorf("%q: the range must start at 1024 or above (ip_unprivileged_port_start), as Linux requires", v)
		}
		c.Ports = r
		return err
	})
	fs.Func("reserved-ports", "ports automatic choice skips, `LIST` of PORT or FIRST-LAST, comma-separated (like ip_local_reserved_ports)", func(v string) error {
		rs, err := parseRanges(v)
		c.ReservedPorts = rs
		return err
	})
	c.BindService = true
	fs.BoolVar(&c.BindService, "bind-service", true, "allow services on ports below 1024 (as root's CAP_NET_BIND_SERVICE does)")
	fs.BoolVar(&c.NonlocalBind, "nonlocal-bind", false, "allow binding addresses the engine does not own (net.ipv4.ip_nonlocal_bind)")
	fs.BoolVar(&c.DenyWildcard, "deny-wildcard", false, "refuse binds to 0.0.0.0 instead of logging a warning")
	fs.StringVar(&o.ctlPath, "ctl", "", "control socket `path` (default "+ctl.SocketPath("IFACE")+")")
	fs.StringVar(&o.metricsAddr, "metrics", "", "serve Prometheus metrics on `HOST:PORT`, e.g. "+metrics.DefaultAddr+" (default: off)")
	fs.BoolVar(&o.metricsAllowWC, "metrics-allow-wildcard", false, "allow --metrics on a wildcard address (:PORT, 0.0.0.0:PORT), which exposes the counters to every network of this host")
	fs.BoolVar(&o.metricsPprof, "metrics-pprof", false, "also serve Go's profiles (net/http/pprof) under /debug/pprof/ on the --metrics listener (default: off)")
	fs.Func("log-level", "log `level`: debug, info, warn or error (default info)", func(v string) error {
		return o.logLevel.UnmarshalText([]byte(v))
	})
	fs.BoolVar(&o.logJSON, "log-json", false, "log JSON lines instead of text")
	configFile := fs.String("config", "", "read flags from this YAML `file`: its keys are the long flags (interface, addr, echo, tcp-mem...), "+
		"a list for a repeatable flag; the command line overrides the file (packaging/engine.yaml is an example)")
	fs.StringVar(&o.lbFile, "lb", "", "be an L4 load balancer with the VIPs of this YAML `file` (lb/config); SIGHUP re-reads it, `engine lb` changes it")
	if err := parseFlags(fs, args, stdout); err != nil {
		return nil, err
	}
	if *configFile != "" {
		if err := applyServeConfig(*configFile, fs); err != nil {
			return nil, usagef("--config: %v", err)
		}
	}

	if c.Interface == "" {
		return nil, usagef("no interface: give the one to serve with -i IFACE (list them with `ip -br link`)")
	}
	if len(c.Addrs) == 0 {
		return nil, usagef("no address: give the engine's own IPv4 address with --addr CIDR, e.g. --addr 198.18.0.1/24 " +
			"(an address no kernel on the link uses), or an IPv6 one, e.g. --addr 2001:db8::1/64")
	}
	var err error
	if c.Mode, err = afxdp.ParseMode(mode); err != nil {
		return nil, usagef("--mode %q: want auto, zerocopy or copy", mode)
	}
	if c.XDPMode, err = afxdp.ParseXDPMode(xdpMode); err != nil {
		return nil, usagef("--xdp-mode %q: want auto, native or generic", xdpMode)
	}
	if c.Poll, err = engine.ParsePollMode(poll); err != nil {
		return nil, usagef("--poll %q: want busy, adaptive or interrupt", poll)
	}
	switch {
	case c.Nap < 0 || c.Nap > engine.MaxNap:
		return nil, usagef("--nap %v: want 0 (off) to %v", c.Nap, engine.MaxNap)
	case c.Nap > 0 && c.Poll != engine.PollAdaptive:
		return nil, usagef("--nap %v: naps replace an adaptive worker's spin; with %v polling leave Nap at 0 (or use --poll adaptive)", c.Nap, c.Poll)
	case c.Nap > 0 && c.Nap >= c.SpinTime:
		return nil, usagef("--nap %v: a nap must be shorter than the spin it replaces (--spin-time %v)", c.Nap, c.SpinTime)
	}
	if c.RxChecksum, err = engine.ParseRxChecksum(rxCsum); err != nil {
		return nil, usagef("--rx-checksum %q: want auto, verify or trust-virtual", rxCsum)
	}
	if c.TxChecksum, err = engine.ParseTxChecksum(txCsum); err != nil {
		return nil, usagef("--tx-checksum %q: want auto or software", txCsum)
	}
	if c.Queues < 0 {
		return nil, usagef("--queues %d: want 1 or more (0: all of the interface's queues)", c.Queues)
	}
	if o.gomaxprocs < 0 {
		return nil, usagef("--gomaxprocs %d: want 1 or more (0: one per worker)", o.gomaxprocs)
	}
	type protoPort struct {
		proto string
		port  uint16
	}
	seen := map[protoPort]echoSpec{}
	if o.httpPort != 0 {
		seen[protoPort{"tcp", o.httpPort}] = echoSpec{Kind: "http", Proto: "tcp", Addr: netip.AddrPortFrom(netip.IPv4Unspecified(), o.httpPort)}
	}
	for _, s := range o.echo {
		key := protoPort{s.Proto, s.Addr.Port()}
		if prev, ok := seen[key]; ok {
			return nil, usagef("--%s %s and --%s %s both want %s port %d: give each port once", prev.Kind, prev, s.Kind, s, s.Proto, s.Addr.Port())
		}
		seen[key] = s
		if !s.Addr.Addr().IsUnspecified() && !c.NonlocalBind && !owns(c.Addrs, s.Addr.Addr()) {
			return nil, usagef("--%s %s: %s is not an --addr of the engine", s.Kind, s, s.Addr.Addr())
		}
	}
	if o.httpExpose && o.httpPort == 0 {
		return nil, usagef("--http-expose-status needs --http PORT")
	}
	if o.metricsAddr != "" {
		if _, err := metrics.CheckAddr(o.metricsAddr, o.metricsAllowWC); err != nil {
			return nil, usagef("--metrics: %v", err)
		}
	}
	if o.ctlPath == "" {
		o.ctlPath = ctl.SocketPath(c.Interface)
	}
	return o, nil
}

func owns(addrs []netip.Prefix, a netip.Addr) bool {
	for _, p := range addrs {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

func runServe(args []string, stdout, stderr io.Writer) error {
	o, err := parseServe(args, stdout)
	if err != nil {
		return err
	}
	var h slog.Handler
	hopts := &slog.HandlerOptions{Level: o.logLevel}
	if o.logJSON {
		h = slog.NewJSONHandler(stderr, hopts)
	} else {
		h = slog.NewTextHandler(stderr, hopts)
	}
	log := slog.New(h)
	o.cfg.Logger = log
	var lbModel *config.Config
	if o.lbFile != "" {
		m, c, err := loadLB(o.lbFile)
		if err != nil {
			fmt.Fprintf(stderr, "engine serve: --lb %s: the load balancer configuration is not valid, nothing was started:\n%v\n", o.lbFile, err)
			return errUsage
		}
		if abs, err := filepath.Abs(o.lbFile); err == nil {
			o.lbFile = abs
		}
		lbModel, o.cfg.LoadBalancer = m, &c
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	// SIGHUP reloads --lb; without --lb it keeps its default action.
	hup := make(chan os.Signal, 1)
	if lbModel != nil {
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}

	s, err := startServer(o, lbModel, log)
	if err != nil {
		return err
	}
	var sig os.Signal
	for sig == nil {
		select {
		case sig = <-sigs:
		case <-hup:
			s.lb.reload("SIGHUP")
		}
	}
	log.Info("stopping", "signal", sig.String())
	go func() {
		sig := <-sigs
		log.Error("second signal while stopping: exiting now", "signal", sig.String())
		os.Exit(1)
	}()
	return s.stop()
}

// serveProcs is the GOMAXPROCS engine serve sets (0: none) and why: flag
// (--gomaxprocs) when given, else none when the environment sets
// GOMAXPROCS (env), else the engine's preference (one P per worker; Go's
// default, one per CPU, leaves a worker slower with small packets: see
// PreferredProcs).
func serveProcs(flag int, env string, preferred int) (int, string) {
	switch {
	case flag > 0:
		return flag, "--gomaxprocs"
	case env != "":
		return 0, ""
	}
	return preferred, "one per worker (engine.PreferredProcs; --gomaxprocs or GOMAXPROCS to choose)"
}

// server is a running engine serve: the engine, its services, its control
// socket and its metrics listener.
type server struct {
	opts    *serveOptions
	log     *slog.Logger
	eng     *engine.Engine
	echo    []*echoService // UDP services
	tcp     []*tcpService  // TCP echo and discard
	http    *httpService
	ctl     *ctl.Server
	metrics *http.Server
	metAddr string
	lb      *lbControl // nil without --lb
	started time.Time  // set before running is stored
	// running is stored (true) once the engine has started, after started
	// is set; the control handlers Load it before they read started.
	running atomic.Bool
	wg      sync.WaitGroup
}

// startServer runs every check that needs no privilege and touches nothing
// first (configuration, interface, capabilities, control socket, ports),
// and attaches to the interface last. On error everything is undone.
func startServer(o *serveOptions, lbModel *config.Config, log *slog.Logger) (_ *server, err error) {
	s := &server{opts: o, log: log}
	defer func() {
		if err != nil {
			s.teardown()
		}
	}()
	s.eng, err = engine.New(o.cfg)
	if err != nil {
		if errors.Is(err, engine.ErrConfig) || errors.Is(err, lb.ErrConfig) {
			return nil, usagef("%v", err)
		}
		return nil, withHint(err)
	}
	if lbModel != nil {
		s.lb = newLBControl(o.lbFile, lbModel, s.eng.Balancer(), log)
	}
	if n, why := serveProcs(o.gomaxprocs, os.Getenv("GOMAXPROCS"), s.eng.PreferredProcs()); n > 0 {
		runtime.GOMAXPROCS(n)
		log.Info("GOMAXPROCS set", "procs", n, "why", why)
	}
	if err := checkCapabilities(); err != nil {
		return nil, err
	}
	s.ctl, err = ctl.Listen(o.ctlPath, log)
	if err != nil {
		return nil, withHint(fmt.Errorf("control socket: %w", err))
	}
	s.handleControl()
	for _, spec := range o.echo {
		if spec.Proto == "tcp" {
			ts, err := newTCPService(s.eng, spec, log)
			if err != nil {
				return nil, withHint(fmt.Errorf("--%s %s: %w", spec.Kind, spec, err))
			}
			s.tcp = append(s.tcp, ts)
			continue
		}
		es, err := newEchoService(s.eng, spec, log)
		if err != nil {
			return nil, withHint(fmt.Errorf("--%s %s: %w", spec.Kind, spec, err))
		}
		s.echo = append(s.echo, es)
	}
	if o.httpPort != 0 {
		if s.http, err = newHTTPService(s, o.httpPort); err != nil {
			return nil, withHint(fmt.Errorf("--http %d: %w", o.httpPort, err))
		}
	}
	if o.metricsAddr != "" {
		srv, addr, err := metrics.Serve(o.metricsAddr, o.metricsAllowWC, s.metricsMux(o.metricsPprof), log)
		if err != nil {
			return nil, withHint(fmt.Errorf("--metrics %s: %w", o.metricsAddr, err))
		}
		s.metrics, s.metAddr = srv, addr.String()
	}
	if err := s.eng.Start(); err != nil {
		return nil, withHint(err)
	}
	s.started = time.Now()
	s.running.Store(true)
	for _, es := range s.echo {
		s.wg.Add(1)
		go es.run(&s.wg)
	}
	for _, ts := range s.tcp {
		s.wg.Add(1)
		go ts.run(&s.wg)
	}
	if s.http != nil {
		s.wg.Add(1)
		go s.http.run(&s.wg)
	}
	var services []string
	for _, es := range s.echo {
		services = append(services, es.spec.Kind+" "+es.spec.String())
	}
	for _, ts := range s.tcp {
		services = append(services, ts.spec.Kind+" "+ts.spec.String())
	}
	if s.http != nil {
		services = append(services, fmt.Sprintf("http tcp:%d", o.httpPort))
	}
	log.Info("serving", "interface", o.cfg.Interface, "addrs", o.cfg.Addrs, "services", services,
		"poll", o.cfg.Poll.String(), "nap", o.cfg.Nap, "control", o.ctlPath, "metrics", s.metAddr)
	if s.lb != nil {
		var vips []string
		for _, v := range lbModel.VIPs {
			vips = append(vips, v.Key()+" "+v.Forwarding.String())
		}
		log.Info("load balancing", "file", o.lbFile, "vips", vips)
	}
	return s, nil
}

// stop closes the control socket and the metrics listener, then the engine
// (which closes the services' sockets and detaches the XDP program), and
// logs the final counters.
func (s *server) stop() error {
	err := s.teardown()
	s.wg.Wait()
	st := s.eng.Stats()
	t := &st.Total
	var drops uint64
	for _, c := range counters {
		if c.family == "drops_total" {
			for i := range st.Workers {
				drops += c.get(&st.Workers[i])
			}
		}
	}
	attrs := []any{"rx_packets", t.RxPackets, "rx_bytes", t.RxBytes, "tx_packets", t.TxPackets, "tx_bytes", t.TxBytes,
		"drops", drops, "reassembled", t.Reasm.ReasmOKs, "fragments_created", t.Frag.FragCreates,
		"icmp_out", t.ICMP.OutMsgs, "arp_replies", t.ARP.OutReplies, "tcp_memory_peak_bytes", t.TCP.MemPeakBytes,
		"tcp_pool_released_bytes", t.TCP.PoolReleased, "uptime", time.Since(s.started).Round(time.Millisecond)}
	for _, es := range s.echo {
		attrs = append(attrs, es.spec.Kind+"_"+es.spec.String(), es.datagrams.Load())
	}
	for _, ts := range s.tcp {
		attrs = append(attrs, ts.spec.Kind+"_"+ts.spec.String()+"_conns", ts.accepted.Load(), ts.spec.Kind+"_"+ts.spec.String()+"_bytes", ts.bytes.Load())
	}
	s.log.Info("final counters", attrs...)
	if err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	s.log.Info("stopped", "interface", s.opts.cfg.Interface)
	return nil
}

func (s *server) teardown() error {
	var errs []error
	if s.ctl != nil {
		s.ctl.Close()
	}
	if s.metrics != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s.metrics.Shutdown(ctx)
		cancel()
	}
	for _, ts := range s.tcp {
		ts.close()
	}
	if s.http != nil {
		s.http.close()
	}
	if s.eng != nil {
		errs = append(errs, s.eng.Close())
	}
	return errors.Join(errs...)
}

func (s *server) handleControl() {
	s.ctl.Handle("stats", func(json.RawMessage) (any, error) { return s.eng.Stats(), nil })
	handleSS(s.ctl, s.eng)
	s.ctl.Handle("neigh", func(json.RawMessage) (any, error) { return neighbors(s.eng), nil })
	s.ctl.Handle("ping", func(raw json.RawMessage) (any, error) { return handlePing(s.eng, raw) })
	s.ctl.Handle("ports", func(json.RawMessage) (any, error) { return portsOf(s.eng), nil })
	s.ctl.Handle("ports.set", func(raw json.RawMessage) (any, error) { return handlePortsSet(s.eng, raw) })
	s.ctl.Handle("ports.reserve", func(raw json.RawMessage) (any, error) { return handlePortsReserve(s.eng, raw) })
	s.ctl.Handle("version", func(json.RawMessage) (any, error) { v, _ := buildVersion(); return v, nil })
	s.ctl.Handle("config", func(json.RawMessage) (any, error) { return s.info(), nil })
	handleLB(s.ctl.Handle, s.lb)
	s.handleCapture()
}

// withHint adds what to do to the errors a user can fix, keeping the chain
// for errors.Is.
func withHint(err error) error {
	var hint string
	switch {
	case errors.Is(err, afxdp.ErrPermission), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		if !strings.Contains(err.Error(), "run as root") {
			hint = "run as root (sudo) or grant CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF and CAP_SYS_ADMIN"
		}
	case errors.Is(err, syscall.EADDRINUSE):
		hint = "something already holds that address: pick another port, or stop the program that holds it (ss -ltnp shows it)"
	case errors.Is(err, afxdp.ErrNoInterface), errors.Is(err, syscall.ENODEV):
		if !strings.Contains(err.Error(), "ip link") {
			hint = "list the interfaces with `ip -br link`"
		}
	}
	if hint == "" {
		return err
	}
	return fmt.Errorf("%w (%s)", err, hint)
}
