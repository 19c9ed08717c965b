package inet4

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/arp"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/icmp"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/sock"
)

const ethHeaderLen = 14

// Datagram is a complete IPv4 packet to send (checksums done, but for
// PartialUDP's) in Buf.B[:N]; the worker gives Buf back once its bytes are
// in UMEM frames.
type Datagram struct {
	Buf   *datapath.Buf
	N     int
	Dst   netip.Addr
	MTU   int  // the MTU to fragment at (zero: the path MTU toward Dst)
	Bcast bool // to a broadcast address: the link's broadcast, no ARP
	Mcast bool // to a multicast group: its MAC (RFC 1112), no ARP
	Loop  bool // a multicast the engine itself wants: delivered locally too (IP_MULTICAST_LOOP)
	// Via is the next hop when it is not the route's toward Dst (a
	// direct-server-return balancer sends a VIP's packet to a backend on
	// the link); zero: the route's.
	Via netip.Addr
	// PartialUDP: the UDP checksum (the header right after a 20-byte IPv4
	// header) holds only the pseudo-header's sum, for the worker to
	// finish (datapath.Worker.QueueTxChecksum; in software before it
	// fragments). Only for a unicast datagram.
	PartialUDP bool
}

// nextHop is where d goes at the link layer.
func (l *Layer) nextHop(d *Datagram) (netip.Addr, bool) {
	if d.Via.IsValid() {
		return d.Via, true
	}
	next, _, ok := l.h.Route(d.Dst)
	return next, ok
}

// TrySend queues d on worker l from an application goroutine and wakes
// it; false when l's queue is full (d.Buf is not taken then). It
// allocates nothing: the fast path of every send.
func (h *Host) TrySend(l *Layer, d Datagram) bool {
	if !l.txq.Enqueue(d) {
		return false
	}
	l.dp.Wake()
	return true
}

// Send queues d on worker l, waiting for room while l is behind
// (sock.PushUntil: stop ends the wait with its error, and is looked at when
// done closes or the deadline passes: a closed socket, a write deadline);
// call it after TrySend failed. On error d.Buf is not taken.
func (h *Host) Send(l *Layer, d Datagram, stop func() error, deadline *atomic.Int64, done <-chan struct{}) error {
	return sock.PushUntil(l.txq, d, l.dp.Wake, stop, deadline, done)
}

// PutIPv4 writes a 20-byte IPv4 header into b.
func PutIPv4(b []byte, src, dst netip.Addr, id uint16, df bool, proto uint8, total int, ttl, tos uint8) {
	b[0] = 0x45
	b[1] = tos
	binary.BigEndian.PutUint16(b[2:], uint16(total))
	binary.BigEndian.PutUint16(b[4:], id)
	if df {
		binary.BigEndian.PutUint16(b[6:], 0x4000)
	} else {
		binary.BigEndian.PutUint16(b[6:], 0)
	}
	b[8] = ttl
	b[9] = proto
	b[10], b[11] = 0, 0
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	header.IPv4(b[:20]).UpdateChecksum()
}

// PutEthernet writes an Ethernet header from the engine's MAC to dst.
func (l *Layer) PutEthernet(b []byte, dst header.MAC) {
	copy(b[0:6], dst[:])
	copy(b[6:12], l.h.cfg.MAC[:])
	binary.BigEndian.PutUint16(b[12:], header.EtherTypeIPv4)
}

