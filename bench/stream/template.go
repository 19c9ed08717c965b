package stream

import (
	"encoding/binary"
	"fmt"

	"github.com/xdpengine/engine/bench/signature"
	"github.com/xdpengine/engine/header"
)

// Fixed header values of the generated kinds.
const (
	defaultTTL = 64
	tcpWindow  = 65535
	synSeq     = 0x01000000 // TCP SYN: the sequence number (an ISN)
	ackSeq     = 0x01000001 // TCP ACK: sequence and acknowledgment numbers
	ackAck     = 0x02000001
)

// template is one frame to copy and vary, with the offsets of what varies
// and the values the frame holds there (the "m" of RFC 1624's equation 3,
// which Next replaces with m').
type template struct {
	frame []byte // generated kinds: the largest size, payload zero

	vlan int // offset of the innermost tag's TCI; -1: untagged

	ip       bool // IPv4 with a valid header: addresses and checksum are varied
	l3, l4   int  // offsets of the IPv4 and L4 headers
	proto    uint8
	ports    bool // TCP or UDP first fragment: ports at l4, l4+2
	l4Check  int  // offset of the L4 checksum; -1: none (or UDP's zero)
	pseudo   bool // the L4 checksum covers the pseudo-header
	sig      int  // offset of the signature; -1: not signed
	ipCheck  uint16
	l4Sum    uint16 // the L4 checksum field as the template has it
	src, dst [4]byte
	sport    uint16
	dport    uint16
	totalLen uint16
	ipID     uint16
	udpLen   uint16    // UDP: the length field; TCP: the pseudo-header length
	icmpSeq  uint16    // ICMP echo: the sequence field
	sigOld   [8]uint16 // the words under the signature
	// sigBase is what writing a signature adds to the L4 sum, apart
	// from its sequence and time words: the complements of the eight
	// words it replaces, the magic and the stream id (set by New).
	sigBase uint64
}

// words returns the 16-bit words of b at off (even), n of them.
func words(b []byte, off int) (w [8]uint16) {
	for i := range w {
		w[i] = binary.BigEndian.Uint16(b[off+2*i:])
	}
	return w
}

// buildGenerated makes the template of a generated kind at the stream's
// largest size, with every varied field at its first value.
func buildGenerated(sp *Spec, maxSize int, sign bool, f *fields) (template, error) {
	n := maxSize - FCSLen
	b := make([]byte, n)
	eth := header.EthernetFields{Dst: sp.DstMAC, Src: sp.SrcMAC, Type: header.EtherTypeIPv4}
	if f.vlan.set {
		eth.NumTags = 1
		eth.Tags[0] = header.VLANTag{TPID: header.EtherTypeVLAN, TCI: uint16(sp.VLAN.PCP)<<13 | uint16(f.vlan.first)}
	}
	l3, err := eth.Put(b)
	if err != nil {
		return template{}, err
	}
	proto := uint8(header.ProtocolUDP)
	switch sp.Kind {
	case TCPSYN, TCPACK:
		proto = header.ProtocolTCP
	case ICMPEcho:
		proto = header.ProtocolICMP
	}
	ttl := sp.TTL
	if ttl == 0 {
		ttl = defaultTTL
	}
	ipf := header.IPv4Fields{
		TOS: sp.TOS, TotalLength: uint16(n - l3), TTL: ttl, Protocol: proto,
		Src: f.src.addr(), Dst: f.dst.addr(),
	}
	hl, err := ipf.Put(b[l3:])
	if err != nil {
		return template{}, err
	}
	seg := b[l3+hl:]
	switch sp.Kind {
	case UDP:
		u := header.UDPFields{SrcPort: uint16(f.sport.first), DstPort: uint16(f.dport.first), Length: uint16(len(seg))}
		u.Put(seg)
		header.UDP(seg).UpdateChecksum(ipf.Src.As4(), ipf.Dst.As4())
	case TCPSYN, TCPACK:
		t := header.TCPFields{SrcPort: uint16(f.sport.first), DstPort: uint16(f.dport.first), Window: tcpWindow}
		if sp.Kind == TCPSYN {
			t.Seq, t.Flags = synSeq, header.TCPFlagSYN
		} else {
			t.Seq, t.Ack, t.Flags = ackSeq, ackAck, header.TCPFlagACK
		}
		if _, err := t.Put(seg); err != nil {
			return template{}, err
		}
		header.TCP(seg).UpdateChecksum(ipf.Src.As4(), ipf.Dst.As4())
	case ICMPEcho:
		m := header.ICMPv4Fields{Type: header.ICMPv4Echo, Rest: uint32(sp.ID) << 16}
		m.Put(seg[:header.ICMPv4HeaderLen])
		header.ICMPv4(seg).UpdateChecksum()
	}
	t, ok := parseTemplate(b)
	if !ok {
		return template{}, fmt.Errorf("stream: internal error: built %s frame does not parse", sp.Kind)
	}
	if !sign {
		t.sig = -1
	}
	return t, nil
}

// headersLen returns the length of a generated kind's headers, up to
// where the signature goes.
func headersLen(k Kind, tagged bool) int {
	n := header.EthernetHeaderLen + header.IPv4HeaderLen
	if tagged {
		n += header.VLANTagLen
	}
	switch k {
	case TCPSYN, TCPACK:
		return n + header.TCPMinHeaderLen
	case ICMPEcho:
		return n + header.ICMPv4HeaderLen
	}
	return n + header.UDPHeaderLen
}

