package header

import (
	"encoding/binary"
	"errors"
)

// ICMPv6 Neighbor Discovery message types (RFC 4861 4).
const (
	ICMPv6RouterSolicitation    = 133
	ICMPv6RouterAdvertisement   = 134
	ICMPv6NeighborSolicitation  = 135
	ICMPv6NeighborAdvertisement = 136
	ICMPv6Redirect              = 137
)

// NDP option types (RFC 4861 4.6, RFC 3971 5.3.2 for the nonce).
const (
	NDPOptionSourceLinkLayer = 1
	NDPOptionTargetLinkLayer = 2
	NDPOptionPrefixInfo      = 3
	NDPOptionRedirected      = 4
	NDPOptionMTU             = 5
	NDPOptionNonce           = 14
)

// NDP lengths: each message's fixed part, ICMPv6 type, code and checksum
// included, and the options' lengths.
const (
	NDPRouterSolicitationLen    = 8
	NDPRouterAdvertisementLen   = 16
	NDPNeighborSolicitationLen  = 24
	NDPNeighborAdvertisementLen = 24
	NDPRedirectLen              = 40
	NDPLinkLayerOptionLen       = 8  // an Ethernet source or target link-layer address option
	NDPPrefixInfoOptionLen      = 32 // a prefix information option
	NDPMTUOptionLen             = 8
	NDPNonceOptionLen           = 8 // a 6-byte nonce (RFC 7527's choice)
	NDPHopLimit                 = 255
)

// Neighbor Advertisement flags (RFC 4861 4.4), the first byte after the
// checksum.
const (
	NDPFlagRouter    = 0x80 // R: the sender is a router
	NDPFlagSolicited = 0x40 // S: an answer to a solicitation
	NDPFlagOverride  = 0x20 // O: override an existing cache entry
)

// Router Advertisement flags (RFC 4861 4.2) and prefix information flags
// (4.6.2).
const (
	NDPFlagManaged      = 0x80 // M: addresses by DHCPv6
	NDPFlagOtherConfig  = 0x40 // O: other configuration by DHCPv6
	NDPPrefixFlagOnLink = 0x80 // L
	NDPPrefixFlagAuto   = 0x40 // A: autonomous address configuration
)

// NDPInfiniteLifetime is the lifetime value that never expires.
const NDPInfiniteLifetime = 0xffffffff

// NDP validation errors (RFC 4861 6.1, 7.1, 8.1): the message must be
// silently discarded. Like the package's other sentinels they are returned
// unwrapped.
var (
	// ErrNDPHopLimit: the IP hop limit is not 255, so the message may have
	// come from off the link.
	ErrNDPHopLimit = errors.New("header: NDP hop limit is not 255")
	// ErrNDPCode: the ICMPv6 code is not 0, or the type is not the one
	// asked for.
	ErrNDPCode = errors.New("header: NDP message with a non-zero code or another type")
	// ErrNDPAddress: an address rule is broken: a multicast target, an
	// unspecified source with a source link-layer option or to another
	// destination than a solicited-node group, a solicited advertisement
	// to a multicast destination, a router message from a non-link-local
	// source.
	ErrNDPAddress = errors.New("header: NDP address rule broken")
)

func isMulticast6(a [16]byte) bool { return a[0] == 0xff }

func isLinkLocal6(a [16]byte) bool { return a[0] == 0xfe && a[1]&0xc0 == 0x80 }

func isSolicitedNode6(a [16]byte) bool {
	return [13]byte(a[:13]) == [13]byte{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff}
}

// SolicitedNodeMulticast returns the solicited-node multicast group of
// addr (RFC 4291 2.7.1): ff02::1:ff followed by addr's low 24 bits.
func SolicitedNodeMulticast(addr [16]byte) [16]byte {
	return [16]byte{0xff, 0x02, 11: 0x01, 12: 0xff, 13: addr[13], 14: addr[14], 15: addr[15]}
}

