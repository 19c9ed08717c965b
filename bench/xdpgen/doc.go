// Package xdpgen drives one interface with AF_XDP as a stateless traffic
// generator and receiver (`engine bench udp`, `engine bench rfc2544`) or as
// a reflector (`engine bench reflect`): streams of frames from package
// stream, paced by package pacer, measured on return by package measure.
//
// # Model
//
// Open attaches the engine's steering XDP program (package afxdp) to the
// interface, owning one IPv4 address (Config.Addr): IPv4 to it and ARP for
// it reach the port, everything else stays the kernel's. It opens one
// AF_XDP socket per queue, zero-copy where the driver allows and copy mode
// otherwise (veth), each with a UMEM of its own, and keeps one worker per
// socket. A Port does one thing at a time: Resolve, Run or Reflect.
//
// Run starts the workers, one goroutine each on a locked OS thread, and
// watches them from the caller's goroutine. Each worker builds its own
// stream.Stream of every Traffic stream, with an id of its own (worker w,
// stream i: w×len(Streams)+i) and its share of the rate, in a pacer.Mux.
// A round of a worker:
//
//  1. receive a burst; read the clock (once per round: the arrival time of
//     the burst, and the time the pacer and the signatures use);
//  2. answer ARP requests for the port's address (from a fresh frame);
//     read the signature of every other frame and feed the worker's
//     measure.Tracker and its latency histogram; frames without one of
//     the run's signatures (transmitted before the run started, or
//     foreign) count as Other;
//  3. reap completed transmissions (back to the worker's own frames, not
//     the pool), then generate as many frames as the pacer allows, but no
//     more than the transmit ring has free slots: Stream.Next counts a
//     frame as sent, so only frames that will really go out are
//     generated. A frame that already holds its stream's template gets
//     only the varying bytes rewritten (Stream.Rewrite);
//  4. refill the fill ring, publish the counters (atomics, read by
//     Counters and the intervals), and, if nothing is due for a while,
//     sleep in ppoll(2) on the socket until shortly before the next frame
//     (Config.BusyPoll spins instead).
//
// A worker stops sending at Traffic.Duration or its share of Count; Run
// then waits up to Drain for frames in flight (less when every frame sent
// came back), stops the workers, merges their trackers and returns the
// Result: per stream sent, received, lost, duplicates, reordering; the
// latency of all, with its histogram; the intervals; the workers' CPU time.
// Nothing is allocated per packet (the trackers and histograms are kept
// from one run to the next).
//
// # Live mode
//
// With Config.Live the kernel sends instead of the transmit ring (live.go):
// the steering program gets a prelude that takes frames marked in their
// metadata, and a worker runs the program on each stream's first frame
// with BPF_PROG_RUN in live-frame mode (afxdp.LiveRunner) as many times as
// its pacer allows, up to 256 frames a run. For each frame the prelude
// writes the IPv4 ID, the source port (an incrementing range), the
// signature's sequence number (from the stream's state in a map) and time
// (CLOCK_MONOTONIC shifted to the port's clock), sets both checksums from
// sums the worker made of the first frame, and sends it (XDP_TX). The
// worker counts what it asked for (Stream.Advance); a failed run counts
// its frames as errors and ends the run with the error. Receiving is
// unchanged. The program must be attached in native mode: a run of a
// program outside the kernel's XDP dispatcher waits for a grace period.
//
// # Pacing
//
// Rates are per stream, split evenly between the workers. A bucket whose
// Rate has no Burst holds DefaultCatchUp (20 ms) of sending: a worker the
// machine stalls catches up at once, so the average rate holds on a busy
// machine; a small Burst (pacer.DefaultBurst) spaces frames evenly and
// loses what a stall missed. A Replay stream can instead keep its
// capture's timing (Stream.CaptureTiming, pacer.Timeline), sent by the
// first worker.
//
// # Intervals and live counters
//
// Every Traffic.Interval Run reads the workers' counters and swaps their
// latency histograms: a worker records into one of two and flips when Run
// asks (an atomic flag), so that Run reads the other without a lock; the
// worker never waits. Counters are readable at any time.
//
// A stream whose frames carry no signature (stream.SignOff, or SignAuto
// with frames too small for one) is sent and counted but not measured:
// StreamResult.Measured is false, and Result.Lost and Loss leave it out
// (Result.Unmeasured counts its frames), as does an Interval's Loss.
//
// # Reflect
//
// Reflect turns every IPv4 frame around in place (package reflector:
// Ethernet, IPv4 addresses and TCP/UDP ports swapped) and sends it back
// from the same frame, answering ARP for the port's address. A partial
// UDP/TCP checksum (the pseudo-header sum a Linux sender with transmit
// offload leaves on a virtual link) is finished first: the kernel that
// receives the frame from AF_XDP checks it.
//
// # RFC 2544
//
// Trialer is an rfc2544.Trialer: one signed stream at the trial's size and
// rate for the trial's duration, then up to Wait (2 s) for frames in
// flight. Frames of an earlier trial that arrive late carry a transmit
// time before the trial started and are not counted.
//
// # Address resolution
//
// Resolve asks the target's MAC by ARP (every 200 ms until an answer or
// the context's deadline). The frames' MACs are the caller's to set in
// each stream.Spec (Port.MAC, Resolve), so a device under test can be
// reached through a gateway or a static MAC.
package xdpgen
