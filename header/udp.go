package header

import "encoding/binary"

// UDPHeaderLen is the UDP header length.
const UDPHeaderLen = 8

// UDPChecksumOffset and TCPChecksumOffset are where the checksum field is
// in a UDP and a TCP header (what a transmit offload is told to fill).
const (
	UDPChecksumOffset = 6
	TCPChecksumOffset = 16
)

// UDP is a view of a UDP datagram (RFC 768):
//
//	 0      7 8     15 16    23 24    31
//	+--------+--------+--------+--------+
//	|   Source Port   | Destination Port|
//	+--------+--------+--------+--------+
//	|     Length      |    Checksum     |
//	+--------+--------+--------+--------+
//	|          data octets ...
//	+---------------- ...
//
// Length covers header and data. The checksum covers the IPv4
// pseudo-header, the header and the data; 0 means none was computed, and a
// computed 0 is sent as 0xffff.
//
// Views come from ParseUDP; see the package's parse contract.
type UDP []byte

// ParseUDP validates b (the IP payload) as a UDP datagram: ErrTruncated
// below 8 bytes or when b is shorter than the length field, ErrBadLength
// when the length field is below 8. The view is trimmed to the length
// field. The checksum needs the pseudo-header; see ChecksumValid.
func ParseUDP(b []byte) (UDP, error) {
	if len(b) < UDPHeaderLen {
		return nil, ErrTruncated
	}
	l := int(binary.BigEndian.Uint16(b[4:]))
	if l < UDPHeaderLen {
		return nil, ErrBadLength
	}
	if len(b) < l {
		return nil, ErrTruncated
	}
	return UDP(b[:l]), nil
}

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[0:]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[2:]) }

// Length returns the length field.
func (u UDP) Length() uint16 { return binary.BigEndian.Uint16(u[4:]) }

// Checksum returns the checksum field.
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[UDPChecksumOffset:]) }

// Payload returns the data after the header.
func (u UDP) Payload() []byte { return u[UDPHeaderLen:] }

// SetSrcPort sets the source port (checksum untouched).
func (u UDP) SetSrcPort(v uint16) { binary.BigEndian.PutUint16(u[0:], v) }

// SetDstPort sets the destination port (checksum untouched).
func (u UDP) SetDstPort(v uint16) { binary.BigEndian.PutUint16(u[2:], v) }

// SetLength sets the length field.
func (u UDP) SetLength(v uint16) { binary.BigEndian.PutUint16(u[4:], v) }

// SetChecksum sets the checksum field.
func (u UDP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(u[6:], v) }

// ChecksumValid reports whether the checksum verifies against the IPv4
// pseudo-header of src and dst; a zero checksum (none) is valid (RFC 768).
func (u UDP) ChecksumValid(src, dst [4]byte) bool {
	if u.Checksum() == 0 {
		return true
	}
	return Checksum(u, PseudoHeaderChecksum(ProtocolUDP, src, dst, uint16(len(u)))) == 0xffff
}

// ChecksumPartial reports whether the checksum field holds only the folded
// pseudo-header sum of src and dst: what a Linux sender with transmit
// checksum offload leaves in a packet (CHECKSUM_PARTIAL) for the device to
// finish, and what a veth hands its peer unfinished. Such a packet never
// crossed a wire; a receiver that trusts its link accepts it, as the kernel
// does. On a link whose receiver trusts them, check this first: it is the
// common case there, and costs no pass over the data.
func (u UDP) ChecksumPartial(src, dst [4]byte) bool {
	return u.Checksum() == PseudoHeaderChecksum(ProtocolUDP, src, dst, uint16(len(u)))
}

// CalculateChecksum returns the value the checksum field should hold for
// the view's bytes, 0xffff in place of a computed 0.
func (u UDP) CalculateChecksum(src, dst [4]byte) uint16 {
	s := Checksum(u[:6], PseudoHeaderChecksum(ProtocolUDP, src, dst, uint16(len(u))))
	s = ^Checksum(u[UDPHeaderLen:], s)
	if s == 0 {
		return 0xffff
	}
	return s
}

// UpdateChecksum computes and stores the checksum.
func (u UDP) UpdateChecksum(src, dst [4]byte) { u.SetChecksum(u.CalculateChecksum(src, dst)) }

// UDPFields is the plain form of a UDP header.
type UDPFields struct {
	SrcPort, DstPort uint16
	Length           uint16 // header plus data
	Checksum         uint16 // written as given; see UDP.UpdateChecksum
}

// Parse validates b as ParseUDP does and fills f.
func (f *UDPFields) Parse(b []byte) error {
	u, err := ParseUDP(b)
	if err != nil {
		return err
	}
	*f = UDPFields{u.SrcPort(), u.DstPort(), u.Length(), u.Checksum()}
	return nil
}

// Len returns UDPHeaderLen.
func (f *UDPFields) Len() int { return UDPHeaderLen }

// Put writes the header into b and returns UDPHeaderLen.
func (f *UDPFields) Put(b []byte) (int, error) {
	if len(b) < UDPHeaderLen {
		return 0, ErrBufferTooSmall
	}
	binary.BigEndian.PutUint16(b[0:], f.SrcPort)
	binary.BigEndian.PutUint16(b[2:], f.DstPort)
	binary.BigEndian.PutUint16(b[4:], f.Length)
	binary.BigEndian.PutUint16(b[6:], f.Checksum)
	return UDPHeaderLen, nil
}