// MulticastMAC6 returns the Ethernet address an IPv6 multicast group maps
// to (RFC 2464 7): 33:33 followed by the group's low 32 bits.
func MulticastMAC6(group [16]byte) MAC {
	return MAC{0x33, 0x33, group[12], group[13], group[14], group[15]}
}

// LinkLocalFromMAC returns the fe80::/64 address whose interface
// identifier is mac's modified EUI-64 (RFC 4291 2.5.1 and appendix A):
// ff:fe inserted in the middle and the universal/local bit flipped.
func LinkLocalFromMAC(mac MAC) [16]byte {
	return [16]byte{0xfe, 0x80, 8: mac[0] ^ 0x02, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe,
		13: mac[3], 14: mac[4], 15: mac[5]}
}

// NDPOptions walks the options of an NDP message without allocating. A
// zero value walks nothing.
type NDPOptions struct {
	b   []byte
	err error
}

// ParseNDPOptions returns an iterator over b, the options part of a
// message (after its fixed part).
func ParseNDPOptions(b []byte) NDPOptions { return NDPOptions{b: b} }

// CheckNDPOptions returns ErrBadOption when an option of b has length 0
// or runs past b's end (RFC 4861 6.1, 7.1: the message is invalid).
func CheckNDPOptions(b []byte) error {
	for len(b) > 0 {
		if len(b) < 2 || b[1] == 0 || 8*int(b[1]) > len(b) {
			return ErrBadOption
		}
		b = b[8*int(b[1]):]
	}
	return nil
}

// Next returns the next option, or false after the last one or at a
// malformed one (Err then says ErrBadOption).
func (it *NDPOptions) Next() (NDPOption, bool) {
	if len(it.b) == 0 {
		return nil, false
	}
	if len(it.b) < 2 || it.b[1] == 0 || 8*int(it.b[1]) > len(it.b) {
		it.b, it.err = nil, ErrBadOption
		return nil, false
	}
	n := 8 * int(it.b[1])
	o := NDPOption(it.b[:n])
	it.b = it.b[n:]
	return o, true
}

// Err returns ErrBadOption when Next stopped at a malformed option.
func (it *NDPOptions) Err() error { return it.err }

// LinkLayer returns the Ethernet address of the first option of type typ
// (NDPOptionSourceLinkLayer or NDPOptionTargetLinkLayer) that is 8 bytes
// long, and whether there is one. Options of other lengths (other link
// layers) are skipped, as RFC 4861 4.6.1 asks of an Ethernet node.
func (it NDPOptions) LinkLayer(typ uint8) (MAC, bool) {
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		if o.Type() == typ && len(o) == NDPLinkLayerOptionLen {
			return MAC(o[2:8]), true
		}
	}
	return MAC{}, false
}

// Nonce returns the value of the first nonce option (RFC 3971 5.3.2;
// RFC 7527 uses 6 bytes), nil when there is none. It aliases the message.
func (it NDPOptions) Nonce() []byte {
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		if o.Type() == NDPOptionNonce {
			return o[2:]
		}
	}
	return nil
}

// NDPOption is one option as NDPOptions.Next returns it: its length is a
// non-zero multiple of 8 and it fits the message.
type NDPOption []byte

// Type returns the option type.
func (o NDPOption) Type() uint8 { return o[0] }

// Body returns the bytes after the type and length.
func (o NDPOption) Body() []byte { return o[2:] }

// LinkLayer returns the Ethernet address of a source or target
// link-layer address option of 8 bytes, false for other options.
func (o NDPOption) LinkLayer() (MAC, bool) {
	if (o[0] != NDPOptionSourceLinkLayer && o[0] != NDPOptionTargetLinkLayer) || len(o) != NDPLinkLayerOptionLen {
		return MAC{}, false
	}
	return MAC(o[2:8]), true
}

