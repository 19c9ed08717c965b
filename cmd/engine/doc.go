// Command engine runs the kernel-bypass packet engine and inspects a running
// one. It only wires the project's packages together; the work lives in them.
//
//	engine serve -i IFACE --addr CIDR [--echo udp|tcp:PORT ...] [--discard udp|tcp:PORT ...] [--http PORT] [flags]
//	engine stats [-i IFACE | --ctl PATH] [--json] [-a]
//	engine ss    [-t] [-u] [-a|-l] [-i IFACE | --ctl PATH]
//	engine neigh [-i IFACE | --ctl PATH] [--json]
//	engine ports [set FIRST-LAST | reserve PORTS] [-i IFACE | --ctl PATH] [--json]
//	engine detach -i IFACE
//	engine version
//
// # Model
//
// `engine serve` is the only command that touches an interface. It builds
// an engine.Engine from its flags, opens the built-in services on it (echo
// and discard over UDP and TCP, an HTTP status page), serves a control
// socket and, when asked, Prometheus
// metrics, then runs until SIGINT or SIGTERM, when it closes the engine
// (sockets closed, XDP program detached) and logs the final counters.
//
// Every check that can fail without privileges runs first (flags, the
// interface's existence, the control socket, the metrics address), so that
// a mistake never leaves a half-attached program behind. Usage errors exit
// with status 2, runtime errors with 1; each message says what to do.
//
// `engine stats`, `engine ss` and `engine neigh` are clients of the control
// socket (internal/ctl, one JSON object per line): they ask the running
// engine for its counters (engine.Stats), its socket table (socktab.Entry)
// and its ARP tables (engine.Neighbors) and render them; they never open the interface themselves. The control
// socket lives at /run/engine/IFACE.sock (mode 0600) unless --ctl says
// otherwise.
//
// The control commands a running engine answers are "stats" (engine.Stats
// as JSON), "ss" (args {"proto": "udp"|"tcp"}: []socktab.Entry), "neigh"
// (the workers' ARP entries), "version"
// and "config" (the effective configuration, the pid, the start time and
// the metrics address actually bound).
package main
