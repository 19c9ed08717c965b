package inet6

import (
	"net/netip"
	"syscall"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ipv6"
	"github.com/xdpengine/engine/stack/datapath"
)

// ICMPError is an ICMPv6 error the IPv6 layer received and parsed, as a
// transport's ICMPError gets it. Its slices alias the received packet and
// are valid only during the call.
type ICMPError struct {
	Type, Code uint8
	// Rest is the type-specific word: the MTU of a Packet Too Big, the
	// pointer of a parameter problem.
	Rest uint32
	// Errno is what a socket reports for it, as Linux's
	// icmpv6_err_convert: ECONNREFUSED for a port unreachable, EMSGSIZE
	// for a Packet Too Big, ...
	Errno syscall.Errno
	// Quoted is the quoted packet, as much of it as came (its payload
	// length may say more): its source is one of the engine's addresses.
	Quoted header.IPv6
	// Proto is the quoted packet's upper-layer protocol, and Transport its
	// upper-layer header and what follows of it.
	Proto     uint8
	Transport []byte
}

// Local returns the quoted packet's source: the engine's address.
func (e *ICMPError) Local() netip.Addr { return e.Quoted.Src() }

// Remote returns the quoted packet's destination.
func (e *ICMPError) Remote() netip.Addr { return e.Quoted.Dst() }

// errnoOf maps an ICMPv6 error to the errno Linux reports
// (icmpv6_err_convert).
func errnoOf(typ, code uint8) syscall.Errno {
	switch typ {
	case header.ICMPv6DstUnreachable:
		switch code {
		case header.ICMPv6NoRoute:
			return syscall.ENETUNREACH
		case header.ICMPv6BeyondScope, header.ICMPv6AddressUnreachable:
			return syscall.EHOSTUNREACH
		case header.ICMPv6PortUnreachable:
			return syscall.ECONNREFUSED
		}
		return syscall.EACCES // administratively prohibited, policy, reject route
	case header.ICMPv6PacketTooBig:
		return syscall.EMSGSIZE
	case header.ICMPv6ParamProblem:
		return syscall.EPROTO
	}
	return syscall.EHOSTUNREACH // time exceeded
}

// handleICMPv6 checks an ICMPv6 message and acts on it: Neighbor
// Discovery, MLD, echo (answered in place when it came alone in its
// frame), echo replies (to Config.EchoReply), errors (given to the transport whose packet they quote). It
// returns the length of an echo reply written into r.Frame.
func (l *Layer) handleICMPv6(r *Received) int {
	m, err := header.ParseICMPv6(r.Payload())
	if err != nil {
		l.c.ICMP.InErrors++
		l.st.DropMalformed++
		return 0
	}
	if !r.Checked && !m.ChecksumValid(r.IP.Src16(), r.IP.Dst16()) {
		l.c.ICMP.InCsumErrors++
		l.c.ICMP.InErrors++
		l.st.DropChecksum++
		return 0
	}
	typ := m.Type()
	if !r.Steered {
		l.c.ICMP.CountIn(typ)
	}
	switch typ {
	case header.ICMPv6NeighborSolicitation, header.ICMPv6NeighborAdvertisement,
		header.ICMPv6RouterSolicitation, header.ICMPv6RouterAdvertisement, header.ICMPv6Redirect:
		l.c.InDelivers++
		l.handleNDP(r, m)
		return 0
	case header.ICMPv6MulticastListenerQuery, header.ICMPv6MulticastListenerReport,
		header.ICMPv6MulticastListenerDone, header.ICMPv6MulticastListenerReportV2:
		if !r.tentative {
			l.c.InDelivers++
			l.handleMLD(r, m)
		}
		return 0
	}
	if r.tentative {
		l.c.InAddrErrors++ // only Neighbor Discovery reaches a tentative address
		return 0
	}
	l.c.InDelivers++
	switch typ {
	case header.ICMPv6EchoRequest:
		return l.echo(r, m)
	case header.ICMPv6EchoReply:
		if f := l.h.cfg.EchoReply; f != nil { // the engine's own pings
			f(r.IP.Src(), m.Ident(), m.Seq(), r.IP.HopLimit(), len(m))
		}
	case header.ICMPv6DstUnreachable, header.ICMPv6PacketTooBig, header.ICMPv6TimeExceeded, header.ICMPv6ParamProblem:
		l.handleICMPv6Error(r, m)
	}
	return 0
}

// echoHopLimit is the hop limit of what the engine originates (Linux's
// net.ipv6.conf.*.hop_limit).
const echoHopLimit = 64