// MTU returns an MTU option's value, false for other options.
func (o NDPOption) MTU() (uint32, bool) {
	if o[0] != NDPOptionMTU || len(o) != NDPMTUOptionLen {
		return 0, false
	}
	return binary.BigEndian.Uint32(o[4:]), true
}

// PrefixInfo returns a prefix information option's view, false for
// other options (or one of the wrong length, which RFC 4861 4.6.2 fixes
// at 4 units).
func (o NDPOption) PrefixInfo() (NDPPrefixInfo, bool) {
	if o[0] != NDPOptionPrefixInfo || len(o) != NDPPrefixInfoOptionLen {
		return nil, false
	}
	return NDPPrefixInfo(o), true
}

// NDPPrefixInfo is a view of a prefix information option (RFC 4861
// 4.6.2):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |    Length     | Prefix Length |L|A| Reserved1 |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Valid Lifetime                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Preferred Lifetime                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           Reserved2                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                      Prefix (16 bytes)                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type NDPPrefixInfo []byte

// PrefixLen returns the prefix length in bits (not checked: up to 255).
func (p NDPPrefixInfo) PrefixLen() uint8 { return p[2] }

// OnLink returns the L flag.
func (p NDPPrefixInfo) OnLink() bool { return p[3]&NDPPrefixFlagOnLink != 0 }

// Autonomous returns the A flag.
func (p NDPPrefixInfo) Autonomous() bool { return p[3]&NDPPrefixFlagAuto != 0 }

// ValidLifetime returns the valid lifetime in seconds
// (NDPInfiniteLifetime: forever).
func (p NDPPrefixInfo) ValidLifetime() uint32 { return binary.BigEndian.Uint32(p[4:]) }

// PreferredLifetime returns the preferred lifetime in seconds.
func (p NDPPrefixInfo) PreferredLifetime() uint32 { return binary.BigEndian.Uint32(p[8:]) }

// Prefix returns the prefix (bits past PrefixLen are not cleared).
func (p NDPPrefixInfo) Prefix() [16]byte { return [16]byte(p[16:32]) }

// NeighborSolicitation is a view of a Neighbor Solicitation (RFC 4861
// 4.3), the whole ICMPv6 message:
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Type (135)  |   Code (0)    |           Checksum            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           Reserved                            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                  Target Address (16 bytes)                    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Options ...
//	+-+-+-+-+-+-+-+-+-+-+-+-
//
// A Neighbor Advertisement (NeighborAdvertisement, type 136) has the same
// layout with the R, S and O flags in the first reserved byte. Views come
// from ParseNDP; see the package's parse contract.
type NeighborSolicitation []byte

// Target returns the target address.
func (m NeighborSolicitation) Target() [16]byte { return [16]byte(m[8:24]) }

// Options returns an iterator over the options.
func (m NeighborSolicitation) Options() NDPOptions { return NDPOptions{b: m[24:]} }

// NeighborAdvertisement is a view of a Neighbor Advertisement (RFC 4861
// 4.4); see NeighborSolicitation.
type NeighborAdvertisement []byte

// Flags returns the R, S and O bits (NDPFlagRouter, NDPFlagSolicited,
// NDPFlagOverride).
func (m NeighborAdvertisement) Flags() uint8 { return m[4] & 0xe0 }

// Router returns the R flag.
func (m NeighborAdvertisement) Router() bool { return m[4]&NDPFlagRouter != 0 }

// Solicited returns the S flag.
func (m NeighborAdvertisement) Solicited() bool { return m[4]&NDPFlagSolicited != 0 }

// Override returns the O flag.
func (m NeighborAdvertisement) Override() bool { return m[4]&NDPFlagOverride != 0 }

// Target returns the target address.
func (m NeighborAdvertisement) Target() [16]byte { return [16]byte(m[8:24]) }

// Options returns an iterator over the options.
func (m NeighborAdvertisement) Options() NDPOptions { return NDPOptions{b: m[24:]} }

