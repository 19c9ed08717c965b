// Package testbed builds real hosts for the engine's tests, demos and
// benchmarks: a veth pair whose one end stays in the caller's network
// namespace (the engine side) and whose other end lives in a fresh network
// namespace that plays the "kernel peer".
//
// Model:
//
//	 caller's namespace                    peer namespace (xeb-<pid>-<n>)
//	+-------------------+   veth pair    +---------------------------+
//	| HostIf (engine)   |<-------------->| PeerIf  198.18.N.2/24     |
//	| no kernel address |                | the Linux kernel's stack  |
//	+-------------------+                +---------------------------+
//
// Addresses come from the benchmarking range 198.18.0.0/15 (RFC 2544): each
// bed gets one /24 in which .1 is meant for the engine (EngineAddr), .2 is the
// peer kernel (PeerAddr) and .3 may be given to the caller's kernel on HostIf
// (Config.HostKernelAddr) for side-by-side comparisons with the kernel path.
// IPv6 is disabled on both links so neighbor discovery does not add noise.
// Both ends keep the kernel's default offloads, as users' containers and
// namespaces have them: the peer kernel sends UDP and TCP with partial
// checksums (CHECKSUM_PARTIAL, only the pseudo-header sum in the field),
// which the engine must accept on a virtual link as the kernel does.
// Config.FullChecksums turns transmit checksum offload off on both ends,
// for the tests that are about full checksums (frames then carry final
// checksums, as on a wire). Config.PeerEhashEntries gives the peer
// namespace a TCP established hash of its own, for tests that hold a
// million connections in the peer kernel (a namespace shares the host's
// otherwise).
//
// AddSegmentHosts puts more kernel hosts on the bed's link segment, for
// tests with several hosts on one L2 segment with the engine (a load
// balancer's client and backends): the peer namespace becomes a switch (the
// bridge SegmentBridge, with the peer kept as the host .2 on it, same MAC),
// and each SegmentHost (.11, .12, ...) has a namespace of its own whose veth
// is a port of that bridge. AddFar, by contrast, puts a host behind the peer
// acting as a router.
//
// Names are unique per run: they carry the creating process's pid and a
// counter, which also lets Sweep remove beds whose creator died without
// cleaning up (a SIGKILL, a test timeout). Close removes everything; New
// registers Close with t.Cleanup, so a failing or panicking test still
// cleans up, and then checks that nothing was left behind.
//
// Do runs a Go function on an OS thread that has entered the peer namespace,
// so sockets it opens (net.Dial, net.ListenUDP, unix.Socket) belong to the
// peer kernel's stack and stay there when used from other goroutines.
// Command returns an exec.Cmd that starts inside the peer namespace, the
// equivalent of `ip netns exec`.
//
// Everything here needs CAP_NET_ADMIN and CAP_SYS_ADMIN (root in practice).
// RequirePrivileged skips a test that lacks them, unless the environment
// variable ENGINE_REQUIRE_PRIVILEGED is set (CI sets it), in which case the
// test fails: a privileged test that silently skips under CI is a defect.
package testbed
