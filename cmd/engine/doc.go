// Command engine runs the kernel-bypass packet engine and inspects a running
// one. It only wires the project's packages together; the work lives in them.
//
//	engine serve -i IFACE --addr CIDR [--addr CIDR6 ...] [--gateway ADDR] [--nodad] [--echo udp|tcp:PORT ...] [--discard udp|tcp:PORT ...] [--http PORT [--http-expose-status]] [--lb FILE] [--config FILE] [flags]
//	engine status [-i IFACE | --ctl PATH] [--json] [-w INTERVAL]
//	engine stats [-i IFACE | --ctl PATH] [--json] [-a] [-w INTERVAL [-c COUNT]]
//	engine ss    [-t] [-u] [-a|-l] [-n] [-H] [-e] [-m] [--info] [-s] [--json] [-i IFACE | --ctl PATH] [state STATE] [sport|dport OP :PORT]
//	engine neigh [-i IFACE | --ctl PATH] [--json]
//	engine ping  [-i IFACE | --ctl PATH] [-c COUNT] [-s SIZE] [-t TTL] [-W TIMEOUT] [--interval INTERVAL] [--json] ADDR
//	engine ports [set FIRST-LAST | reserve PORTS] [-i IFACE | --ctl PATH] [--json]
//	engine lb    [-i IFACE | --ctl PATH] show [--json] | flows [--vip VIP] [--limit N] [--json] | reload | lookup VIP SRC:PORT
//	engine lb    [-i IFACE | --ctl PATH] vip add VIP --forwarding nat|dsr-l2|dsr-ipip|dsr-gue|dsr-vxlan
//	                 [--backend ADDR[=WEIGHT][@MAC]]... [--gue-port N] [--vni N] [--vxlan-port N] [--fast-path] [--announce] | vip remove VIP
//	engine lb    [-i IFACE | --ctl PATH] backend add|remove|weight|drain|undrain VIP ADDR [WEIGHT] [--mac MAC]
//	engine capture [-i IFACE | --ctl PATH] [-w FILE|-] [-c N] [-s SNAPLEN] [--filter EXPR | --filter-ddd PROG]
//	engine bench udp|rfc2544|reflect|tcp -i IFACE --addr CIDR ... (the traffic harness: engine bench -h)
//	engine detach -i IFACE [--json]
//	engine version [--json] | engine --version
//	engine completion bash
//	engine man DIR
//
// # Command line
//
// Flags are GNU-style (spf13/pflag; every command keeps this package's
// dispatcher, commands(), rather than cobra, whose man-page generator
// would bring go-md2man and blackfriday for what docs.go does in a page):
// a short and a long form for the common ones (-i/--interface,
// -a/--all, -j/--json, -w, -c, -s), short booleans bundled (ss -tua), a
// value attached (-ieth1, --addr=CIDR) or not. flagSet makes each
// command's set and its help, which lists each flag once (an older
// second name, --socket for --ctl, is hidden); longCompat still accepts
// the single-dash long flags Go's flag package took (-addr). The flag sets
// are also what `engine man` (troff pages, docs.go) and `engine
// completion bash` (completion.go) are generated from: they run each
// command with --help and record its set, so neither can drift from what
// the command parses.
//
// Exit status, for every command: 0 on success (and -h); 1 on a runtime
// error (no engine running, no permission, an interface or address that
// cannot be used, a change the engine refused); 2 on a usage error (an
// unknown flag, a bad value, a missing or extra argument, an invalid
// --config or --lb file). Each message says what to do.
//
// --json prints JSON with stable snake_case names wherever a command
// reports something: stats (engine.Stats as the engine sent it), stats -w
// (one statsRates object a line: time, interval_seconds, total and queues
// of rates named by their metric family without _total and its label
// values, packets_rx, drops_checksum), status (engineStatus), ss
// (ssEntryJSON; ss -s: ssSummary), neigh, ports, lb, detach and version
// (versionInfo). The control socket's own wire format (socktab.Entry for
// "ss.stream") is not the user's: ss converts it.
//
// `engine version` prints the version the Makefile stamps (-ldflags -X
// main.version=$(git describe --tags --always --dirty)), and the VCS
// revision, its time and whether the tree was modified as Go records them
// (debug.ReadBuildInfo: vcs.revision, vcs.time, vcs.modified).
//
// `engine status` is one screen: the "config" answer, two "stats"
// snapshots -w apart (1s by default) for the packet and bit rates, the TCP
// gauges (established, TIME-WAIT, orphans) and the listeners and UDP
// sockets counted from "ss.stream". `engine stats -w INTERVAL` prints each
// counter's change per second (levels left out: they have no rate) every
// interval, until SIGINT or -c COUNT intervals.
//
// `engine ss` adds -m (skmem:(rQUEUED,rbRING,tQUEUED,tbRING): the bytes
// queued both ways and the ring memory the connection holds for them,
// from the TCP endpoint's Info), -e (the socket's identifier) and -s (a
// summary counted from the stream: sockets by protocol, family and state,
// orphans from the counters); -n is accepted (names are never resolved).
//
// # Model
//
// `engine serve` is the only command that touches an interface. It builds
// an engine.Engine from its flags (and --config FILE: a YAML mapping whose
// keys are the long flags, a list for a repeatable one; the command line
// overrides a key, a repeatable flag's whole list; an unknown key or a bad
// value names the file and line and exits with status 2; the same
// goccy/go-yaml parser as lb/config; packaging/engine.yaml is an example), opens the built-in services on it (echo
// and discard over UDP and TCP, an HTTP page), serves a control
// socket and, when asked, Prometheus
// metrics (and pprof), then runs until SIGINT or SIGTERM, when it closes the engine
// (sockets closed, XDP program detached) and logs the final counters.
//
// Every check that can fail without privileges runs first (flags, the
// interface's existence, the control socket, the metrics address), so that
// a mistake never leaves a half-attached program behind. Usage errors exit
// with status 2, runtime errors with 1; each message says what to do.
//
// --addr takes IPv4 and IPv6 prefixes (198.18.0.1/24, 2001:db8::1/64),
// repeated for several; an IPv6-only engine is allowed. An IPv6 address is
// used once duplicate address detection found it unique (Start waits about
// a second; --nodad skips it); the IPv6 layer answers ping, neighbor
// discovery and ICMPv6 errors. The built-in UDP echo and discard listen
// dual-stack on [::]:PORT when the engine has an IPv6 address (IPv4
// peers are answered over IPv4, from the address they wrote to), on
// 0.0.0.0:PORT otherwise; the TCP services likewise. --gateway takes an address of either family,
// once each (an IPv6 gateway may be link-local).
//
// `engine stats`, `engine ss`, `engine neigh`, `engine ping`, `engine
// ports` and `engine lb` are clients of the control
// socket (internal/ctl, one JSON object per line): they ask the running
// engine for its counters (engine.Stats), its socket table (socktab.Entry)
// and its ARP tables (engine.Neighbors) and render them; they never open the interface themselves. The control
// socket lives at /run/engine/IFACE.sock (mode 0600) unless --ctl says
// otherwise.
//
// The control commands a running engine answers are "stats" (engine.Stats
// as JSON), "ss" (args {"proto": "udp"|"tcp"}: []socktab.Entry, the whole
// listing in one answer), "ss.stream" (a stream, internal/ctl's: args
// {"proto", "which": "connected"|"listening"|"all", "info": bool,
// "filter": {"states", "ports"}}, then one socktab.Entry a line, gathered
// from the workers ssBatch (1,024) at a time and written as they come, so
// the engine never holds a listing of a million connections; what
// `engine ss` uses), "neigh"
// (the workers' ARP entries), "ping" (args {"addr", "id", "seq", "size",
// "ttl", "timeout_ms"}: one echo request sent by engine.Ping, answered
// with its engine.PingResult once the reply came, or an error after
// timeout_ms, at most 8 s; `engine ping` calls it once per request),
// "ports", "ports.set", "ports.reserve",
// "version", "config" (the effective configuration, the pid, the start
// time and the metrics address actually bound), and the load balancer's
// "lb.*" below.
//
// # TCP memory and limits
//
// The flags --tcp-mem LOW,PRESSURE,HIGH, --tcp-max-orphans,
// --tcp-buffer-min, --tcp-buffer-idle, --tcp-pool-max and --somaxconn set
// engine.Config's TCPMem, TCPMaxOrphans, TCPBufferMin, TCPBufferIdle,
// TCPPoolMax and TCPSomaxconn (sizes in bytes, K, M and G for powers of
// 1024); unset, the engine's defaults apply. `engine stats` shows their
// figures in its "tcp memory" section and /metrics as engine_tcp_memory_*,
// engine_tcp_pool_*, engine_tcp_buffer_*, engine_tcp_orphans,
// engine_tcp_abort_on_memory_total and the limits in use
// (engine_tcp_memory_limit_bytes{threshold}, engine_tcp_somaxconn). The
// memory figures are engine-wide (worker 0 reports them): the table shows
// them in its total column only, the metrics as one sample without a queue
// label; orphans, refusals and aborts are per queue.
//
// --http PORT serves a page on the engine's own TCP, on the data-plane
// addresses that anyone on the link reaches: by default one line that says
// an engine is there (no version, interface, counter or peer: those are an
// information leak). --http-expose-status makes it the status page (/ with
// the counters and sockets, /stats.json, /metrics); --metrics serves the
// metrics on an address of the operator's choice instead.
//
// --tcp-sndbuf, --tcp-sndbuf-max, --tcp-rcvbuf, --tcp-max-time-wait and
// --tcp-congestion set TCPSendBuffer, TCPSendBufferMax, TCPRecvBuffer,
// TCPMaxTimeWait and TCPCongestion (tcp_wmem, tcp_rmem,
// tcp_max_tw_buckets, tcp_congestion_control); --ports and
// --reserved-ports the ephemeral range and the reserved ports.
//
// The TCP echo and discard services hold no buffer while a connection is
// idle: each connection's goroutine waits with TCPConn.WaitReadable and
// takes a pooled 64 KiB buffer only to copy what arrived.
//
// # Load balancer
//
// With --lb FILE, `engine serve` loads the YAML file (lb/config; an error
// names the file, line and column and exits with status 2 before anything
// is attached), converts it with lb.FromConfig and runs the engine with
// Config.LoadBalancer. It keeps the file's model (drain flags and health
// checks included, which lb.Config does not carry) beside the balancer;
// the two always agree with the file on disk:
//
//   - SIGHUP (or `engine lb reload`, "lb.reload") re-reads the file and
//     applies it with Balancer().SetConfig; tracked flows keep their
//     backends. An invalid file, or one the balancer refuses, is logged
//     problem by problem with its line, and the running configuration
//     stays. Conntrack timeouts apply at once (to the flows
//     tracked too); max_flows at the next start.
//   - A change from the control socket ("lb.vip.add", "lb.vip.remove",
//     "lb.backend.add|remove|weight|drain|undrain"; args {"vip":
//     "ADDR:PORT/PROTO", "backend": ADDR, "weight": N, "mac" (backend
//     add), "forwarding", "hash", "table_size", "gue_port", "vni",
//     "vxlan_port", "backends": [{"addr", "weight", "mac"}]}) is checked
//     against its forwarding mode (a tunnel's settings with their own mode
//     only; dsr-vxlan needs a VNI and every backend's MAC) in the command
//     line's words, whoever sends it, then takes a
//     mutex, reads the file back (a hand edit not yet applied refuses the
//     change), applies lb/config's copy-on-write helper, gives the result
//     to SetConfig and only then saves the file (config.Save, atomic); if
//     the save fails the balancer is given its previous configuration
//     back. lbserve.go explains why this order.
//
// "lb.show" answers the configuration with the balancer's counters (drops
// by reason among them, snake_case keys) and the weights it uses
// (lbState); every change and reload answers the same. "lb.lookup" (args
// {"vip": ADDR:PORT, "proto": "tcp"|"udp", "src": ADDR:PORT}) answers the
// backend a new flow would get. "lb.flows" (args {"vip", "limit"}) answers
// at most limit (default 1000, at most 100000) of the tracked flows
// (lb.Balancer.Flows), the total and how many were left out. `engine lb` is
// the client: it prints show like ipvsadm -Ln, flows like conntrack -L, or
// what the engine sent with --json. /metrics has engine_lb_drops_total
// per VIP and reason.
//
// # Metrics and profiling
//
// --metrics ADDR serves Prometheus metrics (prometheus/client_golang) from
// a registry of serve's own, never the global default: serverCollector,
// which at each scrape takes one engine.Stats snapshot and emits constant
// metrics, one family per entry of the counters table that `engine stats`
// prints too (a sample per queue, engine-wide figures once without a queue
// label), the workers' log2 histograms (stats.Histograms) as Prometheus
// histograms (engine_worker_round_seconds, engine_rx_burst_frames,
// engine_tcp_rtt_seconds), the sockets, services, limits and load
// balancer; and the Go runtime's and the process's collectors. Sibling
// figures are one family with a label (direction, state, reason, type), and
// a family's samples all have the same label names. --metrics-pprof adds
// net/http/pprof under /debug/pprof/ on that listener (off by default).
// packaging/grafana/engine.json is a dashboard over these metrics;
// TestServeMetricsScrape fails when it uses one a running engine lacks.
// The core packages (engine, stack, tcp) import no Prometheus library: an
// embedder reads engine.Stats and exports it as it likes.
package main
