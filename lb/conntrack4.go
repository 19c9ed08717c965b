package lb

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/inet4"
)

// IPv4 connection tracking in a flowtable.Table4 (one cache line a
// lookup): an entry's 8-byte value holds everything a packet of the flow
// is translated with, so a lookup reads nothing else. (IPv6 flows, and the
// flows of VIPs with the XDP fast path, keep records in the Index: see
// forward.go.)
//
// The client's key (its packets to the VIP) holds
//
//	bits  0-15  the backend's registry slot
//	bits 16-31  NAT: the engine's port toward the backend; tunnels: the
//	            flow's outer UDP source port (entropy); dsr-l2: 0
//	bits 32-47  the VIP's registry slot
//	bit  48     the flow has a reply key (NAT)
//
// and its class is the flow's state (classSyn, classEstablished,
// classClosing, classUDP). In NAT mode the backend's reply key (backend →
// the engine's address and port), of class classReverse (and
// classReplyEstablished once a reply made a TCP flow established), holds
//
//	bits  0-31  the client's address
//	bits 32-47  the client's port
//	bits 48-63  the VIP's registry slot
//
// and the port the client sent to is the VIP's, or for a VIP of every
// port the backend's (build refuses a NAT VIP of every port with a backend
// port). A reply key never expires by itself: its flow's expiry (Tick)
// removes it, and a reply seen within the flow's timeout keeps the flow.

const natFlag = 1 << 48 // in a client key's value: the flow has a reply key

func fwdValue(be, port, vip uint16, nat bool) uint64 {
	v := uint64(be) | uint64(port)<<16 | uint64(vip)<<32
	if nat {
		v |= natFlag
	}
	return v
}

// isReply reports the class of a reply key.
func isReply(c flowtable.Class) bool { return c == classReverse || c == classReplyEstablished }

func fwdBackend(v uint64) uint16 { return uint16(v) }
func fwdPort(v uint64) uint16    { return uint16(v >> 16) }
func fwdVIP(v uint64) uint16     { return uint16(v >> 32) }

func revValue(client [4]byte, cport, vip uint16) uint64 {
	return uint64(binary.BigEndian.Uint32(client[:])) | uint64(cport)<<32 | uint64(vip)<<48
}

func revClient(v uint64) [4]byte {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], uint32(v))
	return a
}

func revCPort(v uint64) uint16 { return uint16(v >> 32) }
func revVIP(v uint64) uint16   { return uint16(v >> 48) }

// bePort4 is the port a flow to client port vport reaches on be.
func bePort4(be *backend, vport uint16) uint16 {
	if be.port != 0 {
		return be.port
	}
	return vport
}

// vport4 is the port the client sent to, for a reply from backend port
// bport to a flow of v.
func vport4(v *vip, bport uint16) uint16 {
	if v.cfg.Port != 0 {
		return v.cfg.Port
	}
	return bport
}

// revKey4 is the reply key of a NAT flow with client key k to be through
// the engine's port.
func (f *forwarder) revKey4(k flowtable.Key4, be *backend, port uint16) flowtable.Key4 {
	return flowtable.MakeKey4(be.addr, f.b.p.SNAT.As4(), bePort4(be, k.DstPort()), port, k.Proto())
}

// fwdKey4 is the client key of the NAT flow whose reply key is r (value
// rv, VIP v).
func fwdKey4(r flowtable.Key4, rv uint64, v *vip) flowtable.Key4 {
	return flowtable.MakeKey4(revClient(rv), v.cfg.Addr.As4(), revCPort(rv), vport4(v, r.SrcPort()), r.Proto())
}

