package stream

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/xdpengine/engine/bench/signature"
	"github.com/xdpengine/engine/header"
)

// fields are a stream's varied fields.
type fields struct {
	src, dst     field
	sport, dport field
	vlan         field
	pcp          uint8
}

func (f *field) addr() netip.Addr {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], f.first)
	return netip.AddrFrom4(a)
}

// Stream generates the frames of one Spec. It is not safe for concurrent
// use: give each sending worker streams of its own (with distinct ids, or
// distinct address or port ranges, as the measurement needs).
type Stream struct {
	id        uint16
	generated bool
	tpls      []template
	ti        int // the template of the next frame
	f         fields
	f0        fields // as built, for Reset
	sizes     sizer
	rng       rand.PCG
	seed      uint64
	size      int    // the next frame's size, FCS included
	seq       uint64 // frames generated so far
	maxLen    int
	signed    bool
}

// New builds the stream sp describes. Errors (wrapped, with the field or
// frame they concern): ErrBadKind, ErrBadAddress, ErrBadRange, ErrBadSize,
// ErrNoRoom, ErrNoFrames.
func New(sp Spec) (*Stream, error) {
	if sp.Kind > Replay {
		return nil, fmt.Errorf("%w: %d", ErrBadKind, sp.Kind)
	}
	replay := sp.Kind == Replay
	s := &Stream{id: sp.ID, generated: !replay, seed: sp.Seed}
	var err error
	f := &s.f
	if f.src, err = addrField("source", sp.Src, !replay); err != nil {
		return nil, err
	}
	if f.dst, err = addrField("destination", sp.Dst, !replay); err != nil {
		return nil, err
	}
	if f.sport, err = portField("source port", sp.SrcPort, !replay); err != nil {
		return nil, err
	}
	if f.dport, err = portField("destination port", sp.DstPort, !replay); err != nil {
		return nil, err
	}
	if f.vlan, err = vlanField(sp.VLAN); err != nil {
		return nil, err
	}
	f.pcp = sp.VLAN.PCP
	if replay {
		err = s.buildReplay(&sp)
	} else {
		err = s.buildGenerated(&sp)
	}
	if err != nil {
		return nil, err
	}
	for i := range s.tpls {
		t := &s.tpls[i]
		t.sigBase = rep16(t.sigOld[0], signature.Magic) + rep16(t.sigOld[1], s.id)
		for _, w := range t.sigOld[2:] {
			t.sigBase += uint64(^w)
		}
	}
	s.f0 = s.f
	s.Reset()
	return s, nil
}

func (s *Stream) buildGenerated(sp *Spec) error {
	if err := sp.Size.validate(); err != nil {
		return err
	}
	room := sp.Size.Min()-FCSLen >= headersLen(sp.Kind, s.f.vlan.set)+signature.Len
	switch {
	case sp.Sign == SignOn && !room:
		return fmt.Errorf("%w: %s frames of %d bytes", ErrNoRoom, sp.Kind, sp.Size.Min())
	case sp.Sign != SignOff:
		s.signed = room
	}
	t, err := buildGenerated(sp, sp.Size.Max(), s.signed, &s.f)
	if err != nil {
		return err
	}
	s.tpls = []template{t}
	s.maxLen = sp.Size.Max() - FCSLen
	s.sizes = sizer{s: sp.Size}
	// The template holds every field at its first value: a field with a
	// single value needs no writing.
	for _, p := range []*field{&s.f.src, &s.f.dst, &s.f.sport, &s.f.dport, &s.f.vlan} {
		p.set = p.set && p.n > 1
	}
	return nil
}

func (s *Stream) buildReplay(sp *Spec) error {
	if len(sp.Frames) == 0 {
		return ErrNoFrames
	}
	s.signed = sp.Sign == SignOn
	s.tpls = make([]template, len(sp.Frames))
	for i, fr := range sp.Frames {
		t, err := buildReplay(sp, i, fr.Data, s.signed, &s.f)
		if err != nil {
			return err
		}
		s.tpls[i] = t
		s.maxLen = max(s.maxLen, len(t.frame))
	}
	return nil
}

