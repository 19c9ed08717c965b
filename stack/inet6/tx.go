package inet6

import (
	"encoding/binary"
	"net/netip"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ndp"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/sock"
)

const ethHeaderLen = 14

// Datagram is a complete IPv6 packet to send (upper-layer checksum done)
// in Buf.B[:N]; the worker gives Buf back once its bytes are in UMEM
// frames.
type Datagram struct {
	Buf *datapath.Buf
	N   int
	Dst netip.Addr
	MTU int // the MTU to fragment at (zero: the path MTU toward Dst)
	// DontFrag refuses fragmentation (IPV6_DONTFRAG): a packet larger
	// than the MTU is dropped and counted. By default the engine, as the
	// source, fragments what exceeds the path MTU (RFC 8200 5).
	DontFrag bool
	Mcast    bool // to a multicast group: its MAC (RFC 2464 7), no resolution
	// Via is the next hop when it is not the route's toward Dst; zero:
	// the route's.
	Via netip.Addr
	// PartialUDP: the UDP checksum (the header right after the 40-byte
	// IPv6 header, no extension header) holds only the pseudo-header's
	// sum, for the worker to finish (datapath.Worker.QueueTxChecksum; in
	// software before it fragments). Only for a unicast datagram.
	PartialUDP bool
}

// TrySend queues d on worker l from an application goroutine and wakes
// it; false when l's queue is full (d.Buf is not taken then). It
// allocates nothing: the fast path of every send.
func (h *Host) TrySend(l *Layer, d Datagram) bool {
	if !l.txq.Enqueue(d) {
		return false
	}
	if l.dp != nil {
		l.dp.Wake()
	}
	return true
}

// Send queues d on worker l, waiting for room while l is behind (within
// stop, which ends the wait with its error: a deadline, a closed socket);
// call it after TrySend failed. On error d.Buf is not taken.
func (h *Host) Send(l *Layer, d Datagram, stop func() error) error {
	return sock.Push(l.txq, d, l.dp.Wake, stop)
}

// putEthernet writes an Ethernet header from the engine's MAC to dst.
func (l *Layer) putEthernet(b []byte, dst header.MAC) {
	copy(b[0:6], dst[:])
	copy(b[6:12], l.h.cfg.MAC[:])
	binary.BigEndian.PutUint16(b[12:], header.EtherTypeIPv6)
}

// nextHop is where d goes at the link layer.
func (l *Layer) nextHop(d *Datagram) (netip.Addr, bool) {
	if d.Via.IsValid() {
		return d.Via, true
	}
	next, _, ok := l.h.Route(d.Dst)
	return next, ok
}

// SendDatagram sends a datagram from the worker, or parks it until
// Neighbor Discovery resolves its next hop. The buffer goes back to the
// pool once its bytes are copied into UMEM frames.
func (l *Layer) SendDatagram(d Datagram) {
	bufs := l.h.cfg.Bufs
	if d.Mcast || d.Dst.IsMulticast() {
		l.transmit(d.Buf.B[:d.N], header.MulticastMAC6(d.Dst.As16()), &d)
		bufs.Put(d.Buf)
		return
	}
	next, ok := l.nextHop(&d)
	if !ok {
		l.c.OutNoRoutes++
		l.st.DropNoRoute++
		bufs.Put(d.Buf)
		return
	}
	mac, handled := l.resolve(next, d)
	if !handled {
		return // parked or dropped
	}
	l.transmit(d.Buf.B[:d.N], mac, &d)
	bufs.Put(d.Buf)
}

// NextHop returns the MAC address to send to dst through, for a sender
// that builds frames in place (TCP): ok is false when dst has no route
// (counted), resolved false while Neighbor Discovery has no answer yet (a
// solicitation is on its way; send through SendDatagram, which parks).
func (l *Layer) NextHop(dst netip.Addr) (mac header.MAC, resolved, ok bool) {
	next, _, ok := l.h.Route(dst)
	if !ok {
		l.c.OutNoRoutes++
		return mac, false, false
	}
	mac, act := l.cache.Lookup(l.Now(), next.As16(), 0, false)
	switch act {
	case ndp.Send:
		return mac, true, true
	case ndp.SendRequest, ndp.RequestDrop:
		l.solicit(next.As16(), header.MAC{})
	}
	return mac, false, true
}

