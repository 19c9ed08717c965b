// Package cc holds TCP congestion control algorithms behind one interface,
// so the sender in package tcp can use any of them (CUBIC by default, as in
// Linux; NewReno as the RFC 5681/6582 reference). New picks one by the name
// Linux's net.ipv4.tcp_congestion_control uses.
//
// # Model
//
// Windows are in bytes. Time is monotonic nanoseconds passed in by the
// caller (the engine's worker reads the clock once per burst); an algorithm
// never reads the clock itself. An Algorithm belongs to one connection and is
// used by one goroutine (the worker that owns the connection): no locking,
// no allocation after construction. A Resetter (CUBIC and NewReno are)
// starts over in place, so that a recycled connection reuses its
// algorithm.
//
// The sender drives an algorithm through five events:
//
//   - OnAck for every ACK that acknowledges new data outside loss recovery.
//     Slow start grows the window by the bytes acknowledged, at most
//     2*MSS per ACK (RFC 3465 appropriate byte counting, L=2); congestion
//     avoidance grows it by the algorithm's rule. An ACK flagged AppLimited
//     (RFC 7661) never grows the window. OnAck calls made while in recovery
//     are ignored.
//   - EnterRecovery on the third duplicate ACK or SACK loss detection: one
//     reduction per loss event (ignored in recovery and after an RTO until
//     an ACK advances) (NewReno: ssthresh = max(inflight/2, 2*MSS);
//     CUBIC: ssthresh = max(cwnd*0.7, 2*MSS)), cwnd = ssthresh. The window
//     is not inflated by duplicate ACKs: the sender is expected to count its
//     pipe (RFC 6675) against cwnd, which subsumes RFC 6582's inflation.
//   - ExitRecovery when the recovery point is acknowledged: cwnd = ssthresh.
//   - OnRTO: ssthresh is reduced as for a loss (only once while the
//     retransmission timer keeps backing off, and not again when the timeout
//     hits during fast recovery, as Linux's tcp_enter_loss), cwnd falls to
//     one MSS (the loss window), and slow start resumes with the next OnAck.
//   - UndoRecovery when the reduction proves spurious (DSACK, Eifel): cwnd
//     and ssthresh return to at least their values before the reduction
//     (Linux's tcp_undo_cwnd_reduction), and CUBIC restores its curve.
//
// # MSS changes
//
// SetMSS keeps the window in bytes (the sending rate is unchanged) and
// applies the new MSS to every later step: per-ACK limits, the 2*MSS
// ssthresh floor, the 1-MSS loss window and CUBIC's segment-based curve.
// An MSS below MinMSS (Linux's TCP_MIN_MSS, 88) is raised to it.
//
// # Algorithms
//
// Reno (reno.go) is NewReno's window arithmetic: RFC 5681 slow start and
// congestion avoidance with RFC 3465 byte counting (one MSS per window of
// acknowledged bytes).
//
// Cubic (cubic.go) is RFC 9438: the cubic window W_cubic(t) = C*(t-K)^3 +
// W_max with C=0.4 and beta_cubic=0.7, fast convergence, the Reno-friendly
// estimate W_est, and the epoch reset on loss. Time t is taken from the
// ACK's Now; the target window is W_cubic(t+MinRTT) as Linux does
// (RFC 9438 allows the smoothed RTT). Application-limited stretches do not
// count in t: a short one shifts the epoch forward by its length (Linux's
// cubic after idle), one longer than max(200ms, 4*MinRTT) restarts the
// epoch. Slow start exits with HyStart++ (RFC 9406, hystart.go) by default.
package cc
