package header

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers.
const (
	ProtocolICMP = 1
	ProtocolTCP  = 6
	ProtocolUDP  = 17
)

// IPv4 header lengths.
const (
	IPv4HeaderLen    = 20 // without options
	IPv4MinHeaderLen = 20
	IPv4MaxHeaderLen = 60
	IPv4MaxOptions   = 40
)

// IPv4 flags, as returned by IPv4.Flags (the top three bits of the
// fragment word, shifted down).
const (
	IPv4FlagMoreFragments = 1 << 0
	IPv4FlagDontFragment  = 1 << 1
	IPv4FlagReserved      = 1 << 2
)

// Offsets inside the IPv4 header.
const (
	ipv4VersIHL   = 0
	ipv4TOS       = 1
	ipv4TotalLen  = 2
	ipv4ID        = 4
	ipv4FlagsFrag = 6
	ipv4TTL       = 8
	ipv4Protocol  = 9
	ipv4Checksum  = 10
	ipv4Src       = 12
	ipv4Dst       = 16
)

// IPv4 is a view of an IPv4 packet (RFC 791, 3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Flags are, from the most significant bit: reserved, DF, MF. The fragment
// offset counts 8-byte units; FragmentOffset returns it in bytes.
//
// Views come from ParseIPv4 or ParseIPv4Quoted; see the package's parse
// contract. The setters write the header in place and leave the checksum
// alone unless they say otherwise.
type IPv4 []byte

// ParseIPv4 validates b as an IPv4 packet as Linux's ip_rcv does and
// returns the view trimmed to the total length (link-layer padding
// dropped). Errors, checked in this order: ErrTruncated (below 20 bytes),
// ErrBadVersion, ErrBadIHL (IHL below 5), ErrTruncated (b shorter than the
// IHL), ErrBadChecksum (header checksum), ErrBadTotalLength (total length
// below the IHL), ErrTruncated (b shorter than the total length).
// Options are not interpreted; Options returns them raw.
func ParseIPv4(b []byte) (IPv4, error) {
	if len(b) < IPv4MinHeaderLen {
		return nil, ErrTruncated
	}
	if b[0]>>4 != 4 {
		return nil, ErrBadVersion
	}
	hl := int(b[0]&0xf) * 4
	if hl < IPv4MinHeaderLen {
		return nil, ErrBadIHL
	}
	if len(b) < hl {
		return nil, ErrTruncated
	}
	if headerSum(b[:hl]) != 0xffff {
		return nil, ErrBadChecksum
	}
	tl := int(binary.BigEndian.Uint16(b[ipv4TotalLen:]))
	if tl < hl {
		return nil, ErrBadTotalLength
	}
	if len(b) < tl {
		return nil, ErrTruncated
	}
	return IPv4(b[:tl]), nil
}

// ParseIPv4Quoted validates b as the IPv4 header quoted in an ICMP error
// (RFC 792: the header plus the first 8 bytes of its payload). It checks
// the version and IHL as ParseIPv4 does but neither the checksum nor that
// the total length is present: the quote is cut short by design. Payload
// returns what is there.
func ParseIPv4Quoted(b []byte) (IPv4, error) {
	if len(b) < IPv4MinHeaderLen {
		return nil, ErrTruncated
	}
	if b[0]>>4 != 4 {
		return nil, ErrBadVersion
	}
	hl := int(b[0]&0xf) * 4
	if hl < IPv4MinHeaderLen {
		return nil, ErrBadIHL
	}
	if len(b) < hl {
		return nil, ErrTruncated
	}
	if int(binary.BigEndian.Uint16(b[ipv4TotalLen:])) < hl {
		return nil, ErrBadTotalLength
	}
	return IPv4(b), nil
}

// HeaderLen returns the header length in bytes (IHL * 4).
func (ip IPv4) HeaderLen() int { return int(ip[ipv4VersIHL]&0xf) * 4 }

// TOS returns the type of service byte (DSCP and ECN).
func (ip IPv4) TOS() uint8 { return ip[ipv4TOS] }

// TotalLength returns the total length field.
func (ip IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(ip[ipv4TotalLen:]) }

// ID returns the identification field.
func (ip IPv4) ID() uint16 { return binary.BigEndian.Uint16(ip[ipv4ID:]) }

// Flags returns the three flag bits (IPv4FlagDontFragment, ...).
func (ip IPv4) Flags() uint8 { return ip[ipv4FlagsFrag] >> 5 }

