// Package bench holds the engine's cross-package Go benchmarks, run with
// `go test -bench`. It has no library code; each file benchmarks one
// package side by side with the baseline a user would compare it with, in
// the same run, and reports per-element figures with b.ReportMetric.
//
//   - ring_bench_test.go: ring.SPSC and ring.MPMC against a buffered Go
//     channel of the same capacity. Burst sizes 1, 8, 32 and 64; producer
//     and consumer in the same goroutine (BenchmarkRingSame), on two
//     goroutines (BenchmarkRingPair), and the cost of polling an empty
//     ring (BenchmarkRingEmptyPoll). Metrics: ns/elem (ns/poll for the
//     empty case) and allocs/op. BenchmarkCoreToCore measures one
//     cache-line round trip between two goroutines: the floor for a burst
//     handed across cores, and a sign of how busy the machine was.
//   - lb_bench_test.go: the load balancer (package lb) forwarding on one
//     worker, NAT and dsr-l2, against the kernel's nftables DNAT with
//     conntrack in a namespace of the same bed: the highest rate at 0.1%
//     loss (an RFC 2544-like search) for 64- and 1400-byte frames, CPU per
//     packet, one-way latency p50/p99 of timestamped probes, allocations
//     per packet. Its load generator (lbgen_test.go) is the test binary
//     re-executed in the client's namespace.
//   - gen_bench_test.go: the stateless harness's generator (package
//     bench/xdpgen, `engine bench udp`) against trafgen (netsniff-ng,
//     AF_PACKET) on the same bed with the same 64-byte frames: frames the
//     peer received per second and per second of CPU, their ratios, and
//     allocations per packet (BenchmarkGenerator; trafgen is not in CI:
//     `apt-get install netsniff-ng`), with the ksoftirqd threads' CPU
//     beside, so that work moved out of either generator's account shows.
//   - selflatency_bench_test.go: the harness's own round-trip latency,
//     generator to reflector on the same veth, at half the highest rate
//     that comes back (BenchmarkSelfLatency): p50/p99/p99.9 through an XDP
//     reflector (reflector.AttachXDP, `engine bench reflect --xdp`: the
//     generator's own latency) and through xdpgen's AF_XDP Reflect (a
//     second polling thread), the generator adaptive or busy polling.
//   - tcpload_bench_test.go: the stateful harness (package bench/tcpload,
//     `engine bench tcp`) through the engine's TCP against wrk through the
//     host kernel's, on one net/http server in its own process in the peer
//     namespace: requests/s, CPU per request, p50/p99 and allocations per
//     request side by side; connections per second against kernel
//     sockets; 30,000 connections from one address to one server address.
//
// The machine's CPU in the side-by-side figures is package bench/cputime's:
// wall time less exact idle residencies, not /proc/stat's busy ticks,
// which miss the short bursts of the burstier side (a kernel's softirq
// work, a worker that naps).
//
// Typical run (the machine is shared and noisy: several counts, medians):
//
//	go test -run='^$' -bench=Ring -benchtime=200ms -count=5 ./bench/
package bench
