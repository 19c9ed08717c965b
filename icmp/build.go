package icmp

import (
	"errors"
	"net/netip"

	"github.com/xdpengine/engine/header"
)

// Errors of the builders. Returned unwrapped; compare with errors.Is.
var (
	// ErrNotEchoRequest: EchoReply was given something else.
	ErrNotEchoRequest = errors.New("icmp: not an echo request")
	// ErrAboutError: no ICMP error is sent about an ICMP error (RFC 1122 3.2.2).
	ErrAboutError = errors.New("icmp: no error about an ICMP error")
	// ErrFragment: no error about a non-first fragment; no echo reply to a
	// fragment (reassemble first).
	ErrFragment = errors.New("icmp: fragment")
	// ErrBroadcast: no error about a packet sent to a broadcast or
	// multicast address.
	ErrBroadcast = errors.New("icmp: packet was sent to broadcast or multicast")
	// ErrBadSource: no error to a source that is not a single host.
	ErrBadSource = errors.New("icmp: source is not a single host")
	// ErrBufferTooSmall: the output buffer cannot hold the message.
	ErrBufferTooSmall = errors.New("icmp: buffer too small")
)

// QuoteLen is the least of the offending payload an error quotes (RFC 792):
// the 8 bytes that hold a transport header's ports.
const QuoteLen = 8

// MaxErrorLen is the most an error packet may take: Linux's icmp_send fills
// up to 576 bytes (RFC 1812 4.3.2.3), quoting as much of the offending
// packet as fits.
const MaxErrorLen = 576

// DefaultTTL is the TTL of the packets built here (Linux's ip_default_ttl).
const DefaultTTL = 64

// EchoReply turns the IPv4 packet ip, an echo request addressed to the
// engine, into the echo reply in place: addresses swapped, TTL set to
// DefaultTTL, type 0, both checksums fixed (the ICMP one incrementally).
// The ICMP checksum of the request is not verified here: ip's payload must
// come from header.ParseICMPv4. IP options are dropped (the ICMP message is
// moved down over them; RFC 1122 3.2.2.6 asks to return record-route and
// timestamp options updated, which is not done). It returns the length of
// the reply, ip[:n]. A broadcast request is the caller's to ignore, as
// Linux does with icmp_echo_ignore_broadcasts=1.
func EchoReply(ip header.IPv4) (n int, err error) {
	if ip.IsFragment() {
		return 0, ErrFragment
	}
	p := ip.Payload()
	if ip.Protocol() != header.ProtocolICMP || len(p) < header.ICMPv4HeaderLen ||
		p[0] != header.ICMPv4Echo || p[1] != 0 {
		return 0, ErrNotEchoRequest
	}
	m := header.ICMPv4(p)
	m.SetType(header.ICMPv4EchoReply)
	// The word holding type and code went from 0x0800 to 0x0000.
	m.SetChecksum(header.ChecksumUpdate16(m.Checksum(), header.ICMPv4Echo<<8, 0))
	if hl := ip.HeaderLen(); hl > header.IPv4MinHeaderLen {
		copy(ip[header.IPv4MinHeaderLen:], p)
		ip[0] = 0x45
	}
	n = header.IPv4MinHeaderLen + len(p)
	src, dst := ip.Src4(), ip.Dst4()
	ip.SetSrc4(dst)
	ip.SetDst4(src)
	ip.SetTotalLength(uint16(n))
	ip.SetTTL(DefaultTTL)
	ip.SetFlagsFragmentOffset(0, 0)
	ip = ip[:n]
	ip.UpdateChecksum()
	return n, nil
}

// EchoReplyFrame is EchoReply on an Ethernet frame: the MAC addresses are
// swapped too. It returns the reply's frame length.
func EchoReplyFrame(frame []byte) (int, error) {
	e, err := header.ParseEthernet(frame)
	if err != nil {
		return 0, err
	}
	ip, err := header.ParseIPv4(e.Payload())
	if err != nil {
		return 0, err
	}
	if e.Dst().IsMulticast() {
		return 0, ErrBroadcast
	}
	n, err := EchoReply(ip)
	if err != nil {
		return 0, err
	}
	s, d := e.Src(), e.Dst()
	e.SetSrc(d)
	e.SetDst(s)
	return e.HeaderLen() + n, nil
}

