package flowtable

import (
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
// is stored in a slot (each word read and written atomically). The last two
// bytes are always zero.
type keyWords [5]uint64

var _ [unsafe.Sizeof(keyWords{}) - keySize - 2]struct{}

// wordsOf copies k into a zeroed keyWords. Key has alignment 2, so writing a
// Key at the start of an 8-aligned array is well aligned.
func wordsOf(k *Key) keyWords {
	var w keyWords
	*(*Key)(unsafe.Pointer(&w)) = *k
	return w
}

// key converts back.
func (w *keyWords) key() Key {
	return *(*Key)(unsafe.Pointer(w))
}

// hash is metro64 over the key's 38 bytes (the first 38 bytes of w).
func (w *keyWords) hash(seed uint64) uint64 {
	return metro.Hash64(unsafe.Slice((*byte)(unsafe.Pointer(w)), keySize), seed)
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

// tagOf takes the top byte of the hash (the bucket index uses the low bits,
// so the two are independent). Tag 0 marks a free slot; it maps to 1.
func tagOf(h uint64) uint8 {
	t := uint8(h >> 56)
	if t == 0 {
		t = 1
	}
	return t
}