// parseTemplate reads the offsets and values of frame b into a template.
// ok is false when b is not an Ethernet frame; a frame that is not IPv4
// with a valid header has ip false. The template's sig is the offset where
// a signature would go, -1 where none fits.
func parseTemplate(b []byte) (t template, ok bool) {
	t = template{frame: b, vlan: -1, l4Check: -1, sig: -1}
	e, err := header.ParseEthernet(b)
	if err != nil {
		return t, false
	}
	if e.NumTags() > 0 {
		t.vlan = e.HeaderLen() - 4
	}
	if e.Type() != header.EtherTypeIPv4 {
		return t, true
	}
	t.l3 = e.HeaderLen()
	ip, err := header.ParseIPv4(b[t.l3:])
	if err != nil {
		return t, true
	}
	t.ip = true
	t.l4 = t.l3 + ip.HeaderLen()
	t.proto = ip.Protocol()
	t.ipCheck, t.src, t.dst = ip.Checksum(), ip.Src4(), ip.Dst4()
	t.totalLen, t.ipID = ip.TotalLength(), ip.ID()
	if ip.FragmentOffset() != 0 {
		return t, true
	}
	seg := ip.Payload()
	pay := -1
	switch t.proto {
	case header.ProtocolUDP:
		u, err := header.ParseUDP(seg)
		if err != nil {
			break
		}
		t.ports, t.sport, t.dport = true, u.SrcPort(), u.DstPort()
		t.udpLen, t.pseudo, pay = u.Length(), true, t.l4+header.UDPHeaderLen
		if t.l4Sum = u.Checksum(); t.l4Sum != 0 {
			t.l4Check = t.l4 + 6
		}
	case header.ProtocolTCP:
		s, err := header.ParseTCP(seg)
		if err != nil {
			break
		}
		t.ports, t.sport, t.dport = true, s.SrcPort(), s.DstPort()
		t.udpLen, t.pseudo, pay = uint16(len(seg)), true, t.l4+s.HeaderLen()
		t.l4Sum, t.l4Check = s.Checksum(), t.l4+16
	case header.ProtocolICMP:
		if len(seg) < header.ICMPv4HeaderLen {
			break
		}
		m := header.ICMPv4(seg)
		if m.Type() == header.ICMPv4Echo || m.Type() == header.ICMPv4EchoReply {
			pay = t.l4 + header.ICMPv4HeaderLen
			t.icmpSeq = m.Seq()
		}
		t.l4Sum, t.l4Check = m.Checksum(), t.l4+2
	}
	if pay >= 0 && t.l3+len(ip)-pay >= signature.Len {
		t.sig = pay
		t.sigOld = words(b, pay)
	}
	return t, true
}

// buildReplay makes the template of one captured frame: a copy, with the
// MACs and VLAN tag set as the spec asks and, with FixChecksums, every
// checksum recomputed.
func buildReplay(sp *Spec, i int, data []byte, sign bool, f *fields) (template, error) {
	b := append([]byte(nil), data...)
	if f.vlan.set {
		if e, err := header.ParseEthernet(b); err == nil && e.NumTags() == 0 {
			tagged := make([]byte, len(b)+header.VLANTagLen)
			copy(tagged, b[:12])
			binary.BigEndian.PutUint16(tagged[12:], header.EtherTypeVLAN)
			binary.BigEndian.PutUint16(tagged[14:], uint16(sp.VLAN.PCP)<<13|uint16(f.vlan.first))
			copy(tagged[16:], b[12:])
			b = tagged
		}
	}
	var zero header.MAC
	if sp.DstMAC != zero && len(b) >= 6 {
		copy(b[0:6], sp.DstMAC[:])
	}
	if sp.SrcMAC != zero && len(b) >= 12 {
		copy(b[6:12], sp.SrcMAC[:])
	}
	if sp.FixChecksums {
		fixChecksums(b)
	}
	t, ok := parseTemplate(b)
	if !ok {
		return template{}, fmt.Errorf("frame %d: %w", i, header.ErrTruncated)
	}
	if sign && t.sig < 0 {
		return template{}, fmt.Errorf("frame %d: %w", i, ErrNoRoom)
	}
	if !sign {
		t.sig = -1
	}
	return t, nil
}

// fixChecksums recomputes the IPv4 header checksum of an Ethernet frame
// b and, for an unfragmented UDP, TCP or ICMP packet, the L4 one. Frames
// that are not IPv4, or whose IPv4 header does not fit, are left alone.
func fixChecksums(b []byte) {
	e, err := header.ParseEthernet(b)
	if err != nil || e.Type() != header.EtherTypeIPv4 {
		return
	}
	ip, err := header.ParseIPv4Quoted(e.Payload())
	if err != nil || int(ip.TotalLength()) > len(ip) {
		return
	}
	ip = ip[:ip.TotalLength()]
	ip.UpdateChecksum()
	if ip.IsFragment() {
		return
	}
	seg := ip.Payload()
	switch ip.Protocol() {
	case header.ProtocolUDP:
		if u, err := header.ParseUDP(seg); err == nil {
			u.UpdateChecksum(ip.Src4(), ip.Dst4())
		}
	case header.ProtocolTCP:
		if t, err := header.ParseTCP(seg); err == nil {
			t.UpdateChecksum(ip.Src4(), ip.Dst4())
		}
	case header.ProtocolICMP:
		if len(seg) >= header.ICMPv4HeaderLen {
			header.ICMPv4(seg).UpdateChecksum()
		}
	}
}