// forward4 forwards a packet of a flow to VIP v (not one of the fast
// path's): k4 is its key, key the same as a flowtable.Key (for steering).
// fallback lets a flow tracked with a record go to forwardRecord (which
// does not come back here).
func (f *forwarder) forward4(p *inet4.Packet, v *vip, k4 flowtable.Key4, key *flowtable.Key, l4 []byte, fallback bool) inet4.Verdict {
	q, h, hashed := f.burst.cached(k4)
	if !hashed {
		q = f.b.p.Host.Owner(*key).Queue()
	}
	of := f.b.fwds[q]
	if !hashed {
		h = of.ct4.Hash(k4)
	}
	var be *backend // a new flow's (an untracked one's slot may be reused at once)
	val, class, ok := of.ct4.LookupTouchHashed(k4, h, p.Now)
	if !ok && fallback && of.ct.Len() > 0 && of.ct.Lookup(key) != nil {
		// Tracked with a record while its VIP had the fast path.
		return f.forwardRecord(p, v, k4, key, l4)
	}
	if !ok {
		if of != f {
			return f.handOver(p, v, of)
		}
		var why DropReason
		if val, be, why = f.newFlow4(v, k4, p.Now); be == nil {
			return f.drop(v, why)
		}
	} else if of == f && k4.Proto() == header.ProtocolTCP {
		f.track4(k4, val, class, l4, p.Now)
	}
	if be == nil {
		be = f.b.beReg.get(fwdBackend(val))
	}
	if be == nil {
		return f.drop(v, DropOther) // its slot was reused while the owner removed the flow
	}
	ip := p.IP
	n := uint64(len(ip))
	v.stats[f.queue].add(1, n)
	be.stats[f.queue].add(1, n)
	partial := f.partial(ip)
	switch v.cfg.Mode {
	case NAT:
		ip.RewriteSrc(f.b.p.SNAT.As4())
		ip.RewriteSrcPort(fwdPort(val))
		ip.RewriteDst(be.addr)
		ip.RewriteDstPort(bePort4(be, k4.DstPort()))
	case DSRIPIP, DSRGUE, DSRVXLAN:
		if partial {
			completeChecksum(ip)
		}
		return f.tunnel(p, v, be, fwdPort(val))
	}
	if partial {
		completeChecksum(ip)
	}
	return f.send(p, be.addr, v.cfg.Mode == DSRL2)
}

// reply4 translates a NAT reply back to the client; ok false when k4 is
// not a reply key here.
func (f *forwarder) reply4(p *inet4.Packet, k4 flowtable.Key4, of *forwarder, h uint64) (inet4.Verdict, bool) {
	val, class, ok := of.ct4.LookupTouchHashed(k4, h, p.Now)
	if !ok || !isReply(class) {
		return 0, false
	}
	v := f.b.vipReg.get(revVIP(val))
	if v == nil {
		return inet4.Drop, true // its slot was reused while the owner removed the flow
	}
	ip := p.IP
	v.stats[f.queue].add(1, uint64(len(ip)))
	partial := f.partial(ip)
	client, cport, vport := revClient(val), revCPort(val), vport4(v, k4.SrcPort())
	ip.RewriteSrc(v.cfg.Addr.As4())
	ip.RewriteSrcPort(vport)
	ip.RewriteDst(client)
	ip.RewriteDstPort(cport)
	if partial {
		completeChecksum(ip)
	}
	if l4 := ip.Payload(); of == f && k4.Proto() == header.ProtocolTCP && len(l4) >= 14 {
		f.trackReply4(k4, class, fwdKey4(k4, val, v), l4[13], p.Now)
	}
	return f.send(p, client, false), true
}

// trackReply4 moves a TCP flow on at a reply as track4 does at the
// client's segments (the owner may see only the replies: the client's
// packets can land on another worker): the first reply without SYN makes
// it established (once: the reply key r, of class rc, then says so), a
// FIN or RST closing. k is the flow's client key. Owner only.
func (f *forwarder) trackReply4(r flowtable.Key4, rc flowtable.Class, k flowtable.Key4, flags uint8, now int64) {
	fin := flags&(header.TCPFlagFIN|header.TCPFlagRST) != 0
	if !fin && (rc == classReplyEstablished || flags&header.TCPFlagSYN != 0) {
		return
	}
	e, ok := f.ct4.Meta(k)
	if !ok {
		return
	}
	switch {
	case fin && e.Class != classClosing:
		f.ct4.SetClass(k, classClosing, now)
	case !fin && e.Class == classSyn:
		f.ct4.SetClass(k, classEstablished, now)
	}
	if !fin {
		f.ct4.SetClass(r, classReplyEstablished, now)
	}
}

