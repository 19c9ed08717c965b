package ipv6

import "math/rand/v2"

// IDGenerator picks fragment identifications. Like Linux since 5.x
// (ipv6_select_ident: get_random_u32, never 0), every fragmented packet
// gets a fresh random 32-bit ID rather than one from a counter, per
// destination or global: RFC 7739 shows how predictable IDs let an
// off-path attacker inject fragments or count a host's traffic, and 32
// random bits make a collision within one reassembly timeout unlikely at
// the rates a single destination sees. Zero is never returned (some
// middleboxes treat it specially).
//
// An IDGenerator is safe for concurrent use when its Rand is (the default,
// math/rand/v2's ChaCha8 source seeded by the runtime, is).
type IDGenerator struct {
	rand Rand
}

// Rand is the randomness an IDGenerator draws from; a *rand.Rand of
// math/rand/v2 fits (guard a seeded one with a lock if it is shared).
type Rand interface {
	Uint32() uint32
}

type globalRand struct{}

func (globalRand) Uint32() uint32 { return rand.Uint32() }

// NewIDGenerator returns a generator drawing from rnd, or from math/rand/v2's
// runtime-seeded generator when rnd is nil.
func NewIDGenerator(rnd Rand) *IDGenerator {
	if rnd == nil {
		rnd = globalRand{}
	}
	return &IDGenerator{rand: rnd}
}

// Next returns the identification for the next fragmented packet.
func (g *IDGenerator) Next() uint32 {
	for {
		if id := g.rand.Uint32(); id != 0 {
			return id
		}
	}
}
