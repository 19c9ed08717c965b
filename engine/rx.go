package engine

import (
	"github.com/xdpengine/engine/stack/datapath"
	"net/netip"
	"syscall"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/icmp"
	"github.com/xdpengine/engine/ipv4"
	"github.com/xdpengine/engine/stack/socktab"
)

const (
	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	protoICMP     = 1
	protoTCP      = 6
	protoUDP      = 17
)

// Frame implements datapath.Input: one frame received from the link.
func (w *worker) Frame(frame []byte) int { return w.handleFrame(frame, false) }

// handleFrame runs one frame through the stack. It returns the length of a
// reply written in place into the same frame (ICMP echo, a hook's
// Transmit), to be transmitted from it, or 0 when the frame can be released.
// steered is true for a frame another worker handed over: it is never handed
// over again.
func (w *worker) handleFrame(frame []byte, steered bool) int {
	eth, err := header.ParseEthernet(frame)
	if err != nil {
		w.st.DropMalformed++
		return 0
	}
	if eth.NumTags() > 0 {
		w.st.DropProto++ // no VLAN sub-interfaces (yet)
		return 0
	}
	switch eth.Type() {
	case etherTypeARP:
		w.handleARP(eth.Payload(), !steered)
		return 0
	case etherTypeIPv4:
		return w.handleIPv4(frame, eth, steered)
	}
	w.st.DropProto++
	return 0
}

// handleARP answers requests for the engine's addresses and learns senders.
// A frame received from the link is also handed to every other worker, so
// that each worker's neighbour table learns what any queue received.
func (w *worker) handleARP(p []byte, fromLink bool) {
	if !fromLink {
		w.resp.Table.Update(w.now(), header.ARP(p).SenderIP4(), header.ARP(p).SenderMAC(), false, false, w.flushParked)
		return
	}
	if _, err := header.ParseARP(p); err != nil {
		w.st.DropMalformed++
		return
	}
	var out [arpFrameLen]byte
	n, err := w.resp.Input(w.now(), p, out[:], w.flushParked)
	if err == nil && n > 0 {
		w.dp.SendFrame(out[:n])
	}
	for _, peer := range w.e.workers {
		if peer != w {
			w.dp.SteerTo(peer.dp, p, steerARP, 0)
		}
	}
}

const arpFrameLen = 64

func (w *worker) handleIPv4(frame []byte, eth header.Ethernet, steered bool) int {
	ip, err := header.ParseIPv4(eth.Payload())
	if err != nil {
		w.st.DropMalformed++
		return 0
	}
	if !w.e.localAddr(ip.Dst4()) && !w.takesGroup(ip) {
		w.st.DropNotLocal++
		return 0
	}
	linkBcast := eth.Dst()[0]&1 != 0
	if ip.IsFragment() {
		f := ipv4.FragmentOf(ip)
		d, ok, _ := w.reasm.Add(&f, w.now())
		if ok {
			w.handleDatagram(d.Bytes(), linkBcast)
			d.Release()
		}
		return 0
	}
	if h := w.e.cfg.Hook; h != nil {
		p := Packet{Frame: frame, Eth: eth, IP: ip, Queue: w.queue, Now: w.now()}
		switch h.Packet(&p) {
		case Drop:
			w.st.DropHook++
			return 0
		case Transmit:
			return len(p.Frame)
		}
	}
	switch ip.Protocol() {
	case protoICMP:
		m, err := header.ParseICMPv4(ip.Payload())
		if err != nil {
			w.icmpc.CountInError(err)
			w.st.DropMalformed++
			return 0
		}
		w.icmpc.CountIn(m.Type())
		if m.Type() == header.ICMPv4Echo {
			n, err := icmp.EchoReplyFrame(frame)
			if err != nil {
				return 0
			}
			w.icmpc.CountOut(header.ICMPv4EchoReply)
			return n
		}
		w.handleICMPError(frame, ip, m)
		return 0
	case protoUDP:
		w.handleUDP(frame, ip, linkBcast, steered)
		return 0
	case protoTCP:
		w.handleTCP(frame, ip, linkBcast, steered)
		return 0
	}
	w.st.DropProto++
	return 0
}

// handleDatagram processes a reassembled datagram (header included).
func (w *worker) handleDatagram(pkt []byte, linkBcast bool) {
	ip, err := header.ParseIPv4(pkt)
	if err != nil {
		w.st.DropMalformed++
		return
	}
	switch ip.Protocol() {
	case protoUDP:
		w.handleUDP(nil, ip, linkBcast, true)
	case protoTCP:
		w.handleTCP(nil, ip, linkBcast, false)
	case protoICMP:
		m, err := header.ParseICMPv4(ip.Payload())
		if err != nil {
			w.icmpc.CountInError(err)
			w.st.DropMalformed++
			return
		}
		w.icmpc.CountIn(m.Type())
		if m.Type() != header.ICMPv4Echo {
			w.handleICMPError(nil, ip, m)
			return
		}
		// A large ping: answer through the send path, which fragments.
		b := w.e.bufs.Get(len(pkt))
		n := copy(b.B, pkt)
		if _, err := icmp.EchoReply(header.IPv4(b.B[:n])); err != nil {
			w.e.bufs.Put(b)
			return
		}
		w.icmpc.CountOut(header.ICMPv4EchoReply)
		w.sendReq(txReq{buf: b, n: n, dst: ip.Src4()})
	default:
		w.st.DropProto++
	}
}

