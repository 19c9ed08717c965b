package afxdp

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// TxMetadataLen is the room a UMEM with transmit metadata reserves in
// front of every transmitted packet: sizeof(union xsk_tx_metadata). Alloc
// returns addresses that far into their frames.
const TxMetadataLen = 24

// netdev generic-netlink family (include/uapi/linux/netdev.h).
const (
	netdevCmdDevGet       = 1
	netdevAttrDevIfindex  = 1
	netdevAttrXskFeatures = 6
	netdevFamilyName      = "netdev"
	netdevFamilyVersion   = 1
)

// TxChecksumOffload reports whether RequestTxChecksum works on the socket:
// its UMEM carries transmit metadata, and the checksum is sure to be
// finished: in zero-copy mode the driver reports the tx-checksum xsk
// feature; in copy mode the device is a veth (txChecksumWorks).
func (s *Socket) TxChecksumOffload() bool { return s.txCsum }

// copyModeChecksumDrivers are the drivers on which copy mode's
// CHECKSUM_PARTIAL skb is known to be handled right. A veth hands it to
// its peer, whose stack sets the skb's headers on receipt and trusts the
// checksum, as between two kernels. Elsewhere it is not offered: the
// copy path does not set the skb's protocol or network header, which a
// NIC driver's checksum offload reads, and on a device without linear
// skbs (virtio_net's IFF_TX_SKB_NO_LINEAR) kernels before late 2025 do
// not read the metadata at all.
var copyModeChecksumDrivers = map[string]bool{"veth": true}

// txChecksumWorks reports whether a socket on ifindex in the given mode
// can offload checksums (TxChecksumOffload).
func txChecksumWorks(ifindex int, zc bool) bool {
	if zc {
		f, err := XskFeatures(ifindex)
		return err == nil && f&XskTxChecksum != 0
	}
	ifi, err := net.InterfaceByIndex(ifindex)
	if err != nil {
		return false
	}
	drv, err := Driver(ifi.Name)
	return err == nil && copyModeChecksumDrivers[drv]
}

// clearTxMetadata zeroes the metadata flags in front of d's packet when
// d asks nothing of them (Transmit, in zero-copy mode with metadata:
// s.clearMeta). Zero-copy drivers read the metadata of every descriptor
// whatever its options (xsk_buff_get_metadata), so a request left in a
// reused frame, or bytes a received frame's headroom held, would be
// applied to a packet that did not ask; the copy path reads it only for
// a descriptor with XDP_TX_METADATA, so there it costs nothing.
func (s *Socket) clearTxMetadata(d *Desc) {
	if d.Options&unix.XDP_TX_METADATA == 0 && d.Addr >= TxMetadataLen {
		binary.NativeEndian.PutUint64(s.umem.mem[d.Addr-TxMetadataLen:], 0)
	}
}

// RequestTxChecksum asks for the checksum of d's packet to be computed on
// transmission: the one's complement of the sum from byte start to the
// end, stored at start+offset (a UDP checksum field: 6; TCP: 16). The
// field must hold the pseudo-header's sum, as for Linux's
// CHECKSUM_PARTIAL. Call it only where TxChecksumOffload is true, on a
// frame the caller owns, before Transmit.
func (s *Socket) RequestTxChecksum(d *Desc, start, offset uint16) {
	m := s.umem.mem[d.Addr-TxMetadataLen : d.Addr : d.Addr]
	binary.NativeEndian.PutUint64(m[0:], unix.XDP_TXMD_FLAGS_CHECKSUM)
	binary.NativeEndian.PutUint16(m[8:], start)
	binary.NativeEndian.PutUint16(m[10:], offset)
	d.Options |= unix.XDP_TX_METADATA
}

// TxChecksumRequest returns what RequestTxChecksum asked for d, or false
// if it asked nothing.
func (s *Socket) TxChecksumRequest(d Desc) (start, offset uint16, ok bool) {
	if d.Options&unix.XDP_TX_METADATA == 0 || s.txOff == 0 || d.Addr < TxMetadataLen {
		return 0, 0, false
	}
	m := s.umem.mem[d.Addr-TxMetadataLen : d.Addr : d.Addr]
	if binary.NativeEndian.Uint64(m[0:])&unix.XDP_TXMD_FLAGS_CHECKSUM == 0 {
		return 0, 0, false
	}
	return binary.NativeEndian.Uint16(m[8:]), binary.NativeEndian.Uint16(m[10:]), true
}

// XskFeatures returns the AF_XDP features the interface's driver reports
// in zero-copy mode (the netdev netlink family's xsk-features, Linux 6.8
// and later): a mask of XskTxTimestamp and XskTxChecksum.
func XskFeatures(ifindex int) (uint64, error) {
	fam, err := netlink.GenlFamilyGet(netdevFamilyName)
	if err != nil {
		return 0, fmt.Errorf("netdev netlink family (Linux 6.0 or newer): %w", err)
	}
	req := nl.NewNetlinkRequest(int(fam.ID), unix.NLM_F_REQUEST)
	req.AddData(genlHeader{cmd: netdevCmdDevGet, version: netdevFamilyVersion})
	req.AddData(nl.NewRtAttr(netdevAttrDevIfindex, nl.Uint32Attr(uint32(ifindex))))
	msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
	if err != nil {
		return 0, fmt.Errorf("netdev dev-get of ifindex %d: %w", ifindex, err)
	}
	for _, m := range msgs {
		if len(m) < nl.SizeofGenlmsg {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[nl.SizeofGenlmsg:])
		if err != nil {
			return 0, fmt.Errorf("netdev dev-get of ifindex %d: %w", ifindex, err)
		}
		for _, a := range attrs {
			if a.Attr.Type == netdevAttrXskFeatures && len(a.Value) >= 8 {
				return binary.NativeEndian.Uint64(a.Value), nil
			}
		}
	}
	return 0, nil // a kernel without the attribute: no feature
}

// genlHeader is a generic netlink message's header, its reserved bytes
// zero (nl.Genlmsg serializes two bytes of whatever follows it in memory
// there, and the netdev family checks them: EINVAL).
type genlHeader struct{ cmd, version uint8 }

func (h genlHeader) Len() int          { return nl.SizeofGenlmsg }
func (h genlHeader) Serialize() []byte { return []byte{h.cmd, h.version, 0, 0} }

// XSK features (netdev_xsk_flags).
const (
	XskTxTimestamp = 1 << 0
	XskTxChecksum  = 1 << 1
)
