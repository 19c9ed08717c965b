package tcp

import (
	"github.com/xdpengine/engine/header"
)

// Flag bits, as in the TCP header (header.TCPFlag*).
const (
	FlagFIN = header.TCPFlagFIN
	FlagSYN = header.TCPFlagSYN
	FlagRST = header.TCPFlagRST
	FlagPSH = header.TCPFlagPSH
	FlagACK = header.TCPFlagACK
	FlagURG = header.TCPFlagURG
)

// Segment is a received segment, parsed by the engine (checksum already
// verified). Payload is only read during Input and never retained.
type Segment struct {
	Seq, Ack Seq
	Flags    uint8
	Window   uint16 // as on the wire (unscaled)
	Options  header.TCPOptions
	Payload  []byte
}

// Parse fills s from a TCP segment b (the IP payload). A malformed option
// list is not an error: the options before the bad one are kept, as Linux
// does. It returns the header's error for a truncated segment.
func (s *Segment) Parse(b []byte) error {
	t, err := header.ParseTCP(b)
	if err != nil {
		return err
	}
	s.Seq, s.Ack, s.Flags, s.Window = Seq(t.Seq()), Seq(t.Ack()), t.Flags(), t.Window()
	_ = s.Options.Parse(t.Options())
	s.Payload = t.Payload()
	return nil
}

// Len returns the segment's length in sequence space (SYN and FIN count).
func (s *Segment) Len() uint32 {
	n := uint32(len(s.Payload))
	if s.Flags&FlagSYN != 0 {
		n++
	}
	if s.Flags&FlagFIN != 0 {
		n++
	}
	return n
}

// Sink receives the segments an endpoint emits. The engine implements it
// by writing h (h.Put: ports, seq, ack, flags, window, options; the
// checksum is the engine's) and then the payload p1 followed by p2 into a
// frame. p1 and p2 are slices of the send ring (two when the data wraps),
// valid only during the call; both may be empty. Emit returns false when
// the segment could not be sent (no tx frame): the endpoint then stops and
// treats it as not sent, and the engine calls Output again later.
type Sink interface {
	Emit(h *header.TCPFields, p1, p2 []byte) bool
}

// ResetFor fills h with the RST that answers seg when no connection
// exists (RFC 9293 3.10.7.1): it returns false when seg is itself a RST
// (never answered). Ports are left to the caller.
func ResetFor(seg *Segment, h *header.TCPFields) bool {
	if seg.Flags&FlagRST != 0 {
		return false
	}
	h.Options = header.TCPOptions{}
	h.Window, h.Urgent, h.Checksum = 0, 0, 0
	if seg.Flags&FlagACK != 0 {
		h.Seq, h.Ack, h.Flags = uint32(seg.Ack), 0, FlagRST
	} else {
		h.Seq, h.Ack, h.Flags = 0, uint32(seg.Seq.Add(seg.Len())), FlagRST|FlagACK
	}
	return true
}

// State is a connection state (RFC 9293 3.3.2).
type State uint8

// States. Listen is the Listener's; an Endpoint starts in SynSent or
// SynReceived (or Established from a SYN cookie).
const (
	Closed State = iota
	Listen
	SynSent
	SynReceived
	Established
	FinWait1
	FinWait2
	CloseWait
	Closing
	LastAck
	TimeWait
)

var stateNames = [...]string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
	"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(?)"
}

// synchronized reports whether the state is past the handshake.
func (s State) synchronized() bool { return s >= Established }

// Events is a bitmask of what happened since the last TakeEvents.
type Events uint32

// Event bits.
const (
	// EvEstablished: the handshake completed.
	EvEstablished Events = 1 << iota
	// EvReadable: new data is in the receive ring.
	EvReadable
	// EvWritable: acknowledged data left the send ring (room to write).
	EvWritable
	// EvPeerClosed: the peer's FIN arrived in order (read returns EOF
	// once the receive ring is drained).
	EvPeerClosed
	// EvError: the connection failed; Err gives the errno.
	EvError
	// EvClosed: the endpoint reached CLOSED; the engine frees it.
	EvClosed
	// EvTimeWait: the endpoint entered TIME-WAIT (the application is
	// done with it; the engine keeps it until EvClosed).
	EvTimeWait
)