// SendDatagram sends a datagram from the worker, or parks it until ARP
// resolves its next hop. The buffer goes back to the pool once its bytes
// are copied into UMEM frames.
func (l *Layer) SendDatagram(d Datagram) {
	bufs := l.h.cfg.Bufs
	if d.Bcast || d.Mcast {
		mac := header.BroadcastMAC
		if d.Mcast {
			mac = header.MulticastMAC(d.Dst.As4())
		}
		l.transmitDatagram(d.Buf.B[:d.N], mac, d.Dst, d.MTU, false)
		if d.Loop {
			l.handleDatagram(d.Buf.B[:d.N], true) // IP_MULTICAST_LOOP: to the engine's own sockets
		}
		bufs.Put(d.Buf)
		return
	}
	next, ok := l.nextHop(&d)
	if !ok {
		l.st.DropNoRoute++
		bufs.Put(d.Buf)
		return
	}
	mac, handled := l.resolve(next, d)
	if !handled {
		return // parked or dropped
	}
	l.transmitDatagram(d.Buf.B[:d.N], mac, d.Dst, d.MTU, d.PartialUDP)
	bufs.Put(d.Buf)
}

// NextHop returns the MAC address to send to dst through, for a sender
// that builds frames in place (TCP): ok is false when dst has no route
// (counted), resolved false while ARP has no answer yet (a request is on
// its way; send through SendDatagram, which parks).
func (l *Layer) NextHop(dst netip.Addr) (mac header.MAC, resolved, ok bool) {
	next, _, ok := l.h.Route(dst)
	if !ok {
		l.st.DropNoRoute++
		return mac, false, false
	}
	mac, act := l.arpTab.Lookup(l.Now(), next.As4(), 0, false)
	if act == arp.Send {
		return mac, true, true
	}
	if act == arp.SendRequest {
		l.arpRequest(next.As4(), header.MAC{}) // the parking Lookup will find it Incomplete
	}
	return mac, false, true
}

// resolve finds the MAC address of next. When ARP has no answer yet, the
// datagram is parked (it returns false); flushParked sends it later. One
// Lookup per datagram: Lookup moves the entry's state (a new or FAILED
// entry becomes INCOMPLETE and asks for a request), so its action must be
// obeyed.
func (l *Layer) resolve(next netip.Addr, d Datagram) (header.MAC, bool) {
	n4 := next.As4()
	if len(l.freeSlot) == 0 {
		mac, act := l.arpTab.Lookup(l.Now(), n4, 0, false)
		switch act {
		case arp.Send:
			return mac, true
		case arp.SendRequest:
			l.arpRequest(n4, header.MAC{})
		}
		l.st.DropNeighbor++
		l.h.cfg.Bufs.Put(d.Buf)
		return header.MAC{}, false
	}
	slot := l.freeSlot[len(l.freeSlot)-1]
	mac, act := l.arpTab.Lookup(l.Now(), n4, uint64(slot), true)
	switch act {
	case arp.Send:
		return mac, true
	case arp.SendRequest, arp.Queued:
		l.freeSlot = l.freeSlot[:len(l.freeSlot)-1]
		l.parked[slot] = d
		if act == arp.SendRequest {
			l.arpRequest(n4, header.MAC{})
		}
	case arp.RequestDrop:
		l.arpRequest(n4, header.MAC{})
		l.st.DropNeighbor++
		l.h.cfg.Bufs.Put(d.Buf)
	default:
		l.st.DropNeighbor++
		l.h.cfg.Bufs.Put(d.Buf)
	}
	return header.MAC{}, false
}

// flushParked sends a parked datagram whose next hop just resolved.
func (l *Layer) flushParked(handle uint64) {
	d := l.parked[handle]
	l.parked[handle] = Datagram{}
	l.freeSlot = append(l.freeSlot, int(handle))
	if d.Buf == nil {
		return
	}
	next, _ := l.nextHop(&d)
	if st, mac := l.arpTab.State(next.As4()); st == arp.Reachable || st == arp.Stale || st == arp.Delay || st == arp.Probe {
		l.transmitDatagram(d.Buf.B[:d.N], mac, d.Dst, d.MTU, d.PartialUDP)
	} else {
		l.st.DropNeighbor++
	}
	l.h.cfg.Bufs.Put(d.Buf)
}

