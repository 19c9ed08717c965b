package cc

// Ack describes one acknowledgment that advanced the sender's state.
type Ack struct {
	// Acked is the number of bytes newly acknowledged by this ACK:
	// cumulatively and by new SACK blocks.
	Acked int
	// Inflight is the number of bytes in flight before this ACK.
	Inflight int
	// RTT is a round-trip sample taken from this ACK in nanoseconds, or 0
	// when the ACK gives none (Karn's rule: no samples from retransmitted
	// segments unless timestamps disambiguate them).
	RTT int64
	// MinRTT is the connection's minimum RTT seen so far (0 if unknown).
	MinRTT int64
	// AppLimited is true when the sender did not use the whole window in
	// the last round trip (RFC 7661): the window must not grow on it.
	AppLimited bool
	// Now is the monotonic time of the ACK's arrival.
	Now int64
}

// Resetter is an Algorithm that can start over as if just made by its
// constructor, keeping its configuration: a recycled endpoint reuses its
// congestion control instead of allocating one per connection.
type Resetter interface {
	Reset()
}

// Algorithm is a congestion controller for one connection.
type Algorithm interface {
	// Name is the algorithm's name as Linux's tcp_congestion_control
	// spells it ("cubic", "reno").
	Name() string
	// Init starts the connection with the initial window of RFC 6928
	// (10 segments) for the given sender MSS.
	Init(mss int, now int64)
	// SetMSS tells the algorithm the sender MSS changed (PMTU discovery).
	SetMSS(mss int)
	// OnAck grows the window on an acknowledgment outside loss recovery.
	OnAck(a Ack)
	// EnterRecovery starts fast retransmit/fast recovery (RFC 5681 3.2,
	// RFC 6675): ssthresh and cwnd are reduced once per loss event.
	EnterRecovery(inflight int, now int64)
	// ExitRecovery ends fast recovery when the recovery point is
	// acknowledged; cwnd is set from ssthresh.
	ExitRecovery(now int64)
	// OnRTO handles a retransmission timeout: ssthresh is reduced and cwnd
	// falls to the loss window (one segment).
	OnRTO(inflight int, now int64)
	// UndoRecovery restores the window saved by the last EnterRecovery or
	// OnRTO when the loss proves spurious (DSACK or timestamps, RFC 3522).
	UndoRecovery()
	// Cwnd is the congestion window in bytes (at least one MSS).
	Cwnd() int
	// Ssthresh is the slow-start threshold in bytes.
	Ssthresh() int
}