// RouterSolicitation is a view of a Router Solicitation (RFC 4861 4.1):
// type 133, code, checksum, 4 reserved bytes, options.
type RouterSolicitation []byte

// Options returns an iterator over the options.
func (m RouterSolicitation) Options() NDPOptions { return NDPOptions{b: m[8:]} }

// RouterAdvertisement is a view of a Router Advertisement (RFC 4861 4.2):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Type (134)  |   Code (0)    |           Checksum            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Cur Hop Limit |M|O|  Reserved |       Router Lifetime         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Reachable Time                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                          Retrans Timer                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Options ...
type RouterAdvertisement []byte

// CurHopLimit returns the hop limit to use (0: unspecified).
func (m RouterAdvertisement) CurHopLimit() uint8 { return m[4] }

// Managed returns the M flag.
func (m RouterAdvertisement) Managed() bool { return m[5]&NDPFlagManaged != 0 }

// OtherConfig returns the O flag.
func (m RouterAdvertisement) OtherConfig() bool { return m[5]&NDPFlagOtherConfig != 0 }

// RouterLifetime returns the default router lifetime in seconds (0: not
// a default router).
func (m RouterAdvertisement) RouterLifetime() uint16 { return binary.BigEndian.Uint16(m[6:]) }

// ReachableTime returns the reachable time in milliseconds (0:
// unspecified).
func (m RouterAdvertisement) ReachableTime() uint32 { return binary.BigEndian.Uint32(m[8:]) }

// RetransTimer returns the retransmission timer in milliseconds (0:
// unspecified).
func (m RouterAdvertisement) RetransTimer() uint32 { return binary.BigEndian.Uint32(m[12:]) }

// Options returns an iterator over the options.
func (m RouterAdvertisement) Options() NDPOptions { return NDPOptions{b: m[16:]} }

// NDPRedirect is a view of a Redirect (RFC 4861 4.5): type 137, code,
// checksum, 4 reserved bytes, the target (the better first hop) and the
// destination addresses, options.
type NDPRedirect []byte

// Target returns the better first hop.
func (m NDPRedirect) Target() [16]byte { return [16]byte(m[8:24]) }

// Destination returns the redirected destination.
func (m NDPRedirect) Destination() [16]byte { return [16]byte(m[24:40]) }

// Options returns an iterator over the options.
func (m NDPRedirect) Options() NDPOptions { return NDPOptions{b: m[40:]} }

// ndpFixedLen returns the fixed length of an NDP message type, 0 for
// other types.
func ndpFixedLen(typ uint8) int {
	switch typ {
	case ICMPv6RouterSolicitation:
		return NDPRouterSolicitationLen
	case ICMPv6RouterAdvertisement:
		return NDPRouterAdvertisementLen
	case ICMPv6NeighborSolicitation:
		return NDPNeighborSolicitationLen
	case ICMPv6NeighborAdvertisement:
		return NDPNeighborAdvertisementLen
	case ICMPv6Redirect:
		return NDPRedirectLen
	}
	return 0
}

