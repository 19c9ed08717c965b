// Package kernelgen is the kernel-socket counterpart of bench/xdpgen, for
// `engine bench udp --compare kernel`: the same test (frame sizes, rate,
// duration or count, source ports) sent through the kernel's UDP sockets
// on the same link, measured the same way, so that the two figures can be
// put side by side.
//
// # Model
//
// Run opens Flows connected UDP sockets from Local (bound to Interface
// with SO_BINDTODEVICE, so the datagrams take the link under test whatever
// the routes say) to Target, a UDP echo. One sender goroutine on a locked
// OS thread paces with a pacer.Bucket (the clock read once per round,
// CatchUp's worth of burst so that a stalled sender catches up, as the
// AF_XDP generator does), generates the datagrams with a stream.Stream
// (the UDP data of the frames the AF_XDP generator would send, signature
// first) and writes a batch at a time with sendmmsg (x/net/ipv4
// WriteBatch), to the sockets in turn; between batches it sleeps in
// nanosleep with a 1 µs timer slack. One receiver goroutine per socket
// reads batches with recvmmsg and feeds a measure.Tracker of its own;
// the trackers are merged at the end. Each receiver also records a
// batch's latencies, under a mutex of its own, into an interval histogram
// that the reporting goroutine takes at each Interval's end (its latency). A datagram that the kernel refuses
// (a send error) was generated, so it counts as lost.
//
// Sizes are Ethernet frame sizes, as in package stream: the kernel adds
// the same 42 bytes of headers the generator's frames carry, so both
// paths put the same frames on the link.
//
// CPU is the process's CPU time over the run, every thread included: the
// kernel does its sending and receiving work inside the sockets' system
// calls, charged to the process.
package kernelgen
