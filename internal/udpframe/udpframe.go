// Package udpframe builds Ethernet/IPv4/UDP frames for tests and
// benchmarks of the packet I/O layer. It is not the engine's wire-format
// code (that is ipv4/): it only writes well-formed frames into a buffer,
// without allocating, so generators can rewrite them in place.
package udpframe

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// HeaderLen is the length of the Ethernet, IPv4 and UDP headers.
const HeaderLen = 14 + 20 + 8

// Spec describes a frame.
type Spec struct {
	SrcMAC, DstMAC   net.HardwareAddr
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	VLAN             uint16 // 802.1Q VLAN id; 0 for an untagged frame
}

// Len returns the frame length for a payload of n bytes.
func (s *Spec) Len(n int) int {
	if s.VLAN != 0 {
		return HeaderLen + 4 + n
	}
	return HeaderLen + n
}

// Put writes the frame with payload into b, which must have room for
// s.Len(len(payload)) bytes, and returns the frame's length. The UDP
// checksum is left 0 (allowed for IPv4); the IPv4 checksum is computed.
func (s *Spec) Put(b []byte, payload []byte) int {
	copy(b[0:6], s.DstMAC)
	copy(b[6:12], s.SrcMAC)
	o := 12
	if s.VLAN != 0 {
		binary.BigEndian.PutUint16(b[12:], 0x8100)
		binary.BigEndian.PutUint16(b[14:], s.VLAN&0x0fff)
		o = 16
	}
	binary.BigEndian.PutUint16(b[o:], 0x0800)
	ip := b[o+2:]
	ulen := 8 + len(payload)
	ip[0] = 0x45
	ip[1] = 0
	binary.BigEndian.PutUint16(ip[2:], uint16(20+ulen))
	binary.BigEndian.PutUint32(ip[4:], 0x00004000) // id 0, DF
	ip[8] = 64
	ip[9] = 17
	ip[10], ip[11] = 0, 0
	src, dst := s.Src.As4(), s.Dst.As4()
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[10:], Checksum(ip[:20]))
	u := ip[20:]
	binary.BigEndian.PutUint16(u[0:], s.SrcPort)
	binary.BigEndian.PutUint16(u[2:], s.DstPort)
	binary.BigEndian.PutUint16(u[4:], uint16(ulen))
	u[6], u[7] = 0, 0
	copy(u[8:], payload)
	return o + 2 + 20 + ulen
}

// Checksum is the Internet checksum (RFC 1071) of b.
func Checksum(b []byte) uint16 {
	var sum uint32
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// Payload returns the UDP payload of an untagged or single-tagged IPv4/UDP
// frame, or nil if b is not one.
func Payload(b []byte) []byte {
	o := 12
	if len(b) >= 16 && binary.BigEndian.Uint16(b[12:]) == 0x8100 {
		o = 16
	}
	if len(b) < o+2+28 || binary.BigEndian.Uint16(b[o:]) != 0x0800 || b[o+2]>>4 != 4 || b[o+2+9] != 17 {
		return nil
	}
	ihl := int(b[o+2]&0x0f) * 4
	u := o + 2 + ihl
	if len(b) < u+8 {
		return nil
	}
	ulen := int(binary.BigEndian.Uint16(b[u+4:]))
	if ulen < 8 || u+ulen > len(b) {
		return nil
	}
	return b[u+8 : u+ulen]
}