// ParseNDP validates msg, an ICMPv6 message of type 133 to 137, as RFC
// 4861 6.1.1, 6.1.2, 7.1.1, 7.1.2 and 8.1 ask of a host, given the IP
// header's hop limit, source and destination. Errors, in this order:
// ErrNDPCode (code not 0, or not an NDP type), ErrNDPHopLimit,
// ErrTruncated (shorter than the type's fixed part), ErrBadOption (an
// option of length 0, or past the end), ErrNDPAddress (the address rules
// of the type). The checksum is not checked here: the caller checks it
// over the pseudo-header first (ICMPv6Checksum). After ParseNDP returned
// nil, the view of msg's type (NeighborSolicitation(msg), ...) cannot
// panic. Checks left to the caller: a Redirect's source being the current
// first hop for its destination (8.1).
func ParseNDP(msg []byte, hopLimit uint8, src, dst [16]byte) error {
	if len(msg) < 2 || msg[1] != 0 {
		return ErrNDPCode
	}
	n := ndpFixedLen(msg[0])
	if n == 0 {
		return ErrNDPCode
	}
	if hopLimit != NDPHopLimit {
		return ErrNDPHopLimit
	}
	if len(msg) < n {
		return ErrTruncated
	}
	if err := CheckNDPOptions(msg[n:]); err != nil {
		return err
	}
	opts := NDPOptions{b: msg[n:]}
	unspecified := src == [16]byte{}
	switch msg[0] {
	case ICMPv6RouterSolicitation:
		if _, ok := opts.LinkLayer(NDPOptionSourceLinkLayer); ok && unspecified {
			return ErrNDPAddress
		}
	case ICMPv6RouterAdvertisement:
		if !isLinkLocal6(src) {
			return ErrNDPAddress
		}
	case ICMPv6NeighborSolicitation:
		if isMulticast6([16]byte(msg[8:24])) {
			return ErrNDPAddress
		}
		if unspecified {
			if !isSolicitedNode6(dst) {
				return ErrNDPAddress
			}
			if _, ok := opts.LinkLayer(NDPOptionSourceLinkLayer); ok {
				return ErrNDPAddress
			}
		}
	case ICMPv6NeighborAdvertisement:
		if isMulticast6([16]byte(msg[8:24])) || (isMulticast6(dst) && msg[4]&NDPFlagSolicited != 0) {
			return ErrNDPAddress
		}
	case ICMPv6Redirect:
		t, d := [16]byte(msg[8:24]), [16]byte(msg[24:40])
		if !isLinkLocal6(src) || isMulticast6(d) || (!isLinkLocal6(t) && t != d) {
			return ErrNDPAddress
		}
	}
	return nil
}

// putNDPHeader writes type, code 0, a zero checksum and 4 zero bytes.
func putNDPHeader(b []byte, typ uint8) {
	b[0] = typ
	clear(b[1:8])
}

// PutNDPLinkLayerOption writes a source (NDPOptionSourceLinkLayer) or
// target (NDPOptionTargetLinkLayer) link-layer address option for mac and
// returns 8.
func PutNDPLinkLayerOption(b []byte, typ uint8, mac MAC) (int, error) {
	if len(b) < NDPLinkLayerOptionLen {
		return 0, ErrBufferTooSmall
	}
	b[0], b[1] = typ, 1
	copy(b[2:8], mac[:])
	return NDPLinkLayerOptionLen, nil
}

// PutNDPNonceOption writes a nonce option with a 6-byte nonce (RFC 7527
// 4.1) and returns 8.
func PutNDPNonceOption(b []byte, nonce [6]byte) (int, error) {
	if len(b) < NDPNonceOptionLen {
		return 0, ErrBufferTooSmall
	}
	b[0], b[1] = NDPOptionNonce, 1
	copy(b[2:8], nonce[:])
	return NDPNonceOptionLen, nil
}

// PutNDPMTUOption writes an MTU option and returns 8.
func PutNDPMTUOption(b []byte, mtu uint32) (int, error) {
	if len(b) < NDPMTUOptionLen {
		return 0, ErrBufferTooSmall
	}
	b[0], b[1], b[2], b[3] = NDPOptionMTU, 1, 0, 0
	binary.BigEndian.PutUint32(b[4:], mtu)
	return NDPMTUOptionLen, nil
}

// PutNDPPrefixInfoOption writes a prefix information option and returns
// 32. flags is NDPPrefixFlagOnLink and NDPPrefixFlagAuto or'ed.
func PutNDPPrefixInfoOption(b []byte, prefix [16]byte, length, flags uint8, valid, preferred uint32) (int, error) {
	if len(b) < NDPPrefixInfoOptionLen {
		return 0, ErrBufferTooSmall
	}
	b[0], b[1], b[2], b[3] = NDPOptionPrefixInfo, 4, length, flags
	binary.BigEndian.PutUint32(b[4:], valid)
	binary.BigEndian.PutUint32(b[8:], preferred)
	clear(b[12:16])
	copy(b[16:32], prefix[:])
	return NDPPrefixInfoOptionLen, nil
}

