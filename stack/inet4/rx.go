package inet4

import (
	"net/netip"
	"syscall"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/icmp"
	"github.com/xdpengine/engine/ipv4"
	"github.com/xdpengine/engine/stack/datapath"
)

// What a steered item holds (datapath.Steered.Kind) and what its sender
// learned about it (Flags).
const (
	steerFrame    uint8 = iota // a frame of a flow the receiver owns
	steerARP                   // an ARP packet (no Ethernet header) every worker learns from
	steerDatagram              // a reassembled datagram (IPv4 header first) of such a flow
	steerForward               // a frame for the owner's Forwarder (SteerForward)

	// SteerIPv6 and above are the IPv6 layer's kinds (SetIPv6): Steered
	// hands those items to it.
	SteerIPv6 uint8 = 128

	flagLinkBcast uint8 = 1 << 0 // sent to a link-layer broadcast address
	flagChecked   uint8 = 1 << 1 // the transport checksum was verified
)

const arpFrameLen = 64

// Frame implements datapath.Input: one frame received from the link.
func (l *Layer) Frame(frame []byte) int { return l.handleFrame(frame, false, 0) }

// Steered implements datapath.Input: an item another worker handed over.
// Its sender parsed and checked it, and ran the Hook: nothing is done
// twice.
func (l *Layer) Steered(it *datapath.Steered) {
	if it.Kind >= SteerIPv6 {
		if l.v6 != nil {
			l.v6.Steered(it)
		}
		return
	}
	if it.Kind == steerARP {
		l.handleARP(it.Bytes(), false)
		return
	}
	l.st.SteeredIn++
	if it.Kind == steerForward {
		if n := l.forwardSteered(it.Bytes()); n > 0 {
			l.dp.SendFrame(it.Bytes()[:n])
		}
		return
	}
	if it.Kind == steerDatagram {
		ip := header.IPv4(it.Bytes())
		l.deliver(&Received{IP: ip, LinkBcast: it.Flags&flagLinkBcast != 0, Steered: true, Checked: it.Flags&flagChecked != 0})
		return
	}
	l.handleFrame(it.Bytes(), true, it.Flags)
}

