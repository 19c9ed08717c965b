package flowtable

import (
	"encoding/binary"
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
// without going through netip. On a hot path, SetFrom4 into the Key's
// final place is cheaper.
func KeyFrom4(src, dst [4]byte, srcPort, dstPort uint16, proto uint8) Key {
	var k Key
	k.SetFrom4(src, dst, srcPort, dstPort, proto)
	return k
}

// SetFrom4 makes k the IPv4 key KeyFrom4 returns, in place. It writes the
// key as the words the table's hash reads (keyWords.set), so that these
// reads take the data from the stores just made instead of waiting for
// them to reach the cache: hashing a key built by KeyFrom4, whose returned
// copy is read back in words that span several of its stores, measured 38
// ns against 12 with SetFrom4 (a burst of keys, built then hashed, on the
// 2-core VM).
func (k *Key) SetFrom4(src, dst [4]byte, srcPort, dstPort uint16, proto uint8) {
	b := keyBytes(k)
	le := binary.LittleEndian
	le.PutUint64(b[0:8], 0)
	le.PutUint64(b[8:16], 0xffff<<16|uint64(le.Uint32(src[:]))<<32) // ::ffff:src
	le.PutUint64(b[16:24], 0)
	le.PutUint64(b[24:32], 0xffff<<16|uint64(le.Uint32(dst[:]))<<32)
	// SrcPort and DstPort in the machine's byte order, as the fields
	// hold them, in one store.
	ports := uint32(srcPort) | uint32(dstPort)<<16
	if !littleEndian {
		ports = uint32(srcPort)<<16 | uint32(dstPort)
	}
	binary.NativeEndian.PutUint32(b[32:36], ports)
	le.PutUint16(b[36:38], uint16(proto)|FamilyIPv4<<8) // Proto, then Family
}

// littleEndian reports the machine's byte order (SetFrom4).
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

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
