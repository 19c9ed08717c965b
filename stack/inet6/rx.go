package inet6

import (
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ipv6"
	"github.com/xdpengine/engine/stack/datapath"
)

// What a steered item holds (datapath.Steered.Kind): inet4 hands every
// kind from steerBase (inet4.SteerIPv6) up to the IPv6 layer.
const (
	steerBase     uint8 = 128
	steerNDP            = steerBase + iota // an NDP packet (IPv6 header first) every worker learns from
	steerFrame                             // a frame of a flow the receiver owns
	steerDatagram                          // a reassembled packet (IPv6 header first) of such a flow
	steerForward                           // a frame for the receiver's Forwarder (SteerForward)

	flagLinkMcast uint8 = 1 << 0 // sent to a link-layer multicast address
	flagChecked   uint8 = 1 << 1 // the transport checksum was verified
)

// Frame implements datapath.Input: one IPv6 frame received from the link
// (inet4 hands over EtherType 0x86dd). It returns the length of an echo
// reply written in place into the same frame, or 0.
func (l *Layer) Frame(frame []byte) int {
	eth, err := header.ParseEthernet(frame)
	if err != nil || eth.NumTags() > 0 || eth.Type() != header.EtherTypeIPv6 {
		l.st.DropMalformed++
		return 0
	}
	return l.handleIPv6(frame, eth)
}

// Steered implements datapath.Input: an item another worker handed over.
func (l *Layer) Steered(it *datapath.Steered) {
	b := it.Bytes()
	switch it.Kind {
	case steerNDP:
		l.ndpSteered(b)
	case steerForward:
		l.st.SteeredIn++
		if n := l.forwardSteered(b); n > 0 && l.dp != nil {
			l.dp.SendFrame(b[:n])
		}
	case steerFrame, steerDatagram:
		l.st.SteeredIn++
		var ip header.IPv6
		if it.Kind == steerFrame {
			eth, err := header.ParseEthernet(b)
			if err != nil {
				return
			}
			ip = header.IPv6(eth.Payload())
		} else {
			b, ip = nil, header.IPv6(b)
		}
		// Validated by the sender; parsed again only to find the offsets.
		ip, err := header.ParseIPv6(ip)
		if err != nil || header.ParseIPv6Ext(ip, &l.ext) != nil {
			return
		}
		l.deliver(&Received{Frame: b, IP: ip, Offset: l.ext.Offset, Proto: l.ext.Proto,
			LinkMcast: it.Flags&flagLinkMcast != 0, Steered: true, Checked: it.Flags&flagChecked != 0,
			nhOff: l.ext.NextHeaderOffset, routerAlert: l.ext.RouterAlert})
	}
}

// Steer hands r to the worker owner, whose flow it is: a frame as it
// came, a reassembled packet as a packet. A packet the receiving worker
// steered is not steered again (r.Steered): the caller drops it.
func (l *Layer) Steer(owner *Layer, r *Received) {
	if r.Steered || l.dp == nil || owner.dp == nil {
		return
	}
	flags := uint8(0)
	if r.LinkMcast {
		flags |= flagLinkMcast
	}
	if r.Checked {
		flags |= flagChecked
	}
	kind, b := steerFrame, r.Frame
	if b == nil {
		kind, b = steerDatagram, r.IP
	}
	if l.dp.SteerTo(owner.dp, b, kind, flags) {
		l.st.Steered++
	}
}

// handleIPv6 takes a frame from the link: header and destination checks,
// extension headers, reassembly, dispatch.
func (l *Layer) handleIPv6(frame []byte, eth header.Ethernet) int {
	l.c.InReceives++
	ip, err := header.ParseIPv6(eth.Payload())
	if err != nil {
		if err == header.ErrTruncated {
			l.c.InTruncatedPkts++
		} else {
			l.c.InHdrErrors++
		}
		l.st.DropMalformed++
		return 0
	}
	linkMcast := eth.Dst()[0]&1 != 0
	dst := ip.Dst16()
	if src := ip.Src16(); src[0] == 0xff {
		l.c.InAddrErrors++ // a multicast source (RFC 4291 2.7)
		l.st.DropNotLocal++
		return 0
	}
	tentative := false
	if dst[0] == 0xff {
		if !l.h.takesGroup(dst) {
			l.c.InAddrErrors++
			l.st.DropNotLocal++
			return 0
		}
	} else if !l.usable(dst) && !l.h.isTransparent(dst) {
		if !l.h.Owns(ip.Dst()) {
			l.c.InAddrErrors++
			l.st.DropNotLocal++
			return 0
		}
		tentative = true // only Neighbor Discovery reaches a tentative address (RFC 4862 5.4)
	}
	ext := &l.ext
	if err := header.ParseIPv6Ext(ip, ext); err != nil {
		l.c.InHdrErrors++
		l.st.DropMalformed++
		if ext.Report && !tentative {
			l.SendICMPError(ip, linkMcast, header.ICMPv6ParamProblem, ext.ProblemCode, ext.ProblemPointer)
		}
		return 0
	}
	if tentative && ext.Proto != header.ProtocolICMPv6 {
		l.c.InAddrErrors++
		l.st.DropNotLocal++
		return 0
	}
	if ext.Frag {
		if tentative {
			l.c.InAddrErrors++
			return 0
		}
		f := ipv6.FragmentOf(ip, ext)
		d, ok, _ := l.reasm.Add(&f, l.Now())
		if ok {
			l.handleDatagram(d.Bytes(), linkMcast)
			d.Release()
		}
		return 0
	}
	if l.fwd != nil && !tentative && dst[0] != 0xff {
		if n, done := l.forward(frame, ip, ext.Offset, ext.Proto); done {
			return n
		}
	}
	r := Received{Frame: frame, IP: ip, Offset: ext.Offset, Proto: ext.Proto, LinkMcast: linkMcast,
		nhOff: ext.NextHeaderOffset, routerAlert: ext.RouterAlert, tentative: tentative}
	return l.deliver(&r)
}

