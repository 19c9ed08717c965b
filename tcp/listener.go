package tcp

import (
	"fmt"

	"github.com/xdpengine/engine/ring"
)

// Listener is a listening socket's state on one worker: it turns SYNs
// into SYN-RECEIVED endpoints, bounds them (the SYN queue), and hands
// established ones to the application through the accept queue.
//
// Threading: OnSYN, FromCookie and the endpoints' own calls run on the
// owning worker; Accept runs on the application goroutine. The accept
// queue is a ring.SPSC (worker produces, application consumes); the SYN
// queue count is the worker's alone.
type Listener struct {
	synBacklog int
	synQueued  int
	accept     *ring.SPSC[*Endpoint]
	stats      ListenerStats
}

// ListenerStats are a listener's counters (Linux's ListenOverflows,
// ListenDrops and SYN cookie counters).
type ListenerStats struct {
	SYNs           uint64 // SYNs that created an endpoint
	SYNQueueFull   uint64 // SYNs refused with ErrSYNQueueFull
	AcceptFull     uint64 // SYNs refused with ErrAcceptQueueFull
	Overflows      uint64 // handshakes completed while the accept queue was full
	CookiesAccepts uint64 // connections created from SYN cookies
}

// ListenerConfig sizes a listener's queues.
type ListenerConfig struct {
	// Backlog is the accept queue length (listen(2)'s backlog, rounded up
	// to a power of two). Default 4096 (net.core.somaxconn).
	Backlog int
	// SYNBacklog bounds the endpoints in SYN-RECEIVED (default 1024,
	// tcp_max_syn_backlog's minimum).
	SYNBacklog int
}

// NewListener returns a listener.
func NewListener(c ListenerConfig) (*Listener, error) {
	if c.Backlog <= 0 {
		c.Backlog = 4096
	}
	if c.SYNBacklog <= 0 {
		c.SYNBacklog = 1024
	}
	size := 1
	for size < c.Backlog {
		size <<= 1
	}
	q, err := ring.NewSPSC[*Endpoint](max(size, ring.MinSize))
	if err != nil {
		return nil, fmt.Errorf("tcp: backlog %d: %w: %w", c.Backlog, ErrConfig, err)
	}
	return &Listener{synBacklog: c.SYNBacklog, accept: q}, nil
}

// OnSYN handles a segment for the listening socket at now. For a SYN it
// returns a new endpoint in SYN-RECEIVED (c.ISS is its ISN); the engine
// inserts it in its flow table and calls Output to send the SYN-ACK.
// Errors: ErrNotSYN (not a bare SYN: the engine answers an ACK with RST,
// see ResetFor), ErrAcceptQueueFull (drop, as Linux), ErrSYNQueueFull
// (answer with a SYN cookie, or drop), or a configuration error.
func (l *Listener) OnSYN(now int64, seg *Segment, c Config) (*Endpoint, error) {
	if seg.Flags&(FlagSYN|FlagACK|FlagRST|FlagFIN) != FlagSYN {
		return nil, ErrNotSYN
	}
	if l.accept.Free() == 0 {
		l.stats.AcceptFull++
		return nil, ErrAcceptQueueFull
	}
	if l.synQueued >= l.synBacklog {
		l.stats.SYNQueueFull++
		return nil, ErrSYNQueueFull
	}
	e, err := newEndpoint(now, c)
	if err != nil {
		return nil, err
	}
	e.passive = true
	e.state = SynReceived
	e.irs, e.rcvNxt = seg.Seq, seg.Seq.Add(1)
	e.rcvAdvEdge, e.lastAckSent = e.rcvNxt, e.rcvNxt
	e.negotiate(&seg.Options, false)
	if e.tsOK {
		e.tsRecent, e.tsRecentAt = seg.Options.TSVal, now
	}
	e.sndWnd = uint32(seg.Window) // unscaled in a SYN
	e.maxSndWnd = e.sndWnd
	e.synPending = true
	e.rtoAt = now + e.rto
	e.listener = l
	l.synQueued++
	l.stats.SYNs++
	return e, nil
}

// promote moves an endpoint that completed its handshake to the accept
// queue; false when the queue is full (the handshake ACK is dropped).
func (l *Listener) promote(e *Endpoint) bool {
	if !l.accept.Enqueue(e) {
		l.stats.Overflows++
		return false
	}
	l.synQueued--
	e.listener = nil
	return true
}

// Accept returns the next established connection, or false when none is
// waiting. Application side.
func (l *Listener) Accept() (*Endpoint, bool) { return l.accept.Dequeue() }

// Pending returns the number of connections waiting in the accept queue
// (a snapshot).
func (l *Listener) Pending() int { return l.accept.Len() }

// SYNQueued returns the number of endpoints in SYN-RECEIVED. Worker side.
func (l *Listener) SYNQueued() int { return l.synQueued }

// Stats returns the counters. Worker side.
func (l *Listener) Stats() ListenerStats { return l.stats }

// CookieParams are the handshake parameters a SYN cookie carried, decoded
// and validated by the engine's cookie code from the ACK that returned it.
type CookieParams struct {
	// MSS is the peer's MSS as encoded in the cookie.
	MSS int
	// WScale is the peer's window scale, or -1 when it sent none.
	WScale int
	// SACK and Timestamps say whether the peer offered them (cookies
	// keep them only with timestamps, as Linux's do).
	SACK, Timestamps bool
}

// FromCookie creates an ESTABLISHED endpoint from a validated SYN cookie
// ACK seg (RFC 4987): our ISN was seg.Ack-1 and the peer's seg.Seq-1;
// c.ISS is ignored. The segment itself (its data, FIN) is processed, the
// endpoint goes to the accept queue, and the engine inserts it in its flow
// table. ErrAcceptQueueFull when the queue is full.
func (l *Listener) FromCookie(now int64, seg *Segment, c Config, p CookieParams) (*Endpoint, error) {
	if l.accept.Free() == 0 {
		l.stats.AcceptFull++
		return nil, ErrAcceptQueueFull
	}
	c.ISS = seg.Ack - 1
	e, err := newEndpoint(now, c)
	if err != nil {
		return nil, err
	}
	e.passive = true
	e.irs, e.rcvNxt = seg.Seq-1, seg.Seq
	o := optionsFromCookie(p, seg)
	e.negotiate(&o, false)
	if e.tsOK {
		e.tsRecent, e.tsRecentAt = seg.Options.TSVal, now
	}
	e.sndUna, e.sndNxt, e.sndMax = seg.Ack, seg.Ack, seg.Ack
	e.rcvAdvEdge = e.rcvNxt.Add(uint32(min(e.rcvLimit, 0xffff)))
	e.lastAckSent = e.rcvNxt
	e.sndWl1 = seg.Seq - 1
	e.establish(now)
	e.rtoAt = 0
	e.Input(now, seg)
	if !l.accept.Enqueue(e) {
		l.stats.AcceptFull++
		return nil, ErrAcceptQueueFull
	}
	l.stats.CookiesAccepts++
	return e, nil
}
