package header

import (
	"encoding/binary"
	"net/netip"
)

// IPv6 extension header and ICMPv6 protocol numbers (the Next Header
// values of RFC 8200 4 and the IANA registry). TCP and UDP share the IPv4
// numbers (ProtocolTCP, ProtocolUDP).
const (
	ProtocolHopByHop = 0  // hop-by-hop options (RFC 8200 4.3)
	ProtocolRouting  = 43 // routing header (RFC 8200 4.4)
	ProtocolFragment = 44 // fragment header (RFC 8200 4.5)
	ProtocolESP      = 50 // encapsulating security payload (RFC 4303)
	ProtocolAH       = 51 // authentication header (RFC 4302)
	ProtocolICMPv6   = 58 // ICMPv6 (RFC 4443)
	ProtocolNoNext   = 59 // no next header (RFC 8200 4.7)
	ProtocolDestOpts = 60 // destination options (RFC 8200 4.6)
)

// IPv6 sizes.
const (
	IPv6HeaderLen = 40   // the fixed header; extension headers follow it
	IPv6MinMTU    = 1280 // every IPv6 link carries this (RFC 8200 5)
)

// Offsets inside the IPv6 header.
const (
	ipv6VersTCFlow = 0
	ipv6PayloadLen = 4
	ipv6NextHeader = 6
	ipv6HopLimit   = 7
	ipv6Src        = 8
	ipv6Dst        = 24
)

// IPv6 is a view of an IPv6 packet (RFC 8200, 3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Traffic Class |           Flow Label                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                         Source Address                        +
//	|                          (128 bits)                           |
//	+                                                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                      Destination Address                      +
//	|                          (128 bits)                           |
//	+                                                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The payload length counts everything after the 40-byte header,
// extension headers included. There is no header checksum. Extension
// headers are walked by ParseIPv6Ext.
//
// Views come from ParseIPv6 or ParseIPv6Quoted; see the package's parse
// contract.
type IPv6 []byte

// ParseIPv6 validates b as an IPv6 packet as Linux's ipv6_rcv does and
// returns the view trimmed to 40 bytes plus the payload length (link-layer
// padding dropped). Errors, checked in this order: ErrTruncated (below 40
// bytes), ErrBadVersion (not 6), ErrTruncated (b shorter than the payload
// length says), ErrJumbogram (payload length 0 with a hop-by-hop header:
// RFC 2675 jumbograms are not supported).
func ParseIPv6(b []byte) (IPv6, error) {
	if len(b) < IPv6HeaderLen {
		return nil, ErrTruncated
	}
	if b[0]>>4 != 6 {
		return nil, ErrBadVersion
	}
	pl := int(binary.BigEndian.Uint16(b[ipv6PayloadLen:]))
	if len(b)-IPv6HeaderLen < pl {
		return nil, ErrTruncated
	}
	if pl == 0 && b[ipv6NextHeader] == ProtocolHopByHop {
		return nil, ErrJumbogram
	}
	return IPv6(b[:IPv6HeaderLen+pl]), nil
}

// ParseIPv6Quoted validates b as the IPv6 packet quoted in an ICMPv6 error
// (RFC 4443 2.4(c): as much of the invoking packet as fits in the minimum
// MTU). It checks the length and version only: the quote is cut short by
// design, and Payload returns what is there.
func ParseIPv6Quoted(b []byte) (IPv6, error) {
	if len(b) < IPv6HeaderLen {
		return nil, ErrTruncated
	}
	if b[0]>>4 != 6 {
		return nil, ErrBadVersion
	}
	return IPv6(b), nil
}

// TrafficClass returns the traffic class (DSCP and ECN).
func (ip IPv6) TrafficClass() uint8 {
	return uint8(binary.BigEndian.Uint16(ip[ipv6VersTCFlow:]) >> 4)
}

// FlowLabel returns the 20-bit flow label.
func (ip IPv6) FlowLabel() uint32 {
	return binary.BigEndian.Uint32(ip[ipv6VersTCFlow:]) & 0xfffff
}

// PayloadLength returns the payload length field.
func (ip IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(ip[ipv6PayloadLen:]) }

// NextHeader returns the next header field: the first extension header or
// the upper-layer protocol.
func (ip IPv6) NextHeader() uint8 { return ip[ipv6NextHeader] }

// HopLimit returns the hop limit.
func (ip IPv6) HopLimit() uint8 { return ip[ipv6HopLimit] }

// Src16 returns the source address.
func (ip IPv6) Src16() [16]byte { return [16]byte(ip[ipv6Src : ipv6Src+16]) }

// Dst16 returns the destination address.
func (ip IPv6) Dst16() [16]byte { return [16]byte(ip[ipv6Dst : ipv6Dst+16]) }

// Src returns the source address.
func (ip IPv6) Src() netip.Addr { return netip.AddrFrom16(ip.Src16()) }

// Dst returns the destination address.
func (ip IPv6) Dst() netip.Addr { return netip.AddrFrom16(ip.Dst16()) }

// Payload returns the bytes after the fixed header (extension headers
// included) up to the payload length, or up to the end of the view when it
// is shorter (a quoted packet).
func (ip IPv6) Payload() []byte {
	end := min(IPv6HeaderLen+int(ip.PayloadLength()), len(ip))
	return ip[IPv6HeaderLen:end]
}

// SetTrafficClass sets the traffic class.
func (ip IPv6) SetTrafficClass(v uint8) {
	w := binary.BigEndian.Uint32(ip[ipv6VersTCFlow:])
	binary.BigEndian.PutUint32(ip[ipv6VersTCFlow:], w&^(0xff<<20)|uint32(v)<<20)
}

// SetFlowLabel sets the flow label (the low 20 bits of v).
func (ip IPv6) SetFlowLabel(v uint32) {
	w := binary.BigEndian.Uint32(ip[ipv6VersTCFlow:])
	binary.BigEndian.PutUint32(ip[ipv6VersTCFlow:], w&^0xfffff|v&0xfffff)
}

// SetPayloadLength sets the payload length field.
func (ip IPv6) SetPayloadLength(v uint16) { binary.BigEndian.PutUint16(ip[ipv6PayloadLen:], v) }

// SetNextHeader sets the next header field.
func (ip IPv6) SetNextHeader(v uint8) { ip[ipv6NextHeader] = v }

// SetHopLimit sets the hop limit.
func (ip IPv6) SetHopLimit(v uint8) { ip[ipv6HopLimit] = v }

// SetSrc16 sets the source address (transport checksums untouched).
func (ip IPv6) SetSrc16(a [16]byte) { copy(ip[ipv6Src:], a[:]) }

// SetDst16 sets the destination address (transport checksums untouched).
func (ip IPv6) SetDst16(a [16]byte) { copy(ip[ipv6Dst:], a[:]) }

// PutIPv6 writes a 40-byte IPv6 header into b, which must hold 40 bytes:
// version 6, traffic class tc, the low 20 bits of flow, the payload length,
// next header, hop limit and the addresses.
func PutIPv6(b []byte, tc uint8, flow uint32, payloadLen uint16, next, hop uint8, src, dst [16]byte) {
	_ = b[IPv6HeaderLen-1]
	binary.BigEndian.PutUint32(b[ipv6VersTCFlow:], 6<<28|uint32(tc)<<20|flow&0xfffff)
	binary.BigEndian.PutUint16(b[ipv6PayloadLen:], payloadLen)
	b[ipv6NextHeader] = next
	b[ipv6HopLimit] = hop
	copy(b[ipv6Src:ipv6Src+16], src[:])
	copy(b[ipv6Dst:ipv6Dst+16], dst[:])
}
