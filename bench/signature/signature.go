package signature

import (
	"encoding/binary"

	"github.com/xdpengine/engine/header"
)

// Len is the encoded length of a signature.
const Len = 16

// Magic marks a signature. It is the first 16-bit word.
const Magic = 0xE5B1

// Offsets inside the encoded signature.
const (
	offMagic  = 0
	offStream = 2
	offSeq    = 4
	offTx     = 8
)

// Signature is the decoded form. Seq holds the 32 bits that travel; a
// receiver extends them (see Extend).
type Signature struct {
	Stream uint16
	Seq    uint32
	TxNs   int64 // transmit time, nanoseconds of the sender's clock
}

// Put writes s into b[:Len]. It returns false, writing nothing, when b is
// shorter than Len.
func (s Signature) Put(b []byte) bool {
	if len(b) < Len {
		return false
	}
	binary.BigEndian.PutUint16(b[offMagic:], Magic)
	binary.BigEndian.PutUint16(b[offStream:], s.Stream)
	binary.BigEndian.PutUint32(b[offSeq:], s.Seq)
	binary.BigEndian.PutUint64(b[offTx:], uint64(s.TxNs))
	return true
}

// Words returns the eight 16-bit words Put writes, in order: what a
// checksum over the signature's bytes adds up (an even offset assumed).
func (s Signature) Words() [Len / 2]uint16 {
	return [Len / 2]uint16{
		Magic, s.Stream,
		uint16(s.Seq >> 16), uint16(s.Seq),
		uint16(uint64(s.TxNs) >> 48), uint16(uint64(s.TxNs) >> 32),
		uint16(uint64(s.TxNs) >> 16), uint16(s.TxNs),
	}
}

// Decode reads a signature from the start of payload into s. It returns
// false, leaving s alone, when payload is shorter than Len or does not
// start with Magic.
func Decode(payload []byte, s *Signature) bool {
	if len(payload) < Len || binary.BigEndian.Uint16(payload[offMagic:]) != Magic {
		return false
	}
	s.Stream = binary.BigEndian.Uint16(payload[offStream:])
	s.Seq = binary.BigEndian.Uint32(payload[offSeq:])
	s.TxNs = int64(binary.BigEndian.Uint64(payload[offTx:]))
	return true
}

// Offset returns the offset in frame of the L4 payload that carries a
// signature: frame is an Ethernet frame (no FCS) with up to two VLAN tags,
// then IPv4 with a valid header checksum and no fragment offset, then UDP,
// TCP or an ICMP echo or echo reply. ok is false for anything else, and
// when fewer than Len bytes of payload remain (within the IPv4 total
// length, so Ethernet padding is never read as payload).
func Offset(frame []byte) (off int, ok bool) {
	e, err := header.ParseEthernet(frame)
	if err != nil || e.Type() != header.EtherTypeIPv4 {
		return 0, false
	}
	l3 := e.HeaderLen()
	ip, err := header.ParseIPv4(frame[l3:])
	if err != nil || ip.FragmentOffset() != 0 {
		return 0, false
	}
	l4 := l3 + ip.HeaderLen()
	end := l3 + len(ip)
	switch ip.Protocol() {
	case header.ProtocolUDP:
		off = l4 + header.UDPHeaderLen
	case header.ProtocolTCP:
		if end-l4 < header.TCPMinHeaderLen {
			return 0, false
		}
		off = l4 + int(frame[l4+12]>>4)*4
	case header.ProtocolICMP:
		if end-l4 < header.ICMPv4HeaderLen {
			return 0, false
		}
		if t := frame[l4]; t != header.ICMPv4Echo && t != header.ICMPv4EchoReply {
			return 0, false
		}
		off = l4 + header.ICMPv4HeaderLen
	default:
		return 0, false
	}
	if end-off < Len {
		return 0, false
	}
	return off, true
}

// FromFrame finds the signature in an Ethernet frame (see Offset) and
// decodes it into s. It returns false, leaving s alone, when the frame has
// none.
func FromFrame(frame []byte, s *Signature) bool {
	off, ok := Offset(frame)
	if !ok {
		return false
	}
	return Decode(frame[off:], s)
}

// Extend returns the 64-bit sequence number that seq (the 32 bits a
// signature carries) stands for, taking the one nearest to ref, the highest
// 64-bit number seen so far (serial-number arithmetic, RFC 1982). Where the
// nearest one would be negative (a stale packet from before the stream's
// start), the only non-negative candidate, seq itself, is returned.
func Extend(seq uint32, ref uint64) uint64 {
	d := int64(int32(seq - uint32(ref)))
	if d < 0 && uint64(-d) > ref {
		return uint64(seq)
	}
	return uint64(int64(ref) + d)
}
