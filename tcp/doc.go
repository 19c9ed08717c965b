// Package tcp is a sans-I/O userspace TCP (RFC 9293) that the engine's
// poll-mode workers drive. It does no I/O, reads no clock and starts no
// goroutines: time is the worker's monotonic now (ns) passed into every
// call, randomness (ISN, timestamp offset) comes in the Config, and
// segments go in as parsed Segments and come out through a Sink.
//
// # Threading model
//
// An Endpoint is one connection's TCB. Every state-machine method (Input,
// Output, OnTimer, NextTimer, TakeEvents, ICMPFragNeeded, ICMPError,
// Close, CloseWrite, Abort, Info, ...) is called by the one worker
// goroutine that owns the connection, so there are no locks. The application goroutine touches the endpoint only
// through two single-producer single-consumer ByteRings:
//
//   - SendRing: the application Writes; the worker Peeks unsent bytes to
//     build segments (zero copy: the Sink gets slices of the ring) and
//     Discards them when they are acknowledged.
//   - RecvRing: the worker appends in-order data (out-of-order data waits
//     in the ring's free space at its final offset, so reassembly copies
//     nothing twice); the application Reads.
//
// Each ring documents its atomics.
//
// # Memory that grows with use
//
// The rings start without memory, as a Linux socket holds no buffers
// until data comes (ringmem.go): the application's first Write gives the
// send ring what it needs (up to Config.SendBuf), the first data gives the
// receive ring what it brings, and the receive ring grows, when a segment
// arrives, to hold everything inside the window it advertised: the window
// is a limit (RecvBufMin, grown by auto-tuning toward RecvBufMax when the
// application drains a window's worth per round trip) less the unread
// data, and its right edge never moves left. The worker changes a receive
// ring's memory without waiting for the reader (read-copy-update), and a
// send ring's only while the writer is out of Write (ByteRing, "Memory
// that changes"). A connection through which no data moved for
// Config.BufIdle gives back its empty rings and its loss-recovery records
// (TrimBuffers, on a timer of its own); the window it advertised stays
// valid. Config.Memory (tcp_mem) accounts the memory of all connections:
// under pressure nothing grows past what a connection holds (BufMin at
// least), and above its high threshold no ring grows past BufMin, data
// that does not fit is dropped and counted, and the peer sends it again.
//
// Ring memory may come from Config.Buffers (a BufferPool, RingPool: bounded,
// decaying) and need not be zeroed: a ring publishes only bytes it wrote
// (ByteRing, "Stale memory"). Endpoint.ReleaseBuffers gives it back once
// neither the worker nor the application can touch the rings; the rings
// are then detached (no data, no room), so a late access sees none of the
// reused memory.
//
// An endpoint that enters TIME-WAIT can be replaced by a TimeWaitRecord
// (Endpoint.TimeWaitState, about 60 bytes), which answers the peer as the
// endpoint would until its deadline: the engine then frees the endpoint.
//
// Close, CloseWrite and Abort come from the application through the
// engine's inbox and are applied by the worker. After the application
// writes into the send ring or reads from the receive ring, the engine
// must schedule Output for the endpoint (new data to send; a window update
// may be due).
//
// # Driving an endpoint
//
// For every received segment: Input, then Output. For every ICMP error
// that quotes one of the connection's segments (the engine matched the
// quoted 4-tuple): ICMPFragNeeded for fragmentation needed, ICMPError for
// the others, with the quoted sequence number, then Output. When the
// earliest deadline (NextTimer) passes: OnTimer, then Output. After each,
// the worker drains TakeEvents (Established, Readable, Writable,
// PeerClosed, Error with Err() = ECONNREFUSED / ECONNRESET / ETIMEDOUT or
// an ICMP error's errno, TimeWait, Closed) to wake the application, and
// frees the endpoint once it is CLOSED (after one more Output, which
// flushes a pending RST).
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
// RTO (Linux's 200 ms floor, 120 s cap, Karn; every RTT sample also
// counts the new SRTT into Config.Totals' log2 histogram), give-up after Retries2 /
// SynRetries, congestion control behind tcp/cc, delayed ACKs (40 ms,
// every second full segment, quick ACKs at start), Nagle, sender and
// receiver SWS avoidance, zero-window probes, keepalive, a bounded
// out-of-order queue, receive buffer auto-tuning, and path MTU discovery
// (below).
//
// # Path MTU
//
// Every segment is sent with DF, within the path MTU (pmtu.go). It starts
// at Config.PathMTU, the engine's cached value for the destination (the
// link's MTU when none), which also bounds the MSS our SYN advertises, and
// only ICMP lowers it: PathMTU and MSS (and Info) report both.
//
// ICMP errors are Linux's tcp_v4_err. The quoted sequence number must lie
// in [snd.una, snd.max) (RFC 5927; the rest are counted as
// OutOfWindowIcmps and ignored). Fragmentation needed (ICMPv6 Packet Too
// Big over IPv6, Config.IPv6, whose headers count 60 bytes instead of 40)
// lowers the path MTU to the next-hop MTU (never below MinPathMTU, 552, or
// MinPathMTU6, 1280, never up) and the MSS with it; the segments in flight now too large are marked lost and resent
// at once at the new size (tcp_simple_retransmit: no window reduction, it
// is not congestion). With SACK they are RACK's records, split where the
// new MSS falls as NextSeg resends them; SACKed ones are left alone.
// Without SACK the sender goes back to snd.una. Other errors are hard
// during an active handshake (the connect fails with their errno), drop a
// passive SYN-RECEIVED endpoint silently when fatal, and are soft once
// synchronized: the errno replaces ETIMEDOUT if the connection later
// times out, and any acceptable ACK forgets it. A net or host unreachable
// for snd.una during RTO backoff undoes one backoff step (RFC 6069).
//
// Packetization-layer PMTUD (RFC 4821) is Config.MTUProbing, Linux's
// tcp_mtu_probing: off, on after a black hole, or always. Probing keeps a
// search range of packet sizes; full segments use its low end (BaseMSS,
// 1024 bytes of payload, to begin with). In the open state, with cwnd of
// at least 11 segments and data for the probe and four segments behind
// it, one segment of the middle size goes out. Its acknowledgment raises
// the low end (TCPMTUPSuccess); its loss, detected by RACK or the third
// duplicate ACK while it is the first unacknowledged segment, lowers the
// high end (TCPMTUPFail) and resends it at the current MSS without a
// window reduction; a probe lost with other data, or retransmitted, tells
// nothing. The search ends when the range is under ProbeThreshold and
// starts again after ProbeInterval. Black-hole detection: an RTO after
// three unanswered ones (tcp_retries1) turns probing on in mode 1, and
// halves the low end (down to MTUProbeFloor) when it was on.
//
// # Loss detection and recovery
//
// Without SACK: RFC 5681 fast retransmit at the third duplicate ACK and
// RFC 6582 NewReno recovery; an RTO goes back to snd.una (go-back-N).
//
// With SACK: RACK-TLP (RFC 8985, rack.go). The sender keeps a record per
// transmitted segment (sequence range, latest transmission time, SACKed /
// lost / retransmitted), at most 8192 records (beyond that new segments
// merge into the last). On every ACK that delivers data:
//
//   - RACK.rtt, RACK.xmit_ts and RACK.end_seq come from the most recently
//     sent delivered segment; a retransmitted one is ignored when its RTT
//     is below min_RTT (the ACK is for the original). A delivered
//     original below the highest delivered sequence sets reordering_seen.
//   - reo_wnd is 0 while no reordering was seen and either recovery is
//     under way or more than 2 MSS are SACKed (DupThresh emulation); else
//     min(reo_wnd_mult·min_RTT/4, SRTT). Each D-SACK raises
//     reo_wnd_mult by one, at most once per round trip; it returns to 1
//     after 16 recoveries without a D-SACK.
//   - A segment sent before RACK.xmit_ts and not SACKed is lost once
//     RACK.rtt + reo_wnd passed since its last transmission; the others
//     arm the reorder timer. Because the time is that of the latest
//     transmission, lost retransmissions are detected the same way.
//   - A loss starts fast recovery (cc.EnterRecovery, once per episode,
//     the first retransmission regardless of cwnd); the episode ends when
//     snd.una passes the recovery point (cc.ExitRecovery).
//
// RFC 6675 recovery runs on RACK's marks: pipe is the flight less the
// SACKed and the lost bytes (a retransmission puts its segment back in
// flight), and NextSeg sends the first lost segment (rule 1), else new
// data (rule 2). An RTO (cc.OnRTO, backoff) marks every unSACKed segment
// lost (RFC 8985 6.3), so NextSeg resends them in order, skipping SACKed
// ones; after repeated timeouts the scoreboard is dropped (reneging).
//
// Tail loss probe (RFC 8985 7): outside recovery, with an RTT sample and
// data in flight, a PTO of 2·SRTT (plus the 40 ms delayed-ACK time when
// one segment is in flight, never past the RTO) is restarted by new data
// and by ACKs that advance snd.una. When it fires, one full new segment
// goes out if the windows allow, else the last unSACKed segment is
// resent; the RTO is restarted. A probe retransmission that an ACK covers
// without a D-SACK repaired a loss and costs one window reduction; a
// D-SACK for it ends the episode without one.
//
// Undo: a window reduction (fast recovery or RTO) is undone
// (cc.UndoRecovery) when its episode is over and every retransmission
// it made was D-SACKed (RFC 2883 / Linux's DSACK undo). D-SACKs are
// matched by count, not by segment, so a D-SACK caused by a duplicated
// original below HighRxt can trigger an undo.
//
// Figures (BenchmarkLossRecovery: 16 MiB one way, SACK and timestamps,
// 10 Gbit/s bottleneck, 100 µs RTT, random loss on both directions;
// "reorder" adds 2% of segments delayed by up to 50 µs). Simulated MB/s
// and RTOs, before (RFC 6675 IsLost) and after RACK-TLP:
//
//	loss  reorder  before MB/s  RTOs   after MB/s  RTOs  TLPs
//	 1%   no          33.7        2      171.5       0     0
//	 5%   no           1.5       45       11.0       4    25
//	10%   no           0.14     325        0.61     76   114
//	 1%   yes         83.2        0      177.6       0     0
//	 5%   yes          1.3       52       10.0       4    18
//	10%   yes          0.13     340        0.74     69   123
//
// The RTOs left are a lost probe, or a lost retransmission with nothing
// sent after it (cwnd full) to reveal it; each costs at least the 200 ms
// RTO floor against a 100 µs RTT.
//
// Not implemented: urgent data (URG is ignored), ECN, TCP Fast Open,
// F-RTO, Eifel detection with timestamps (RFC 3522: our 1 ms timestamp
// clock cannot tell a retransmission from its original at sub-ms RTTs),
// RFC 6675 NextSeg rules 3-4 and the rescue retransmission (TLP covers
// tail losses), TLP during recovery, PRR (RFC 6937). Path MTU: an open
// connection's path MTU is never raised (Linux raises it when the route's
// learned MTU expires; a new connection takes the engine's cache), the
// quoted packet's length is not checked against the reported MTU, and
// the RFC 6069 revert takes every non-fatal net or host unreachable errno
// (Linux: codes 0 and 1 only; the errno also covers codes 11-12 and time
// exceeded).
// Send-buffer auto-tuning is the engine's (SendBufWant, GrowSendRing). An
// orphan (the application closed) gives up after OrphanRetries
// retransmissions or zero-window probes (tcp_orphan_retries).
package tcp