// FragmentOffset returns the fragment offset in bytes.
func (ip IPv4) FragmentOffset() uint16 {
	return binary.BigEndian.Uint16(ip[ipv4FlagsFrag:]) << 3
}

// DontFragment reports whether DF is set.
func (ip IPv4) DontFragment() bool { return ip.Flags()&IPv4FlagDontFragment != 0 }

// MoreFragments reports whether MF is set.
func (ip IPv4) MoreFragments() bool { return ip.Flags()&IPv4FlagMoreFragments != 0 }

// IsFragment reports whether the packet is a fragment (MF set or a
// non-zero offset).
func (ip IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(ip[ipv4FlagsFrag:])&0x3fff != 0
}

// TTL returns the time to live.
func (ip IPv4) TTL() uint8 { return ip[ipv4TTL] }

// Protocol returns the protocol of the payload.
func (ip IPv4) Protocol() uint8 { return ip[ipv4Protocol] }

// Checksum returns the header checksum field.
func (ip IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(ip[ipv4Checksum:]) }

// Src4 returns the source address.
func (ip IPv4) Src4() [4]byte { return [4]byte(ip[ipv4Src : ipv4Src+4]) }

// Dst4 returns the destination address.
func (ip IPv4) Dst4() [4]byte { return [4]byte(ip[ipv4Dst : ipv4Dst+4]) }

// Src returns the source address.
func (ip IPv4) Src() netip.Addr { return netip.AddrFrom4(ip.Src4()) }

// Dst returns the destination address.
func (ip IPv4) Dst() netip.Addr { return netip.AddrFrom4(ip.Dst4()) }

// Options returns the option bytes (between byte 20 and the IHL), padding
// included.
func (ip IPv4) Options() []byte { return ip[IPv4MinHeaderLen:ip.HeaderLen()] }

// Payload returns the bytes after the header up to the total length, or
// up to the end of the view when it is shorter (a quoted header).
func (ip IPv4) Payload() []byte {
	end := min(int(ip.TotalLength()), len(ip))
	hl := ip.HeaderLen()
	if end < hl {
		return ip[hl:hl]
	}
	return ip[hl:end]
}

// SetTOS sets the type of service byte.
func (ip IPv4) SetTOS(v uint8) { ip[ipv4TOS] = v }

// SetTotalLength sets the total length field.
func (ip IPv4) SetTotalLength(v uint16) { binary.BigEndian.PutUint16(ip[ipv4TotalLen:], v) }

// SetID sets the identification field.
func (ip IPv4) SetID(v uint16) { binary.BigEndian.PutUint16(ip[ipv4ID:], v) }

// SetFlagsFragmentOffset sets the flags (3 bits) and the fragment offset
// in bytes (a multiple of 8; the low 3 bits are dropped).
func (ip IPv4) SetFlagsFragmentOffset(flags uint8, offset uint16) {
	binary.BigEndian.PutUint16(ip[ipv4FlagsFrag:], uint16(flags&7)<<13|offset>>3)
}

// SetTTL sets the time to live.
func (ip IPv4) SetTTL(v uint8) { ip[ipv4TTL] = v }

// SetProtocol sets the protocol field.
func (ip IPv4) SetProtocol(v uint8) { ip[ipv4Protocol] = v }

// SetChecksum sets the header checksum field.
func (ip IPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(ip[ipv4Checksum:], v) }

// SetSrc4 sets the source address (checksums untouched; see RewriteSrc).
func (ip IPv4) SetSrc4(a [4]byte) { copy(ip[ipv4Src:], a[:]) }

// SetDst4 sets the destination address (checksums untouched; see RewriteDst).
func (ip IPv4) SetDst4(a [4]byte) { copy(ip[ipv4Dst:], a[:]) }

// CalculateChecksum returns the value the checksum field should hold,
// computed over the header with the field taken as zero.
func (ip IPv4) CalculateChecksum() uint16 {
	hl := ip.HeaderLen()
	s := Checksum(ip[:ipv4Checksum], 0)
	s = Checksum(ip[ipv4Checksum+2:hl], s)
	return ^s
}

// UpdateChecksum recomputes and stores the header checksum.
func (ip IPv4) UpdateChecksum() { ip.SetChecksum(ip.CalculateChecksum()) }

