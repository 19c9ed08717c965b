package header

import (
	"encoding/binary"
	"net/netip"
)

// ARP operations (RFC 826).
const (
	ARPRequest = 1
	ARPReply   = 2
)

// ARPLen is the length of an Ethernet/IPv4 ARP packet (without the
// Ethernet header and padding).
const ARPLen = 28

// ARP is a view of an ARP packet for Ethernet hardware and IPv4 protocol
// addresses (RFC 826):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|      Hardware type (1)        |     Protocol type (0x0800)    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  HW len (6)   | Proto len (4) |          Operation            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                Sender hardware address (6 bytes)              |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |  Sender protocol address ...  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   ... (4 bytes)               |  Target hardware address ...  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                          ... (6 bytes)                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Target protocol address (4 bytes)             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Views come from ParseARP; see the package's parse contract.
type ARP []byte

// ParseARP validates b as an Ethernet/IPv4 ARP packet. Errors: ErrTruncated
// below 28 bytes, ErrUnsupportedARP for other hardware or protocol types or
// address lengths. The operation is not checked (any value is returned by
// Op; RFC 826 receivers ignore unknown ones). The view is trimmed to 28
// bytes, dropping Ethernet padding.
func ParseARP(b []byte) (ARP, error) {
	if len(b) < ARPLen {
		return nil, ErrTruncated
	}
	if binary.BigEndian.Uint16(b[0:]) != 1 || binary.BigEndian.Uint16(b[2:]) != EtherTypeIPv4 ||
		b[4] != 6 || b[5] != 4 {
		return nil, ErrUnsupportedARP
	}
	return ARP(b[:ARPLen]), nil
}

// Op returns the operation (ARPRequest, ARPReply or another value).
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a[6:]) }

// SenderMAC returns the sender hardware address.
func (a ARP) SenderMAC() MAC { return MAC(a[8:14]) }

// SenderIP4 returns the sender protocol address.
func (a ARP) SenderIP4() [4]byte { return [4]byte(a[14:18]) }

// TargetMAC returns the target hardware address.
func (a ARP) TargetMAC() MAC { return MAC(a[18:24]) }

// TargetIP4 returns the target protocol address.
func (a ARP) TargetIP4() [4]byte { return [4]byte(a[24:28]) }

// SenderIP returns the sender protocol address.
func (a ARP) SenderIP() netip.Addr { return netip.AddrFrom4(a.SenderIP4()) }

// TargetIP returns the target protocol address.
func (a ARP) TargetIP() netip.Addr { return netip.AddrFrom4(a.TargetIP4()) }

// ARPFields is the plain form of an Ethernet/IPv4 ARP packet.
type ARPFields struct {
	Op                   uint16
	SenderMAC, TargetMAC MAC
	SenderIP, TargetIP   [4]byte
}

// Parse validates b as ParseARP does and fills f.
func (f *ARPFields) Parse(b []byte) error {
	a, err := ParseARP(b)
	if err != nil {
		return err
	}
	*f = ARPFields{Op: a.Op(), SenderMAC: a.SenderMAC(), TargetMAC: a.TargetMAC(),
		SenderIP: a.SenderIP4(), TargetIP: a.TargetIP4()}
	return nil
}

// Len returns ARPLen.
func (f *ARPFields) Len() int { return ARPLen }

// Put writes the packet into b and returns ARPLen.
func (f *ARPFields) Put(b []byte) (int, error) {
	if len(b) < ARPLen {
		return 0, ErrBufferTooSmall
	}
	binary.BigEndian.PutUint16(b[0:], 1)
	binary.BigEndian.PutUint16(b[2:], EtherTypeIPv4)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], f.Op)
	copy(b[8:14], f.SenderMAC[:])
	copy(b[14:18], f.SenderIP[:])
	copy(b[18:24], f.TargetMAC[:])
	copy(b[24:28], f.TargetIP[:])
	return ARPLen, nil
}
