// Package header holds typed, zero-copy views over the wire formats the
// engine's workers parse on every packet: Ethernet (with 802.1Q and 802.1ad
// QinQ tags), ARP for Ethernet/IPv4, IPv4, ICMPv4, UDP and TCP with its
// options, IGMP (v1/v2 messages, v3 queries and reports), IPv6 with its
// extension headers, ICMPv6; and the Internet checksum with its incremental
// update and the pseudo-header sums of UDP, TCP and ICMPv6.
//
// # Two forms per protocol
//
// A view (Ethernet, ARP, IPv4, ICMPv4, UDP, TCP, IGMP) is a byte slice over
// the frame; its getters read and its setters write the frame in place. A
// fields struct (EthernetFields, ARPFields, IPv4Fields, ...) is a plain value
// to parse into and build from: its Parse method fills a caller-owned struct,
// its Len method gives the encoded length and its Put method writes the
// header into a caller buffer.
//
// # Parse contract
//
// Untrusted bytes are validated once, by a checked constructor
// (ParseEthernet, ParseARP, ParseIPv4, ParseIPv4Quoted, ParseICMPv4,
// ParseUDP, ParseTCP, ParseIGMP, ParseIPv6, ParseIPv6Quoted, ParseICMPv6)
// or by a Fields.Parse method. Each returns one of the
// package's sentinel errors (ErrTruncated, ErrBadVersion, ErrBadIHL,
// ErrBadTotalLength, ...), never a wrapped or allocated error, so a worker
// can count drops per cause with a switch on the error and no allocation.
// After a constructor returned a view without error, no getter or setter of
// that view panics, whatever the bytes were. A view made by a plain
// conversion (header.IPv4(b)) carries no such promise.
//
// Emitting never panics either: Put checks the buffer against Len and
// returns ErrBufferTooSmall when it is short; a buffer of the advertised
// length (the *HeaderLen constants or Fields.Len) always suffices.
//
// Nothing in this package allocates. Addresses cross the API as netip.Addr
// (an IPv4 netip.Addr needs no allocation) with raw [4]byte accessors
// (Src4, Dst4, ...) for the hot path. Slices in a fields struct filled by
// Parse (IPv4Fields.Options, ICMPv4Fields.Payload) alias the parsed bytes;
// the IGMP fields' source lists and records are appended into the slices'
// existing capacity, so a reused struct parses without allocating.
//
// # IGMP
//
// IGMP is one view over every version (RFC 1112, 2236, 3376): ParseIGMP
// checks the checksum and, by type, that a v3 query's sources and a v3
// report's group records fit; a query's version comes from its length and
// code (RFC 3376 7.1), and one of 9 to 11 bytes is refused
// (ErrBadIGMPQueryLength). IGMPv3Records walks a report's records without
// allocating. IGMPv3DecodeCode and IGMPv3EncodeCode convert the Max Resp
// Code and QQIC floating-point form; MulticastMAC maps a group to its
// Ethernet address and IPv4OptionRouterAlert is the option IGMP carries.
//
// # IPv6
//
// IPv6 is a view of the fixed 40-byte header (RFC 8200); PutIPv6 writes
// one. ParseIPv6 refuses jumbograms (RFC 2675). ParseIPv6Ext walks the
// extension header chain into a caller-owned IPv6Ext without allocating:
// where the upper-layer header starts and which protocol it is, the
// fragment header's fields and the offset of the Next Header field that
// names it (what reassembly rewrites), hop-by-hop and Router Alert, and,
// when an error calls for one, the code and pointer of the ICMPv6
// parameter problem the caller sends (RFC 4443 3.4). Options are acted on
// by their type's high bits (RFC 8200 4.2); routing headers with segments
// left are refused (no type is processed; RFC 5095); a first fragment must
// carry the whole header chain (RFC 7112); at most IPv6MaxExtHeaders are
// walked; ESP and AH end the walk. ICMPv6 is a view of an ICMPv6 message;
// its checksum covers the pseudo-header (ICMPv6Checksum, ChecksumValid).
//
// # Neighbor Discovery and MLD
//
// ndp.go holds the RFC 4861 messages (Router and Neighbor Solicitation and
// Advertisement, Redirect): ParseNDP makes the validity checks of RFC 4861
// (hop limit 255, code 0, lengths, options of nonzero length, target not
// multicast, the rules for an unspecified source), views read the fixed
// fields, ParseNDPOptions iterates over the options without allocating,
// and the Put builders write messages and options with the checksum left
// zero (the caller, who knows the addresses, fills it). mld.go holds MLDv1
// and MLDv2 (RFC 3810): ParseMLD tells the query versions apart by length,
// iterates the records of a report, and builds reports and queries.
// SolicitedNodeMulticast, MulticastMAC6 and LinkLocalFromMAC map addresses.
//
// # Checksums
//
// Checksum computes the 16-bit one's complement sum of RFC 1071 eight bytes
// at a time with add-with-carry; its result is the folded sum, not its
// complement. ChecksumUpdate16 and ChecksumUpdate32 apply RFC 1624's
// equation 3 to rewrite a field without summing the packet again; the
// Rewrite* methods of IPv4 use them to change addresses and ports in place
// and fix both the IP and the TCP/UDP checksum, as a load balancer does.
// UDP's zero-checksum rule is kept: a computed zero is sent as 0xffff, and a
// received zero means "no checksum".
package header
