package header

import (
	"encoding/binary"
	"testing"
)

// Fuzz invariants for IPv6: no parser or accessor panics on any input; the
// extension walk stays inside the packet and, when it succeeds, what it
// reports is consistent with the bytes.

func addIPv6Seeds(f *testing.F) {
	for _, s := range []string{goldenIPv6UDP, goldenIPv6Echo, goldenIPv6Chain} {
		f.Add(unhex(f, s))
	}
	udp := []byte{4, 210, 22, 46, 0, 8, 0, 0}
	f.Add([]byte(pkt6(ip6B, ProtocolRouting, routing(ProtocolUDP, 0, 2), udp)))
	f.Add([]byte(pkt6(ip6B, ProtocolFragment, fragHdr(ProtocolDestOpts, 1480, true, 7), []byte{1, 2})))
	f.Add([]byte(pkt6(ip6B, ProtocolHopByHop, opts(ProtocolDestOpts, 0xde, 0), opts(ProtocolUDP, 0x9e, 0), udp)))
}

func FuzzParseIPv6(f *testing.F) {
	addIPv6Seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if q, err := ParseIPv6Quoted(b); err == nil {
			_, _ = q.Payload(), q.Dst()
		}
		ip, err := ParseIPv6(b)
		if err != nil {
			return
		}
		if len(ip) != IPv6HeaderLen+int(ip.PayloadLength()) || len(ip.Payload()) != int(ip.PayloadLength()) {
			t.Fatalf("view of %d bytes for payload length %d", len(ip), ip.PayloadLength())
		}
		// Re-emit the header from its fields: identical bytes.
		out := make([]byte, IPv6HeaderLen)
		PutIPv6(out, ip.TrafficClass(), ip.FlowLabel(), ip.PayloadLength(), ip.NextHeader(), ip.HopLimit(), ip.Src16(), ip.Dst16())
		if string(out) != string(ip[:IPv6HeaderLen]) {
			t.Fatalf("PutIPv6 %x, parsed from %x", out, []byte(ip[:IPv6HeaderLen]))
		}
		if m, err := ParseICMPv6(ip.Payload()); err == nil {
			_, _, _, _, _ = m.Rest(), m.Ident(), m.MTU(), m.Payload(), m.IsError()
			_ = m.ChecksumValid(ip.Src16(), ip.Dst16())
			if len(m) >= ICMPv6MinLen {
				m.UpdateChecksum(ip.Src16(), ip.Dst16())
				if !m.ChecksumValid(ip.Src16(), ip.Dst16()) {
					t.Fatal("ICMPv6 checksum does not verify after UpdateChecksum")
				}
			}
		}
	})
}

func FuzzParseIPv6Ext(f *testing.F) {
	addIPv6Seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, err := ParseIPv6(b)
		if err != nil {
			return
		}
		var ext IPv6Ext
		err = ParseIPv6Ext(ip, &ext)
		if ext.Report && int(ext.ProblemPointer) >= len(ip) {
			t.Fatalf("problem pointer %d past the %d-byte packet", ext.ProblemPointer, len(ip))
		}
		if ext.Frag {
			if ext.FragHdrOffset < IPv6HeaderLen || ext.FragHdrOffset+8 > len(ip) || ip[ext.FragPrevNextHeader] != ProtocolFragment {
				t.Fatalf("fragment header at %d named at %d in %d bytes", ext.FragHdrOffset, ext.FragPrevNextHeader, len(ip))
			}
			w := binary.BigEndian.Uint16(ip[ext.FragHdrOffset+2:])
			if ext.FragOffset != w&^7 || ext.FragMore != (w&1 == 1) || ext.FragID != binary.BigEndian.Uint32(ip[ext.FragHdrOffset+4:]) {
				t.Fatal("fragment fields differ from the header")
			}
		}
		if err != nil {
			return
		}
		if ext.Offset < IPv6HeaderLen || ext.Offset > len(ip) || ip[ext.NextHeaderOffset] != ext.Proto {
			t.Fatalf("upper layer %d at %d named at %d in %d bytes", ext.Proto, ext.Offset, ext.NextHeaderOffset, len(ip))
		}
		switch ext.Proto {
		case ProtocolHopByHop, ProtocolRouting, ProtocolDestOpts, ProtocolFragment:
			// Only a non-first fragment stops before its upper layer.
			if !ext.Frag || ext.FragOffset == 0 {
				t.Fatalf("walk stopped at extension header %d", ext.Proto)
			}
		}
	})
}
