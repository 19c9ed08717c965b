package header

import "encoding/binary"

// ICMPv6 message types (RFC 4443). Neighbor discovery (133-137) and MLD
// (130-132, 143) are in ndp.go and mld.go.
const (
	ICMPv6DstUnreachable = 1
	ICMPv6PacketTooBig   = 2
	ICMPv6TimeExceeded   = 3
	ICMPv6ParamProblem   = 4
	ICMPv6EchoRequest    = 128
	ICMPv6EchoReply      = 129
)

// Destination unreachable codes (RFC 4443 3.1).
const (
	ICMPv6NoRoute            = 0
	ICMPv6AdminProhibited    = 1
	ICMPv6BeyondScope        = 2
	ICMPv6AddressUnreachable = 3
	ICMPv6PortUnreachable    = 4
)

// Time exceeded codes (RFC 4443 3.3).
const (
	ICMPv6HopLimitExceeded   = 0
	ICMPv6ReassemblyExceeded = 1
)

// Parameter problem codes (RFC 4443 3.4, RFC 7112).
const (
	ICMPv6ErroneousHeader        = 0
	ICMPv6UnrecognizedNextHeader = 1
	ICMPv6UnrecognizedOption     = 2
	ICMPv6IncompleteChain        = 3
)

// ICMPv6 lengths.
const (
	ICMPv6MinLen    = 4 // type, code, checksum
	ICMPv6HeaderLen = 8 // with the type-specific word of errors and echo
)

// ICMPv6 is a view of an ICMPv6 message (RFC 4443 2.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Rest: Identifier + Sequence (echo), MTU (packet too big),    |
//	|  Pointer (parameter problem), unused (other errors)           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data: echo data, or as much of the invoking packet as fits   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The checksum covers the IPv6 pseudo-header (RFC 8200 8.1, next header
// 58) and the whole message; see ICMPv6Checksum. Errors have types below
// 128, informational messages 128 and up.
//
// Views come from ParseICMPv6; see the package's parse contract. The
// type-specific getters (Rest, Ident, Seq, MTU, Pointer) return 0 for a
// message shorter than 8 bytes (an informational type ParseICMPv6 admits at
// 4 bytes).
type ICMPv6 []byte

// ParseICMPv6 validates b (the upper-layer payload) as an ICMPv6 message:
// ErrTruncated below 4 bytes, or below 8 for an error or echo message. It
// does not verify the checksum, which needs the addresses: ChecksumValid
// does.
func ParseICMPv6(b []byte) (ICMPv6, error) {
	if len(b) < ICMPv6MinLen {
		return nil, ErrTruncated
	}
	if len(b) < ICMPv6HeaderLen && (b[0] < 128 || b[0] == ICMPv6EchoRequest || b[0] == ICMPv6EchoReply) {
		return nil, ErrTruncated
	}
	return ICMPv6(b), nil
}

// Type returns the message type.
func (m ICMPv6) Type() uint8 { return m[0] }

// Code returns the code.
func (m ICMPv6) Code() uint8 { return m[1] }

// Checksum returns the checksum field.
func (m ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(m[2:]) }

// Rest returns the 4 type-specific bytes after the checksum as a number.
func (m ICMPv6) Rest() uint32 {
	if len(m) < ICMPv6HeaderLen {
		return 0
	}
	return binary.BigEndian.Uint32(m[4:])
}

// Ident returns the echo identifier.
func (m ICMPv6) Ident() uint16 { return uint16(m.Rest() >> 16) }

// Seq returns the echo sequence number.
func (m ICMPv6) Seq() uint16 { return uint16(m.Rest()) }

// MTU returns the MTU of a packet too big message.
func (m ICMPv6) MTU() uint32 { return m.Rest() }

// Pointer returns the offset of the offending byte of a parameter problem.
func (m ICMPv6) Pointer() uint32 { return m.Rest() }

// Payload returns the data after the 8-byte header (empty for a shorter
// message).
func (m ICMPv6) Payload() []byte { return m[min(ICMPv6HeaderLen, len(m)):] }

// IsError reports whether the message is an error (type below 128), to
// which no ICMPv6 error may answer (RFC 4443 2.4(e)).
func (m ICMPv6) IsError() bool { return m[0] < 128 }

// SetType sets the type.
func (m ICMPv6) SetType(v uint8) { m[0] = v }

// SetCode sets the code.
func (m ICMPv6) SetCode(v uint8) { m[1] = v }

// SetChecksum sets the checksum field.
func (m ICMPv6) SetChecksum(v uint16) { binary.BigEndian.PutUint16(m[2:], v) }

// SetRest sets the 4 type-specific bytes; it does nothing on a message
// shorter than 8 bytes.
func (m ICMPv6) SetRest(v uint32) {
	if len(m) >= ICMPv6HeaderLen {
		binary.BigEndian.PutUint32(m[4:], v)
	}
}

// ChecksumValid reports whether the checksum verifies for a message sent
// from src to dst.
func (m ICMPv6) ChecksumValid(src, dst [16]byte) bool {
	return Checksum(m, PseudoHeaderChecksum6(ProtocolICMPv6, src, dst, uint32(len(m)))) == 0xffff
}

// UpdateChecksum computes and stores the checksum for a message sent from
// src to dst.
func (m ICMPv6) UpdateChecksum(src, dst [16]byte) { m.SetChecksum(ICMPv6Checksum(src, dst, m)) }

// ICMPv6Checksum returns the value to store in the checksum field of msg
// (a whole ICMPv6 message) sent from src to dst: the complement of the sum
// over the pseudo-header and msg. The checksum field of msg is skipped,
// whatever it holds, so the result is the same as with the field zeroed.
// A msg shorter than 4 bytes (no checksum field) is summed whole.
func ICMPv6Checksum(src, dst [16]byte, msg []byte) uint16 {
	s := PseudoHeaderChecksum6(ProtocolICMPv6, src, dst, uint32(len(msg)))
	if len(msg) < ICMPv6MinLen {
		return ^Checksum(msg, s)
	}
	s = Checksum(msg[:2], s)
	return ^Checksum(msg[4:], s)
}
