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
		fl := f.b.fwds[f.b.p.Host.Owner(key).Queue()].ct.Lookup(&key)
		if fl == nil {
			return inet4.Pass
		}
		if fl.v.cfg.Mode == NAT {
			snat := f.b.p.SNAT.As4()
			ip.RewriteDst(fl.be.addr)
			q.RewriteSrc(fl.be.addr)
			q.RewriteDst(snat)
			binary.BigEndian.PutUint16(ql4, fl.bePort())
			binary.BigEndian.PutUint16(ql4[2:], fl.snatPort)
			m.UpdateChecksum()
		}
		if overhead(fl.v.cfg.Mode) > 0 {
			return f.tunnel(p, fl.v, fl.be, fl.entropy)
		}
		return f.send(p, fl.be.addr, fl.v.cfg.Mode == DSRL2)
	}
	if ip.Dst() != f.b.p.SNAT || qsrc != f.b.p.SNAT.As4() {
		return inet4.Pass
	}
	// NAT: about a packet the balancer sent to a backend.
	key := flowtable.KeyFrom4(qdst, qsrc, qdport, qsport, proto)
	fl := f.b.fwds[f.b.p.Host.Owner(key).Queue()].ct.Lookup(&key)
	if fl == nil || key != fl.rev {
		return inet4.Pass // the engine's own connection
	}
	vip := fl.v.cfg.Addr.As4()
	ip.RewriteSrc(vip)
	ip.RewriteDst(fl.client)
	q.RewriteSrc(fl.client)
	q.RewriteDst(vip)
	binary.BigEndian.PutUint16(ql4, fl.cport)
	binary.BigEndian.PutUint16(ql4[2:], fl.vport)
	m.UpdateChecksum()
	return f.send(p, fl.client, false)
}
