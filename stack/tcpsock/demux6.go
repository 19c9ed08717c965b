package tcpsock

import (
	"encoding/binary"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/inet6"
	"github.com/xdpengine/engine/tcp"
)

// worker6 is a worker seen by its IPv6 layer: the inet6.Transport of next
// header 6 (the method names are inet4.Transport's, with IPv6 types). The
// connections are the worker's, in the same flowtable.Index: an IPv6 key
// differs from every IPv4 one by its family.
type worker6 worker

// Input implements inet6.Transport: one TCP segment over IPv6, handled as
// the IPv4 path handles one (worker.Input): the checksum with the IPv6
// pseudo-header (a partial one trusted where the host trusts them), the
// lookup by 5-tuple, the hand-over to the owning worker, then the
// connection, its TIME-WAIT record, a listener (a dual-stack one, bound to
// [::], takes IPv4 segments on the IPv4 path), or a RST, as Linux answers
// a segment for no socket.
func (t *worker6) Input(r inet6.Received) {
	w := (*worker)(t)
	st := &w.st.TCP
	p := r.Payload()
	th, err := header.ParseTCP(p)
	if err != nil {
		st.InErrs++
		w.st.DropMalformed++
		return
	}
	var key flowtable.Key
	key.Src, key.Dst = r.IP.Src16(), r.IP.Dst16()
	if !r.Checked {
		ph := header.PseudoHeaderChecksum6(header.ProtocolTCP, key.Src, key.Dst, uint32(len(p)))
		switch {
		case th.Checksum() == ph && w.l6.Host().TrustPartial(): // first: no pass over the data
			w.st.RxCsumPartial++
		case header.Checksum(p, ph) != 0xffff:
			st.InErrs++
			st.InCsumErrors++
			w.st.DropChecksum++
			return
		}
	}
	r.Checked = true
	if key.Src[0] == 0xff || key.Dst[0] == 0xff {
		st.InErrs++ // TCP to or from a group (tcp_v6_rcv drops it)
		return
	}
	key.SrcPort, key.DstPort = th.SrcPort(), th.DstPort()
	key.Proto, key.Family = header.ProtocolTCP, flowtable.FamilyIPv6
	c := w.conns.Lookup(&key)
	var tw *timeWait
	if c == nil && w.tw.Len() > 0 {
		tw = w.tw.Lookup(&key)
	}
	if c == nil && tw == nil && len(w.s.workers) > 1 {
		if owner := w.s.owner(key); owner != w {
			if r.Steered {
				st.InErrs++ // the owner handed it back: nothing for it anywhere
				return
			}
			w.l6.Steer(owner.l6, &r)
			return
		}
	}
	w.segment(&key, p, c, tw, r.LinkMcast)
}

// ICMPError implements inet6.Transport: an ICMPv6 error that quotes one
// of the engine's TCP segments goes to its connection, on the worker that
// owns it, as Linux's tcp_v6_err: Packet Too Big lowers the path MTU (to
// no less than 1280) and resends what no longer fits; the others fail a
// connect, or are kept as the soft error a later timeout reports (fatal6).
// ICMP for no connection is ignored.
func (t *worker6) ICMPError(r *inet6.Received, e *inet6.ICMPError) {
	w := (*worker)(t)
	q := e.Transport
	if len(q) < 8 {
		return // the quote must hold the ports and the sequence number
	}
	var key flowtable.Key
	key.Src, key.Dst = e.Quoted.Dst16(), e.Quoted.Src16()
	key.SrcPort, key.DstPort = binary.BigEndian.Uint16(q[2:]), binary.BigEndian.Uint16(q[0:])
	key.Proto, key.Family = header.ProtocolTCP, flowtable.FamilyIPv6
	c := w.conns.Lookup(&key)
	if c == nil {
		if r.Frame != nil && !r.Steered && len(w.s.workers) > 1 {
			if owner := w.s.owner(key); owner != w {
				w.l6.Steer(owner.l6, r)
			}
		}
		return
	}
	seq := tcp.Seq(binary.BigEndian.Uint32(q[4:]))
	if e.Type == header.ICMPv6PacketTooBig {
		c.ep.ICMPFragNeeded(w.l.Now(), seq, int(e.Rest))
	} else {
		c.ep.ICMPError(w.l.Now(), seq, e.Errno, fatal6(e.Type))
	}
	w.serviceTCP(c)
}

// fatal6 is icmpv6_err_convert's fatal flag: every destination
// unreachable and parameter problem is a hard error (a connect fails with
// it), time exceeded a soft one.
func fatal6(typ uint8) bool { return typ != header.ICMPv6TimeExceeded }