// track4 moves a TCP flow from SYN to established (a segment without SYN)
// and to closing (a FIN or RST), never back, as track does; the table is
// written only when the class changes. Owner only.
//
// A SYN alone on a closing flow is a new connection on the same 5-tuple
// (the client's port came round again while the flow was still tracked):
// the flow starts over, with the same backend and NAT port.
func (f *forwarder) track4(k flowtable.Key4, val uint64, class flowtable.Class, l4 []byte, now int64) {
	if len(l4) < 14 {
		return
	}
	flags := l4[13]
	if class == classClosing {
		if flags&(header.TCPFlagSYN|header.TCPFlagACK) == header.TCPFlagSYN {
			f.ct4.SetClass(k, classSyn, now)
			if be := f.b.beReg.get(fwdBackend(val)); val&natFlag != 0 && be != nil {
				f.ct4.SetClass(f.revKey4(k, be, fwdPort(val)), classReverse, now)
			}
		}
		return
	}
	c := class
	switch {
	case flags&(header.TCPFlagFIN|header.TCPFlagRST) != 0:
		c = classClosing
	case flags&header.TCPFlagSYN == 0:
		c = classEstablished
	}
	if c != class {
		f.ct4.SetClass(k, c, now)
	}
}

// newFlow4 gives a new flow of v its backend (Maglev) and, for NAT, its
// port and reply key, and tracks it; the client key's value and the
// backend, or a nil backend and why. A DSR flow the full table cannot
// hold is forwarded untracked (Maglev alone is still consistent).
func (f *forwarder) newFlow4(v *vip, k flowtable.Key4, now int64) (uint64, *backend, DropReason) {
	src, dst, sport, dport, proto := k.Src(), k.Dst(), k.SrcPort(), k.DstPort(), k.Proto()
	i := v.table.Lookup(flowHash(v, src, dst, sport, dport, proto, f.b.p.Seed))
	if i < 0 {
		return 0, nil, DropNoBackend
	}
	be := v.backends[i]
	var port uint16
	if overhead(v.cfg.Mode) > 0 {
		// Per flow, even with client affinity: the backend's NIC spreads
		// a client's connections over its queues.
		port = entropyPort(flowHash(&vip{}, src, dst, sport, dport, proto, f.b.p.Seed))
	}
	// A VIP or backend retired under this worker's state: the flow would
	// name a slot about to be freed.
	if !v.tr.claim(f.queue) {
		return 0, nil, DropOther
	}
	if !be.tr.claim(f.queue) {
		v.tr.release(f.queue)
		return 0, nil, DropOther
	}
	unclaim := func() { v.tr.release(f.queue); be.tr.release(f.queue) }
	nat := v.cfg.Mode == NAT
	var rk flowtable.Key4
	if nat {
		rev := flowtable.KeyFrom4(be.addr, f.b.p.SNAT.As4(), bePort4(be, dport), 0, proto)
		var err error
		if port, err = f.ports(proto).Shard(f.queue).Connect(rev); err != nil {
			unclaim()
			return 0, nil, DropTableFull // the shard's ports toward this backend are used up
		}
		rk = f.revKey4(k, be, port)
		if f.ct4.Insert(rk, revValue(src, sport, v.tr.slot), classReverse, now) != nil {
			f.releasePort4(rk)
			unclaim()
			return 0, nil, DropTableFull
		}
	}
	val := fwdValue(be.tr.slot, port, v.tr.slot, nat)
	class := classUDP
	if proto == header.ProtocolTCP {
		class = classSyn
	}
	if err := f.ct4.Insert(k, val, class, now); err != nil {
		unclaim()
		if nat {
			f.ct4.Delete(rk)
			f.releasePort4(rk)
			return 0, nil, DropTableFull
		}
		// DSR: forwarded untracked; the slots stay named by no flow.
	}
	v.stats[f.queue].newFlows.Add(1)
	be.stats[f.queue].newFlows.Add(1)
	return val, be, 0
}

// releasePort4 gives back the NAT port of reply key r.
func (f *forwarder) releasePort4(r flowtable.Key4) {
	f.ports(r.Proto()).Release(r.Key())
}

// removed4 is the table's callback for an expired entry: a flow's client
// key, whose reply key and port go (or which comes back) in reap4, right
// after the sweep (the callback may not write the table).
func (f *forwarder) removed4(k flowtable.Key4, e flowtable.Entry4, _ flowtable.RemoveReason) {
	if !isReply(e.Class) {
		f.gone4 = append(f.gone4, gone4{k, e})
	}
}

// gone4 is an expired client key with its entry.
type gone4 struct {
	k flowtable.Key4
	e flowtable.Entry4
}

