package lb

import (
	"encoding/binary"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/inet4"
)

// ICMP errors about VIP flows. An error quotes the header of the packet it
// is about; the balancer finds that packet's flow and sends the error to
// the side that sent the packet, translated as the packet was:
//   - to a VIP, about a reply the client's path could not take (a router
//     on the client's side): it goes to the flow's backend, which sent
//     that reply; in NAT mode the outer destination and the quoted header
//     become the backend's view (the quoted packet from B:bp to the
//     engine's address and port); in a tunnel mode it goes encapsulated
//     like the flow's packets;
//   - NAT, to the engine's address, about a packet the balancer sent to a
//     backend (the backend's port unreachable, a router on its path): it
//     goes to the client, its outer addresses and the quoted header turned
//     back into the client's view (from the VIP, quoting C:cp → VIP:vp).
// Echo requests to a VIP are the engine's (it answers them).

// icmp handles an ICMP message to the engine; Pass leaves it to the stack.
func (f *forwarder) icmp(p *inet4.Packet, st *state) inet4.Verdict {
	ip := p.IP
	m, err := header.ParseICMPv4(ip.Payload())
	if err != nil || !m.IsError() || m.Type() == header.ICMPv4Redirect {
		return inet4.Pass
	}
	q := header.IPv4(m.Payload())
	if len(q) < header.IPv4MinHeaderLen || q.HeaderLen() < header.IPv4MinHeaderLen || len(q) < q.HeaderLen()+4 {
		return inet4.Pass
	}
	proto := q.Protocol()
	if proto != header.ProtocolTCP && proto != header.ProtocolUDP {
		return inet4.Pass
	}
	ql4 := q[q.HeaderLen():]
	qsrc, qdst := q.Src4(), q.Dst4()
	qsport, qdport := binary.BigEndian.Uint16(ql4), binary.BigEndian.Uint16(ql4[2:])
	if v := st.lookup(qsrc, qsport, proto); v != nil && ip.Dst4() == qsrc {
		// About a reply from the VIP: the client's key is the reverse.
		key := flowtable.KeyFrom4(qdst, qsrc, qdport, qsport, proto)
		of := f.b.fwds[f.b.p.Host.Owner(key).Queue()]
		if val, ok := of.ct4.Lookup(flowtable.MakeKey4(qdst, qsrc, qdport, qsport, proto)); ok {
			v, be := f.b.vipReg.get(fwdVIP(val)), f.b.beReg.get(fwdBackend(val))
			if v == nil || be == nil {
				return inet4.Pass
			}
			return f.icmpToBackend(p, m, q, ql4, v, be, bePort4(be, qsport), fwdPort(val))
		}
		fl := of.ct.Lookup(&key)
		if fl == nil {
			return inet4.Pass
		}
		port := fl.snatPort
		if overhead(fl.v.cfg.Mode) > 0 {
			port = fl.entropy
		}
		return f.icmpToBackend(p, m, q, ql4, fl.v, fl.be, fl.bePort(), port)
	}
	if ip.Dst() != f.b.p.SNAT || qsrc != f.b.p.SNAT.As4() {
		return inet4.Pass
	}
	// NAT: about a packet the balancer sent to a backend.
	key := flowtable.KeyFrom4(qdst, qsrc, qdport, qsport, proto)
	of := f.b.fwds[f.b.p.Host.Owner(key).Queue()]
	r4 := flowtable.MakeKey4(qdst, qsrc, qdport, qsport, proto)
	if val, class, ok := of.ct4.LookupHashed(r4, of.ct4.Hash(r4)); ok && isReply(class) {
		v := f.b.vipReg.get(revVIP(val))
		if v == nil {
			return inet4.Pass
		}
		return f.icmpToClient(p, m, q, ql4, v.cfg.Addr.As4(), revClient(val), revCPort(val), vport4(v, qdport))
	}
	fl := of.ct.Lookup(&key)
	if fl == nil || key != fl.rev {
		return inet4.Pass // the engine's own connection
	}
	return f.icmpToClient(p, m, q, ql4, fl.v.cfg.Addr.As4(), fl.client, fl.cport, fl.vport)
}

// icmpToBackend sends an error about a reply of a flow of v to backend be
// (bport its port, port the flow's NAT port or entropy), translated as
// the flow's packets are.
func (f *forwarder) icmpToBackend(p *inet4.Packet, m header.ICMPv4, q header.IPv4, ql4 []byte, v *vip, be *backend, bport, port uint16) inet4.Verdict {
	if v.cfg.Mode == NAT {
		p.IP.RewriteDst(be.addr)
		q.RewriteSrc(be.addr)
		q.RewriteDst(f.b.p.SNAT.As4())
		binary.BigEndian.PutUint16(ql4, bport)
		binary.BigEndian.PutUint16(ql4[2:], port)
		m.UpdateChecksum()
	}
	if overhead(v.cfg.Mode) > 0 {
		return f.tunnel(p, v, be, port)
	}
	return f.send(p, be.addr, v.cfg.Mode == DSRL2)
}

// icmpToClient sends an error about a packet to a backend back to the
// client, as from the VIP about the client's packet.
func (f *forwarder) icmpToClient(p *inet4.Packet, m header.ICMPv4, q header.IPv4, ql4 []byte, vip, client [4]byte, cport, vport uint16) inet4.Verdict {
	p.IP.RewriteSrc(vip)
	p.IP.RewriteDst(client)
	q.RewriteSrc(client)
	q.RewriteDst(vip)
	binary.BigEndian.PutUint16(ql4, cport)
	binary.BigEndian.PutUint16(ql4[2:], vport)
	m.UpdateChecksum()
	return f.send(p, client, false)
}
