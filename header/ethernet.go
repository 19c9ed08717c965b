package header

import (
	"encoding/binary"
	"fmt"
)

// EtherTypes the engine knows.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeVLAN = 0x8100 // IEEE 802.1Q customer tag (C-tag)
	EtherTypeQinQ = 0x88a8 // IEEE 802.1ad service tag (S-tag)
	EtherTypeIPv6 = 0x86dd
)

// Ethernet header lengths.
const (
	EthernetHeaderLen = 14 // without VLAN tags
	VLANTagLen        = 4
	EthernetMaxTags   = 2
	// EthernetMaxHeaderLen is the header with two tags (QinQ).
	EthernetMaxHeaderLen = EthernetHeaderLen + EthernetMaxTags*VLANTagLen
)

// MAC is an Ethernet address. Unlike net.HardwareAddr it is comparable and
// needs no allocation.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == BroadcastMAC }

// IsMulticast reports whether the group bit of m is set (broadcast included).
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// String formats m as aa:bb:cc:dd:ee:ff.
func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// Ethernet is a view of an Ethernet II frame, with zero, one or two VLAN
// tags between the source address and the EtherType (IEEE 802.1Q):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination address                        |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                      Source address                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   TPID 0x88a8 or 0x8100       | PCP |D|        VLAN ID        |  optional
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   TPID 0x8100                 | PCP |D|        VLAN ID        |  optional
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          EtherType            |            Payload ...        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A tag is recognised by its TPID, 0x8100 or 0x88a8, in either position.
// Views come from ParseEthernet; see the package's parse contract.
type Ethernet []byte

// ParseEthernet validates b as an Ethernet frame and returns the view.
// Errors: ErrTruncated when b ends inside the header or a tag,
// ErrTooManyVLANTags for a third tag. The frame check sequence is not
// expected (AF_XDP and AF_PACKET deliver frames without it).
func ParseEthernet(b []byte) (Ethernet, error) {
	if len(b) < EthernetHeaderLen {
		return nil, ErrTruncated
	}
	n := 12
	for tags := 0; ; tags++ {
		t := binary.BigEndian.Uint16(b[n:])
		if t != EtherTypeVLAN && t != EtherTypeQinQ {
			break
		}
		if tags == EthernetMaxTags {
			return nil, ErrTooManyVLANTags
		}
		n += VLANTagLen
		if len(b) < n+2 {
			return nil, ErrTruncated
		}
	}
	return Ethernet(b), nil
}

// typeOffset returns the offset of the EtherType and the number of tags.
func (e Ethernet) typeOffset() (int, int) {
	if t := binary.BigEndian.Uint16(e[12:]); t != EtherTypeVLAN && t != EtherTypeQinQ {
		return 12, 0 // untagged: the common case, inlined
	}
	return e.tagOffset()
}

func (e Ethernet) tagOffset() (int, int) {
	n, tags := 12, 0
	for tags < EthernetMaxTags {
		t := binary.BigEndian.Uint16(e[n:])
		if t != EtherTypeVLAN && t != EtherTypeQinQ {
			break
		}
		n += VLANTagLen
		tags++
	}
	return n, tags
}

// Dst returns the destination address.
func (e Ethernet) Dst() MAC { return MAC(e[0:6]) }

// Src returns the source address.
func (e Ethernet) Src() MAC { return MAC(e[6:12]) }

// SetDst sets the destination address.
func (e Ethernet) SetDst(m MAC) { copy(e[0:6], m[:]) }

// SetSrc sets the source address.
func (e Ethernet) SetSrc(m MAC) { copy(e[6:12], m[:]) }

// Type returns the EtherType of the payload, after any VLAN tags.
func (e Ethernet) Type() uint16 {
	n, _ := e.typeOffset()
	return binary.BigEndian.Uint16(e[n:])
}

// NumTags returns the number of VLAN tags (0, 1 or 2).
func (e Ethernet) NumTags() int {
	_, t := e.typeOffset()
	return t
}

// Tag returns the TPID and TCI of tag i (0 is the outer one). ok is false
// when there is no such tag.
func (e Ethernet) Tag(i int) (tpid, tci uint16, ok bool) {
	_, t := e.typeOffset()
	if i < 0 || i >= t {
		return 0, 0, false
	}
	o := 12 + i*VLANTagLen
	return binary.BigEndian.Uint16(e[o:]), binary.BigEndian.Uint16(e[o+2:]), true
}

// VLANID returns the VLAN identifier of the innermost tag, 0 when untagged.
func (e Ethernet) VLANID() uint16 {
	n, t := e.typeOffset()
	if t == 0 {
		return 0
	}
	return binary.BigEndian.Uint16(e[n-2:]) & 0x0fff
}

// HeaderLen returns the header length, tags included.
func (e Ethernet) HeaderLen() int {
	n, _ := e.typeOffset()
	return n + 2
}

// Payload returns the bytes after the header (padding included).
func (e Ethernet) Payload() []byte { return e[e.HeaderLen():] }

// VLANTag is one 802.1Q/802.1ad tag.
type VLANTag struct {
	TPID uint16 // EtherTypeVLAN or EtherTypeQinQ
	TCI  uint16 // PCP (3 bits), DEI (1 bit), VLAN ID (12 bits)
}

// VID returns the 12-bit VLAN identifier.
func (t VLANTag) VID() uint16 { return t.TCI & 0x0fff }

// EthernetFields is the plain form of an Ethernet header.
type EthernetFields struct {
	Dst, Src MAC
	NumTags  int                      // 0..2; Tags[:NumTags] are used, outer first
	Tags     [EthernetMaxTags]VLANTag // a TPID other than 0x88a8 is written as 0x8100
	Type     uint16                   // EtherType of the payload
}

// Parse validates b as ParseEthernet does and fills f.
func (f *EthernetFields) Parse(b []byte) error {
	e, err := ParseEthernet(b)
	if err != nil {
		return err
	}
	f.Dst, f.Src = e.Dst(), e.Src()
	n, t := e.typeOffset()
	f.NumTags = t
	f.Tags = [EthernetMaxTags]VLANTag{}
	for i := 0; i < t; i++ {
		o := 12 + i*VLANTagLen
		f.Tags[i] = VLANTag{binary.BigEndian.Uint16(e[o:]), binary.BigEndian.Uint16(e[o+2:])}
	}
	f.Type = binary.BigEndian.Uint16(e[n:])
	return nil
}

// Len returns the encoded header length. NumTags outside 0..2 counts as 0
// (and Put refuses it).
func (f *EthernetFields) Len() int {
	if f.NumTags < 0 || f.NumTags > EthernetMaxTags {
		return EthernetHeaderLen
	}
	return EthernetHeaderLen + f.NumTags*VLANTagLen
}

// Put writes the header into b and returns its length.
func (f *EthernetFields) Put(b []byte) (int, error) {
	if f.NumTags < 0 || f.NumTags > EthernetMaxTags {
		return 0, ErrTooManyVLANTags
	}
	n := f.Len()
	if len(b) < n {
		return 0, ErrBufferTooSmall
	}
	copy(b[0:6], f.Dst[:])
	copy(b[6:12], f.Src[:])
	o := 12
	for i := 0; i < f.NumTags; i++ {
		tpid := f.Tags[i].TPID
		if tpid != EtherTypeQinQ {
			tpid = EtherTypeVLAN
		}
		binary.BigEndian.PutUint16(b[o:], tpid)
		binary.BigEndian.PutUint16(b[o+2:], f.Tags[i].TCI)
		o += VLANTagLen
	}
	binary.BigEndian.PutUint16(b[o:], f.Type)
	return n, nil
}
