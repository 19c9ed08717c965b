package header

import "encoding/binary"

// TCP header lengths.
const (
	TCPMinHeaderLen = 20
	TCPMaxHeaderLen = 60
	TCPMaxOptions   = 40
)

// TCP flags (byte 13).
const (
	TCPFlagFIN = 1 << 0
	TCPFlagSYN = 1 << 1
	TCPFlagRST = 1 << 2
	TCPFlagPSH = 1 << 3
	TCPFlagACK = 1 << 4
	TCPFlagURG = 1 << 5
	TCPFlagECE = 1 << 6
	TCPFlagCWR = 1 << 7
)

// TCP is a view of a TCP segment (RFC 9293, 3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	|       |       |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                             data                              |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The checksum covers the IPv4 pseudo-header, header and data.
//
// Views come from ParseTCP; see the package's parse contract. Options are
// parsed separately by ParseTCPOptions (TCP.Options returns the raw bytes).
type TCP []byte

// ParseTCP validates b (the IP payload) as a TCP segment: ErrTruncated
// below 20 bytes or below the data offset, ErrBadDataOffset when the data
// offset is below 5. The checksum needs the pseudo-header; see
// ChecksumValid.
func ParseTCP(b []byte) (TCP, error) {
	if len(b) < TCPMinHeaderLen {
		return nil, ErrTruncated
	}
	hl := int(b[12]>>4) * 4
	if hl < TCPMinHeaderLen {
		return nil, ErrBadDataOffset
	}
	if len(b) < hl {
		return nil, ErrTruncated
	}
	return TCP(b), nil
}

// SrcPort returns the source port.
func (t TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(t[0:]) }

// DstPort returns the destination port.
func (t TCP) DstPort() uint16 { return binary.BigEndian.Uint16(t[2:]) }

// Seq returns the sequence number.
func (t TCP) Seq() uint32 { return binary.BigEndian.Uint32(t[4:]) }

// Ack returns the acknowledgment number.
func (t TCP) Ack() uint32 { return binary.BigEndian.Uint32(t[8:]) }

// HeaderLen returns the data offset in bytes.
func (t TCP) HeaderLen() int { return int(t[12]>>4) * 4 }

// Flags returns the flag byte (TCPFlagSYN, ...).
func (t TCP) Flags() uint8 { return t[13] }

// Window returns the (unscaled) window.
func (t TCP) Window() uint16 { return binary.BigEndian.Uint16(t[14:]) }

// Checksum returns the checksum field.
func (t TCP) Checksum() uint16 { return binary.BigEndian.Uint16(t[TCPChecksumOffset:]) }

// Urgent returns the urgent pointer.
func (t TCP) Urgent() uint16 { return binary.BigEndian.Uint16(t[18:]) }

// Options returns the raw option bytes.
func (t TCP) Options() []byte { return t[TCPMinHeaderLen:t.HeaderLen()] }

// Payload returns the data after the header.
func (t TCP) Payload() []byte { return t[t.HeaderLen():] }

// SetSrcPort sets the source port (checksum untouched).
func (t TCP) SetSrcPort(v uint16) { binary.BigEndian.PutUint16(t[0:], v) }

// SetDstPort sets the destination port (checksum untouched).
func (t TCP) SetDstPort(v uint16) { binary.BigEndian.PutUint16(t[2:], v) }

// SetSeq sets the sequence number.
func (t TCP) SetSeq(v uint32) { binary.BigEndian.PutUint32(t[4:], v) }

// SetAck sets the acknowledgment number.
func (t TCP) SetAck(v uint32) { binary.BigEndian.PutUint32(t[8:], v) }

// SetFlags sets the flag byte.
func (t TCP) SetFlags(v uint8) { t[13] = v }

// SetWindow sets the window.
func (t TCP) SetWindow(v uint16) { binary.BigEndian.PutUint16(t[14:], v) }

// SetChecksum sets the checksum field.
func (t TCP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(t[16:], v) }

// SetUrgent sets the urgent pointer.
func (t TCP) SetUrgent(v uint16) { binary.BigEndian.PutUint16(t[18:], v) }

// ChecksumValid reports whether the checksum verifies against the IPv4
// pseudo-header of src and dst.
func (t TCP) ChecksumValid(src, dst [4]byte) bool {
	return Checksum(t, PseudoHeaderChecksum(ProtocolTCP, src, dst, uint16(len(t)))) == 0xffff
}

// ChecksumPartial reports whether the checksum field holds only the folded
// pseudo-header sum (CHECKSUM_PARTIAL from a Linux sender with transmit
// checksum offload); see UDP.ChecksumPartial.
func (t TCP) ChecksumPartial(src, dst [4]byte) bool {
	return t.Checksum() == PseudoHeaderChecksum(ProtocolTCP, src, dst, uint16(len(t)))
}

// CalculateChecksum returns the value the checksum field should hold.
func (t TCP) CalculateChecksum(src, dst [4]byte) uint16 {
	s := Checksum(t[:16], PseudoHeaderChecksum(ProtocolTCP, src, dst, uint16(len(t))))
	return ^Checksum(t[18:], s)
}

// UpdateChecksum computes and stores the checksum.
func (t TCP) UpdateChecksum(src, dst [4]byte) { t.SetChecksum(t.CalculateChecksum(src, dst)) }

// TCPFields is the plain form of a TCP header with its options.
type TCPFields struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
	Window           uint16
	Checksum         uint16 // written as given; see TCP.UpdateChecksum
	Urgent           uint16
	Options          TCPOptions
}

// Parse validates b as ParseTCP does and fills f, options included. An
// option error (ErrBadOption) is returned after the fields and the
// options before the bad one were filled; Linux keeps such a segment and
// ignores the rest of the options, and the caller may do the same.
func (f *TCPFields) Parse(b []byte) error {
	t, err := ParseTCP(b)
	if err != nil {
		return err
	}
	f.SrcPort, f.DstPort, f.Seq, f.Ack = t.SrcPort(), t.DstPort(), t.Seq(), t.Ack()
	f.Flags, f.Window, f.Checksum, f.Urgent = t.Flags(), t.Window(), t.Checksum(), t.Urgent()
	return f.Options.Parse(t.Options())
}

// Len returns the header length, options included.
func (f *TCPFields) Len() int { return TCPMinHeaderLen + f.Options.Len() }

// Put writes the header and options into b and returns the header length.
// Errors: ErrOptionsTooLong, ErrBufferTooSmall.
func (f *TCPFields) Put(b []byte) (int, error) {
	ol := f.Options.Len()
	if ol > TCPMaxOptions {
		return 0, ErrOptionsTooLong
	}
	hl := TCPMinHeaderLen + ol
	if len(b) < hl {
		return 0, ErrBufferTooSmall
	}
	binary.BigEndian.PutUint16(b[0:], f.SrcPort)
	binary.BigEndian.PutUint16(b[2:], f.DstPort)
	binary.BigEndian.PutUint32(b[4:], f.Seq)
	binary.BigEndian.PutUint32(b[8:], f.Ack)
	b[12] = uint8(hl/4) << 4
	b[13] = f.Flags
	binary.BigEndian.PutUint16(b[14:], f.Window)
	binary.BigEndian.PutUint16(b[16:], f.Checksum)
	binary.BigEndian.PutUint16(b[18:], f.Urgent)
	if _, err := f.Options.Put(b[TCPMinHeaderLen:hl]); err != nil {
		return 0, err
	}
	return hl, nil
}
