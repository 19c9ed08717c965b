package reflector

import (
	"errors"

	"github.com/xdpengine/engine/header"
)

// ErrNotIPv4 is returned, with the frame unchanged, for a frame that does
// not carry IPv4 (ARP, IPv6, ...). The caller decides whether to drop it
// or hand it to the host.
var ErrNotIPv4 = errors.New("reflector: not IPv4")

// Reflect swaps frame's Ethernet addresses, IPv4 addresses and TCP or UDP
// ports in place. It returns an error, changing nothing, when the frame is
// not IPv4 (ErrNotIPv4) or does not parse (header.ErrTruncated,
// header.ErrBadChecksum, ... as header.ParseEthernet and ParseIPv4 return
// them). Ports are swapped when the TCP or UDP header is there (first
// fragment, at least 4 bytes of it); other protocols keep their payload.
func Reflect(frame []byte) error {
	e, err := header.ParseEthernet(frame)
	if err != nil {
		return err
	}
	if e.Type() != header.EtherTypeIPv4 {
		return ErrNotIPv4
	}
	ip, err := header.ParseIPv4(e.Payload())
	if err != nil {
		return err
	}
	src, dst := e.Src(), e.Dst()
	e.SetSrc(dst)
	e.SetDst(src)
	s, d := ip.Src4(), ip.Dst4()
	ip.SetSrc4(d)
	ip.SetDst4(s)
	if ip.FragmentOffset() != 0 {
		return nil
	}
	if p := ip.Protocol(); p == header.ProtocolUDP || p == header.ProtocolTCP {
		if l4 := ip.Payload(); len(l4) >= 4 {
			l4[0], l4[1], l4[2], l4[3] = l4[2], l4[3], l4[0], l4[1]
		}
	}
	return nil
}
