package portalloc

import "github.com/xdpengine/engine/flowtable"

// portSet is the set of local ports in use toward one destination. Small
// sets are a slice; past smallMax ports the set becomes a 65536-bit bitmap
// (8 KiB), so a busy destination costs one bit test per probed port while a
// million one-connection destinations cost a few bytes each.
//
// A bitmap set also caches mine: the ports of the ephemeral range whose
// replies from this destination steer to the owning shard (see
// Shard.computeMine), valid for the ranges generation gen.
type portSet struct {
	dest  flowtable.Key // arrival-order key with DstPort 0
	n     int
	small []uint16
	bits  *[1024]uint64
	mine  *[1024]uint64
	gen   uint64 // the ranges.gen mine was computed for
	free  [2]int // ports in mine and not in the set, by absolute parity (0 even, 1 odd)
}

func (s *portSet) mineHas(p uint16) bool {
	return s.mine != nil && s.mine[p/64]&(1<<(p%64)) != 0
}

const smallMax = 32

func (s *portSet) has(p uint16) bool {
	if s.bits != nil {
		return s.bits[p/64]&(1<<(p%64)) != 0
	}
	for _, q := range s.small {
		if q == p {
			return true
		}
	}
	return false
}

// add inserts p, which must not be in the set.
func (s *portSet) add(p uint16) {
	s.n++
	if s.bits == nil && len(s.small) < smallMax {
		s.small = append(s.small, p)
		return
	}
	if s.bits == nil {
		s.bits = new([1024]uint64)
		for _, q := range s.small {
			s.bits[q/64] |= 1 << (q % 64)
		}
		s.small = nil
	}
	s.bits[p/64] |= 1 << (p % 64)
	if s.mineHas(p) {
		s.free[p&1]--
	}
}

// del removes p and reports whether it was present.
func (s *portSet) del(p uint16) bool {
	if s.bits != nil {
		if s.bits[p/64]&(1<<(p%64)) == 0 {
			return false
		}
		s.bits[p/64] &^= 1 << (p % 64)
		s.n--
		if s.mineHas(p) {
			s.free[p&1]++
		}
		return true
	}
	for i, q := range s.small {
		if q == p {
			s.small[i] = s.small[len(s.small)-1]
			s.small = s.small[:len(s.small)-1]
			s.n--
			return true
		}
	}
	return false
}
