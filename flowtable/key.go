package flowtable

import (
	"fmt"
	"net/netip"
)

// Address families, as stored in Key.Family.
const (
	FamilyIPv4 = 4
	FamilyIPv6 = 6
)

// Key identifies a flow: the 5-tuple plus the address family, so IPv6 can
// follow without changing the table. Addresses are stored in 16-byte form
// (IPv4 as v4-mapped), which gives every key the same byte layout: the hash
// reads the struct's bytes directly and two keys are equal exactly when
// their fields are. Key is comparable and fits a map key.
//
// By convention the source is the remote end and the destination the local
// end for a packet that arrives (the order the packet carries); Reverse
// gives the key of the traffic in the other direction.
type Key struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
	Proto            uint8
	Family           uint8
}

// KeyFrom builds a Key from two address:port pairs. Both addresses must be of
// the same family; an IPv4-mapped IPv6 address counts as IPv6 (unmap it first
// for IPv4 traffic).
func KeyFrom(src, dst netip.AddrPort, proto uint8) Key {
	k := Key{
		Src:     src.Addr().As16(),
		Dst:     dst.Addr().As16(),
		SrcPort: src.Port(),
		DstPort: dst.Port(),
		Proto:   proto,
		Family:  FamilyIPv6,
	}
	if src.Addr().Is4() {
		k.Family = FamilyIPv4
	}
	return k
}

// KeyFrom4 builds an IPv4 Key from raw addresses, as parsed from a header,
// without going through netip.
func KeyFrom4(src, dst [4]byte, srcPort, dstPort uint16, proto uint8) Key {
	k := Key{SrcPort: srcPort, DstPort: dstPort, Proto: proto, Family: FamilyIPv4}
	k.Src[10], k.Src[11] = 0xff, 0xff
	k.Dst[10], k.Dst[11] = 0xff, 0xff
	copy(k.Src[12:], src[:])
	copy(k.Dst[12:], dst[:])
	return k
}

func (k Key) addr(b [16]byte) netip.Addr {
	a := netip.AddrFrom16(b)
	if k.Family == FamilyIPv4 {
		return a.Unmap()
	}
	return a
}

// SrcAddrPort returns the source address and port.
func (k Key) SrcAddrPort() netip.AddrPort { return netip.AddrPortFrom(k.addr(k.Src), k.SrcPort) }

// DstAddrPort returns the destination address and port.
func (k Key) DstAddrPort() netip.AddrPort { return netip.AddrPortFrom(k.addr(k.Dst), k.DstPort) }

// Reverse returns the key of the same flow seen in the other direction.
func (k Key) Reverse() Key {
	k.Src, k.Dst = k.Dst, k.Src
	k.SrcPort, k.DstPort = k.DstPort, k.SrcPort
	return k
}

// String formats the key as "proto src -> dst".
func (k Key) String() string {
	return fmt.Sprintf("proto %d %v -> %v", k.Proto, k.SrcAddrPort(), k.DstAddrPort())
}
