package header

import "encoding/binary"

// IPv6MaxExtHeaders bounds the extension headers ParseIPv6Ext walks before
// the upper-layer header, so that a crafted chain costs a bounded amount
// of work (Linux has no fixed cap; a legitimate packet carries at most
// hop-by-hop, destination options, routing, fragment, AH and destination
// options again, RFC 8200 4.1).
const IPv6MaxExtHeaders = 8

// IPv6 option types (RFC 8200 4.2, RFC 2711, RFC 2675).
const (
	IPv6OptionPad1        = 0
	IPv6OptionPadN        = 1
	IPv6OptionRouterAlert = 5
	IPv6OptionJumbo       = 0xc2
)

// IPv6Ext is what ParseIPv6Ext learns from the extension header chain of
// one packet. Offsets count from the start of the IPv6 header. It is a
// plain value, filled in place: a reused one parses without allocating.
type IPv6Ext struct {
	// Proto is the upper-layer protocol (TCP, UDP, ICMPv6, ...), or
	// ProtocolNoNext, ProtocolESP or ProtocolAH, where the walk stops (no
	// IPsec). In a fragment that is not the first, it is the next header
	// of the fragment header.
	Proto uint8
	// Offset is where the upper-layer header (or ESP/AH, or the fragment
	// data of a non-first fragment) starts.
	Offset int
	// NextHeaderOffset is the offset of the Next Header field that holds
	// Proto: 6 without extension headers. An ICMPv6 parameter problem
	// for an unknown protocol (code 1) points at it.
	NextHeaderOffset int

	// HopByHop is set when a hop-by-hop options header was present;
	// RouterAlert when it carried a Router Alert option (RFC 2711; MLD
	// messages do).
	HopByHop    bool
	RouterAlert bool

	// Frag is set when a fragment header was present; the Frag* fields
	// are its contents. An atomic fragment (RFC 6946) has FragOffset 0
	// and FragMore false. For a non-first fragment the walk stops after
	// the fragment header.
	Frag       bool
	FragMore   bool
	FragOffset uint16 // in bytes (the field times 8)
	FragID     uint32
	// FragHdrOffset is the offset of the fragment header: the length of
	// the unfragmentable part. FragPrevNextHeader is the offset of the
	// Next Header field that names the fragment header (44), the one
	// reassembly rewrites.
	FragHdrOffset      int
	FragPrevNextHeader int

	// When ParseIPv6Ext returns an error that calls for an ICMPv6
	// parameter problem (RFC 4443 3.4), Report is set and ProblemCode
	// and ProblemPointer are its code and pointer (the offset of the
	// offending byte). The caller sends it; errors without Report are
	// silent drops.
	Report         bool
	ProblemCode    uint8
	ProblemPointer uint32
}

func (ext *IPv6Ext) problem(code uint8, ptr int) {
	ext.Report, ext.ProblemCode, ext.ProblemPointer = true, code, uint32(ptr)
}