// usable reports whether dst is one of the addresses past DAD (the
// responder's list, refreshed every round).
func (l *Layer) usable(dst [16]byte) bool {
	for _, a := range l.resp.Addrs {
		if a == dst {
			return true
		}
	}
	return false
}

// handleDatagram processes a reassembled packet (IPv6 header first).
func (l *Layer) handleDatagram(pkt []byte, linkMcast bool) {
	ip, err := header.ParseIPv6(pkt)
	if err != nil {
		l.c.InHdrErrors++
		return
	}
	if err := header.ParseIPv6Ext(ip, &l.ext); err != nil {
		l.c.InHdrErrors++
		if l.ext.Report {
			l.SendICMPError(ip, linkMcast, header.ICMPv6ParamProblem, l.ext.ProblemCode, l.ext.ProblemPointer)
		}
		return
	}
	if l.fwd != nil && ip.Dst16()[0] != 0xff {
		if _, done := l.forward(nil, ip, l.ext.Offset, l.ext.Proto); done {
			return
		}
	}
	r := Received{IP: ip, Offset: l.ext.Offset, Proto: l.ext.Proto, LinkMcast: linkMcast,
		nhOff: l.ext.NextHeaderOffset, routerAlert: l.ext.RouterAlert}
	l.deliver(&r)
}

// deliver gives a packet to ICMPv6 or to its transport, or answers it
// with the error Linux sends when nothing takes it. It returns the length
// of an echo reply written in place into r.Frame.
func (l *Layer) deliver(r *Received) int {
	if r.Proto == header.ProtocolICMPv6 {
		return l.handleICMPv6(r)
	}
	if t := l.proto[r.Proto]; t != nil {
		l.c.InDelivers++
		t.Input(*r)
		return 0
	}
	switch r.Proto {
	case header.ProtocolUDP:
		// As Linux: a datagram with a valid checksum to no socket gets a
		// port unreachable.
		if !l.udpChecksumOK(r) {
			l.st.DropChecksum++
			return 0
		}
		l.c.InNoPorts++
		l.st.DropNoSocket++
		l.SendICMPError(r.IP, r.LinkMcast, header.ICMPv6DstUnreachable, header.ICMPv6PortUnreachable, 0)
	case header.ProtocolTCP:
		// No TCP registered (the engine always registers stack/tcpsock,
		// which answers a segment for no socket with a RST): counted, dropped.
		l.c.InNoPorts++
		l.st.DropNoSocket++
	case header.ProtocolNoNext:
		l.c.InDelivers++ // nothing follows (RFC 8200 4.7)
	default:
		l.c.InUnknownProtos++
		l.st.DropProto++
		l.SendICMPError(r.IP, r.LinkMcast, header.ICMPv6ParamProblem, header.ICMPv6UnrecognizedNextHeader, uint32(r.nhOff))
	}
	return 0
}

// udpChecksumOK checks a UDP datagram's length and checksum (zero is not
// allowed over IPv6, RFC 8200 8.1); a partial checksum passes where the
// host trusts them.
func (l *Layer) udpChecksumOK(r *Received) bool {
	if r.Checked {
		return true
	}
	u := r.Payload()
	if len(u) < header.UDPHeaderLen || int(header.UDP(u).Length()) != len(u) {
		return false
	}
	c := header.UDP(u).Checksum()
	if c == 0 {
		return false
	}
	ph := header.PseudoHeaderChecksum6(header.ProtocolUDP, r.IP.Src16(), r.IP.Dst16(), uint32(len(u)))
	if l.h.cfg.TrustPartial && c == ph { // first: no pass over the data
		l.st.RxCsumPartial++
		return true
	}
	return header.Checksum(u, ph) == 0xffff
}

// reassemblyTimedOut sends time exceeded (fragment reassembly time
// exceeded, code 1) for a packet whose first fragment had arrived.
func (l *Layer) reassemblyTimedOut(first []byte) {
	ip, err := header.ParseIPv6Quoted(first)
	if err != nil {
		return
	}
	l.SendICMPError(ip, false, header.ICMPv6TimeExceeded, header.ICMPv6ReassemblyExceeded, 0)
}

// fragmentParamProblem sends the parameter problem the reassembler asks
// for (a fragment length not a multiple of 8, a packet over 65535 bytes).
func (l *Layer) fragmentParamProblem(pkt []byte, pointer uint32) {
	ip, err := header.ParseIPv6Quoted(pkt)
	if err != nil {
		return
	}
	l.SendICMPError(ip, false, header.ICMPv6ParamProblem, header.ICMPv6ErroneousHeader, pointer)
}
