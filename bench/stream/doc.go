// Package stream generates the frames of a stateless traffic stream: a
// template (UDP, TCP SYN, TCP ACK or ICMP echo over Ethernet/IPv4, or the
// frames of a capture) copied into a caller's buffer with some header
// fields varied per packet, a signature in the payload, and the checksums
// made right again without summing the frame.
//
// # Model
//
// New turns a Spec into a Stream. The Stream holds one template per frame
// it can send (one for the generated kinds, built at the largest size with
// a zero payload; one per captured frame for Replay) and the state of its
// varied fields. Next writes one frame into a buffer the caller owns (a
// UMEM frame): it copies the template, sets the fields, writes the
// signature and fixes the checksums, and allocates nothing. A sender that
// keeps its frames (xdpgen's workers) writes a template once with Prefill
// and then only the varying bytes with Rewrite, for as long as the buffer
// holds that template (Template says which the next frame uses). One Stream
// belongs to one sending goroutine; several streams, each with its own
// rate, are multiplexed by package pacer.
//
// # Variation
//
// Source and destination addresses, source and destination ports and the
// VLAN id each take a range walked incrementally (every range steps once
// per packet, in lockstep) or at random (PCG seeded with Spec.Seed: a seed
// gives the same frames every run). Sizes are fixed, ranged (incrementing
// or random) or the Simple IMIX: 64, 594 and 1518-byte frames in 7:4:1
// (IP packets of 40, 576 and 1500 bytes), interleaved in a cycle of 12,
// 361.83 bytes on average. Generated frames also carry the low 16 bits of
// the sequence number as their IPv4 identification (and as the ICMP echo
// sequence number).
//
// Sizes count as RFC 2544 counts them, from the destination MAC to the
// frame check sequence included: a 64-byte frame is 60 bytes in the buffer,
// the NIC adds the FCS. A pacer counting bits on the wire adds
// WireOverhead (preamble, delimiter and inter-frame gap) to each.
//
// # Checksums
//
// Every checksum of a frame comes from its template's by RFC 1624's
// equation 3, HC' = ~(~HC + ~m + m'), summed over all the 16-bit words that
// differ from the template (addresses, also in the TCP/UDP pseudo-header;
// ports; lengths; IP identification; the signature) and folded once. The
// result is the value a full recomputation gives, bit for bit, including
// UDP's rule that a computed zero is sent as 0xffff; the tests compare the
// two over hundreds of thousands of random frames. A replayed frame's
// checksums are updated the same way, from whatever the file holds: a
// wrong checksum stays wrong by the same amount unless FixChecksums is set.
//
// # Signature
//
// Signed frames carry a signature.Signature (stream id, sequence number,
// transmit time from the caller's clock) at the start of the L4 payload.
// Generated frames are signed by default when the smallest size leaves room
// (16 bytes after the headers: a 64-byte UDP or ICMP frame has, a 64-byte
// TCP or VLAN-tagged one has not); replayed frames are not signed unless
// Spec.Sign asks, so that a replay sends the file byte for byte.
//
// # Captures
//
// ReadPcap reads pcap (micro- or nanosecond) and pcapng files of Ethernet
// frames with their time offsets, for Replay at a chosen rate or, through
// pacer.Timeline, with the capture's own timing. WritePcap writes frames
// back, for comparison with what a peer captured.
package stream
