package engine

import (
	"encoding/binary"
	"github.com/xdpengine/engine/stack/datapath"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/arp"
	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/icmp"
)

const ethHeaderLen = 14

// wallNow is the wall clock for the path-MTU cache, which senders share.
func (e *Engine) wallNow() time.Time { return time.Now() }

// sendUDP runs on the application's goroutine: it builds the whole IPv4/UDP
// datagram (checksums included, so that work is spread over the senders) and
// queues it to the worker that sends for the socket.
func (e *Engine) sendUDP(c *UDPConn, dst netip.AddrPort, p []byte, so sendOpts) error {
	d4 := dst.Addr().As4()
	bcast, mcast := e.isBroadcast(d4), isMulticast(d4)
	if bcast && !c.opts.broadcast.Load() {
		return os.NewSyscallError("sendto", syscall.EACCES) // as Linux without SO_BROADCAST
	}
	_, src, ok := e.route(d4)
	if !ok && !bcast && !mcast {
		return os.NewSyscallError("sendto", syscall.ENETUNREACH)
	}
	if !ok {
		src = e.cfg.Addrs[0].Addr().As4() // the one link: its first address
	}
	if a := c.laddr.Addr(); a.IsValid() && !a.IsUnspecified() && !isMulticast(a.As4()) && !e.isBroadcast(a.As4()) {
		src = a.As4()
	}
	if mcast {
		if a := c.opts.mcIf.Load(); a != nil && a.IsValid() {
			src = a.As4() // IP_MULTICAST_IF
		}
	}
	if so.src.IsValid() {
		src = so.src.As4()
	}
	total := 20 + 8 + len(p)
	mtu, df, err := e.fragmentPolicy(PMTUDisc(c.opts.pmtudisc.Load()), d4, total)
	if err != nil {
		return err
	}
	ttl, tos := so.ttl, so.tos
	if ttl == 0 && mcast {
		ttl = uint8(c.MulticastTTL())
	} else if ttl == 0 {
		ttl = uint8(c.TTL())
	}
	if tos == 0 {
		tos = uint8(c.opts.tos.Load())
	}
	b := e.bufs.Get(total)
	if b == nil {
		return os.NewSyscallError("sendto", syscall.EMSGSIZE)
	}
	pkt := b.B[:total]
	id := e.ids.Next(src, d4, protoUDP, e.nanotime())
	putIPv4Opts(pkt, src, d4, id, df, protoUDP, total, ttl, tos)
	u := header.UDP(pkt[20:])
	u.SetSrcPort(c.laddr.Port())
	u.SetDstPort(dst.Port())
	u.SetLength(uint16(8 + len(p)))
	u.SetChecksum(0)
	copy(pkt[28:], p)
	u.UpdateChecksum(src, d4)

	w := c.owner
	if !c.raddr.IsValid() && len(e.workers) > 1 {
		// An unconnected socket sends each datagram through the worker
		// its peer's answers are steered to: a busy listener's
		// transmissions spread over the workers as its receptions do,
		// and one peer's datagrams keep their order.
		w = e.workers[e.steer.Steer(flowtable.KeyFrom(dst, netip.AddrPortFrom(netip.AddrFrom4(src), c.laddr.Port()), protoUDP))]
	}
	req := txReq{buf: b, n: total, dst: d4, conn: c, mtu: mtu, bcast: bcast, mcast: mcast,
		loop: mcast && c.MulticastLoopback() && e.mc.host.Wanted(d4, src)}
	for spins := 0; !w.txq.Enqueue(req); spins++ {
		// The worker is behind: wait for room, like a blocking send on a
		// full socket buffer, within the write deadline.
		w.wake()
		if c.closed.Load() || e.state.Load() == stateClosed {
			e.bufs.Put(b)
			return os.NewSyscallError("sendto", syscall.EPIPE)
		}
		if d := c.writeDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
			e.bufs.Put(b)
			return os.ErrDeadlineExceeded
		}
		if spins < 64 {
			runtime.Gosched()
		} else {
			time.Sleep(20 * time.Microsecond)
		}
	}
	w.wake()
	return nil
}

