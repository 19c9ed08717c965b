package siphash

import (
	"encoding/binary"
	"math/bits"
)

// Key is a SipHash key: the two little-endian 64-bit halves of the 16 key
// bytes, as the paper names them k0 and k1.
type Key struct{ K0, K1 uint64 }

// KeyFromBytes makes a Key from 16 bytes (k0 from bytes 0-7, k1 from
// bytes 8-15, little-endian).
func KeyFromBytes(b [16]byte) Key {
	return Key{binary.LittleEndian.Uint64(b[0:8]), binary.LittleEndian.Uint64(b[8:16])}
}

// state is v0..v3.
type state struct{ v0, v1, v2, v3 uint64 }

func (k Key) init() state {
	return state{
		v0: k.K0 ^ 0x736f6d6570736575, // "somepseu"
		v1: k.K1 ^ 0x646f72616e646f6d, // "dorandom"
		v2: k.K0 ^ 0x6c7967656e657261, // "lygenera"
		v3: k.K1 ^ 0x7465646279746573, // "tedbytes"
	}
}

// round is one SipRound.
func (s *state) round() {
	s.v0 += s.v1
	s.v1 = bits.RotateLeft64(s.v1, 13)
	s.v1 ^= s.v0
	s.v0 = bits.RotateLeft64(s.v0, 32)
	s.v2 += s.v3
	s.v3 = bits.RotateLeft64(s.v3, 16)
	s.v3 ^= s.v2
	s.v0 += s.v3
	s.v3 = bits.RotateLeft64(s.v3, 21)
	s.v3 ^= s.v0
	s.v2 += s.v1
	s.v1 = bits.RotateLeft64(s.v1, 17)
	s.v1 ^= s.v2
	s.v2 = bits.RotateLeft64(s.v2, 32)
}

// compress absorbs one message word with c=2 SipRounds.
func (s *state) compress(m uint64) {
	s.v3 ^= m
	s.round()
	s.round()
	s.v0 ^= m
}

// finalize runs d=4 SipRounds and returns the 64-bit output.
func (s *state) finalize() uint64 {
	s.v2 ^= 0xff
	s.round()
	s.round()
	s.round()
	s.round()
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3
}

// Sum64 returns SipHash-2-4 of p under k.
func Sum64(k Key, p []byte) uint64 {
	s := k.init()
	n := len(p)
	for len(p) >= 8 {
		s.compress(binary.LittleEndian.Uint64(p))
		p = p[8:]
	}
	last := uint64(n) << 56
	for i, b := range p {
		last |= uint64(b) << (8 * i)
	}
	s.compress(last)
	return s.finalize()
}

// The fixed-size fast path: HashN(k, w1..wN) equals Sum64 of the 8*N
// little-endian bytes of the words; the final word carries only the length.

// Hash1 hashes one 64-bit word.
func Hash1(k Key, a uint64) uint64 {
	s := k.init()
	s.compress(a)
	s.compress(8 << 56)
	return s.finalize()
}

// Hash2 hashes two 64-bit words.
func Hash2(k Key, a, b uint64) uint64 {
	s := k.init()
	s.compress(a)
	s.compress(b)
	s.compress(16 << 56)
	return s.finalize()
}

// Hash3 hashes three 64-bit words.
func Hash3(k Key, a, b, c uint64) uint64 {
	s := k.init()
	s.compress(a)
	s.compress(b)
	s.compress(c)
	s.compress(24 << 56)
	return s.finalize()
}

// Hash4 hashes four 64-bit words.
func Hash4(k Key, a, b, c, d uint64) uint64 {
	s := k.init()
	s.compress(a)
	s.compress(b)
	s.compress(c)
	s.compress(d)
	s.compress(32 << 56)
	return s.finalize()
}

// Hash5 hashes five 64-bit words (an IPv6 4-tuple and a counter fit).
func Hash5(k Key, a, b, c, d, e uint64) uint64 {
	s := k.init()
	s.compress(a)
	s.compress(b)
	s.compress(c)
	s.compress(d)
	s.compress(e)
	s.compress(40 << 56)
	return s.finalize()
}
