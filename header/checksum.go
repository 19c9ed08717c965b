package header

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the 16-bit one's complement sum (RFC 1071) of b, added
// to initial, folded to 16 bits. It is the sum, not its complement: the
// value to store in a checksum field is ^Checksum(...), and a header whose
// stored checksum is right sums to 0xffff.
//
// An odd trailing byte is summed as if followed by a zero byte, so the sum
// of a buffer split at an odd offset cannot be combined with
// ChecksumCombine; split at even offsets.
//
// The loop adds 64-bit words with add-with-carry, four per iteration. The
// one's complement sum does not depend on byte order (RFC 1071, 2.(B)), so
// words are loaded in the machine's little-endian order and the folded
// result is byte-swapped once at the end.
func Checksum(b []byte, initial uint16) uint16 {
	var s, c uint64
	s = uint64(bits.ReverseBytes16(initial))
	for len(b) >= 32 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[0:8]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[8:16]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[16:24]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		s, c = bits.Add64(s, uint64(binary.LittleEndian.Uint32(b)), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		s, c = bits.Add64(s, uint64(binary.LittleEndian.Uint16(b)), c)
		b = b[2:]
	}
	if len(b) == 1 {
		s, c = bits.Add64(s, uint64(b[0]), c)
	}
	s, c = bits.Add64(s, c, 0)
	s += c
	return bits.ReverseBytes16(fold64(s))
}

// headerSum returns the folded one's complement sum of a header whose
// length is a multiple of 4 and at most 60 bytes (an IPv4 header): 32-bit
// words are added into a 64-bit accumulator, which cannot overflow for 15
// words, so no carries need handling. Faster than Checksum for 20 bytes.
func headerSum(b []byte) uint16 {
	var s uint64
	for len(b) >= 4 {
		s += uint64(binary.LittleEndian.Uint32(b))
		b = b[4:]
	}
	return bits.ReverseBytes16(fold64(s))
}

// fold64 folds a 64-bit one's complement accumulator to 16 bits.
func fold64(s uint64) uint16 {
	t := (s & 0xffffffff) + (s >> 32) // at most 33 bits
	t = (t & 0xffff) + (t >> 16)      // at most 18 bits
	t = (t & 0xffff) + (t >> 16)      // at most 17 bits
	t = (t & 0xffff) + (t >> 16)
	return uint16(t)
}

// ChecksumCombine adds two folded one's complement sums. The second must be
// the sum of bytes that start at an even offset of the whole.
func ChecksumCombine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16)
}

// PseudoHeaderChecksum returns the one's complement sum of the IPv4
// pseudo-header of TCP and UDP (RFC 793 3.1, RFC 768): source, destination,
// zero, protocol and the TCP/UDP length (header plus data).
func PseudoHeaderChecksum(proto uint8, src, dst [4]byte, length uint16) uint16 {
	s := uint32(src[0])<<8 | uint32(src[1])
	s += uint32(src[2])<<8 | uint32(src[3])
	s += uint32(dst[0])<<8 | uint32(dst[1])
	s += uint32(dst[2])<<8 | uint32(dst[3])
	s += uint32(proto)
	s += uint32(length)
	s = (s & 0xffff) + (s >> 16)
	return uint16(s + s>>16)
}

// ChecksumUpdate16 returns the checksum field value after a 16-bit word of
// the covered data changed from old to new, by RFC 1624 equation 3:
// HC' = ~(~HC + ~m + m'). check is the stored field (the complement), and
// so is the result.
func ChecksumUpdate16(check, old, new uint16) uint16 {
	s := uint32(^check) + uint32(^old) + uint32(new)
	s = (s & 0xffff) + (s >> 16)
	return ^uint16(s + s>>16)
}

// ChecksumUpdate32 is ChecksumUpdate16 for a 32-bit field at an even
// offset, such as an IPv4 address, given as 4 bytes in network order.
func ChecksumUpdate32(check uint16, old, new [4]byte) uint16 {
	s := uint32(^check)
	s += uint32(^(uint16(old[0])<<8 | uint16(old[1])))
	s += uint32(^(uint16(old[2])<<8 | uint16(old[3])))
	s += uint32(new[0])<<8 | uint32(new[1])
	s += uint32(new[2])<<8 | uint32(new[3])
	s = (s & 0xffff) + (s >> 16)
	return ^uint16(s + s>>16)
}

// PseudoHeaderChecksum6 returns the one's complement sum of the IPv6
// pseudo-header of upper-layer checksums (RFC 8200 8.1): source,
// destination, the 32-bit upper-layer packet length (header plus data,
// extension headers excluded) and the next header value of the upper-layer
// protocol (not of an extension header). Like PseudoHeaderChecksum it is the
// folded sum, not its complement: pass it as Checksum's initial.
func PseudoHeaderChecksum6(proto uint8, src, dst [16]byte, length uint32) uint16 {
	var s uint64
	s += uint64(binary.BigEndian.Uint32(src[0:]))
	s += uint64(binary.BigEndian.Uint32(src[4:]))
	s += uint64(binary.BigEndian.Uint32(src[8:]))
	s += uint64(binary.BigEndian.Uint32(src[12:]))
	s += uint64(binary.BigEndian.Uint32(dst[0:]))
	s += uint64(binary.BigEndian.Uint32(dst[4:]))
	s += uint64(binary.BigEndian.Uint32(dst[8:]))
	s += uint64(binary.BigEndian.Uint32(dst[12:]))
	s += uint64(length)
	s += uint64(proto)
	return fold64(s)
}