// fragmentPolicy applies a socket's IP_MTU_DISCOVER mode to a datagram of
// total bytes toward dst: the MTU to fragment it at, whether it carries DF,
// or EMSGSIZE.
func (e *Engine) fragmentPolicy(d PMTUDisc, dst [4]byte, total int) (mtu int, df bool, err error) {
	mtu = e.mtu
	if d != PMTUDiscProbe {
		mtu = e.pmtu.get(dst, e.mtu, e.wallNow())
	}
	switch d {
	case PMTUDiscDont:
		return mtu, false, nil
	case PMTUDiscDo, PMTUDiscProbe:
		if total > mtu {
			return 0, false, os.NewSyscallError("sendto", syscall.EMSGSIZE)
		}
		return mtu, true, nil
	}
	return mtu, total <= mtu, nil // want: DF on what fits, fragment the rest
}

// sourceFor returns the engine's address it sends to dst from: the route's,
// or the first address when there is no route.
func (e *Engine) sourceFor(dst [4]byte) netip.Addr {
	if _, src, ok := e.route(dst); ok {
		return netip.AddrFrom4(src)
	}
	return e.cfg.Addrs[0].Addr()
}

// isBroadcast reports whether dst is the limited broadcast or the directed
// broadcast of one of the engine's subnets.
func (e *Engine) isBroadcast(dst [4]byte) bool {
	return dst == [4]byte{255, 255, 255, 255} || slices.Contains(e.bcast4, dst)
}

// putIPv4 writes a 20-byte IPv4 header with the default TTL and TOS 0.
func putIPv4(b []byte, src, dst [4]byte, id uint16, df bool, proto uint8, total int) {
	putIPv4Opts(b, src, dst, id, df, proto, total, defaultTTL, 0)
}

// putIPv4Opts writes a 20-byte IPv4 header.
func putIPv4Opts(b []byte, src, dst [4]byte, id uint16, df bool, proto uint8, total int, ttl, tos uint8) {
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
	copy(b[12:16], src[:])
	copy(b[16:20], dst[:])
	header.IPv4(b[:20]).UpdateChecksum()
}

// sendReq sends an application's datagram, or parks it until ARP resolves
// its next hop. The buffer goes back to the pool once its bytes are copied
// into UMEM frames.
func (w *worker) sendReq(r txReq) {
	if r.bcast || r.mcast {
		mac := header.BroadcastMAC
		if r.mcast {
			mac = header.MulticastMAC(r.dst)
		}
		w.transmitDatagram(r.buf.B[:r.n], mac, r.dst, r.mtu)
		if r.loop {
			w.handleDatagram(r.buf.B[:r.n], true) // IP_MULTICAST_LOOP: to the engine's own sockets
		}
		w.e.bufs.Put(r.buf)
		return
	}
	next, _, ok := w.e.route(r.dst)
	if !ok {
		w.st.DropNoRoute++
		w.e.bufs.Put(r.buf)
		return
	}
	mac, handled := w.resolve(next, r)
	if !handled {
		return // parked or dropped
	}
	w.transmitDatagram(r.buf.B[:r.n], mac, r.dst, r.mtu)
	w.e.bufs.Put(r.buf)
}

// resolve finds the MAC address of next. When ARP has no answer yet, the
// request is parked (it returns false); flushParked sends it later. One
// Lookup per datagram: Lookup moves the entry's state (a new or FAILED entry
// becomes INCOMPLETE and asks for a request), so its action must be obeyed.
func (w *worker) resolve(next [4]byte, r txReq) (header.MAC, bool) {
	if len(w.freeSlot) == 0 {
		mac, act := w.arpTab.Lookup(w.now(), next, 0, false)
		switch act {
		case arp.Send:
			return mac, true
		case arp.SendRequest:
			w.arpRequest(next, header.MAC{})
		}
		w.st.DropNeighbour++
		w.e.bufs.Put(r.buf)
		return header.MAC{}, false
	}
	slot := w.freeSlot[len(w.freeSlot)-1]
	mac, act := w.arpTab.Lookup(w.now(), next, uint64(slot), true)
	switch act {
	case arp.Send:
		return mac, true
	case arp.SendRequest, arp.Queued:
		w.freeSlot = w.freeSlot[:len(w.freeSlot)-1]
		w.parked[slot] = r
		if act == arp.SendRequest {
			w.arpRequest(next, header.MAC{})
		}
	case arp.RequestDrop:
		w.arpRequest(next, header.MAC{})
		w.st.DropNeighbour++
		w.e.bufs.Put(r.buf)
	default:
		w.st.DropNeighbour++
		w.e.bufs.Put(r.buf)
	}
	return header.MAC{}, false
}