// putLLA writes the option when mac is not zero.
func putLLA(b []byte, n int, typ uint8, mac MAC) int {
	if mac == (MAC{}) {
		return n
	}
	k, _ := PutNDPLinkLayerOption(b[n:], typ, mac)
	return n + k
}

func llaLen(mac MAC) int {
	if mac == (MAC{}) {
		return 0
	}
	return NDPLinkLayerOptionLen
}

// PutNeighborSolicitation writes a Neighbor Solicitation for target with
// a source link-layer address option for sll (none when sll is zero, as
// a DAD probe from :: must be) and returns its length, 24 or 32. The
// checksum is left zero: the caller fills it once the IPv6 addresses are
// known (ICMPv6Checksum). More options (a nonce) may be appended after.
func PutNeighborSolicitation(b []byte, target [16]byte, sll MAC) (int, error) {
	n := NDPNeighborSolicitationLen + llaLen(sll)
	if len(b) < n {
		return 0, ErrBufferTooSmall
	}
	putNDPHeader(b, ICMPv6NeighborSolicitation)
	copy(b[8:24], target[:])
	return putLLA(b, NDPNeighborSolicitationLen, NDPOptionSourceLinkLayer, sll), nil
}

// PutNeighborAdvertisement writes a Neighbor Advertisement for target
// with flags (NDPFlagRouter, NDPFlagSolicited, NDPFlagOverride or'ed) and
// a target link-layer address option for tll (none when zero), and
// returns its length, 24 or 32. The checksum is left zero for the caller.
func PutNeighborAdvertisement(b []byte, target [16]byte, flags uint8, tll MAC) (int, error) {
	n := NDPNeighborAdvertisementLen + llaLen(tll)
	if len(b) < n {
		return 0, ErrBufferTooSmall
	}
	putNDPHeader(b, ICMPv6NeighborAdvertisement)
	b[4] = flags & 0xe0
	copy(b[8:24], target[:])
	return putLLA(b, NDPNeighborAdvertisementLen, NDPOptionTargetLinkLayer, tll), nil
}

// PutRouterSolicitation writes a Router Solicitation with a source
// link-layer address option for sll (none when zero, as a solicitation
// from :: must be) and returns its length, 8 or 16. The checksum is left
// zero for the caller.
func PutRouterSolicitation(b []byte, sll MAC) (int, error) {
	n := NDPRouterSolicitationLen + llaLen(sll)
	if len(b) < n {
		return 0, ErrBufferTooSmall
	}
	putNDPHeader(b, ICMPv6RouterSolicitation)
	return putLLA(b, NDPRouterSolicitationLen, NDPOptionSourceLinkLayer, sll), nil
}

// PutRouterAdvertisement writes the fixed part of a Router Advertisement
// (flags: NDPFlagManaged, NDPFlagOtherConfig) and returns 16; options may
// follow. The checksum is left zero for the caller. Hosts do not send
// advertisements: tests and simulated routers do.
func PutRouterAdvertisement(b []byte, curHopLimit, flags uint8, lifetime uint16, reachableMs, retransMs uint32) (int, error) {
	if len(b) < NDPRouterAdvertisementLen {
		return 0, ErrBufferTooSmall
	}
	putNDPHeader(b, ICMPv6RouterAdvertisement)
	b[4], b[5] = curHopLimit, flags&0xc0
	binary.BigEndian.PutUint16(b[6:], lifetime)
	binary.BigEndian.PutUint32(b[8:], reachableMs)
	binary.BigEndian.PutUint32(b[12:], retransMs)
	return NDPRouterAdvertisementLen, nil
}
