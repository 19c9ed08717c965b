package stream

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// field is one varied header field: values first, first+1, ...,
// first+n-1, walked in order or drawn at random.
type field struct {
	set   bool // the spec named a value: write it (otherwise keep the template's)
	first uint32
	n     uint64 // number of values, 1 to 2^32
	mode  Mode
	i     uint64 // Inc: the next offset
}

// next returns the field's value for the next packet.
func (f *field) next(r *rand.PCG) uint32 {
	if f.n <= 1 {
		return f.first
	}
	var o uint64
	if f.mode == Random {
		o, _ = bits.Mul64(r.Uint64(), f.n) // Lemire: uniform enough for n ≤ 2^32
	} else {
		o = f.i
		if f.i++; f.i == f.n {
			f.i = 0
		}
	}
	return f.first + uint32(o)
}

func addrField(name string, r AddrRange, required bool) (field, error) {
	if !r.First.IsValid() && !r.Last.IsValid() {
		if required {
			return field{}, fmt.Errorf("%s: %w", name, ErrBadAddress)
		}
		return field{}, nil
	}
	last := r.Last
	if !last.IsValid() {
		last = r.First
	}
	if !r.First.Is4() || !last.Is4() {
		return field{}, fmt.Errorf("%s: %w", name, ErrBadAddress)
	}
	a, b := r.First.As4(), last.As4()
	lo, hi := binary.BigEndian.Uint32(a[:]), binary.BigEndian.Uint32(b[:])
	if hi < lo {
		return field{}, fmt.Errorf("%s %v-%v: %w", name, r.First, last, ErrBadRange)
	}
	return field{set: true, first: lo, n: uint64(hi-lo) + 1, mode: r.Mode}, nil
}

func portField(name string, r PortRange, set bool) (field, error) {
	last := max(r.Last, r.First)
	if r.Last != 0 && r.Last < r.First {
		return field{}, fmt.Errorf("%s %d-%d: %w", name, r.First, r.Last, ErrBadRange)
	}
	return field{set: set || r.First != 0 || r.Last != 0, first: uint32(r.First),
		n: uint64(last-r.First) + 1, mode: r.Mode}, nil
}

func vlanField(r VLANRange) (field, error) {
	if r.First == 0 && r.Last == 0 {
		return field{}, nil
	}
	first, last := r.First, max(r.Last, r.First)
	if first == 0 {
		first = last
	}
	if r.Last != 0 && r.Last < r.First || first < 1 || last > 4094 || r.PCP > 7 {
		return field{}, fmt.Errorf("vlan %d-%d pcp %d: %w", r.First, r.Last, r.PCP, ErrBadRange)
	}
	return field{set: true, first: uint32(first), n: uint64(last-first) + 1, mode: r.Mode}, nil
}

// sizer yields frame sizes (with FCS).
type sizer struct {
	s Sizes
	i int // Inc and IMIX: the next position
}

func (z *sizer) next(r *rand.PCG) int {
	s := z.s
	switch {
	case s.kind == sizeIMIX:
		n := imixPattern[z.i]
		if z.i++; z.i == len(imixPattern) {
			z.i = 0
		}
		return n
	case s.Min() == s.Max():
		return s.Min()
	case s.mode == Random:
		o, _ := bits.Mul64(r.Uint64(), uint64(s.Max()-s.Min()+1))
		return s.Min() + int(o)
	}
	n := s.Min() + z.i
	if z.i++; n == s.Max() {
		z.i = 0
	}
	return n
}