// arpDrop discards a parked datagram whose next hop did not resolve.
func (l *Layer) arpDrop(handle uint64) {
	d := l.parked[handle]
	l.parked[handle] = Datagram{}
	l.freeSlot = append(l.freeSlot, int(handle))
	if d.Buf != nil {
		l.st.DropNeighbor++
		l.h.cfg.Bufs.Put(d.Buf)
	}
}

// arpRequest broadcasts (or unicasts, for a probe) an ARP request for ip.
func (l *Layer) arpRequest(ip [4]byte, unicast header.MAC) {
	_, src, ok := l.h.Route(addr4(ip))
	if !ok {
		return
	}
	var f [arpFrameLen]byte
	n, err := arp.Request(f[:], l.h.cfg.MAC, src.As4(), ip, unicast)
	if err == nil {
		l.st.ARP.OutRequests++
		l.dp.SendFrame(f[:n])
	}
}

func (l *Layer) gratuitousARP() {
	for _, p := range l.h.cfg.Addrs {
		var f [arpFrameLen]byte
		if n, err := arp.Gratuitous(f[:], l.h.cfg.MAC, p.Addr().As4()); err == nil {
			l.dp.SendFrame(f[:n])
		}
	}
}

// transmitDatagram sends an IPv4 packet to mac, in fragments when it is
// larger than the path MTU (its DF bit was settled by the sender).
func (l *Layer) transmitDatagram(pkt []byte, mac header.MAC, dst netip.Addr, mtu int, partialUDP bool) {
	if mtu == 0 {
		mtu = l.h.PathMTU(dst)
	}
	count := 1
	if len(pkt) > mtu {
		if partialUDP {
			datapath.FinishChecksum(pkt, 20, header.UDPChecksumOffset) // fragments carry the final one
			partialUDP = false
		}
		var err error
		if count, err = l.frag.Count(pkt, mtu); err != nil || count > len(l.addrs) {
			l.st.DropFragmenting++
			return
		}
	}
	addrs := l.addrs[:count]
	if got := l.dp.AllocFrames(addrs); got < count {
		l.dp.ReleaseAddrs(addrs[:got])
		l.st.DropTxRing++
		return
	}
	out := l.fragOut[:count]
	for i, a := range addrs {
		out[i] = l.dp.FrameBuffer(a)[ethHeaderLen : ethHeaderLen+mtu]
	}
	if count == 1 {
		out[0] = out[0][:copy(out[0][:len(pkt)], pkt)]
	} else if _, err := l.frag.Fragment(pkt, mtu, out); err != nil {
		l.dp.ReleaseAddrs(addrs)
		l.st.DropFragmenting++
		return
	}
	for i, a := range addrs {
		l.PutEthernet(l.dp.FrameBuffer(a), mac)
		d := afxdp.Desc{Addr: a, Len: uint32(ethHeaderLen + len(out[i]))}
		if partialUDP {
			l.dp.QueueTxChecksum(d, ethHeaderLen+20, header.UDPChecksumOffset)
		} else {
			l.dp.QueueTx(d)
		}
		out[i] = nil
	}
}

// SendICMPError answers orig with an ICMP error, within RFC 1122's rules
// and the rate limits.
func (l *Layer) SendICMPError(orig header.IPv4, linkBcast bool, typ, code uint8, rest uint32) {
	local := orig.Dst()
	bcast := l.h.BroadcastOf(local)
	if err := icmp.Check(orig, linkBcast, bcast); err != nil {
		return
	}
	if !l.limiter.Allow(l.Now(), orig.Src4(), typ, code, &l.icmpc) {
		return
	}
	b := l.h.cfg.Bufs.Get(datapath.SmallBuf)
	id := l.h.NextID(local, orig.Src(), header.ProtocolICMP, l.Now())
	n, err := icmp.BuildError(b.B, local.As4(), id, orig, linkBcast, bcast, typ, code, rest)
	if err != nil {
		l.h.cfg.Bufs.Put(b)
		return
	}
	l.icmpc.CountOut(typ)
	l.SendDatagram(Datagram{Buf: b, N: n, Dst: orig.Src()})
}