// resolve finds the MAC address of next. While Neighbor Discovery has no
// answer, the datagram is parked (it returns false) and flushParked sends
// it later; at most parkedMax wait per worker (and ndp.Config's
// QueueLen per neighbor), more are dropped and counted. One Lookup per
// datagram: Lookup moves the entry's state, so its action is obeyed.
func (l *Layer) resolve(next netip.Addr, d Datagram) (header.MAC, bool) {
	n16 := next.As16()
	if len(l.freeSlot) == 0 {
		mac, act := l.cache.Lookup(l.Now(), n16, 0, false)
		switch act {
		case ndp.Send:
			return mac, true
		case ndp.SendRequest, ndp.RequestDrop:
			l.solicit(n16, header.MAC{})
		}
		l.dropOut(d)
		return header.MAC{}, false
	}
	slot := l.freeSlot[len(l.freeSlot)-1]
	mac, act := l.cache.Lookup(l.Now(), n16, uint64(slot), true)
	switch act {
	case ndp.Send:
		return mac, true
	case ndp.SendRequest, ndp.Queued:
		l.freeSlot = l.freeSlot[:len(l.freeSlot)-1]
		l.parked[slot] = d
		if act == ndp.SendRequest {
			l.solicit(n16, header.MAC{})
		}
	case ndp.RequestDrop:
		l.solicit(n16, header.MAC{})
		l.dropOut(d)
	default:
		l.dropOut(d)
	}
	return header.MAC{}, false
}

// dropOut drops a datagram whose next hop did not resolve.
func (l *Layer) dropOut(d Datagram) {
	l.c.OutDiscards++
	l.st.DropNeighbor++
	l.h.cfg.Bufs.Put(d.Buf)
}

// flushParked sends a parked datagram whose next hop just resolved.
func (l *Layer) flushParked(handle uint64) {
	if handle >= uint64(len(l.parked)) {
		return
	}
	d := l.parked[handle]
	l.parked[handle] = Datagram{}
	l.freeSlot = append(l.freeSlot, int(handle))
	if d.Buf == nil {
		return
	}
	next, _ := l.nextHop(&d)
	switch st, mac, _ := l.cache.State(next.As16()); st {
	case ndp.Reachable, ndp.Stale, ndp.Delay, ndp.Probe, ndp.Permanent:
		l.transmit(d.Buf.B[:d.N], mac, &d)
		l.h.cfg.Bufs.Put(d.Buf)
	default:
		l.dropOut(d)
	}
}

// dropParked discards a parked datagram whose next hop did not resolve.
func (l *Layer) dropParked(handle uint64) {
	if handle >= uint64(len(l.parked)) {
		return
	}
	d := l.parked[handle]
	l.parked[handle] = Datagram{}
	l.freeSlot = append(l.freeSlot, int(handle))
	if d.Buf != nil {
		l.dropOut(d)
	}
}

// transmit sends an IPv6 packet to mac, in fragments when it is larger
// than the MTU and d allows it.
func (l *Layer) transmit(pkt []byte, mac header.MAC, d *Datagram) {
	mtu := d.MTU
	if mtu == 0 {
		mtu = l.h.PathMTU(d.Dst)
	}
	count := 1
	partial := d.PartialUDP
	if len(pkt) > mtu {
		var err error
		if partial {
			datapath.FinishChecksum(pkt, header.IPv6HeaderLen, header.UDPChecksumOffset) // fragments carry the final one
			partial = false
		}
		if d.DontFrag {
			l.c.OutDiscards++
			l.st.DropFragmenting++
			return
		}
		if count, err = l.frag.Count(pkt, mtu); err != nil || count > len(l.addrs) {
			l.c.OutDiscards++
			l.st.DropFragmenting++
			return
		}
	}
	addrs := l.addrs[:count]
	if got := l.out.AllocFrames(addrs); got < count {
		l.out.ReleaseAddrs(addrs[:got])
		l.c.OutDiscards++
		l.st.DropTxRing++
		return
	}
	out := l.fragOut[:count]
	for i, a := range addrs {
		out[i] = l.out.FrameBuffer(a)[ethHeaderLen : ethHeaderLen+mtu]
	}
	if count == 1 {
		out[0] = out[0][:copy(out[0][:len(pkt)], pkt)]
	} else if _, err := l.frag.Fragment(pkt, mtu, l.h.NextFragID(), out); err != nil {
		l.out.ReleaseAddrs(addrs)
		l.c.OutDiscards++
		l.st.DropFragmenting++
		return
	}
	for i, a := range addrs {
		l.putEthernet(l.out.FrameBuffer(a), mac)
		fd := afxdp.Desc{Addr: a, Len: uint32(ethHeaderLen + len(out[i]))}
		if partial {
			l.out.QueueTxChecksum(fd, ethHeaderLen+header.IPv6HeaderLen, header.UDPChecksumOffset)
		} else {
			l.out.QueueTx(fd)
		}
		out[i] = nil
	}
}

// addrFrom16 is netip.AddrFrom16 (no allocation).
func addrFrom16(a [16]byte) netip.Addr { return netip.AddrFrom16(a) }
