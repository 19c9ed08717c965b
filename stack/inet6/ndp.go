package inet6

import (
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/mld"
	"github.com/xdpengine/engine/ndp"
)

// handleNDP takes a Neighbor Discovery message (checksum verified):
// solicitations for our addresses are answered, what they teach goes to
// the neighbor cache and DAD, and a message from the link is handed to
// every other worker so that each cache learns it. Router Solicitations
// and Redirects are validated and ignored (a host; redirects are not
// supported); a Router Advertisement teaches its source's link-layer
// address, and goes to the router list (router.go) when it reached the
// engine through the XDP program unicast to one of its addresses (an
// answer to a Router Solicitation); the router list learns the others
// from the ICMPv6 tap, whose advertisements also come here.
func (l *Layer) handleNDP(r *Received, m header.ICMPv6) {
	if r.Frame == nil && !r.Steered {
		return // reassembled: NDP must not be fragmented (RFC 6980)
	}
	fromLink := !r.Steered
	now := l.Now()
	src, dst, hop := r.IP.Src16(), r.IP.Dst16(), r.IP.HopLimit()
	msg := []byte(m)
	switch m.Type() {
	case header.ICMPv6NeighborSolicitation, header.ICMPv6NeighborAdvertisement:
		resp := l.resp
		if !fromLink {
			resp = l.learn
		}
		rep, err := resp.Input(now, hop, src, dst, msg, l.ndpOut[:], l.flushParked)
		if err != nil {
			return
		}
		if fromLink && rep.Len > 0 {
			mac := rep.DstMAC
			if mac == (header.MAC{}) {
				if st, m, _ := l.cache.State(rep.Dst); st != 0 && st != ndp.Incomplete {
					mac = m
				} else {
					mac = header.Ethernet(r.Frame).Src() // a unicast solicitation without a source link-layer option
				}
			}
			l.sendICMPFrame(rep.Src, rep.Dst, mac, header.NDPHopLimit, l.ndpOut[:rep.Len], false)
		}
	case header.ICMPv6RouterAdvertisement:
		if err := header.ParseNDP(msg, hop, src, dst); err != nil {
			l.ndpErrors++
			return
		}
		if mac, ok := header.RouterAdvertisement(msg).Options().LinkLayer(header.NDPOptionSourceLinkLayer); ok {
			l.cache.Observe(now, src, mac, ndp.RouterSet, l.flushParked)
		}
		if fromLink && !r.tapped && dst[0] != 0xff { // unicast to us
			l.learnUnicastRA(r, m)
		}
	default:
		if err := header.ParseNDP(msg, hop, src, dst); err != nil {
			l.ndpErrors++
		}
		return
	}
	if fromLink && l.dp != nil {
		for _, peer := range l.h.layers {
			if peer != l && peer.dp != nil {
				l.dp.SteerTo(peer.dp, r.IP, steerNDP, 0)
			}
		}
	}
}

// ndpSteered learns from an NDP packet another worker received.
func (l *Layer) ndpSteered(b []byte) {
	ip, err := header.ParseIPv6(b)
	if err != nil || header.ParseIPv6Ext(ip, &l.ext) != nil || l.ext.Proto != header.ProtocolICMPv6 {
		return
	}
	r := Received{IP: ip, Offset: l.ext.Offset, Proto: header.ProtocolICMPv6, Steered: true, Checked: true}
	m, err := header.ParseICMPv6(r.Payload())
	if err != nil {
		return
	}
	l.handleNDP(&r, m)
}

// solicit sends a Neighbor Solicitation for target: to its solicited-node
// group, or to unicast when that is not zero (a probe). The source is our
// address toward target (neighbor cache callback).
func (l *Layer) solicit(target [16]byte, unicast header.MAC) {
	from := l.h.SourceFor(addrFrom16(target))
	if !from.IsValid() {
		return
	}
	dst, mac := ndp.SolicitationDst(target, unicast)
	n, err := ndp.PutSolicitation(l.ndpOut[:], l.h.cfg.MAC, target)
	if err != nil {
		return
	}
	l.sendICMPFrame(from.As16(), dst, mac, header.NDPHopLimit, l.ndpOut[:n], false)
}

