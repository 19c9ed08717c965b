package stream

import (
	"encoding/binary"
	"fmt"

	"github.com/xdpengine/engine/bench/signature"
	"github.com/xdpengine/engine/header"
)

// checkChecksums compares every checksum of frame b with a full
// recomputation over the frame and reports the first that differs. Frames
// that are not IPv4 pass.
func checkChecksums(b []byte) error {
	e, err := header.ParseEthernet(b)
	if err != nil {
		return err
	}
	if e.Type() != header.EtherTypeIPv4 {
		return nil
	}
	ip, err := header.ParseIPv4(e.Payload())
	if err != nil {
		return fmt.Errorf("IPv4: %w", err)
	}
	if got, want := ip.Checksum(), ip.CalculateChecksum(); got != want {
		return fmt.Errorf("IPv4 checksum %#04x, recomputed %#04x", got, want)
	}
	if ip.IsFragment() {
		return nil
	}
	seg := ip.Payload()
	switch ip.Protocol() {
	case header.ProtocolUDP:
		u, err := header.ParseUDP(seg)
		if err != nil {
			return fmt.Errorf("UDP: %w", err)
		}
		if int(u.Length()) != len(seg) {
			return fmt.Errorf("UDP length %d in %d bytes", u.Length(), len(seg))
		}
		if u.Checksum() == 0 {
			return nil
		}
		if got, want := u.Checksum(), u.CalculateChecksum(ip.Src4(), ip.Dst4()); got != want {
			return fmt.Errorf("UDP checksum %#04x, recomputed %#04x", got, want)
		}
	case header.ProtocolTCP:
		t, err := header.ParseTCP(seg)
		if err != nil {
			return fmt.Errorf("TCP: %w", err)
		}
		if got, want := t.Checksum(), t.CalculateChecksum(ip.Src4(), ip.Dst4()); got != want {
			return fmt.Errorf("TCP checksum %#04x, recomputed %#04x", got, want)
		}
	case header.ProtocolICMP:
		got := binary.BigEndian.Uint16(seg[2:])
		s := header.Checksum(seg[:2], 0)
		want := ^header.Checksum(seg[4:], s)
		if got != want {
			return fmt.Errorf("ICMP checksum %#04x, recomputed %#04x", got, want)
		}
	}
	return nil
}

// frameFields are what the tests read back from a generated frame.
type frameFields struct {
	size         int // with FCS
	vlan         uint16
	src, dst     uint32
	sport, dport uint16
	sig          signature.Signature
	signed       bool
}

func readFields(b []byte) frameFields {
	f := frameFields{size: len(b) + FCSLen}
	e, _ := header.ParseEthernet(b)
	f.vlan = e.VLANID()
	ip := header.IPv4(e.Payload())
	f.src = binary.BigEndian.Uint32(ip[12:])
	f.dst = binary.BigEndian.Uint32(ip[16:])
	if p := ip.Protocol(); p == header.ProtocolUDP || p == header.ProtocolTCP {
		l4 := ip.Payload()
		f.sport, f.dport = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	}
	f.signed = signature.FromFrame(b, &f.sig)
	return f
}
