package flowtable

import (
	"fmt"
	"math/bits"
	"net/netip"
)

// Key4 is an IPv4 5-tuple packed in two words, Table4's key: 13 bytes of
// tuple instead of Key's 38, so that it is built, hashed and compared in a
// few instructions. The zero Key4 is a valid key (0.0.0.0:0 to 0.0.0.0:0,
// protocol 0).
type Key4 struct {
	// addrs is the source address (big-endian) in the high half and the
	// destination in the low half.
	addrs uint64
	// rest is the source port in bits 63-48, the destination port in
	// 47-32 and the protocol in 31-24; bits 23-0 are zero in a key (a
	// Table4 entry keeps its own bookkeeping there).
	rest uint64
}

// key4Low are the bits of Key4.rest a key leaves zero.
const key4Low = 1<<24 - 1

// MakeKey4 packs an IPv4 5-tuple.
func MakeKey4(src, dst [4]byte, srcPort, dstPort uint16, proto uint8) Key4 {
	return Key4{
		addrs: uint64(be32(src))<<32 | uint64(be32(dst)),
		rest:  uint64(srcPort)<<48 | uint64(dstPort)<<32 | uint64(proto)<<24,
	}
}

func be32(a [4]byte) uint32 {
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

func from32(v uint32) [4]byte { return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

// Src returns the source address.
func (k Key4) Src() [4]byte { return from32(uint32(k.addrs >> 32)) }

// Dst returns the destination address.
func (k Key4) Dst() [4]byte { return from32(uint32(k.addrs)) }

// SrcPort returns the source port.
func (k Key4) SrcPort() uint16 { return uint16(k.rest >> 48) }

// DstPort returns the destination port.
func (k Key4) DstPort() uint16 { return uint16(k.rest >> 32) }

// Proto returns the IP protocol number.
func (k Key4) Proto() uint8 { return uint8(k.rest >> 24) }

// Reverse returns the key of the other direction.
func (k Key4) Reverse() Key4 {
	return MakeKey4(k.Dst(), k.Src(), k.DstPort(), k.SrcPort(), k.Proto())
}

// Key returns k as a Key (of family 4).
func (k Key4) Key() Key { return KeyFrom4(k.Src(), k.Dst(), k.SrcPort(), k.DstPort(), k.Proto()) }

// String formats k as Key does: "src:port -> dst:port/proto".
func (k Key4) String() string {
	return fmt.Sprintf("%v -> %v/%d", netip.AddrPortFrom(netip.AddrFrom4(k.Src()), k.SrcPort()),
		netip.AddrPortFrom(netip.AddrFrom4(k.Dst()), k.DstPort()), k.Proto())
}

// hash4 is Table4's hash of k under a table's seeds: two rounds of the
// 64x64->128-bit multiply-and-fold mix (as wyhash's), about 2 ns. The seeds
// are random per table, so which keys collide cannot be chosen from
// outside without learning them; the low bits pick the bucket.
func hash4(k Key4, s0, s1 uint64) uint64 {
	hi, lo := bits.Mul64(k.addrs^s0, k.rest^s1)
	hi, lo = bits.Mul64(hi^lo^s1, 0x9e3779b97f4a7c15^s0)
	return hi ^ lo
}
