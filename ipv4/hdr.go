package ipv4

import "github.com/xdpengine/engine/header"

// finishHeader rewrites the first fragment's header for the whole datagram:
// total length, MF clear, offset 0, fresh checksum. DF and the reserved bit
// are kept as the first fragment had them.
func finishHeader(h []byte, total int) {
	ip := header.IPv4(h)
	ip.SetTotalLength(uint16(total))
	ip.SetFlagsFragmentOffset(ip.Flags()&^header.IPv4FlagMoreFragments, 0)
	ip.UpdateChecksum()
}