// Reset starts the stream over: sequence number 0, every range at its
// start, the random generator reseeded, the first frame or size again.
func (s *Stream) Reset() {
	s.f = s.f0
	s.seq, s.ti = 0, 0
	s.rng.Seed(s.seed, s.seed^0x9e3779b97f4a7c15)
	s.sizes.i = 0
	if s.generated {
		s.size = s.sizes.next(&s.rng)
	} else {
		s.size = len(s.tpls[0].frame) + FCSLen
	}
}

// Advance counts n frames of a fixed-size stream as sent without writing
// them, for a sender that writes them itself (xdpgen's live mode sets
// their sequence numbers in the kernel): Count and the next sequence
// number move on by n.
func (s *Stream) Advance(n uint64) { s.seq += n }

// ID returns the stream id its signatures carry.
func (s *Stream) ID() uint16 { return s.id }

// Signed reports whether the stream's frames carry a signature.
func (s *Stream) Signed() bool { return s.signed }

// MaxLen returns the length of the longest frame Next writes (without FCS):
// the buffer size it needs.
func (s *Stream) MaxLen() int { return s.maxLen }

// Count returns the number of frames generated so far, which is also the
// sequence number of the next one.
func (s *Stream) Count() uint64 { return s.seq }

// NextSize returns the size (FCS included) of the frame the next call to
// Next writes: what a pacer counting bits needs before it lets the frame
// go.
func (s *Stream) NextSize() int { return s.size }

// rep16 is what replacing the 16-bit word old by new adds to a one's
// complement sum that holds old: ~old + new (RFC 1624, equation 3).
func rep16(old, new uint16) uint64 { return uint64(^old) + uint64(new) }

// rep32 is rep16 for a 32-bit field at an even offset.
func rep32(old [4]byte, new uint32) uint64 {
	return uint64(^(uint16(old[0])<<8 | uint16(old[1]))) + uint64(^(uint16(old[2])<<8 | uint16(old[3]))) +
		uint64(new>>16) + uint64(new&0xffff)
}

// fold folds a 64-bit one's complement accumulator to 16 bits.
func fold(s uint64) uint16 {
	s = (s & 0xffffffff) + (s >> 32)
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	return uint16(s)
}

// Next writes the stream's next frame into buf, without FCS, and returns its
// length: the template's bytes, then the varied fields, the signature
// (with nowNs as the transmit time) and the checksums, which are updated
// from the template's by RFC 1624 (equation 3) over the words that changed,
// never summed over the frame. It returns 0, generating nothing, when buf
// is shorter than the frame (MaxLen always suffices). It does not allocate.
//
// A frame Next wrote counts as sent: a sender that cannot transmit it
// shows up as loss at the receiver. Generate a frame only into a slot that
// will go out.
func (s *Stream) Next(buf []byte, nowNs int64) int {
	return s.next(buf, nowNs, true)
}

// Template returns the index of the template the next frame is built on:
// 0 for a generated kind (one template, at the largest size), the frame's
// index for a replay. A sender that keeps frames of its own uses it, with
// Prefill and Rewrite, to write only the bytes that vary.
func (s *Stream) Template() int { return s.ti }

// Prefill writes the whole template of the next frame (Template) into buf,
// at its largest size, and returns false, writing nothing, when buf is
// shorter. The sequence does not advance: it readies a buffer for Rewrite.
func (s *Stream) Prefill(buf []byte) bool {
	t := &s.tpls[s.ti]
	if len(buf) < len(t.frame) {
		return false
	}
	copy(buf, t.frame)
	return true
}

// Rewrite is Next for a buf that already holds the template of the next
// frame: one that Prefill wrote, or Next or Rewrite, for this stream and
// the same Template index, with nothing else written into it since. It
// writes only the bytes that vary from frame to frame (lengths, IPv4 ID,
// addresses, ports, VLAN ID, signature, checksums), never the whole frame,
// and returns the frame's length as Next does. A generated kind's frames
// of every size fit one prefilled buffer (the payload past the signature
// is zero in each).
func (s *Stream) Rewrite(buf []byte, nowNs int64) int {
	return s.next(buf, nowNs, false)
}

