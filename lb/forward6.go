package lb

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/dgryski/go-metro"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/inet6"
)

// IPv6 VIPs. A worker's forwarder is also its IPv6 layer's
// inet6.Forwarder (forwarder6, the same object): IPv6 flows live in the
// same connection table as IPv4 ones, under IPv6 keys (a NAT flow's reply
// key too), with the same classes, timeouts, ports (the socket table's
// allocators, which take IPv6 keys) and owner (the engine's steering
// function of the client's tuple). The IPv4 path is not touched by any of
// this: an IPv4 packet never reaches this file. IPv6 VIPs forward in nat
// and dsr-l2 modes only, without the XDP fast path, hashed fragments or
// the forwarding of ICMPv6 errors (Balancer.checkFamily): an ICMPv6
// message goes to the engine's own stack.

// vipKey6 is vipKey for IPv6 VIPs.
type vipKey6 struct {
	addr  [16]byte
	port  uint16
	proto uint8
}

// lookup6 finds the IPv6 VIP of a packet: the exact port, else the VIP of
// every port.
func (s *state) lookup6(dst [16]byte, port uint16, proto uint8) *vip {
	if len(s.vips6) == 0 {
		return nil
	}
	if v := s.vips6[vipKey6{dst, port, proto}]; v != nil {
		return v
	}
	return s.vips6[vipKey6{dst, 0, proto}]
}

// forwarder6 is a worker's forwarder as its IPv6 layer's inet6.Forwarder
// (the same object: the method sets of the two interfaces collide).
type forwarder6 forwarder

// Forward implements inet6.Forwarder.
func (f6 *forwarder6) Forward(p *inet6.Packet) inet6.Verdict { return (*forwarder)(f6).forward6(p) }

// AddWorker6 adds the balancer to a worker's IPv6 layer, after AddWorker
// added it to the same worker's IPv4 layer (the engine does both for every
// worker when it has IPv6 addresses).
func (b *Balancer) AddWorker6(l *inet6.Layer) error {
	q := l.Queue()
	if q >= len(b.fwds) || b.fwds[q].l6 != nil {
		return fmt.Errorf("lb: AddWorker6 for queue %d: add the worker's IPv4 layer first (AddWorker), once", q)
	}
	f := b.fwds[q]
	f.l6 = l
	l.SetForwarder((*forwarder6)(f))
	return nil
}

// forward6 is Forward for IPv6: as the IPv4 path (forward.go), without
// the burst pre-pass.
func (f *forwarder) forward6(p *inet6.Packet) inet6.Verdict {
	st := f.b.cur.Load()
	if st == nil {
		return inet6.Pass
	}
	proto := p.Proto
	if proto != header.ProtocolTCP && proto != header.ProtocolUDP {
		return inet6.Pass
	}
	ip, l4 := p.IP, p.Payload()
	if !l4ok(proto, l4) {
		return inet6.Pass
	}
	dst := ip.Dst16()
	sport, dport := binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	key := flowtable.Key{Src: ip.Src16(), Dst: dst, SrcPort: sport, DstPort: dport, Proto: proto, Family: flowtable.FamilyIPv6}
	of := f.b.fwds[f.b.p.Host.Owner(key).Queue()]
	h := of.ct.Hash(&key)
	v := st.lookup6(dst, dport, proto)
	if v == nil {
		return f.reply6(p, &key, of, h)
	}
	fl := of.ct.LookupTouchHashed(&key, h, p.Now)
	if fl == nil {
		if of != f {
			if p.Frame == nil || of.l6 == nil {
				return f.drop6(v, DropOther) // a reassembled packet of another worker's flow
			}
			f.l6.SteerForward(of.l6, p.Frame) // the owner creates the flow
			p.Consumed = true
			return inet6.Drop
		}
		var why DropReason
		if fl, why = f.newFlow6(v, &key, p.Now); fl == nil {
			return f.drop6(v, why)
		}
	} else if of == f && proto == header.ProtocolTCP {
		f.track(fl, l4, p.Now)
	}
	n := uint64(len(ip))
	v.stats[f.queue].add(1, n)
	fl.be.stats[f.queue].add(1, n)
	if v.cfg.Mode == NAT {
		partial := f.partial6(ip, proto, l4)
		rewrite6(ip, proto, l4, f.b.p.SNAT6.As16(), fl.be.addr16, fl.snatPort, fl.bePort())
		if partial {
			completeChecksum6(ip, proto, l4)
		}
	} else if f.partial6(ip, proto, l4) {
		completeChecksum6(ip, proto, l4)
	}
	return f.send6(p, fl.be.ip, v.cfg.Mode == DSRL2)
}

