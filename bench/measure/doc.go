// Package measure is the receive side of the traffic harness: per stream,
// what arrived of what was sent, in which order, how often, and how late.
//
// # Model
//
// A Tracker counts the signatures (package signature) a receiver reads, one
// per frame, with the time of arrival from the same nanosecond clock the
// sender stamped them with. Per stream it keeps:
//
//   - Received: distinct sequence numbers seen (duplicates excluded).
//   - Duplicates: a sequence number seen again while inside the window.
//   - Reordered: a packet that arrived after one with a higher sequence
//     number (RFC 4737's reordered packet), and MaxReorder, the largest
//     such distance in packets (its reordering extent).
//   - Late: reordered packets older than the window; they count as received
//     and reordered, but cannot be checked for duplication.
//   - Latency: arrival minus transmit time, into an HDR histogram (1 ns to
//     Config.MaxLatency, 3 significant digits); negative values (clocks
//     that disagree) are counted in BadTime and not recorded, values above
//     the maximum are recorded as the maximum.
//
// Loss is what was sent minus what was received, once the sender says how
// many it sent (Result); while the run goes on, Stats.Missing counts the
// holes below the highest sequence number seen (packets still in flight
// beyond it are not counted).
//
// # The window
//
// Duplicates and reordering are told apart with a bitmap of the last
// WindowSize (4096) sequence numbers below the highest one seen, as IPsec's
// anti-replay window does (RFC 4303, 3.4.3): 512 bytes per stream. A
// packet 4096 or more behind the highest is Late. Sequence numbers travel as
// 32 bits and are extended to 64 from the highest seen (signature.Extend).
//
// # Costs and concurrency
//
// Observe and ObserveFrame allocate nothing. A Tracker belongs to one
// goroutine (the receiving worker); take Stats or Result there, and combine
// the trackers of several workers with Merge (counts and latency add up;
// duplicates and reordering across workers are not seen). The histogram of
// one stream takes about 200 KiB at the default 10 s maximum, allocated by
// New: a stream is a configured traffic stream, not a flow (one stream
// spans any number of addresses and ports).
package measure