// Steer hands r to the worker owner, whose flow it is: a frame as it
// came, a reassembled datagram as a datagram. A frame the receiving worker
// steered is not steered again (r.Steered): the caller drops it.
func (l *Layer) Steer(owner *Layer, r *Received) {
	flags := uint8(0)
	if r.LinkBcast {
		flags |= flagLinkBcast
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

// handleFrame runs one frame through the stack. It returns the length of
// a reply written in place into the same frame (ICMP echo, a hook's
// Transmit), to be transmitted from it, or 0 when the frame can be
// released. steered is true for a frame another worker handed over, with
// what that worker learned in flags.
func (l *Layer) handleFrame(frame []byte, steered bool, flags uint8) int {
	eth, err := header.ParseEthernet(frame)
	if err != nil {
		l.st.DropMalformed++
		return 0
	}
	if eth.NumTags() > 0 {
		l.st.DropProto++ // no VLAN sub-interfaces; the XDP program passes tagged frames to the host
		return 0
	}
	switch eth.Type() {
	case header.EtherTypeARP:
		l.handleARP(eth.Payload(), !steered)
		return 0
	case header.EtherTypeIPv4:
		if steered {
			// Parsed and validated by the sender: the views are safe
			// (the packet ends at its total length, before any padding).
			ip := header.IPv4(eth.Payload())
			ip = ip[:min(len(ip), int(ip.TotalLength()))]
			l.deliver(&Received{Frame: frame, IP: ip, LinkBcast: flags&flagLinkBcast != 0,
				Steered: true, Checked: flags&flagChecked != 0})
			return 0
		}
		return l.handleIPv4(frame, eth)
	case header.EtherTypeIPv6:
		if l.v6 != nil {
			return l.v6.Frame(frame)
		}
	}
	l.st.DropProto++
	return 0
}

// handleARP answers requests for the engine's addresses and learns senders.
// A frame received from the link is also handed to every other worker, so
// that each worker's neighbor table learns what any queue received.
func (l *Layer) handleARP(p []byte, fromLink bool) {
	if !fromLink {
		l.resp.Table.Update(l.Now(), header.ARP(p).SenderIP4(), header.ARP(p).SenderMAC(), false, false, l.flushParked)
		return
	}
	if _, err := header.ParseARP(p); err != nil {
		l.st.DropMalformed++
		return
	}
	var out [arpFrameLen]byte
	n, err := l.resp.Input(l.Now(), p, out[:], l.flushParked)
	if err == nil && n > 0 {
		l.dp.SendFrame(out[:n])
	}
	for _, peer := range l.h.layers {
		if peer != l {
			l.dp.SteerTo(peer.dp, p, steerARP, 0)
		}
	}
}

// handleIPv4 takes a frame from the link: address check, reassembly, the
// Hook, dispatch.
func (l *Layer) handleIPv4(frame []byte, eth header.Ethernet) int {
	ip, err := header.ParseIPv4(eth.Payload())
	if err != nil {
		l.st.DropMalformed++
		return 0
	}
	if !l.h.IsLocal(ip.Dst()) && !l.takesGroup(ip) {
		l.st.DropNotLocal++
		return 0
	}
	linkBcast := eth.Dst()[0]&1 != 0
	if ip.IsFragment() {
		if l.h.cfg.HookFragments {
			if n, done := l.hook(frame, eth, ip); done {
				return n
			}
		}
		if l.fwd != nil {
			if n, done := l.forward(frame, eth, ip, true); done {
				return n
			}
		}
		f := ipv4.FragmentOf(ip)
		d, ok, _ := l.reasm.Add(&f, l.Now())
		if ok {
			l.handleDatagram(d.Bytes(), linkBcast)
			d.Release()
		}
		return 0
	}
	if n, done := l.decapFrame(frame, eth, ip); done {
		return n // a tunnel packet (decap.go)
	}
	if n, done := l.hook(frame, eth, ip); done {
		return n
	}
	if l.fwd != nil {
		if n, done := l.forward(frame, eth, ip, false); done {
			return n
		}
	}
	return l.deliver(&Received{Frame: frame, IP: ip, LinkBcast: linkBcast})
}

// hook runs the Hook on a frame; done reports a verdict other than Pass,
// with the length of the frame to transmit in place (0: dropped).
func (l *Layer) hook(frame []byte, eth header.Ethernet, ip header.IPv4) (n int, done bool) {
	h := l.h.cfg.Hook
	if h == nil {
		return 0, false
	}
	p := &l.pkt // not a local: a pointer through the interface would escape
	*p = Packet{Frame: frame, Eth: eth, IP: ip, Queue: l.queue, Now: l.Now()}
	v := h.Packet(p)
	n = len(p.Frame)
	*p = Packet{}
	switch v {
	case Drop:
		l.st.DropHook++
		return 0, true
	case Transmit:
		return n, true
	}
	return 0, false
}

// handleDatagram processes a reassembled datagram (header included), or
// one the engine loops back to itself (IP_MULTICAST_LOOP).
func (l *Layer) handleDatagram(pkt []byte, linkBcast bool) {
	ip, err := header.ParseIPv4(pkt)
	if err != nil {
		l.st.DropMalformed++
		return
	}
	if l.decapDatagram(ip, linkBcast) {
		return // a tunnel packet (decap.go)
	}
	if h := l.h.cfg.Hook; h != nil && !l.h.cfg.HookFragments {
		p := &l.pkt
		*p = Packet{IP: ip, Queue: l.queue, Now: l.Now()}
		v := h.Packet(p)
		ip = p.IP
		*p = Packet{}
		switch v {
		case Drop:
			l.st.DropHook++
			return
		case Transmit:
			l.transmitHooked(ip)
			return
		}
	}
	if l.fwd != nil {
		if _, done := l.forward(nil, nil, ip, false); done {
			return
		}
	}
	l.deliver(&Received{IP: ip, LinkBcast: linkBcast})
}

// transmitHooked sends a reassembled datagram a Hook rewrote, toward its
// destination.
func (l *Layer) transmitHooked(ip header.IPv4) {
	b := l.h.cfg.Bufs.Get(len(ip))
	if b == nil {
		return
	}
	n := copy(b.B, ip)
	l.SendDatagram(Datagram{Buf: b, N: n, Dst: ip.Dst()})
}

// deliver gives a packet to ICMP or to its transport. It returns the
// length of an echo reply written in place into r.Frame.
func (l *Layer) deliver(r *Received) int {
	p := r.IP.Protocol()
	if p == header.ProtocolICMP {
		return l.handleICMP(r)
	}
	if t := l.proto[p]; t != nil {
		t.Input(*r)
		return 0
	}
	l.st.DropProto++
	return 0
}

// addr4 is an IPv4 address of the wire as a netip.Addr.
func addr4(a [4]byte) netip.Addr { return netip.AddrFrom4(a) }

// handleICMP answers echo requests, hands echo replies to
// Config.EchoReply and gives errors to the transport whose packet they
// quote. It returns the length of an echo reply written
// in place into r.Frame.
func (l *Layer) handleICMP(r *Received) int {
	m, err := header.ParseICMPv4(r.IP.Payload())
	if err != nil {
		l.icmpc.CountInError(err)
		l.st.DropMalformed++
		return 0
	}
	if !r.Steered {
		l.icmpc.CountIn(m.Type())
	}
	switch m.Type() {
	case header.ICMPv4Echo:
	case header.ICMPv4EchoReply:
		if f := l.h.cfg.EchoReply; f != nil { // the engine's own pings
			f(r.IP.Src(), m.Ident(), m.Seq(), r.IP.TTL(), len(m))
		}
		return 0
	default:
		l.handleICMPError(r, m)
		return 0
	}
	if r.Frame != nil {
		n, err := icmp.EchoReplyFrame(r.Frame)
		if err != nil {
			return 0
		}
		l.icmpc.CountOut(header.ICMPv4EchoReply)
		return n
	}
	// A large ping: answer through the send path, which fragments.
	b := l.h.cfg.Bufs.Get(len(r.IP))
	n := copy(b.B, r.IP)
	if _, err := icmp.EchoReply(header.IPv4(b.B[:n])); err != nil {
		l.h.cfg.Bufs.Put(b)
		return 0
	}
	l.icmpc.CountOut(header.ICMPv4EchoReply)
	l.SendDatagram(Datagram{Buf: b, N: n, Dst: r.IP.Src()})
	return 0
}

// handleICMPError learns a path MTU from "fragmentation needed" and gives
// the error to the transport of the packet it quotes: one demux for every
// transport.
func (l *Layer) handleICMPError(r *Received, m header.ICMPv4) {
	var re icmp.ReceivedError
	if err := icmp.ParseError(m, &re); err != nil {
		return
	}
	if re.Errno == syscall.EMSGSIZE && !r.Steered {
		l.h.Learn(addr4(re.Remote), int(re.MTU))
	}
	if t := l.proto[re.Proto]; t != nil {
		rc := *r // what escapes through the interface is this copy (an error, not every packet)
		t.ICMPError(&rc, &re, m)
	}
}

// reassemblyTimedOut sends ICMP time exceeded (fragment reassembly) for a
// datagram whose first fragment had arrived.
func (l *Layer) reassemblyTimedOut(quote []byte) {
	ip, err := header.ParseIPv4Quoted(quote)
	if err != nil {
		return
	}
	l.SendICMPError(ip, false, header.ICMPv4TimeExceeded, codeReassemblyTimeExceeded, 0)
}

// codeReassemblyTimeExceeded is ICMP time exceeded's code 1 (RFC 792).
const codeReassemblyTimeExceeded = 1
