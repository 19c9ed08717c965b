package ipv4

import "encoding/binary"

// finishHeader rewrites the first fragment's header for the whole datagram:
// total length, no MF, offset 0, fresh checksum.
// TODO(merge header): use header.IPv4.
func finishHeader(h []byte, total int) {
	binary.BigEndian.PutUint16(h[2:], uint16(total))
	h[6] &= 0x40 // keep DF
	h[7] = 0
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:], ^ipChecksum(h))
}

// ipChecksum is the folded one's complement sum of an IPv4 header.
// TODO(merge header): header.Checksum.
func ipChecksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(h[i])<<8 | uint32(h[i+1])
	}
	s = (s & 0xffff) + s>>16
	s += s >> 16
	return uint16(s)
}