func (s *Stream) next(buf []byte, nowNs int64, whole bool) int {
	t := &s.tpls[s.ti]
	n := s.size - FCSLen
	if len(buf) < n {
		return 0
	}
	b := buf[:n]
	if whole {
		copy(b, t.frame)
	}
	seq := s.seq
	f := &s.f
	if t.vlan >= 0 && f.vlan.set {
		binary.BigEndian.PutUint16(b[t.vlan:], uint16(f.pcp)<<13|uint16(f.vlan.next(&s.rng)))
	}
	if t.ip {
		s.vary(b, t, seq, nowNs)
	}
	s.seq++
	if s.generated {
		s.size = s.sizes.next(&s.rng)
	} else {
		if s.ti++; s.ti == len(s.tpls) {
			s.ti = 0
		}
		s.size = len(s.tpls[s.ti].frame) + FCSLen
	}
	return n
}

// vary sets the IPv4 and L4 fields of frame b (copied from t) and its
// checksums.
func (s *Stream) vary(b []byte, t *template, seq uint64, nowNs int64) {
	f := &s.f
	ipSum := uint64(^t.ipCheck)
	l4Sum := uint64(^t.l4Sum)
	if s.generated {
		n := len(b)
		tl, id := uint16(n-t.l3), uint16(seq)
		ipSum += rep16(t.totalLen, tl) + rep16(t.ipID, id)
		binary.BigEndian.PutUint16(b[t.l3+2:], tl)
		binary.BigEndian.PutUint16(b[t.l3+4:], id)
		switch t.proto {
		case header.ProtocolUDP: // UDP: the length is in the pseudo-header and the header
			ul := uint16(n - t.l4)
			l4Sum += 2 * rep16(t.udpLen, ul)
			binary.BigEndian.PutUint16(b[t.l4+4:], ul)
		case header.ProtocolTCP: // TCP: in the pseudo-header
			l4Sum += rep16(t.udpLen, uint16(n-t.l4))
		case header.ProtocolICMP: // ICMP echo: the sequence follows the stream's
			q := uint16(seq)
			l4Sum += rep16(t.icmpSeq, q)
			binary.BigEndian.PutUint16(b[t.l4+6:], q)
		}
	}
	if f.src.set {
		a := f.src.next(&s.rng)
		d := rep32(t.src, a)
		ipSum += d
		if t.pseudo {
			l4Sum += d
		}
		binary.BigEndian.PutUint32(b[t.l3+12:], a)
	}
	if f.dst.set {
		a := f.dst.next(&s.rng)
		d := rep32(t.dst, a)
		ipSum += d
		if t.pseudo {
			l4Sum += d
		}
		binary.BigEndian.PutUint32(b[t.l3+16:], a)
	}
	if t.ports {
		if f.sport.set {
			p := uint16(f.sport.next(&s.rng))
			l4Sum += rep16(t.sport, p)
			binary.BigEndian.PutUint16(b[t.l4:], p)
		}
		if f.dport.set {
			p := uint16(f.dport.next(&s.rng))
			l4Sum += rep16(t.dport, p)
			binary.BigEndian.PutUint16(b[t.l4+2:], p)
		}
	}
	if t.sig >= 0 {
		sig := signature.Signature{Stream: s.id, Seq: uint32(seq), TxNs: nowNs}
		sig.Put(b[t.sig:])
		// rep16 of each word: the old words' complements and the
		// constant words (magic, stream) are summed once, in sigBase.
		q, ts := uint32(seq), uint64(nowNs)
		l4Sum += t.sigBase + uint64(q>>16) + uint64(q&0xffff) +
			ts>>48 + (ts>>32)&0xffff + (ts>>16)&0xffff + ts&0xffff
	}
	binary.BigEndian.PutUint16(b[t.l3+10:], ^fold(ipSum))
	if t.l4Check >= 0 {
		c := ^fold(l4Sum)
		if c == 0 && t.proto == header.ProtocolUDP {
			c = 0xffff // UDP sends a computed zero as all ones
		}
		binary.BigEndian.PutUint16(b[t.l4Check:], c)
	}
}
