package header

import "encoding/binary"

// ICMPv4 message types (RFC 792, RFC 1191).
const (
	ICMPv4EchoReply      = 0
	ICMPv4DstUnreachable = 3
	ICMPv4SourceQuench   = 4
	ICMPv4Redirect       = 5
	ICMPv4Echo           = 8
	ICMPv4TimeExceeded   = 11
	ICMPv4ParamProblem   = 12
	ICMPv4Timestamp      = 13
	ICMPv4TimestampReply = 14
)

// Destination unreachable codes (RFC 792, RFC 1122 3.2.2.1, RFC 1812 5.2.7.1).
const (
	ICMPv4NetUnreachable      = 0
	ICMPv4HostUnreachable     = 1
	ICMPv4ProtoUnreachable    = 2
	ICMPv4PortUnreachable     = 3
	ICMPv4FragmentationNeeded = 4
	ICMPv4SourceRouteFailed   = 5
	ICMPv4NetUnknown          = 6
	ICMPv4HostUnknown         = 7
	ICMPv4HostIsolated        = 8
	ICMPv4NetProhibited       = 9
	ICMPv4HostProhibited      = 10
	ICMPv4NetTOSUnreachable   = 11
	ICMPv4HostTOSUnreachable  = 12
	ICMPv4AdminProhibited     = 13
	ICMPv4HostPrecedence      = 14
	ICMPv4PrecedenceCutoff    = 15
)

// Time exceeded codes.
const (
	ICMPv4TTLExceeded        = 0
	ICMPv4ReassemblyExceeded = 1
)

// ICMPv4HeaderLen is the fixed part of every ICMP message.
const ICMPv4HeaderLen = 8

// ICMPv4 is a view of an ICMP message (RFC 792):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Rest of header (type-specific, see below)             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Data: echo data, or the offending IP header + 8 bytes ... |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Rest of header: echo and timestamp carry Identifier (16) and Sequence
// (16); fragmentation needed carries unused (16) and next-hop MTU (16, RFC
// 1191); parameter problem a pointer (8); redirect a gateway address (32).
// The checksum covers the whole message.
//
// Views come from ParseICMPv4; see the package's parse contract.
type ICMPv4 []byte

// ParseICMPv4 validates b (the IP payload) as an ICMP message: ErrTruncated
// below 8 bytes, ErrBadChecksum when the checksum over b does not verify.
func ParseICMPv4(b []byte) (ICMPv4, error) {
	if len(b) < ICMPv4HeaderLen {
		return nil, ErrTruncated
	}
	if Checksum(b, 0) != 0xffff {
		return nil, ErrBadChecksum
	}
	return ICMPv4(b), nil
}

// Type returns the message type.
func (m ICMPv4) Type() uint8 { return m[0] }

// Code returns the code.
func (m ICMPv4) Code() uint8 { return m[1] }

// Checksum returns the checksum field.
func (m ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(m[2:]) }

// Rest returns the 4 type-specific bytes after the checksum as a number.
func (m ICMPv4) Rest() uint32 { return binary.BigEndian.Uint32(m[4:]) }

// Ident returns the echo or timestamp identifier.
func (m ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(m[4:]) }

// Seq returns the echo or timestamp sequence number.
func (m ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(m[6:]) }

// MTU returns the next-hop MTU of a fragmentation-needed message (0 from
// routers older than RFC 1191).
func (m ICMPv4) MTU() uint16 { return binary.BigEndian.Uint16(m[6:]) }

// Pointer returns the octet pointer of a parameter problem.
func (m ICMPv4) Pointer() uint8 { return m[4] }

// Gateway4 returns the gateway address of a redirect.
func (m ICMPv4) Gateway4() [4]byte { return [4]byte(m[4:8]) }

// Payload returns the data after the 8-byte header.
func (m ICMPv4) Payload() []byte { return m[ICMPv4HeaderLen:] }

// IsError reports whether the type is an error message (destination
// unreachable, source quench, redirect, time exceeded, parameter problem),
// to which no ICMP error may answer (RFC 1122 3.2.2).
func (m ICMPv4) IsError() bool { return ICMPv4TypeIsError(m.Type()) }

// ICMPv4TypeIsError reports whether t is an ICMP error type.
func ICMPv4TypeIsError(t uint8) bool {
	switch t {
	case ICMPv4DstUnreachable, ICMPv4SourceQuench, ICMPv4Redirect, ICMPv4TimeExceeded, ICMPv4ParamProblem:
		return true
	}
	return false
}

// SetType sets the type.
func (m ICMPv4) SetType(v uint8) { m[0] = v }

// SetCode sets the code.
func (m ICMPv4) SetCode(v uint8) { m[1] = v }

// SetChecksum sets the checksum field.
func (m ICMPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(m[2:], v) }

// SetRest sets the 4 type-specific bytes.
func (m ICMPv4) SetRest(v uint32) { binary.BigEndian.PutUint32(m[4:], v) }

// UpdateChecksum recomputes and stores the checksum over the whole view.
func (m ICMPv4) UpdateChecksum() {
	m[2], m[3] = 0, 0
	m.SetChecksum(^Checksum(m, 0))
}

// ICMPv4Fields is the plain form of an ICMP message.
type ICMPv4Fields struct {
	Type, Code uint8
	Checksum   uint16 // filled by Parse; Put computes its own
	// Rest is the type-specific word: Ident<<16|Seq for echo, the MTU
	// for fragmentation needed, Pointer<<24 for parameter problem.
	Rest uint32
	// Payload follows the header. After Parse it aliases the parsed bytes.
	Payload []byte
}

// Parse validates b as ParseICMPv4 does and fills f.
func (f *ICMPv4Fields) Parse(b []byte) error {
	m, err := ParseICMPv4(b)
	if err != nil {
		return err
	}
	*f = ICMPv4Fields{Type: m.Type(), Code: m.Code(), Checksum: m.Checksum(), Rest: m.Rest(), Payload: m.Payload()}
	return nil
}

// Len returns 8 plus the payload length.
func (f *ICMPv4Fields) Len() int { return ICMPv4HeaderLen + len(f.Payload) }

// Put writes the message with its payload and checksum into b and returns
// its length. The payload may overlap b's payload area (copy semantics).
func (f *ICMPv4Fields) Put(b []byte) (int, error) {
	n := f.Len()
	if len(b) < n {
		return 0, ErrBufferTooSmall
	}
	copy(b[ICMPv4HeaderLen:n], f.Payload)
	b[0], b[1], b[2], b[3] = f.Type, f.Code, 0, 0
	binary.BigEndian.PutUint32(b[4:], f.Rest)
	binary.BigEndian.PutUint16(b[2:], ^Checksum(b[:n], 0))
	return n, nil
}
