// Package tcpload is the stateful side of the traffic harness: it loads a
// TCP server through whatever stack a Dial function stands for — the
// engine's own TCP ((*engine.Dialer).DialContext) or the kernel's
// ((*net.Dialer).DialContext) — and measures what the server did.
//
// # Modes
//
//   - HTTP: Conns keep-alive connections send HTTP/1.1 GETs and read the
//     responses with a parser of their own (status line, header fields,
//     Content-Length, chunked bodies with extensions and trailers, bodies
//     that end with the connection, 1xx interim responses skipped), as
//     wrk does; a connection the server closes is opened again.
//   - Raw: send RequestSize bytes, read ResponseSize bytes (an echo server
//     with equal sizes, or any server with a fixed answer).
//   - Connect: a connection per request — connect, one exchange, close —
//     for connection rates. With Path set the exchange is a GET with
//     "Connection: close" (the server closes first and keeps the
//     TIME-WAIT); otherwise it is raw and the client closes first.
//   - Bulk: Conns streams move bytes up (to a discard server), down (from
//     a source) or both ways (through an echo server), iperf3-like.
//
// # Closed and open loop
//
// The long-lived connections (HTTP, Raw, Bulk) are opened before the
// clock starts, as wrk opens its connections first, so the first requests
// do not carry the handshakes; Connect mode opens one per request.
//
// Closed loop (Rate 0): each connection sends its next request when the
// last one is answered; latency counts from the send. Open loop (Rate R):
// request k is due at start + k/R, whatever happened to the ones before
// it; whichever connection is free takes the next due request, sleeps
// until it is due and sends it, and its latency counts from the due time,
// not the send. A server that stalls therefore shows the whole stall in
// the latency of every request that waited for it, instead of hiding it by
// sending fewer requests (coordinated omission; wrk2's correction). The
// schedule is a counter, not a token bucket: a bucket caps its burst and
// would drop the requests a stall delayed, which is the omission itself.
// The achieved rate is the answered requests divided by Duration. Each
// connection waits for its due time on a timerfd of its own (the first
// 4096 connections; the others on a Go timer), because the runtime's own
// timers wake in whole milliseconds when every P is idle; what is left of
// the generator's own delay is reported as SendLagNs, the time from due to
// send. A connection with no more requests due holds its connection until
// the end of the run.
//
// # Many connections to one server
//
// A connection is its 5-tuple: with Ports > 1 the connections go to Ports
// consecutive ports of the target, and both the engine's connect and
// Linux's share a local port among connections to different destination
// ports, so one source address holds more connections to one server
// address than the ephemeral range has ports (about 28,000 by default).
//
// # Measurement and cost
//
// Latencies go into HDR histograms (1 ns to MaxLatency, 3 significant
// digits; bench/measure's form), sharded: connection i records into shard
// i mod S (S = 2×GOMAXPROCS, at least 4) under that shard's mutex, so
// memory is bounded by the shard count, not the connection count (about
// 400 KiB a shard), and a progress reader takes consistent figures every
// Interval. Per connection the cost is one read buffer (BufferSize, 4 KiB
// by default; every connection sends the same request bytes). The request
// loop allocates nothing of its own per request: responses are parsed in
// place, and timeouts are enforced by a watchdog that wakes a request
// stuck past Timeout by setting a deadline in the past on its connection,
// rather than by a deadline per request (which, on the engine's
// connections, arms a timer per blocked call). Connect mode allocates
// what a connect does.
//
// Connects before the clock starts and closes are bounded to 512 in flight:
// tens of thousands at once would overflow the server's SYN queue and the
// engine's per-worker command ring.
//
// # Errors
//
// Errors are counted by kind (Kind): connect, timeout, reset, closed
// (the server closed inside a response), bad response, status (4xx and
// 5xx answers, also counted as requests, as wrk does) and other. After an
// error the connection is closed and a new one opened; connect errors in
// a closed loop back off from 1 to 100 ms.
package tcpload
