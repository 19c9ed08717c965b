// Package pacer decides when a traffic generator may send: a token bucket
// per stream, in packets or bits per second with a configurable burst, a
// multiplexer of several such streams, and a timeline that replays a
// capture with its own timing.
//
// # Time is passed in
//
// Nothing here reads a clock. Every call takes now, in nanoseconds of
// whatever monotonic clock the sender uses (the datapath reads it once per
// round), so that tests drive the pacer with a simulated clock and get the
// same answer every run; the tests check ±1% rate accuracy from 10 kpps to
// 100 Mpps that way. Nothing allocates after construction.
//
// # The bucket
//
// A Bucket holds tokens in fixed point: its level counts billionths of a
// token, and each nanosecond adds the rate (in tokens per second) to it, so
// refilling is one multiplication and never drifts. A packet takes its cost
// in tokens (1 in packets per second; its size in bits, FCS included, in
// BitsL2; plus 20 bytes of preamble and inter-frame gap in BitsL1, what a
// link's line rate counts). The level is capped at the burst: tokens that
// would overflow are lost, so a sender that stalls does not catch up with a
// flood longer than the burst. The default burst is 50 µs worth of the
// rate plus one largest packet: a sender that comes back (polls) at least
// every 50 µs gets the rate exactly, one that stalls longer falls short of
// it. A bucket starts empty: the first packet leaves one packet's time
// after the start.
//
// # Several streams
//
// A Mux holds one bucket per stream (a Flow: anything that tells the size
// of the frame it sends next, as stream.Stream does) and hands out sending
// turns round robin among the streams whose buckets allow one, so each
// stream keeps its own rate as long as the sender keeps up with the sum.
//
// # Capture timing
//
// A Timeline releases frame i at start + offset_i / speed, looping with
// the capture's mean gap between the last frame and the first again.
package pacer