// handleUDP delivers a datagram to its socket, hands it to the worker that
// owns its flow, or answers port unreachable. frame is nil for a reassembled
// datagram (never handed over: all its fragments came to this worker).
func (w *worker) handleUDP(frame []byte, ip header.IPv4, linkBcast, steered bool) {
	u, err := header.ParseUDP(ip.Payload())
	if err != nil {
		w.st.DropMalformed++
		return
	}
	src, dst := ip.Src4(), ip.Dst4()
	if !u.ChecksumValid(src, dst) {
		if !w.e.trustPartial || !u.ChecksumPartial(src, dst) {
			w.st.DropChecksum++
			return
		}
		w.st.RxCsumPartial++
	}
	key := flowtable.KeyFrom4(src, dst, u.SrcPort(), u.DstPort(), protoUDP)
	if socks, fan := w.e.tab.LookupAll(&key, w.fan[:0]); fan {
		w.fanout(socks, ip, u)
		return
	}
	sock, match := w.e.tab.LookupOn(&key, w.queue)
	if match == socktab.MatchNone {
		w.st.DropNoSocket++
		w.sendICMPError(ip, linkBcast, header.ICMPv4DstUnreachable, header.ICMPv4PortUnreachable, 0)
		return
	}
	c, ok := sock.Endpoint().(*UDPConn)
	if !ok {
		w.st.DropProto++
		return
	}
	if match == socktab.MatchExact && !steered && frame != nil && c.owner != w {
		w.steerTo(c.owner, frame)
		return
	}
	from := netip.AddrPortFrom(netip.AddrFrom4(src), u.SrcPort())
	if !c.deliver(w.wk, u.Payload(), from, rxMeta{dst: dst, ttl: ip.TTL(), tos: ip.TOS()}) {
		w.st.DropRecvBuffer++
	}
}

// steerTo hands a frame to the worker that owns its flow.
func (w *worker) steerTo(owner *worker, frame []byte) {
	if w.dp.SteerTo(owner.dp, frame, steerFrame, 0) {
		w.st.Steered++
	}
}

// Steered implements datapath.Input: an item another worker handed over.
func (w *worker) Steered(it *datapath.Steered) {
	if it.Kind == steerARP {
		w.handleARP(it.Bytes(), false)
		return
	}
	w.st.SteeredIn++
	if it.Kind == steerDatagram {
		// Parsed and checked by the worker that reassembled it.
		w.handleTCP(nil, header.IPv4(it.Bytes()), it.Flags&flagLinkBcast != 0, true)
		return
	}
	w.handleFrame(it.Bytes(), true)
}

// steerDatagram hands a reassembled TCP datagram to the worker that owns
// its flow (its fragments were all received here, the owner has not seen
// them).
func (w *worker) steerDatagram(owner *worker, ip header.IPv4, linkBcast bool) {
	flags := uint8(0)
	if linkBcast {
		flags = flagLinkBcast
	}
	if w.dp.SteerTo(owner.dp, ip, steerDatagram, flags) {
		w.st.Steered++
	}
}

// handleICMPError delivers an ICMP error (m, in packet ip, received in
// frame; nil when reassembled) to the socket it concerns: TCP's go to
// handleTCPICMP; UDP's as Linux's udp_err does: a connected socket gets the errno of
// a "hard" error (port unreachable: ECONNREFUSED) on its next call, and
// "fragmentation needed" lowers the path MTU (and gives EMSGSIZE). A socket
// with IP_RECVERR, connected or not, queues every error (SetRecvErr).
func (w *worker) handleICMPError(frame []byte, ip header.IPv4, m header.ICMPv4) {
	var re icmp.ReceivedError
	if err := icmp.ParseError(m, &re); err != nil {
		return
	}
	if re.Errno == syscall.EMSGSIZE {
		w.e.pmtu.update(re.Remote, int(re.MTU), w.e.wallNow())
	}
	if re.Proto == protoTCP {
		w.handleTCPICMP(frame, &re)
		return
	}
	if re.Proto != protoUDP {
		return
	}
	key := flowtable.KeyFrom4(re.Remote, re.Local, re.RemotePort, re.LocalPort, protoUDP)
	sock, match := w.e.tab.Lookup(&key)
	if match == socktab.MatchNone {
		return
	}
	c, ok := sock.Endpoint().(*UDPConn)
	if !ok {
		return
	}
	switch {
	case c.errq.on.Load():
		c.queueError(w.wk, ip, &re, quotedPayload(m))
	case match == socktab.MatchExact && (re.Fatal || re.Errno == syscall.EMSGSIZE):
		c.setSoftError(w.wk, re.Errno)
	}
	// Without IP_RECVERR an unconnected socket does not see ICMP errors.
}

// reassemblyTimedOut sends ICMP time exceeded (fragment reassembly) for a
// datagram whose first fragment had arrived.
func (w *worker) reassemblyTimedOut(quote []byte) {
	ip, err := header.ParseIPv4Quoted(quote)
	if err != nil {
		return
	}
	w.sendICMPError(ip, false, header.ICMPv4TimeExceeded, codeReassemblyTimeExceeded, 0)
}

// codeReassemblyTimeExceeded is ICMP time exceeded's code 1 (RFC 792).
const codeReassemblyTimeExceeded = 1