// reply6 translates an IPv6 NAT reply (backend → the engine's port) back
// to the client; anything else is the engine's own.
func (f *forwarder) reply6(p *inet6.Packet, key *flowtable.Key, of *forwarder, h uint64) inet6.Verdict {
	fl := of.ct.LookupHashed(key, h)
	if fl == nil {
		return inet6.Pass
	}
	ip, l4 := p.IP, p.Payload()
	n := uint64(len(ip))
	fl.v.stats[f.queue].add(1, n)
	partial := f.partial6(ip, fl.proto, l4)
	rewrite6(ip, fl.proto, l4, fl.v.cfg.Addr.As16(), fl.fwd.Src, fl.vport, fl.cport)
	if partial {
		completeChecksum6(ip, fl.proto, l4)
	}
	if fl.proto == header.ProtocolTCP && of == f {
		f.track(fl, l4, p.Now)
	}
	of.ct.LookupTouch(&fl.fwd, p.Now) // the flow lives while its replies do
	return f.send6(p, netip.AddrFrom16(fl.fwd.Src), false)
}

// newFlow6 is newFlow for an IPv6 flow.
func (f *forwarder) newFlow6(v *vip, key *flowtable.Key, now int64) (*flow, DropReason) {
	i := v.table.Lookup(flowHash6(v, key.Src, key.Dst, key.SrcPort, key.DstPort, key.Proto, f.b.p.Seed))
	if i < 0 {
		return nil, DropNoBackend
	}
	fl := &flow{v: v, be: v.backends[i], cport: key.SrcPort, vport: key.DstPort, proto: key.Proto, fwd: *key, class: classUDP}
	if key.Proto == header.ProtocolTCP {
		fl.class = classSyn
	}
	var rev flowtable.Key
	if v.cfg.Mode == NAT {
		rev = flowtable.Key{Src: fl.be.addr16, Dst: f.b.p.SNAT6.As16(), SrcPort: fl.bePort(), Proto: key.Proto, Family: flowtable.FamilyIPv6}
	}
	return f.admit(v, fl, key, rev, now)
}

// send6 transmits the rewritten packet to the next hop toward to: in
// place when its MAC is known, else through the send path, which waits
// for Neighbor Discovery (a DSR packet keeps the VIP as its destination:
// it names the next hop toward the backend).
func (f *forwarder) send6(p *inet6.Packet, to netip.Addr, dsr bool) inet6.Verdict {
	mac, resolved, ok := f.l6.NextHop(to)
	switch {
	case !ok:
		return inet6.Drop
	case !resolved || p.Frame == nil || len(p.IP) > f.b.p.Host6.MTU():
		if dsr {
			next, _, _ := f.b.p.Host6.Route(to) // ok: NextHop found it
			p.Via = next
		}
		return inet6.Route
	}
	f.l6.PutEthernet(p.Frame, mac)
	p.Frame = p.Frame[:header.EthernetHeaderLen+len(p.IP)]
	return inet6.Transmit
}

func (f *forwarder) drop6(v *vip, why DropReason) inet6.Verdict {
	v.stats[f.queue].drops[why].Add(1)
	return inet6.Drop
}

// Offsets in the IPv6 header and of the checksum in the transport headers.
const (
	ipv6Src        = 8
	ipv6Dst        = 24
	tcpChecksumOff = 16
	udpChecksumOff = 6
)

