// Package icmp implements the engine's ICMPv4 (RFC 792, RFC 1122 3.2.2):
// echo replies built in place, the error messages the engine sends
// (destination unreachable, fragmentation needed, time exceeded) with
// Linux-like rate limiting, and the parsing of errors it receives so they
// can be delivered to the socket they concern with the errno Linux would
// give.
//
// # Sending errors
//
// BuildError writes a complete IPv4 packet: a 20-byte header from the
// engine's address to the offender's source, the ICMP header, and as much
// of the offending packet as fits in 576 bytes in all, as Linux quotes it
// (RFC 1812 4.3.2.3; RFC 792 asks for the IP header and 8 bytes at least):
// a receiver's IP_RECVERR error queue shows the quoted payload. No error is built (a named
// error says why, RFC 1122 3.2.2) about an ICMP error, a non-first
// fragment, a packet sent to a broadcast or multicast address, or a packet
// whose source is not a single host (0.0.0.0, broadcast, multicast,
// loopback, class E).
//
// The Limiter decides whether an error may be sent, like Linux: a token
// bucket per destination for the types in icmp_ratemask (1000 ms, a burst of
// 6 like XRLIM_BURST_FACTOR) and a global bucket (icmp_msgs_per_sec 1000,
// icmp_msgs_burst 50). Fragmentation needed is exempt, as in Linux, since
// path MTU discovery depends on it. Time is passed in as monotonic
// nanoseconds; the per-destination state is a fixed array (no allocation),
// and a destination that hashes to a slot held by another replaces it.
//
// # Receiving errors
//
// ParseError reads a received ICMP error's quoted header into a
// ReceivedError: protocol, local and remote address and port, the errno
// (Linux's icmp_err_convert table: port unreachable is ECONNREFUSED,
// fragmentation needed EMSGSIZE with the next-hop MTU, ...) and whether the
// error is fatal for a connection.
//
// # Counters
//
// Counters carries the fields of /proc/net/snmp's "Icmp:" line, with the
// same names. A Counters value belongs to one worker and is written without
// atomics; readers sum per-worker copies.
package icmp
