package tcp

import "github.com/xdpengine/engine/header"

// TimeWaitRecord is a connection in TIME-WAIT reduced to what answering its
// peer takes (about 60 bytes), as Linux replaces a socket by a timewait
// sock (tcp_time_wait): Endpoint.TimeWaitState makes one when an
// endpoint enters TIME-WAIT, and the engine frees the endpoint, its rings
// and its control block. It is a plain value owned by one worker.
//
// Input is Linux's tcp_timewait_state_process with the endpoint's rules
// for TIME-WAIT: a new SYN above the old connection (a higher timestamp,
// else a higher sequence number) reopens the 4-tuple; a RST at rcv.nxt
// ends TIME-WAIT (RFC 1337 is not applied, as Linux's default), one
// elsewhere in the window gets a challenge ACK, as does a SYN; PAWS
// (RFC 7323) drops old duplicates with an ACK; a retransmitted FIN
// restarts the 2MSL wait and is acknowledged; everything else in or out
// of the window is acknowledged (data is ignored).
type TimeWaitRecord struct {
	deadline, length, tsRecentAt int64
	sndNxt, rcvNxt, edge         Seq
	tsRecent, tsOffset           uint32
	localPort, remotePort        uint16
	rcvShift                     uint8
	tsOK                         bool
}

// TimeWaitVerdict is what became of a segment to a TimeWaitRecord.
type TimeWaitVerdict uint8

const (
	// TWStay: TIME-WAIT goes on.
	TWStay TimeWaitVerdict = iota
	// TWReopen: a new SYN reopens the 4-tuple; the engine ends TIME-WAIT
	// and hands the SYN to the listener with an ISN above ReopenISN.
	TWReopen
	// TWClose: a RST ended TIME-WAIT.
	TWClose
)

// TimeWaitState returns the TIME-WAIT record of an endpoint in TIME-WAIT
// (ok false in any other state). The engine then frees the endpoint.
func (e *Endpoint) TimeWaitState() (t TimeWaitRecord, ok bool) {
	if e.state != TimeWait {
		return TimeWaitRecord{}, false
	}
	return TimeWaitRecord{
		deadline: e.closeAt, length: e.cfg.TimeWait, tsRecentAt: e.tsRecentAt,
		sndNxt: e.sndMax, rcvNxt: e.rcvNxt, edge: seqMax(e.rcvAdvEdge, e.rcvNxt),
		tsRecent: e.tsRecent, tsOffset: e.cfg.TSOffset,
		localPort: e.cfg.LocalPort, remotePort: e.cfg.RemotePort,
		rcvShift: e.rcvShift, tsOK: e.tsOK,
	}, true
}

// Deadline is when TIME-WAIT ends (monotonic ns): a FIN retransmitted by
// the peer moves it.
func (t *TimeWaitRecord) Deadline() int64 { return t.deadline }

// Timestamps reports whether the connection used timestamps (what makes
// reusing its 4-tuple early safe).
func (t *TimeWaitRecord) Timestamps() bool { return t.tsOK }

// ReopenISN returns a sequence number above anything the connection sent,
// for the ISN of one that replaces it (as Endpoint.ReopenISN).
func (t *TimeWaitRecord) ReopenISN() Seq { return t.sndNxt.Add(65535 + 2) }

// Input processes a segment at now and says what became of TIME-WAIT and
// whether to answer with an ACK (AckHeader); ch limits the challenge ACKs
// (RFC 5961), as the endpoints' does.
func (t *TimeWaitRecord) Input(now int64, seg *Segment, ch *ChallengeLimiter) (v TimeWaitVerdict, ack bool) {
	f := seg.Flags
	if f&(FlagSYN|FlagACK|FlagRST) == FlagSYN && t.reuseOK(seg) {
		return TWReopen, false
	}
	if f&(FlagSYN|FlagRST) == FlagSYN {
		return TWStay, ch.Allow(now)
	}
	if t.tsOK && seg.Options.HasTimestamp && f&FlagRST == 0 &&
		int32(seg.Options.TSVal-t.tsRecent) < 0 && now-t.tsRecentAt < pawsIdle {
		return TWStay, true
	}
	wnd := uint32(0)
	if t.edge.GreaterThan(t.rcvNxt) {
		wnd = t.edge.Sub(t.rcvNxt)
	}
	if !acceptable(seg.Seq, seg.Len(), t.rcvNxt, wnd) && !(wnd == 0 && seg.Seq == t.rcvNxt) {
		if f&FlagRST != 0 {
			return TWStay, false
		}
		if f&FlagFIN != 0 {
			t.deadline = now + t.length // a retransmitted FIN restarts 2MSL
		}
		return TWStay, true
	}
	if f&FlagRST != 0 {
		if seg.Seq != t.rcvNxt {
			return TWStay, ch.Allow(now)
		}
		return TWClose, false
	}
	if f&FlagACK == 0 {
		return TWStay, false
	}
	if t.tsOK && seg.Options.HasTimestamp && seg.Seq.LessEq(t.rcvNxt) && int32(seg.Options.TSVal-t.tsRecent) >= 0 {
		t.tsRecent, t.tsRecentAt = seg.Options.TSVal, now
	}
	if seg.Ack.GreaterThan(t.sndNxt) {
		return TWStay, ch.Allow(now)
	}
	if seg.Len() == 0 {
		return TWStay, false
	}
	if f&FlagFIN != 0 {
		t.deadline = now + t.length
	}
	return TWStay, true
}

func (t *TimeWaitRecord) reuseOK(seg *Segment) bool {
	if t.tsOK && seg.Options.HasTimestamp {
		return int32(seg.Options.TSVal-t.tsRecent) > 0
	}
	return seg.Seq.GreaterThan(t.rcvNxt)
}

// AckHeader fills h with the ACK TIME-WAIT answers with at now: snd.nxt,
// rcv.nxt, the window advertised last, timestamps if used.
func (t *TimeWaitRecord) AckHeader(now int64, h *header.TCPFields) {
	*h = header.TCPFields{SrcPort: t.localPort, DstPort: t.remotePort,
		Seq: uint32(t.sndNxt), Ack: uint32(t.rcvNxt), Flags: FlagACK}
	w := t.edge.Sub(t.rcvNxt)
	h.Window = uint16(min((w+1<<t.rcvShift-1)>>t.rcvShift, 0xffff))
	if t.tsOK {
		h.Options.HasTimestamp = true
		h.Options.TSVal, h.Options.TSEcr = uint32(now/nsPerTS)+t.tsOffset, t.tsRecent
	}
}
