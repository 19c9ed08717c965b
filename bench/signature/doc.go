// Package signature is the 16-byte mark the traffic harness writes at the
// start of every generated packet's payload and reads back on receive: which
// stream the packet belongs to, its sequence number in that stream, and when
// it was sent.
//
// # Wire format
//
// Big-endian, at the first byte of the L4 payload (UDP data, TCP data after
// the header and its options, ICMP echo data after the 8-byte header):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Magic 0xE5B1          |           Stream id           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Sequence number (low 32 bits)                 |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+          Transmit timestamp (nanoseconds, 64 bits)            +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Sixteen bytes is what the smallest RFC 2544 frame leaves: a 64-byte
// Ethernet frame (60 bytes without the frame check sequence) with IPv4 and
// UDP headers has 18 bytes of payload; an ICMP echo has 18 too. A 64-byte
// frame with a VLAN tag (14 bytes left) or a TCP header (6) cannot carry it.
//
// The sequence number is the low 32 bits of a 64-bit per-stream counter; a
// receiver extends it back to 64 bits from the highest one it has seen
// (serial-number arithmetic), which holds while reordering stays below 2^31
// packets. At 100 Mpps the 32 bits wrap every 43 seconds, which is why the
// extension exists. The timestamp is whatever nanosecond clock the sender
// uses; latency is measured by a receiver reading the same clock (the
// generator itself, with the device under test or a reflector in between).
//
// The magic is 16 bits, so a foreign payload passes for a signature with a
// chance of 1 in 65,536; a receiver also checks the stream id against the
// streams it knows (measure.Tracker does).
//
// # Zero allocation
//
// Put writes into a caller buffer; Decode and FromFrame fill a
// caller-owned Signature and return a bool, so the receive path allocates
// nothing and keeps no error values. FromFrame walks Ethernet (up to two
// VLAN tags), IPv4 (options included, header checksum verified, first
// fragment only) and UDP, TCP or ICMP echo to find the payload.
package signature
