// Package tcp is a sans-I/O userspace TCP (RFC 9293) that the engine's
// poll-mode workers drive. It does no I/O, reads no clock and starts no
// goroutines: time is the worker's monotonic now (ns) passed into every
// call, randomness (ISN, timestamp offset) comes in the Config, and
// segments go in as parsed Segments and come out through a Sink.
//
// # Threading model
//
// An Endpoint is one connection's TCB. Every state-machine method (Input,
// Output, OnTimer, NextTimer, TakeEvents, Close, CloseWrite, Abort, Info,
// ...) is called by the one worker goroutine that owns the connection, so
// there are no locks. The application goroutine touches the endpoint only
// through two single-producer single-consumer ByteRings:
//
//   - SendRing: the application Writes; the worker Peeks unsent bytes to
//     build segments (zero copy: the Sink gets slices of the ring) and
//     Discards them when they are acknowledged.
//   - RecvRing: the worker appends in-order data (out-of-order data waits
//     in the ring's free space at its final offset, so reassembly copies
//     nothing twice); the application Reads.
//
// Each ring documents its atomics. The advertised window is the receive
// ring's free space (bounded by the auto-tuned limit), so data the window
// admitted always has room.
//
// Close, CloseWrite and Abort come from the application through the
// engine's inbox and are applied by the worker. After the application
// writes into the send ring or reads from the receive ring, the engine
// must schedule Output for the endpoint (new data to send; a window update
// may be due).
//
// # Driving an endpoint
//
// For every received segment: Input, then Output. When the earliest
// deadline (NextTimer) passes: OnTimer, then Output. After each, the
// worker drains TakeEvents (Established, Readable, Writable, PeerClosed,
// Error with Err() = ECONNREFUSED / ECONNRESET / ETIMEDOUT, TimeWait,
// Closed) to wake the application, and frees the endpoint once it is
// CLOSED (after one more Output, which flushes a pending RST).
//
// Passive opens go through a Listener (bounded SYN and accept queues);
// when the SYN queue is full the engine may answer with a SYN cookie and
// later build the connection with Listener.FromCookie. An Input result of
// Reopen means a TIME-WAIT endpoint accepted a new SYN for its 4-tuple
// (tcp_tw_reuse-like): the engine frees it and gives the SYN to the
// listener.
//
// # What is implemented
//
// The full state machine (simultaneous open and close, half-close,
// TIME-WAIT with reuse), RFC 9293 segment acceptability, RFC 5961 RST,
// SYN and ACK checks with a shared challenge-ACK limiter, options (MSS,
// window scale, SACK with D-SACK reporting, timestamps with PAWS), RFC 6298
// RTO (Linux's 200 ms floor, 120 s cap, Karn), give-up after Retries2 /
// SynRetries, fast retransmit and recovery (RFC 6675 SACK pipe and NextSeg
// rules 1-3 minus rescue retransmission; RFC 6582 NewReno without SACK),
// congestion control behind tcp/cc, delayed ACKs (40 ms, every second
// full segment, quick ACKs at start), Nagle, sender and receiver SWS
// avoidance, zero-window probes, keepalive, a bounded out-of-order queue
// and receive buffer auto-tuning.
//
// Not implemented: urgent data (URG is ignored), ECN, TCP Fast Open,
// RACK-TLP, F-RTO, undo of spurious retransmissions (D-SACKs are counted
// but do not undo), MTU probing, send-buffer auto-tuning, the RFC 6675
// rescue retransmission.
package tcp
