package ipv6

import (
	"encoding/binary"

	"github.com/xdpengine/engine/header"
)

// Fragmenter splits outgoing packets that exceed the MTU (RFC 8200 4.5):
// only the source fragments in IPv6, so it is the sending side's, for
// packets it built. It keeps the FragOKs, FragCreates and FragFails
// counters and, like a Reassembler, belongs to one worker.
type Fragmenter struct {
	stats Stats
}

// Stats returns the fragmentation counters (the Frag* fields).
func (f *Fragmenter) Stats() Stats { return f.stats }

// maxUnfragHeaders bounds the walk of the unfragmentable part.
const maxUnfragHeaders = header.IPv6MaxExtHeaders

// fragPlan is what Fragment computes before writing.
type fragPlan struct {
	total  int // packet length
	unfrag int // unfragmentable part: IPv6 header and the headers kept in every fragment
	prevNH int // offset of the Next Header field naming the first fragmentable header
	per    int // data bytes per fragment but the last (a multiple of 8)
	n      int // fragments
}

// plan validates pkt and computes its split for mtu. The unfragmentable
// part is the IPv6 header, a hop-by-hop header, and, up to the last routing
// header, the routing and destination options headers (RFC 8200 4.5:
// destination options meant for the routing header's intermediate
// destinations). A packet that already has a fragment header, or whose
// extension headers run past it, is refused.
func plan(pkt []byte, mtu int, p *fragPlan) error {
	ip, err := header.ParseIPv6(pkt)
	if err != nil {
		return ErrBadPacket
	}
	p.total = len(ip)
	p.unfrag, p.prevNH = hdrLen, 6
	nh, off := ip[6], hdrLen
	for range maxUnfragHeaders {
		if nh != header.ProtocolHopByHop && nh != header.ProtocolRouting && nh != header.ProtocolDestOpts {
			break
		}
		if len(ip)-off < 8 || len(ip)-off < (int(ip[off+1])+1)*8 {
			return ErrBadPacket
		}
		hl := (int(ip[off+1]) + 1) * 8
		if nh != header.ProtocolDestOpts {
			p.unfrag, p.prevNH = off+hl, off
		}
		nh = ip[off]
		off += hl
	}
	if nh == header.ProtocolFragment {
		return ErrBadPacket
	}
	if p.total <= mtu {
		p.n = 1
		return nil
	}
	if mtu < header.IPv6MinMTU {
		return ErrBadMTU
	}
	p.per = (mtu - p.unfrag - fragHdrLen) &^ 7
	if p.per < 8 {
		return ErrBadMTU
	}
	data := p.total - p.unfrag
	p.n = (data + p.per - 1) / p.per
	return nil
}

// Count returns how many fragments Fragment makes of pkt at mtu (1 when it
// fits), or the error Fragment would return. It counts nothing.
func (f *Fragmenter) Count(pkt []byte, mtu int) (int, error) {
	var p fragPlan
	if err := plan(pkt, mtu, &p); err != nil {
		return 0, err
	}
	return p.n, nil
}

// Fragment writes the fragments of the IPv6 packet pkt (at least 40 bytes
// plus its payload length) for a link of MTU mtu (at least 1280) into the
// caller's buffers, with fragment identification id (see IDGenerator):
// out[i] is resliced to the i-th fragment, and the number of fragments is
// returned. Each buffer must be at least mtu bytes long (its length counts,
// not its capacity); Count says how many are needed. A packet that fits is
// copied unchanged into out[0].
//
// Each fragment is the unfragmentable part (see plan: IPv6 header, hop-by-
// hop, routing headers and the destination options before them) with its
// payload length set and the Next Header that named the first fragmentable
// header set to 44, then a fragment header carrying that next header, the
// offset, M on all but the last and id, then the data: a multiple of 8
// bytes in all but the last. The upper-layer checksum is not touched: it
// covers the whole packet. Nothing is allocated.
func (f *Fragmenter) Fragment(pkt []byte, mtu int, id uint32, out [][]byte) (int, error) {
	var p fragPlan
	if err := plan(pkt, mtu, &p); err != nil {
		f.stats.FragFails++
		return 0, err
	}
	if len(out) < p.n {
		f.stats.FragFails++
		return 0, ErrShortBuffers
	}
	if p.n == 1 {
		if len(out[0]) < p.total {
			return 0, ErrShortBuffers
		}
		out[0] = out[0][:copy(out[0], pkt[:p.total])]
		return 1, nil
	}
	for i := range p.n {
		if len(out[i]) < mtu {
			f.stats.FragFails++
			return 0, ErrShortBuffers
		}
	}
	next := pkt[p.prevNH]
	data := pkt[p.unfrag:p.total]
	for i, off := 0, 0; i < p.n; i++ {
		b := out[i]
		n := min(p.per, len(data)-off)
		copy(b, pkt[:p.unfrag])
		b[p.prevNH] = header.ProtocolFragment
		binary.BigEndian.PutUint16(b[4:], uint16(p.unfrag-hdrLen+fragHdrLen+n))
		fh := b[p.unfrag : p.unfrag+fragHdrLen]
		w := uint16(off)
		if off+n < len(data) {
			w |= 1
		}
		fh[0], fh[1] = next, 0
		binary.BigEndian.PutUint16(fh[2:], w)
		binary.BigEndian.PutUint32(fh[4:], id)
		copy(b[p.unfrag+fragHdrLen:], data[off:off+n])
		out[i] = b[:p.unfrag+fragHdrLen+n]
		off += n
	}
	f.stats.FragOKs++
	f.stats.FragCreates += uint64(p.n)
	return p.n, nil
}
