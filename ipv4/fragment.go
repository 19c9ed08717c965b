package ipv4

import (
	"encoding/binary"

	"github.com/xdpengine/engine/header"
)

// Fragmenter splits outgoing datagrams that exceed the MTU (RFC 791
// section 3.2, "Fragmentation"). It keeps the FragOKs, FragCreates and
// FragFails counters and, like a Reassembler, belongs to one worker.
//
// The datagram's identification must already be set (see IDGenerator);
// fragmenting does not change it.
type Fragmenter struct {
	stats Stats
}

// Stats returns the fragmentation counters (the Frag* fields).
func (f *Fragmenter) Stats() Stats { return f.stats }

const (
	flagDF = 0x4000
	flagMF = 0x2000
	offMsk = 0x1fff
)

// fragPlan is what Fragment computes before writing anything.
type fragPlan struct {
	hl, total   int
	copied      [40]byte // options with the copy bit, for fragments after the first
	copiedLen   int      // padded to a multiple of 4
	first, rest int      // payload bytes per fragment (multiples of 8)
	n           int      // fragments
	origOff     int      // offset of pkt itself (when re-fragmenting a fragment)
	origMF      bool
}

// plan validates pkt and computes the split for mtu.
func plan(pkt []byte, mtu int, p *fragPlan) error {
	if len(pkt) < minHeader || pkt[0]>>4 != 4 {
		return ErrBadPacket
	}
	ip := header.IPv4(pkt)
	p.hl = ip.HeaderLen()
	p.total = int(ip.TotalLength())
	if p.hl < minHeader || p.hl > len(pkt) || p.total < p.hl || p.total > len(pkt) {
		return ErrBadPacket
	}
	p.origOff = int(ip.FragmentOffset())
	p.origMF = ip.MoreFragments()
	fo := binary.BigEndian.Uint16(pkt[6:])
	if p.total <= mtu {
		p.n = 1
		return nil
	}
	if fo&flagDF != 0 {
		return &MTUError{MTU: mtu, Len: p.total}
	}
	// Options: those with the copy bit (0x80 in the type) go into every
	// fragment; the others only into the first (RFC 791, "Options").
	opts := pkt[minHeader:p.hl]
	p.copiedLen = 0
	for i := 0; i < len(opts); {
		typ := opts[i]
		if typ == 0 { // end of option list
			break
		}
		if typ == 1 { // no-operation
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			return ErrBadPacket
		}
		l := int(opts[i+1])
		if typ&0x80 != 0 {
			copy(p.copied[p.copiedLen:], opts[i:i+l])
			p.copiedLen += l
		}
		i += l
	}
	for p.copiedLen&3 != 0 {
		p.copied[p.copiedLen] = 0 // end of option list pads
		p.copiedLen++
	}
	p.first = (mtu - p.hl) &^ 7
	p.rest = (mtu - minHeader - p.copiedLen) &^ 7
	if p.first < 8 || p.rest < 8 {
		return ErrBadMTU
	}
	data := p.total - p.hl
	p.n = 1
	if data > p.first {
		p.n += (data - p.first + p.rest - 1) / p.rest
	}
	return nil
}

// Count returns how many fragments Fragment will produce for pkt at mtu
// (1 when it fits), or the error Fragment would return. It counts nothing.
func (f *Fragmenter) Count(pkt []byte, mtu int) (int, error) {
	var p fragPlan
	if err := plan(pkt, mtu, &p); err != nil {
		return 0, err
	}
	return p.n, nil
}

// Fragment writes the fragments of the IPv4 datagram pkt (header included,
// at least its total length long) for a link of the given MTU into the
// caller's buffers: out[i] is resliced to the i-th fragment's length, and
// the number of fragments is returned. Each buffer must be at least mtu
// bytes long (its length, not its capacity, is what counts); Count says how
// many are needed. A datagram that fits is copied unchanged into out[0].
//
// Offsets are in 8-byte units and every fragment but the last carries a
// multiple of 8 bytes; MF is set on all but the last (and on the last too
// when pkt was itself a non-final fragment); the first fragment carries
// every option, the others only options whose copy bit is set; each header
// checksum is recomputed. The transport checksum is not touched: it covers
// the whole datagram and is checked after reassembly.
//
// A datagram with DF set that does not fit returns an *MTUError, which
// matches errors.Is(err, syscall.EMSGSIZE). Nothing is allocated.
func (f *Fragmenter) Fragment(pkt []byte, mtu int, out [][]byte) (int, error) {
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
	data := pkt[p.hl:p.total]
	off := 0
	for i := range p.n {
		b := out[i]
		var hl, room int
		if i == 0 {
			hl, room = p.hl, p.first
			copy(b, pkt[:p.hl])
		} else {
			hl, room = minHeader+p.copiedLen, p.rest
			copy(b, pkt[:minHeader])
			copy(b[minHeader:], p.copied[:p.copiedLen])
			b[0] = 0x40 | byte(hl/4)
		}
		n := min(room, len(data)-off)
		copy(b[hl:], data[off:off+n])
		last := off+n == len(data)
		fo := binary.BigEndian.Uint16(pkt[6:])&^(flagMF|offMsk) | uint16((p.origOff+off)/8)
		if !last || p.origMF {
			fo |= flagMF
		}
		ip := header.IPv4(b[:hl+n])
		ip.SetTotalLength(uint16(hl + n))
		binary.BigEndian.PutUint16(b[6:], fo)
		ip.UpdateChecksum()
		out[i] = b[:hl+n]
		off += n
	}
	f.stats.FragOKs++
	f.stats.FragCreates += uint64(p.n)
	return p.n, nil
}
