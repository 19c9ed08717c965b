package header

import "encoding/binary"

// Offsets of the checksum field in the transport headers.
const (
	tcpChecksumOff = 16
	udpChecksumOff = 6
)

// l4Checksum returns the transport header of ip that carries a checksum
// covering the pseudo-header (TCP or UDP, first fragment only) and the
// offset of that checksum in it; ok is false when there is none, or when
// the payload is too short to hold the field.
func (ip IPv4) l4Checksum() (l4 []byte, off int, ok bool) {
	if binary.BigEndian.Uint16(ip[ipv4FlagsFrag:])&0x1fff != 0 {
		return nil, 0, false // a later fragment carries no L4 header
	}
	p := ip.Payload()
	switch ip.Protocol() {
	case ProtocolTCP:
		off = tcpChecksumOff
	case ProtocolUDP:
		off = udpChecksumOff
	default:
		return nil, 0, false
	}
	if len(p) < off+2 {
		return nil, 0, false
	}
	return p, off, true
}

// rewriteAddr replaces the 4 bytes at off (source or destination) and
// fixes the IPv4 header checksum and the TCP/UDP checksum incrementally.
func (ip IPv4) rewriteAddr(off int, a [4]byte) {
	old := [4]byte(ip[off : off+4])
	copy(ip[off:], a[:])
	ip.SetChecksum(ChecksumUpdate32(ip.Checksum(), old, a))
	l4, co, ok := ip.l4Checksum()
	if !ok {
		return
	}
	c := binary.BigEndian.Uint16(l4[co:])
	if co == udpChecksumOff && c == 0 {
		return // no UDP checksum: stays absent
	}
	c = ChecksumUpdate32(c, old, a)
	if co == udpChecksumOff && c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[co:], c)
}

// RewriteSrc sets the source address and updates the IPv4 header checksum
// and, for TCP and UDP (first fragment, header present), the transport
// checksum with RFC 1624 incremental updates. A zero UDP checksum stays
// zero. ICMP's checksum does not cover addresses and is left alone.
func (ip IPv4) RewriteSrc(a [4]byte) { ip.rewriteAddr(ipv4Src, a) }

// RewriteDst is RewriteSrc for the destination address.
func (ip IPv4) RewriteDst(a [4]byte) { ip.rewriteAddr(ipv4Dst, a) }

// rewritePort replaces the port at off (0: source, 2: destination) of the
// TCP/UDP header and fixes its checksum. It reports false, changing
// nothing, when the packet has no such header.
func (ip IPv4) rewritePort(off int, port uint16) bool {
	l4, co, ok := ip.l4Checksum()
	if !ok {
		return false
	}
	old := binary.BigEndian.Uint16(l4[off:])
	binary.BigEndian.PutUint16(l4[off:], port)
	c := binary.BigEndian.Uint16(l4[co:])
	if co == udpChecksumOff && c == 0 {
		return true
	}
	c = ChecksumUpdate16(c, old, port)
	if co == udpChecksumOff && c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[co:], c)
	return true
}

// RewriteSrcPort sets the TCP or UDP source port and updates the transport
// checksum incrementally. It returns false, changing nothing, for other
// protocols, later fragments and payloads too short to hold the checksum.
func (ip IPv4) RewriteSrcPort(port uint16) bool { return ip.rewritePort(0, port) }

// RewriteDstPort is RewriteSrcPort for the destination port.
func (ip IPv4) RewriteDstPort(port uint16) bool { return ip.rewritePort(2, port) }