// ParseIPv6Ext walks the extension headers of ip (a view from ParseIPv6)
// and fills ext. It allocates nothing and never panics, whatever the bytes.
//
// Rules (RFC 8200 4, with Linux's choices where the RFC leaves one):
//   - Hop-by-hop and destination options: Pad1 and PadN are skipped (PadN
//     longer than 5 data bytes: ErrBadExtHeader, as Linux); Router Alert
//     is noted (one whose length is not 2: ErrBadOption); a Jumbo Payload option is refused (ErrJumbogram, problem
//     code 0 at the option, RFC 2675); an unrecognised option is acted on
//     by its type's two high bits: 00 skip it, 01 discard silently, 10
//     discard and report problem code 2 at the option type, 11 the same
//     but without a report when the destination is multicast. Discards
//     return ErrUnknownOption. An option running past its header:
//     ErrBadOption.
//   - Hop-by-hop anywhere but first: ErrHopByHopNotFirst, code 1 at the
//     Next Header field that named it.
//   - Routing header: no type is processed (type 0 is deprecated, RFC
//     5095), so with segments left 0 it is ignored and otherwise refused
//     (ErrRoutingHeader, code 0 at the routing type).
//   - Fragment header: recorded in ext; a second one is ErrBadExtHeader.
//     After a non-first fragment's header the walk stops. A first
//     fragment (offset 0, more set) whose chain does not reach the
//     upper-layer header within the packet, or holds less than the whole
//     TCP, UDP or ICMPv6 header, is ErrIncompleteChain (RFC 7112): a
//     parameter problem, code 3, pointer 0, as Linux sends it
//     (ipv6frag_thdr_truncated). Linux lets pass a first fragment that
//     ends exactly where a further extension header starts; here it is
//     incomplete, as the RFC says (engine/frag6_scapy_e2e_test.go).
//   - ESP, AH and No Next Header end the walk with Proto set to them.
//   - More than IPv6MaxExtHeaders headers: ErrExtChainTooLong. A header
//     that runs past the packet: ErrTruncated.
func ParseIPv6Ext(ip IPv6, ext *IPv6Ext) error {
	*ext = IPv6Ext{}
	if len(ip) < IPv6HeaderLen {
		return ErrTruncated
	}
	nh := ip[ipv6NextHeader]
	nhOff := ipv6NextHeader
	off := IPv6HeaderLen
	for n := 0; ; n++ {
		switch nh {
		case ProtocolHopByHop, ProtocolRouting, ProtocolFragment, ProtocolDestOpts:
		default:
			ext.Proto, ext.Offset, ext.NextHeaderOffset = nh, off, nhOff
			if ext.firstFragment() && nh != ProtocolNoNext && len(ip)-off < upperHeaderMin(nh) {
				return ext.incomplete()
			}
			return nil
		}
		if n == IPv6MaxExtHeaders {
			return ErrExtChainTooLong
		}
		if len(ip)-off < 8 {
			return ext.truncated()
		}
		h := ip[off:]
		hl := 8
		if nh != ProtocolFragment {
			hl = (int(h[1]) + 1) * 8
			if len(ip)-off < hl {
				return ext.truncated()
			}
		}
		switch nh {
		case ProtocolHopByHop:
			if off != IPv6HeaderLen {
				ext.problem(ICMPv6UnrecognizedNextHeader, nhOff)
				return ErrHopByHopNotFirst
			}
			ext.HopByHop = true
			if err := ext.options(ip, off, hl, true); err != nil {
				return err
			}
		case ProtocolDestOpts:
			if err := ext.options(ip, off, hl, false); err != nil {
				return err
			}
		case ProtocolRouting:
			if h[3] != 0 {
				ext.problem(ICMPv6ErroneousHeader, off+2)
				return ErrRoutingHeader
			}
		case ProtocolFragment:
			if ext.Frag {
				return ErrBadExtHeader
			}
			w := binary.BigEndian.Uint16(h[2:])
			ext.Frag, ext.FragOffset, ext.FragMore = true, w&^7, w&1 != 0
			ext.FragID = binary.BigEndian.Uint32(h[4:])
			ext.FragHdrOffset, ext.FragPrevNextHeader = off, nhOff
			if ext.FragOffset != 0 {
				ext.Proto, ext.Offset, ext.NextHeaderOffset = h[0], off+8, off
				return nil
			}
		}
		nhOff = off
		nh = h[0]
		off += hl
	}
}

func (ext *IPv6Ext) firstFragment() bool {
	return ext.Frag && ext.FragOffset == 0 && ext.FragMore
}

func (ext *IPv6Ext) incomplete() error {
	ext.problem(ICMPv6IncompleteChain, 0)
	return ErrIncompleteChain
}

// upperHeaderMin is how much of an upper-layer header a first fragment
// must hold to be complete, as Linux counts it (ipv6frag_thdr_truncated):
// the whole TCP, UDP or ICMPv6 header, a byte of any other.
func upperHeaderMin(proto uint8) int {
	switch proto {
	case ProtocolTCP:
		return TCPMinHeaderLen
	case ProtocolUDP:
		return UDPHeaderLen
	case ProtocolICMPv6:
		return ICMPv6HeaderLen
	}
	return 1
}

func (ext *IPv6Ext) truncated() error {
	if ext.firstFragment() {
		return ext.incomplete()
	}
	return ErrTruncated
}

// options walks the TLV options of the hop-by-hop or destination options
// header at ip[off:off+hl].
func (ext *IPv6Ext) options(ip IPv6, off, hl int, hbh bool) error {
	end := off + hl
	for i := off + 2; i < end; {
		t := ip[i]
		if t == IPv6OptionPad1 {
			i++
			continue
		}
		if end-i < 2 || end-i-2 < int(ip[i+1]) {
			return ErrBadOption
		}
		l := int(ip[i+1])
		switch {
		case t == IPv6OptionPadN:
			if l > 5 {
				return ErrBadExtHeader
			}
		case hbh && t == IPv6OptionRouterAlert:
			if l != 2 { // Linux drops it silently
				return ErrBadOption
			}
			ext.RouterAlert = true
		case hbh && t == IPv6OptionJumbo:
			ext.problem(ICMPv6ErroneousHeader, i)
			return ErrJumbogram
		default:
			switch t >> 6 {
			case 1:
				return ErrUnknownOption
			case 2:
				ext.problem(ICMPv6UnrecognizedOption, i)
				return ErrUnknownOption
			case 3:
				if ip[ipv6Dst] != 0xff {
					ext.problem(ICMPv6UnrecognizedOption, i)
				}
				return ErrUnknownOption
			}
		}
		i += 2 + l
	}
	return nil
}
