package header

import "errors"

// Sentinel errors returned by the parsers and emitters. They are returned
// as they are, never wrapped, so comparing with == or errors.Is is cheap and
// allocation-free.
var (
	// ErrTruncated: the bytes end before the header (or the length it
	// declares) does.
	ErrTruncated = errors.New("header: truncated")
	// ErrBadVersion: the IP version field is not the one parsed (4 for
	// ParseIPv4, 6 for ParseIPv6).
	ErrBadVersion = errors.New("header: wrong IP version")
	// ErrBadIHL: the IPv4 header length is below 5 words (20 bytes).
	ErrBadIHL = errors.New("header: IPv4 header length below 20 bytes")
	// ErrBadTotalLength: the IPv4 total length is smaller than the header.
	ErrBadTotalLength = errors.New("header: IPv4 total length smaller than header")
	// ErrBadChecksum: a checksum does not verify.
	ErrBadChecksum = errors.New("header: bad checksum")
	// ErrBadLength: a UDP length field is below 8 bytes.
	ErrBadLength = errors.New("header: UDP length below header length")
	// ErrBadDataOffset: the TCP data offset is below 5 words (20 bytes).
	ErrBadDataOffset = errors.New("header: TCP data offset below 20 bytes")
	// ErrBadOption: an option's length byte is below 2 or runs past the
	// end of the option space.
	ErrBadOption = errors.New("header: malformed option")
	// ErrOptionsTooLong: options to emit do not fit in 40 bytes.
	ErrOptionsTooLong = errors.New("header: options longer than 40 bytes")
	// ErrUnsupportedARP: an ARP packet that is not Ethernet/IPv4
	// (hardware type 1, protocol 0x0800, lengths 6 and 4).
	ErrUnsupportedARP = errors.New("header: ARP is not Ethernet/IPv4")
	// ErrTooManyVLANTags: more than two stacked VLAN tags.
	ErrTooManyVLANTags = errors.New("header: more than two VLAN tags")
	// ErrBufferTooSmall: Put was given a buffer shorter than Len.
	ErrBufferTooSmall = errors.New("header: buffer too small")
	// ErrBadAddress: an address to emit is not an IPv4 address.
	ErrBadAddress = errors.New("header: address is not IPv4")

	// ErrJumbogram: an IPv6 jumbogram (payload length 0 with a hop-by-hop
	// header, or a Jumbo Payload option, RFC 2675): not supported.
	ErrJumbogram = errors.New("header: IPv6 jumbogram not supported")
	// ErrExtChainTooLong: more IPv6 extension headers than
	// IPv6MaxExtHeaders before the upper-layer header.
	ErrExtChainTooLong = errors.New("header: too many IPv6 extension headers")
	// ErrHopByHopNotFirst: a hop-by-hop options header anywhere but right
	// after the IPv6 header (RFC 8200 4.1).
	ErrHopByHopNotFirst = errors.New("header: IPv6 hop-by-hop header not first")
	// ErrRoutingHeader: a routing header with segments left that this
	// host does not process (every type, type 0 included: RFC 5095).
	ErrRoutingHeader = errors.New("header: IPv6 routing header with segments left")
	// ErrUnknownOption: an unrecognised IPv6 option whose type's two high
	// bits say to discard the packet (RFC 8200 4.2).
	ErrUnknownOption = errors.New("header: unrecognised IPv6 option, packet discarded")
	// ErrBadExtHeader: a malformed IPv6 extension header (a second
	// fragment header, padding longer than 7 bytes).
	ErrBadExtHeader = errors.New("header: malformed IPv6 extension header")
	// ErrIncompleteChain: a first fragment whose extension header chain
	// does not reach the upper-layer header (RFC 7112).
	ErrIncompleteChain = errors.New("header: IPv6 first fragment without the whole header chain")
)