// flushParked sends a parked datagram whose next hop just resolved.
func (w *worker) flushParked(handle uint64) {
	r := w.parked[handle]
	w.parked[handle] = txReq{}
	w.freeSlot = append(w.freeSlot, int(handle))
	if r.buf == nil {
		return
	}
	next, _, _ := w.e.route(r.dst)
	if st, mac := w.arpTab.State(next); st == arp.Reachable || st == arp.Stale || st == arp.Delay || st == arp.Probe {
		w.transmitDatagram(r.buf.B[:r.n], mac, r.dst, r.mtu)
	} else {
		w.st.DropNeighbour++
	}
	w.e.bufs.Put(r.buf)
}

// arpDrop discards a parked datagram whose next hop did not resolve.
func (w *worker) arpDrop(handle uint64) {
	r := w.parked[handle]
	w.parked[handle] = txReq{}
	w.freeSlot = append(w.freeSlot, int(handle))
	if r.buf != nil {
		w.st.DropNeighbour++
		w.e.bufs.Put(r.buf)
	}
}

// arpRequest broadcasts (or unicasts, for a probe) an ARP request for ip.
func (w *worker) arpRequest(ip [4]byte, unicast header.MAC) {
	_, src, ok := w.e.route(ip)
	if !ok {
		return
	}
	var f [arpFrameLen]byte
	n, err := arp.Request(f[:], w.e.mac, src, ip, unicast)
	if err == nil {
		w.st.ARP.OutRequests++
		w.dp.SendFrame(f[:n])
	}
}

func (w *worker) gratuitousARP() {
	for _, p := range w.e.cfg.Addrs {
		var f [arpFrameLen]byte
		if n, err := arp.Gratuitous(f[:], w.e.mac, p.Addr().As4()); err == nil {
			w.dp.SendFrame(f[:n])
		}
	}
}

// transmitDatagram sends an IPv4 packet to mac, in fragments when it is
// larger than the path MTU (its DF bit was settled by the sender).
func (w *worker) transmitDatagram(pkt []byte, mac header.MAC, dst [4]byte, mtu int) {
	if mtu == 0 {
		mtu = w.e.pmtu.get(dst, w.e.mtu, w.e.wallNow())
	}
	count := 1
	if len(pkt) > mtu {
		var err error
		if count, err = w.frag.Count(pkt, mtu); err != nil || count > len(w.addrs) {
			w.st.DropFragmenting++
			return
		}
	}
	addrs := w.addrs[:count]
	if got := w.dp.AllocFrames(addrs); got < count {
		w.dp.ReleaseAddrs(addrs[:got])
		w.st.DropTxRing++
		return
	}
	out := w.fragOut[:count]
	for i, a := range addrs {
		out[i] = w.dp.FrameBuffer(a)[ethHeaderLen : ethHeaderLen+mtu]
	}
	if count == 1 {
		out[0] = out[0][:copy(out[0][:len(pkt)], pkt)]
	} else if _, err := w.frag.Fragment(pkt, mtu, out); err != nil {
		w.dp.ReleaseAddrs(addrs)
		w.st.DropFragmenting++
		return
	}
	for i, a := range addrs {
		frame := w.dp.FrameBuffer(a)
		putEthernet(frame, mac, w.e.mac, etherTypeIPv4)
		w.dp.QueueTx(afxdp.Desc{Addr: a, Len: uint32(ethHeaderLen + len(out[i]))})
		out[i] = nil
	}
}

func putEthernet(b []byte, dst, src header.MAC, typ uint16) {
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:], typ)
}

// sendICMPError answers orig with an ICMP error, within RFC 1122's rules and
// the rate limits.
func (w *worker) sendICMPError(orig header.IPv4, linkBcast bool, typ, code uint8, rest uint32) {
	local := orig.Dst4()
	if err := icmp.Check(orig, linkBcast, w.e.broadcastOf(local)); err != nil {
		return
	}
	if !w.limiter.Allow(w.now(), orig.Src4(), typ, code, &w.icmpc) {
		return
	}
	b := w.e.bufs.Get(datapath.SmallBuf)
	id := w.e.ids.Next(local, orig.Src4(), protoICMP, w.now())
	n, err := icmp.BuildError(b.B, local, id, orig, linkBcast, w.e.broadcastOf(local), typ, code, rest)
	if err != nil {
		w.e.bufs.Put(b)
		return
	}
	w.icmpc.CountOut(typ)
	w.sendReq(txReq{buf: b, n: n, dst: orig.Src4()})
}