// l4ok reports whether l4 holds the TCP or UDP header fields the balancer
// reads and rewrites (ports, checksum, TCP flags).
func l4ok(proto uint8, l4 []byte) bool {
	if proto == header.ProtocolTCP {
		return len(l4) >= header.TCPMinHeaderLen
	}
	return len(l4) >= header.UDPHeaderLen
}

// rewrite6 sets an IPv6 TCP or UDP packet's addresses and ports and
// updates the transport checksum incrementally (RFC 1624; IPv6 has no
// header checksum, the transport's covers the pseudo-header). l4 is the
// transport header in ip (l4ok).
func rewrite6(ip header.IPv6, proto uint8, l4 []byte, src, dst [16]byte, sport, dport uint16) {
	co := udpChecksumOff
	if proto == header.ProtocolTCP {
		co = tcpChecksumOff
	}
	c := binary.BigEndian.Uint16(l4[co:])
	c = update16(c, [16]byte(ip[ipv6Src:]), src)
	c = update16(c, [16]byte(ip[ipv6Dst:]), dst)
	c = header.ChecksumUpdate16(c, binary.BigEndian.Uint16(l4), sport)
	c = header.ChecksumUpdate16(c, binary.BigEndian.Uint16(l4[2:]), dport)
	if proto == header.ProtocolUDP && c == 0 {
		c = 0xffff // zero means no checksum, which IPv6 forbids (RFC 8200 8.1)
	}
	ip.SetSrc16(src)
	ip.SetDst16(dst)
	binary.BigEndian.PutUint16(l4, sport)
	binary.BigEndian.PutUint16(l4[2:], dport)
	binary.BigEndian.PutUint16(l4[co:], c)
}

// update16 is the RFC 1624 update of checksum c for 16 bytes changed
// from old to new.
func update16(c uint16, old, new [16]byte) uint16 {
	for i := 0; i < 16; i += 4 {
		c = header.ChecksumUpdate32(c, [4]byte(old[i:]), [4]byte(new[i:]))
	}
	return c
}

// partial6 reports a TCP or UDP checksum that holds only the
// pseudo-header sum (a Linux sender on a virtual link), as partial does
// for IPv4.
func (f *forwarder) partial6(ip header.IPv6, proto uint8, l4 []byte) bool {
	if !f.b.p.Host6.TrustPartial() {
		return false
	}
	co := udpChecksumOff
	if proto == header.ProtocolTCP {
		co = tcpChecksumOff
	}
	c := binary.BigEndian.Uint16(l4[co:])
	return c != 0 && c == header.PseudoHeaderChecksum6(proto, ip.Src16(), ip.Dst16(), uint32(len(l4)))
}

// completeChecksum6 writes the full TCP or UDP checksum of an IPv6 packet.
func completeChecksum6(ip header.IPv6, proto uint8, l4 []byte) {
	co := udpChecksumOff
	if proto == header.ProtocolTCP {
		co = tcpChecksumOff
	}
	binary.BigEndian.PutUint16(l4[co:], 0)
	c := ^header.Checksum(l4, header.PseudoHeaderChecksum6(proto, ip.Src16(), ip.Dst16(), uint32(len(l4))))
	if proto == header.ProtocolUDP && c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[co:], c)
}

// flowHash6 is flowHash for an IPv6 flow: its 5-tuple, or its source
// address alone for a VIP with client affinity.
func flowHash6(v *vip, src, dst [16]byte, sport, dport uint16, proto uint8, seed uint64) uint64 {
	var b [37]byte
	copy(b[0:16], src[:])
	if v.cfg.SourceHash {
		return metro.Hash64(b[:16], seed)
	}
	copy(b[16:32], dst[:])
	binary.BigEndian.PutUint16(b[32:], sport)
	binary.BigEndian.PutUint16(b[34:], dport)
	b[36] = proto
	return metro.Hash64(b[:], seed)
}
