package flowtable

import (
	"encoding/binary"
	"math/bits"
	"unsafe"

	metro "github.com/dgryski/go-metro"
)

// keySize is the size of Key in bytes: 16+16+2+2+1+1. The two assertions
// below fail to compile unless unsafe.Sizeof(Key{}) is exactly keySize.
// Since the fields themselves add up to keySize, equality means the compiler
// inserted no padding: every one of the 38 bytes belongs to a field, so two
// equal keys (==) have identical bytes and hashing the raw bytes is sound.
// (With a padding hole, the hole's contents are unspecified and two equal
// keys could hash differently.) Go never reorders struct fields.
const keySize = 38

var (
	_ [unsafe.Sizeof(Key{}) - keySize]struct{}
	_ [keySize - unsafe.Sizeof(Key{})]struct{}
)

// keyWords is a Key widened to five machine words, the form in which a key
// is stored in a slot (each word read and written atomically): the key's 38
// bytes read as little-endian words, the last two bytes of the fifth word
// zero.
type keyWords [5]uint64

var _ [unsafe.Sizeof(keyWords{}) - keySize - 2]struct{}

// keyBytes views a Key as its 38 bytes (no padding, see keySize).
func keyBytes(k *Key) *[keySize]byte {
	return (*[keySize]byte)(unsafe.Pointer(k))
}

// set loads k's bytes into w. The loads have constant offsets into a
// fixed-size array, so they compile to plain (unaligned) word loads with no
// bounds checks, stored one by one into w. Hot paths declare w and call set
// rather than w := wordsOf(k): the compiler assembles a returned array in
// a temporary and copies it with 16-byte moves, whose loads span two 8-byte
// stores and miss store-to-load forwarding (BenchmarkHash: 30 ns instead
// of 8).
func (w *keyWords) set(k *Key) {
	b := keyBytes(k)
	le := binary.LittleEndian
	w[0] = le.Uint64(b[0:8])
	w[1] = le.Uint64(b[8:16])
	w[2] = le.Uint64(b[16:24])
	w[3] = le.Uint64(b[24:32])
	w[4] = uint64(le.Uint32(b[32:36])) | uint64(le.Uint16(b[36:38]))<<32
}

// wordsOf returns k's words, for tests and cold paths (see set).
func wordsOf(k *Key) keyWords {
	var w keyWords
	w.set(k)
	return w
}

// key converts back.
func (w *keyWords) key() Key {
	var k Key
	b := keyBytes(&k)
	le := binary.LittleEndian
	le.PutUint64(b[0:8], w[0])
	le.PutUint64(b[8:16], w[1])
	le.PutUint64(b[16:24], w[2])
	le.PutUint64(b[24:32], w[3])
	le.PutUint32(b[32:36], uint32(w[4]))
	le.PutUint16(b[36:38], uint16(w[4]>>32))
	return k
}

// Constants of metro64.
const (
	metroK0 = 0xD6D018F5
	metroK1 = 0xA2AA033B
	metroK2 = 0x62992FC1
	metroK3 = 0x30BC5B29
)

// hash is metro64 (the function go-metro's Hash64 computes) of the key's 38
// bytes, written out for exactly that length over the words already
// loaded: one 32-byte round over w[0..3], then the 4-byte and the 2-byte
// tail steps over w[4]. go-metro's assembly takes a slice and cannot be
// inlined; this is a few multiplies in line. TestHashIsMetro64 checks it
// against go-metro.
func (w *keyWords) hash(seed uint64) uint64 {
	return hashWords(w[0], w[1], w[2], w[3], w[4], seed)
}

// hashWords is hash over words passed in registers.
func hashWords(w0, w1, w2, w3, w4, seed uint64) uint64 {
	h := (seed + metroK2) * metroK0
	v0, v1, v2, v3 := h, h, h, h
	v0 += w0 * metroK0
	v0 = bits.RotateLeft64(v0, -29) + v2
	v1 += w1 * metroK1
	v1 = bits.RotateLeft64(v1, -29) + v3
	v2 += w2 * metroK2
	v2 = bits.RotateLeft64(v2, -29) + v0
	v3 += w3 * metroK3
	v3 = bits.RotateLeft64(v3, -29) + v1
	v2 ^= bits.RotateLeft64((v0+v3)*metroK0+v1, -37) * metroK1
	v3 ^= bits.RotateLeft64((v1+v2)*metroK1+v0, -37) * metroK0
	v0 ^= bits.RotateLeft64((v0+v2)*metroK0+v3, -37) * metroK1
	v1 ^= bits.RotateLeft64((v1+v3)*metroK1+v2, -37) * metroK0
	h += v0 ^ v1
	h += uint64(uint32(w4)) * metroK3 // bytes 32..35
	h ^= bits.RotateLeft64(h, -26) * metroK1
	h += (w4 >> 32 & 0xffff) * metroK3 // bytes 36..37
	h ^= bits.RotateLeft64(h, -48) * metroK1
	h ^= bits.RotateLeft64(h, -28)
	h *= metroK0
	h ^= bits.RotateLeft64(h, -29)
	return h
}

// Hash returns metro64 of the key's 38 bytes with the given seed. Equal keys
// hash equally (the layout has no padding, see keySize); tables use a random
// per-table seed so that an attacker who chooses addresses and ports cannot
// aim collisions at one bucket.
func (k Key) Hash(seed uint64) uint64 {
	return metro.Hash64(unsafe.Slice((*byte)(unsafe.Pointer(&k)), keySize), seed)
}

// Byte-parallel helpers over a bucket's tag word (8 tag bytes).
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
	low = 0x7f7f7f7f7f7f7f7f
)

// zeroBytes returns a word with bit 7 of byte i set exactly when byte i of x
// is zero (no false positives: the +low cannot carry across bytes).
func zeroBytes(x uint64) uint64 {
	return ^((x&low + low) | x | low)
}

// matchTag returns bit 7 of byte i set exactly when byte i of tags == tag.
func matchTag(tags uint64, tag uint8) uint64 {
	return zeroBytes(tags ^ (lsb * uint64(tag)))
}

// prefOf is the key's preferred slot in its home bucket, from hash bits
// 53..55 (the bucket index uses at most the low 28 bits, the tag the top 8).
// Insert puts a key there when it is free; lookup checks it first, and its
// loads can start before the bucket's tags arrive (see lookup).
func prefOf(h uint64) uint64 {
	return h >> 53 & (BucketSlots - 1)
}

// tagOf takes the top byte of the hash (the bucket index uses the low bits,
// so the two are independent). Tag 0 marks a free slot; it maps to 1.
func tagOf(h uint64) uint8 {
	t := uint8(h >> 56)
	if t == 0 {
		t = 1
	}
	return t
}