// ErrorLen returns the length of the IPv4 packet BuildError writes about
// orig.
func ErrorLen(orig header.IPv4) int {
	return header.IPv4MinHeaderLen + header.ICMPv4HeaderLen + quoteLen(orig)
}

// quoteLen is how much of orig an error quotes: all of it, up to what fits
// in MaxErrorLen, as Linux does.
func quoteLen(orig header.IPv4) int {
	return min(orig.HeaderLen()+len(orig.Payload()), MaxErrorLen-header.IPv4MinHeaderLen-header.ICMPv4HeaderLen)
}

// singleHost reports whether a can be the source of a unicast packet.
func singleHost(a [4]byte) bool {
	return a[0] != 0 && a[0] != 127 && a[0] < 224
}

// Check reports why no ICMP error may be sent about orig (nil when one
// may): ErrAboutError, ErrFragment, ErrBroadcast, ErrBadSource. linkBcast
// tells whether the frame was sent to a link-layer broadcast or multicast
// address; broadcast is the directed broadcast address of the engine's
// subnet (the zero Addr when none).
func Check(orig header.IPv4, linkBcast bool, broadcast netip.Addr) error {
	if orig.FragmentOffset() != 0 {
		return ErrFragment
	}
	d := orig.Dst4()
	if linkBcast || d[0] >= 224 || d == [4]byte{255, 255, 255, 255} ||
		(broadcast.Is4() && d == broadcast.As4()) {
		return ErrBroadcast
	}
	if !singleHost(orig.Src4()) {
		return ErrBadSource
	}
	if orig.Protocol() == header.ProtocolICMP {
		p := orig.Payload()
		// Linux (icmp_send) treats a truncated or unknown ICMP type
		// like an error: never answered.
		if len(p) < 1 || header.ICMPv4TypeIsError(p[0]) || p[0] > header.ICMPv4TimestampReply {
			return ErrAboutError
		}
	}
	return nil
}

// BuildError writes into buf an IPv4 packet carrying an ICMP error of type
// typ and code about orig: source local, destination orig's source, the
// type-specific word rest (the next-hop MTU for fragmentation needed, see
// FragNeededRest; the pointer<<24 for parameter problem; 0 otherwise), and
// the quote. id is the IP identification to use; the TOS is 0xc0
// (precedence "internetwork control"), as Linux sends errors. It calls Check first and
// returns its error; the caller then asks its Limiter. It returns the
// packet's length (ErrorLen).
func BuildError(buf []byte, local [4]byte, id uint16, orig header.IPv4, linkBcast bool,
	broadcast netip.Addr, typ, code uint8, rest uint32) (int, error) {
	if err := Check(orig, linkBcast, broadcast); err != nil {
		return 0, err
	}
	n := ErrorLen(orig)
	if len(buf) < n {
		return 0, ErrBufferTooSmall
	}
	q := quoteLen(orig)
	const off = header.IPv4MinHeaderLen + header.ICMPv4HeaderLen
	copy(buf[off:n], orig[:q]) // first: orig may sit in buf
	f := header.IPv4Fields{
		TOS: 0xc0, TotalLength: uint16(n), ID: id, TTL: DefaultTTL, Protocol: header.ProtocolICMP,
		Src: netip.AddrFrom4(local), Dst: netip.AddrFrom4(orig.Src4()),
	}
	if _, err := f.Put(buf); err != nil {
		return 0, err
	}
	m := header.ICMPv4(buf[header.IPv4MinHeaderLen:n])
	m.SetType(typ)
	m.SetCode(code)
	m.SetRest(rest)
	m.UpdateChecksum()
	return n, nil
}

// FragNeededRest returns the type-specific word of a fragmentation-needed
// message carrying the next-hop MTU (RFC 1191).
func FragNeededRest(mtu uint16) uint32 { return uint32(mtu) }