// echo answers an echo request: in place when it came alone in its frame
// with no extension header, else through the send path (which fragments).
func (l *Layer) echo(r *Received, m header.ICMPv6) int {
	src, dst := r.IP.Src16(), r.IP.Dst16()
	if src == ([16]byte{}) {
		return 0
	}
	from := dst
	if dst[0] == 0xff { // to a group: answer from our address toward the sender
		a := l.h.SourceFor(r.IP.Src())
		if !a.IsValid() {
			return 0
		}
		from = a.As16()
	}
	if r.Frame != nil && r.Offset == header.IPv6HeaderLen {
		ip := r.IP
		ip.SetSrc16(from)
		ip.SetDst16(src)
		ip.SetHopLimit(echoHopLimit)
		m.SetType(header.ICMPv6EchoReply)
		m.SetCode(0)
		m.SetChecksum(0)
		m.UpdateChecksum(from, src)
		eth := header.Ethernet(r.Frame)
		eth.SetDst(eth.Src())
		eth.SetSrc(l.h.cfg.MAC)
		l.c.ICMP.CountOut(header.ICMPv6EchoReply)
		l.c.OutRequests++
		return ethHeaderLen + len(ip)
	}
	n := header.IPv6HeaderLen + len(m)
	b := l.h.cfg.Bufs.Get(n)
	if b == nil {
		return 0
	}
	header.PutIPv6(b.B, r.IP.TrafficClass(), 0, uint16(len(m)), header.ProtocolICMPv6, echoHopLimit, from, src)
	rm := header.ICMPv6(b.B[header.IPv6HeaderLen:n])
	copy(rm, m)
	rm.SetType(header.ICMPv6EchoReply)
	rm.SetCode(0)
	rm.SetChecksum(0)
	rm.UpdateChecksum(from, src)
	l.c.ICMP.CountOut(header.ICMPv6EchoReply)
	l.c.OutRequests++
	l.SendDatagram(Datagram{Buf: b, N: n, Dst: netip.AddrFrom16(src)})
	return 0
}

// handleICMPv6Error learns a path MTU from Packet Too Big and gives the
// error to the transport of the packet it quotes: one demux for every
// transport.
func (l *Layer) handleICMPv6Error(r *Received, m header.ICMPv6) {
	q, err := header.ParseIPv6Quoted(m.Payload())
	if err != nil || !l.h.Owns(q.Src()) {
		return // not about a packet of ours
	}
	if err := header.ParseIPv6Ext(q, &l.qext); err != nil {
		return
	}
	e := &l.icmpErr
	*e = ICMPError{Type: m.Type(), Code: m.Code(), Rest: m.Rest(), Errno: errnoOf(m.Type(), m.Code()),
		Quoted: q, Proto: l.qext.Proto, Transport: q[l.qext.Offset:]}
	if e.Type == header.ICMPv6PacketTooBig && !r.Steered {
		l.h.Learn(q.Dst(), int(e.Rest))
	}
	if t := l.proto[e.Proto]; t != nil {
		rc := *r // what escapes through the interface is this copy (an error, not every packet)
		t.ICMPError(&rc, e)
	}
	*e = ICMPError{}
}

// SendICMPError answers orig with an ICMPv6 error quoting as much of it
// as fits in 1280 bytes, within RFC 4443 2.4(e)'s rules (never about an
// ICMPv6 error, nor to a multicast or unspecified source; to a multicast
// destination only Packet Too Big and an unrecognised option) and the
// rate limits (Linux's: one per second per destination with a burst of 6,
// 1000 a second in all, Packet Too Big exempt).
func (l *Layer) SendICMPError(orig header.IPv6, linkMcast bool, typ, code uint8, rest uint32) {
	if len(orig) < header.IPv6HeaderLen {
		return
	}
	src, dst := orig.Src16(), orig.Dst16()
	if src == ([16]byte{}) || src[0] == 0xff {
		return
	}
	mcastOK := typ == header.ICMPv6PacketTooBig || typ == header.ICMPv6ParamProblem && code == header.ICMPv6UnrecognizedOption
	if (dst[0] == 0xff || linkMcast) && !mcastOK {
		return
	}
	if header.ParseIPv6Ext(orig, &l.sext) == nil && l.sext.Proto == header.ProtocolICMPv6 &&
		l.sext.Offset < len(orig) && orig[l.sext.Offset] < 128 {
		return // about an ICMPv6 error
	}
	if !l.limiter.Allow(l.Now(), fold4(src), typ, code, &l.limc) {
		return
	}
	from := dst
	if dst[0] == 0xff || !l.usable(dst) {
		a := l.h.SourceFor(orig.Src())
		if !a.IsValid() {
			return
		}
		from = a.As16()
	}
	q := min(len(orig), ipv6.QuoteLen)
	n := header.IPv6HeaderLen + header.ICMPv6HeaderLen + q
	b := l.h.cfg.Bufs.Get(datapath.SmallBuf)
	header.PutIPv6(b.B, 0, 0, uint16(n-header.IPv6HeaderLen), header.ProtocolICMPv6, echoHopLimit, from, src)
	m := header.ICMPv6(b.B[header.IPv6HeaderLen:n])
	m.SetType(typ)
	m.SetCode(code)
	m.SetRest(rest)
	copy(m[header.ICMPv6HeaderLen:], orig[:q])
	m.SetChecksum(0)
	m.UpdateChecksum(from, src)
	l.c.ICMP.CountOut(typ)
	l.c.OutRequests++
	l.SendDatagram(Datagram{Buf: b, N: n, Dst: orig.Src()})
}

// fold4 folds an IPv6 address into the 4-byte key of the ICMP rate
// limiter's per-destination table (two addresses that fold alike share a
// bucket).
func fold4(a [16]byte) [4]byte {
	var k [4]byte
	for i := range 4 {
		k[i] = a[i] ^ a[4+i] ^ a[8+i] ^ a[12+i]
	}
	return k
}
