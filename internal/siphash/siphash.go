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

// init returns the initial state v0..v3: the key xored with the paper's
// constants, "somepseudorandomlygeneratedbytes" in four big-endian words.
func (k Key) init() (uint64, uint64, uint64, uint64) {
	return k.K0 ^ 0x736f6d6570736575, // "somepseu"
		k.K1 ^ 0x646f72616e646f6d, // "dorandom"
		k.K0 ^ 0x6c7967656e657261, // "lygenera"
		k.K1 ^ 0x7465646279746573 // "tedbytes"
}

// round is one SipRound on the state v0..v3; written on values so that
// the compiler inlines it and keeps the state in registers.
func round(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// Sum64 returns SipHash-2-4 of p under k.
func Sum64(k Key, p []byte) uint64 {
	v0, v1, v2, v3 := k.init()
	n := len(p)
	for len(p) >= 8 {
		m := binary.LittleEndian.Uint64(p)
		v3 ^= m
		v0, v1, v2, v3 = round(v0, v1, v2, v3)
		v0, v1, v2, v3 = round(v0, v1, v2, v3)
		v0 ^= m
		p = p[8:]
	}
	last := uint64(n) << 56
	for i, b := range p {
		last |= uint64(b) << (8 * i)
	}
	return finish(v0, v1, v2, v3, last)
}

// finish absorbs the last word (c=2 SipRounds), then finalises: v2 ^= 0xff,
// d=4 SipRounds, v0^v1^v2^v3.
func finish(v0, v1, v2, v3, last uint64) uint64 {
	v3 ^= last
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	v0 ^= last
	v2 ^= 0xff
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

// hashWords hashes the first n words of w: the fixed-size fast path.
func hashWords(k Key, w *[5]uint64, n int) uint64 {
	v0, v1, v2, v3 := k.init()
	for _, m := range w[:n] {
		v3 ^= m
		v0, v1, v2, v3 = round(v0, v1, v2, v3)
		v0, v1, v2, v3 = round(v0, v1, v2, v3)
		v0 ^= m
	}
	return finish(v0, v1, v2, v3, uint64(8*n)<<56)
}

// The fixed-size fast path: HashN(k, w1..wN) equals Sum64 of the 8*N
// little-endian bytes of the words; the final word carries only the length.

// Hash1 hashes one 64-bit word.
func Hash1(k Key, a uint64) uint64 { return hashWords(k, &[5]uint64{a}, 1) }

// Hash2 hashes two 64-bit words.
func Hash2(k Key, a, b uint64) uint64 { return hashWords(k, &[5]uint64{a, b}, 2) }

// Hash3 hashes three 64-bit words.
func Hash3(k Key, a, b, c uint64) uint64 { return hashWords(k, &[5]uint64{a, b, c}, 3) }

// Hash4 hashes four 64-bit words.
func Hash4(k Key, a, b, c, d uint64) uint64 { return hashWords(k, &[5]uint64{a, b, c, d}, 4) }

// Hash5 hashes five 64-bit words (an IPv6 4-tuple and a counter fit).
func Hash5(k Key, a, b, c, d, e uint64) uint64 {
	return hashWords(k, &[5]uint64{a, b, c, d, e}, 5)
}