// runDAD sends the DAD probes due and ends the detections whose time is
// up (worker 0).
func (l *Layer) runDAD() {
	if l.dad == nil {
		return
	}
	if next := l.dad.Next(); next != 0 && l.Now() >= next {
		l.dad.Tick(l.Now(), l.probe)
	}
}

// probe sends a DAD probe for target: from ::, to its solicited-node group.
func (l *Layer) probe(target [16]byte, nonce [6]byte) {
	n, err := ndp.PutProbe(l.ndpOut[:], target, nonce)
	if err != nil {
		return
	}
	dst := header.SolicitedNodeMulticast(target)
	l.sendICMPFrame([16]byte{}, dst, header.MulticastMAC6(dst), header.NDPHopLimit, l.ndpOut[:n], false)
}

// handleMLD takes an MLD message to a group the engine joined (RFC 3810
// 5: hop limit 1 and a Router Alert option, else ignored). General
// queries go to ff02::1, which the XDP program leaves to the host kernel:
// only address-specific queries reach the engine.
func (l *Layer) handleMLD(r *Received, m header.ICMPv6) {
	if r.IP.HopLimit() != 1 || !r.routerAlert {
		l.ndpErrors++
		return
	}
	h := l.h
	h.mu.Lock()
	err := h.mld.Input(h.Nanotime(), r.IP.Src16(), r.IP.Dst16(), m)
	h.mu.Unlock()
	if err == nil {
		h.mldDue.Store(true)
		h.wake0()
	}
}

// pollMLD sends the MLD reports due (worker 0). MLD runs on the host's
// clock (Nanotime), which JoinGroup and LeaveGroup read on the
// application's goroutine: the round's clock may be behind it.
func (l *Layer) pollMLD() {
	h := l.h
	now := h.Nanotime()
	h.mu.Lock()
	defer h.mu.Unlock()
	due := h.mldDue.Swap(false)
	if next := h.mld.Next(); due || next != 0 && now >= next {
		h.mld.Poll(now, l.sendMLD)
	}
}

// sendMLD sends an MLD message from the interface's link-local address
// (the host kernel's: it answers Neighbor Discovery for it, with the same
// MAC), hop limit 1, with the Router Alert hop-by-hop header.
func (l *Layer) sendMLD(dst [16]byte, msg []byte) {
	l.sendICMPFrame(l.h.linkLocal, dst, header.MulticastMAC6(dst), 1, msg, true)
}

// sendICMPFrame builds an Ethernet frame holding an IPv6 packet from src
// to dst with the ICMPv6 message msg (checksum filled here), optionally
// behind the MLD Router Alert hop-by-hop header, and sends it.
func (l *Layer) sendICMPFrame(src, dst [16]byte, mac header.MAC, hop uint8, msg []byte, routerAlert bool) {
	b := l.frameOut[:]
	off := ethHeaderLen + header.IPv6HeaderLen
	next := uint8(header.ProtocolICMPv6)
	if routerAlert {
		next = header.ProtocolHopByHop
		off += len(mld.HopByHopRouterAlert)
	}
	if off+len(msg) > len(b) {
		l.c.OutDiscards++
		return
	}
	l.putEthernet(b, mac)
	header.PutIPv6(b[ethHeaderLen:], 0, 0, uint16(off-ethHeaderLen-header.IPv6HeaderLen+len(msg)), next, hop, src, dst)
	if routerAlert {
		copy(b[ethHeaderLen+header.IPv6HeaderLen:], mld.HopByHopRouterAlert[:])
	}
	m := header.ICMPv6(b[off : off+len(msg)])
	copy(m, msg)
	m.SetChecksum(0)
	m.UpdateChecksum(src, dst)
	l.c.ICMP.CountOut(m.Type())
	l.out.SendFrame(b[:off+len(msg)])
}
