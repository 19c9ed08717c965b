// Command demo shows the engine at work against a real Linux peer. It builds
// a test bed (a veth pair with its peer end in a fresh network namespace,
// IPv4 and IPv6 addresses), runs the real `engine serve` binary on the
// engine side as a child process with both an IPv4 and an IPv6 address,
// and from the peer namespace's kernel: pings the engine, exchanges UDP
// echoes with it, sends a 60,000-byte datagram that the kernel fragments and
// the engine reassembles and echoes back (fragmenting it), and sends a
// datagram to a closed port, which comes back as "connection refused"; then
// over IPv6: pings the engine (ping -6), has the engine ping the peer over
// both families (`engine ping`), and exchanges a UDP and a TCP echo with
// the engine's dual-stack listeners. It prints what happened with timings,
// then `engine stats` (the IPv6, ICMPv6 and NDP sections included),
// `engine ss -tua` (the listeners on [::]:7) and a few metrics, stops the engine with SIGTERM and removes the bed, on
// every exit path, Ctrl-C included. It exits 1 if any exchange failed.
//
// `make demo` runs it (as root). Flags:
//
//	-engine PATH   the engine binary (default: go build ./cmd/engine into a
//	               temporary directory)
//	-queues N      queues of the bed's veth pair and of the engine (default 1)
package main