// reap4 ends the flows the last sweep expired, except a NAT flow whose
// replies came within its timeout (the replies keep it: it goes back in
// the table as last seen then). Owner only.
func (f *forwarder) reap4(now int64) {
	for i, g := range f.gone4 {
		f.gone4[i] = gone4{}
		be := f.b.beReg.get(fwdBackend(g.e.Value))
		if g.e.Value&natFlag != 0 && be != nil {
			rk := f.revKey4(g.k, be, fwdPort(g.e.Value))
			// SeenAfter: a reply key never expires, so its stamp may have
			// wrapped; the client key's was seen within its timeout.
			if re, ok := f.ct4.Meta(rk); ok && re.SeenAfter(g.e) {
				if seen := re.LastSeen(now); now-seen <= f.timeouts.of(g.e.Class) &&
					f.ct4.Insert(g.k, g.e.Value, g.e.Class, seen) == nil {
					continue
				}
			}
		}
		f.end4(g.k, g.e.Value, false)
	}
	f.gone4 = f.gone4[:0]
}

// end4 ends the flow of client key k (value val): its reply key and port
// (NAT), its client key when inTable, and its claims on its VIP and
// backend. Owner only.
func (f *forwarder) end4(k flowtable.Key4, val uint64, inTable bool) {
	if inTable {
		f.ct4.Delete(k)
	}
	be, v := f.b.beReg.get(fwdBackend(val)), f.b.vipReg.get(fwdVIP(val))
	if val&natFlag != 0 && be != nil {
		rk := f.revKey4(k, be, fwdPort(val))
		f.ct4.Delete(rk)
		f.releasePort4(rk)
	}
	if be != nil {
		be.tr.release(f.queue)
	}
	if v != nil {
		v.tr.release(f.queue)
	}
}

// flow4 is a tracked IPv4 flow: its client key and entry, its VIP and
// backend.
type flow4 struct {
	k  flowtable.Key4
	e  flowtable.Entry4
	v  *vip
	be *backend
}

// flows4 yields the worker's tracked IPv4 flows. Owner only; the loop
// body must not change the table.
func (f *forwarder) flows4(yield func(flow4) bool) {
	for k, e := range f.ct4.All() {
		if isReply(e.Class) {
			continue
		}
		v, be := f.b.vipReg.get(fwdVIP(e.Value)), f.b.beReg.get(fwdBackend(e.Value))
		if v == nil || be == nil {
			continue
		}
		if !yield(flow4{k, e, v, be}) {
			return
		}
	}
}

// list4 lists the worker's IPv4 flows of VIP vip ("" for all), at most
// limit (0: all), appended to out. Owner only.
func (f *forwarder) list4(out []Flow, vip string, limit int, now int64) []Flow {
	for x := range f.flows4 {
		k, e, v, be := x.k, x.e, x.v, x.be
		if limit > 0 && len(out) >= limit {
			break
		}
		if vip != "" && v.key != vip {
			continue
		}
		fl := Flow{VIP: v.key, Client: netip.AddrPortFrom(netip.AddrFrom4(k.Src()), k.SrcPort()),
			Backend: netip.AddrPortFrom(be.ip, bePort4(be, k.DstPort())), Queue: f.queue}
		if int(e.Class) < len(stateNames) {
			fl.State = stateNames[e.Class]
		}
		idle := e.Idle(now)
		if e.Value&natFlag != 0 {
			fl.SNAT = netip.AddrPortFrom(f.b.p.SNAT, fwdPort(e.Value))
			if re, ok := f.ct4.Meta(f.revKey4(k, be, fwdPort(e.Value))); ok && re.SeenAfter(e) {
				idle = re.Idle(now) // the replies keep the flow alive
			}
		}
		fl.Idle = time.Duration(idle)
		out = append(out, fl)
	}
	return out
}

// forget4 ends the worker's IPv4 flows of backend key ("VIP BACKEND").
// Owner only.
func (f *forwarder) forget4(key string) {
	var doomed []gone4
	for x := range f.flows4 {
		if x.v.key+" "+x.be.ip.String() == key {
			doomed = append(doomed, gone4{x.k, x.e})
		}
	}
	for _, g := range doomed {
		f.end4(g.k, g.e.Value, true)
	}
}
