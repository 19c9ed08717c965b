// Package ipv6 reassembles IPv6 fragments on receive and fragments packets
// on transmit (RFC 8200 4.5), with the rules of RFC 5722 (overlaps), RFC
// 6946 (atomic fragments) and RFC 7112 (the header chain in the first
// fragment). It is a library: the network layer that uses it parses the
// packet (header.ParseIPv6, header.ParseIPv6Ext), hands fragments to a
// Reassembler and sends the ICMPv6 errors the callbacks report.
//
// # Reassembly model
//
// A Reassembler is one table per worker, used by that worker only: no
// locks, no atomics. Time is injected: every call takes now, monotonic
// nanoseconds. All fragments of a packet must reach the same worker (RSS on
// addresses, not ports, gives that).
//
// Packets are keyed by (source, destination, fragment identification); the
// protocol is not part of the key in IPv6. The table is open-addressed,
// fixed in size, hashed with Config.Seed. Each incomplete packet keeps the
// runs of its fragmentable part received so far as a sorted list of
// disjoint, coalesced intervals, so fragments may arrive in any order; it
// completes when one run covers [0, end) and both the first (offset 0) and
// the last (M clear) fragment arrived.
//
// Rules, in the order they apply to a fragment:
//
//   - An atomic fragment (offset 0, M clear, RFC 6946) is delivered at
//     once, rewritten in place in the caller's frame without its fragment
//     header; it touches no reassembly state, even when fragments with the
//     same identification are pending.
//   - Malformed (inconsistent offsets, no data, an unfragmentable part over
//     512 bytes): dropped alone (ErrBadFragment).
//   - M set and a data length that is not a multiple of 8: dropped alone,
//     parameter problem code 0 pointing at the payload length
//     (ErrBadLength, Config.OnParamProblem).
//   - Offset and length that would make the reassembled payload exceed
//     65,535 bytes: dropped alone, parameter problem code 0 pointing at
//     the fragment offset (ErrTooBig). At completion, with the first
//     fragment's headers, the packet is discarded instead.
//   - A fragment of a packet discarded after an overlap: dropped
//     (ErrDiscarded).
//   - More than Config.MaxFragments fragments (default 128): the packet is
//     discarded (ErrTooManyFragments). Linux has no such cap.
//   - A second last fragment with another end, or data past a known end:
//     the packet is discarded (ErrConflict), as Linux does.
//   - A fragment overlapping data already received: the packet is
//     discarded and, as RFC 5722 asks and Linux does not, its fragments
//     still to come are dropped too: the key is remembered, without its
//     buffer, until the packet's timeout (ErrOverlap, then ErrDiscarded).
//     A fragment entirely inside data received, with identical bytes, is a
//     duplicate dropped alone (ErrDuplicate). Linux differs in two ways
//     (engine/frag6_scapy_e2e_test.go): it drops alone any fragment inside
//     one run of fragments received, whatever its bytes, and keeps the
//     first copy; and its runs grow only by fragments arriving in order,
//     so a copy across two fragments that came out of order is for it an
//     overlap.
//
// Only the first fragment's unfragmentable part is kept (RFC 8200 4.5);
// the reassembled packet is it, with the Next Header that named the
// fragment header set to the fragment header's next header and the payload
// length fixed, followed by the fragmentable part.
//
// A first fragment without the whole header chain (RFC 7112) never gets
// here: header.ParseIPv6Ext refuses it with header.ErrIncompleteChain, and
// ParseFragment returns that error.
//
// # Limits, eviction and timeouts
//
// As the ipv4 package, with Linux's IPv6 values: memory is accounted as
// what is pinned (buffer size classes of 2..64 KiB plus 512 bytes of
// headroom, plus bookkeeping); a fragment that would take the table above
// Config.HighThresh (4 MiB, net.ipv6.ip6frag_high_thresh) first evicts
// the oldest packets down to Config.LowThresh (3 MiB); if that is not
// enough it is dropped (ErrNoMemory). Config.MaxQueues (1024) bounds the
// packets held. Eviction is by creation time and sends no ICMP.
//
// A packet is discarded Config.Timeout (60 s, ip6frag_time) after its
// first fragment arrived, never extended. If its offset-0 fragment had
// arrived, Config.OnTimeExceeded gets that fragment as received, cut to
// QuoteLen (1232 bytes), for the ICMPv6 time exceeded, code 1, that the
// caller sends. Add expires due packets; a worker also calls Expire once
// per poll loop.
//
// # Buffers and ownership
//
// Data is written straight into a pooled buffer whose headroom receives
// the first fragment's unfragmentable part: the finished packet is one
// contiguous slice. Add returns it as a Datagram the caller owns until
// Release. In steady state reassembly allocates nothing.
//
// # Fragmentation
//
// Only the source fragments in IPv6. Fragmenter.Fragment splits a packet
// larger than the MTU (at least 1280) into caller buffers without
// allocating: the unfragmentable part (IPv6 header, hop-by-hop, routing
// headers and the destination options before them) is copied into every
// fragment, followed by a fragment header and 8-byte multiples of data.
// IDGenerator draws each packet's 32-bit identification at random, as
// Linux does.
//
// # Counters
//
// Stats carries the /proc/net/snmp6 Ip6 names (ReasmReqds, ReasmOKs,
// ReasmFails, ReasmTimeout, FragOKs, FragCreates, FragFails), ReasmOverlaps,
// and drops by reason.
package ipv6
