package ipv4

import "encoding/binary"

// ParseFragment takes apart an IPv4 packet (starting at its header) into a
// Fragment that aliases pkt. It checks what reassembly relies on (version,
// header length, total length within pkt, header checksum) and trims link
// padding using the total length.
// TODO(merge header): use header.ParseIPv4.
func ParseFragment(pkt []byte) (Fragment, error) {
	var f Fragment
	if len(pkt) < minHeader || pkt[0]>>4 != 4 {
		return f, ErrBadPacket
	}
	hl := int(pkt[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if hl < minHeader || total < hl || total > len(pkt) || ipChecksum(pkt[:hl]) != 0xffff {
		return f, ErrBadPacket
	}
	fo := binary.BigEndian.Uint16(pkt[6:])
	f.Key = FragKey{Src: [4]byte(pkt[12:16]), Dst: [4]byte(pkt[16:20]), ID: binary.BigEndian.Uint16(pkt[4:]), Proto: pkt[9]}
	f.Offset = int(fo&offMsk) * 8
	f.More = fo&flagMF != 0
	f.Header = pkt[:hl]
	f.Payload = pkt[hl:total]
	return f, nil
}