// ChecksumValid reports whether the header checksum verifies.
func (ip IPv4) ChecksumValid() bool { return Checksum(ip[:ip.HeaderLen()], 0) == 0xffff }

// DecTTL decrements the TTL and updates the checksum incrementally, as a
// forwarder does. It returns the new TTL; a TTL already 0 is left alone.
func (ip IPv4) DecTTL() uint8 {
	t := ip[ipv4TTL]
	if t == 0 {
		return 0
	}
	old := binary.BigEndian.Uint16(ip[ipv4TTL:])
	ip[ipv4TTL] = t - 1
	ip.SetChecksum(ChecksumUpdate16(ip.Checksum(), old, binary.BigEndian.Uint16(ip[ipv4TTL:])))
	return t - 1
}

// PseudoHeaderChecksum returns the pseudo-header sum for the payload,
// with the payload length derived from the header.
func (ip IPv4) PseudoHeaderChecksum() uint16 {
	return PseudoHeaderChecksum(ip.Protocol(), ip.Src4(), ip.Dst4(), uint16(len(ip.Payload())))
}

// IPv4Fields is the plain form of an IPv4 header.
type IPv4Fields struct {
	TOS            uint8
	TotalLength    uint16 // written as given: header plus payload
	ID             uint16
	Flags          uint8  // IPv4FlagDontFragment | IPv4FlagMoreFragments
	FragmentOffset uint16 // in bytes, a multiple of 8
	TTL            uint8
	Protocol       uint8
	Checksum       uint16 // filled by Parse; Put computes its own
	Src, Dst       netip.Addr
	// Options are the raw option bytes; Put pads them with zeros (EOL)
	// to a multiple of 4. After Parse they alias the parsed bytes and
	// include the padding.
	Options []byte
}

// Parse validates b as ParseIPv4 does and fills f.
func (f *IPv4Fields) Parse(b []byte) error {
	ip, err := ParseIPv4(b)
	if err != nil {
		return err
	}
	f.fill(ip)
	return nil
}

func (f *IPv4Fields) fill(ip IPv4) {
	*f = IPv4Fields{
		TOS: ip.TOS(), TotalLength: ip.TotalLength(), ID: ip.ID(), Flags: ip.Flags(),
		FragmentOffset: ip.FragmentOffset(), TTL: ip.TTL(), Protocol: ip.Protocol(),
		Checksum: ip.Checksum(), Src: ip.Src(), Dst: ip.Dst(), Options: ip.Options(),
	}
}

// Len returns the header length Put writes: 20 plus the options rounded up
// to a multiple of 4.
func (f *IPv4Fields) Len() int { return IPv4MinHeaderLen + (len(f.Options)+3)&^3 }

// Put writes the header, options and checksum into b and returns the
// header length. Errors: ErrBadAddress when Src or Dst is not IPv4,
// ErrOptionsTooLong beyond 40 bytes of options, ErrBufferTooSmall.
func (f *IPv4Fields) Put(b []byte) (int, error) {
	if !f.Src.Is4() || !f.Dst.Is4() {
		return 0, ErrBadAddress
	}
	if len(f.Options) > IPv4MaxOptions {
		return 0, ErrOptionsTooLong
	}
	hl := f.Len()
	if len(b) < hl {
		return 0, ErrBufferTooSmall
	}
	b[ipv4VersIHL] = 4<<4 | uint8(hl/4)
	b[ipv4TOS] = f.TOS
	binary.BigEndian.PutUint16(b[ipv4TotalLen:], f.TotalLength)
	binary.BigEndian.PutUint16(b[ipv4ID:], f.ID)
	binary.BigEndian.PutUint16(b[ipv4FlagsFrag:], uint16(f.Flags&7)<<13|f.FragmentOffset>>3)
	b[ipv4TTL] = f.TTL
	b[ipv4Protocol] = f.Protocol
	b[ipv4Checksum], b[ipv4Checksum+1] = 0, 0
	s, d := f.Src.As4(), f.Dst.As4()
	copy(b[ipv4Src:], s[:])
	copy(b[ipv4Dst:], d[:])
	n := copy(b[IPv4MinHeaderLen:hl], f.Options)
	clear(b[IPv4MinHeaderLen+n : hl])
	binary.BigEndian.PutUint16(b[ipv4Checksum:], ^Checksum(b[:hl], 0))
	return hl, nil
}
