package portalloc

import (
	"fmt"
	"unsafe"

	"github.com/dgryski/go-metro"
	"github.com/xdpengine/engine/flowtable"
)

// Steering maps an arriving packet to the worker (shard) that receives it.
// k is in arrival order: Src is the remote end, Dst the local end.
// Implementations must be safe for concurrent use and allocation-free. The
// key is passed by value: a pointer passed to an interface method escapes
// to the heap, a 38-byte copy does not.
type Steering interface {
	// Shards is the number of workers the function spreads over.
	Shards() int
	// Steer returns the worker, in [0, Shards()).
	Steer(k flowtable.Key) int
}

// keySize is the byte size of flowtable.Key; Metro hashes the struct bytes.
const keySize = 38

// The Key layout has no padding: 16+16+2+2+1+1 bytes.
var _ [keySize - unsafe.Sizeof(flowtable.Key{})]struct{}
var _ [unsafe.Sizeof(flowtable.Key{}) - keySize]struct{}

// Metro is software steering: go-metro over the key's bytes with a seed,
// reduced to the worker count by multiply-shift.
type Metro struct {
	Seed    uint64
	Workers int
}

// Shards implements Steering.
func (m Metro) Shards() int { return m.Workers }

// Steer implements Steering.
func (m Metro) Steer(k flowtable.Key) int {
	return reduce(uint32(HashKey(&k, m.Seed)), m.Workers)
}

// HashKey is go-metro over the bytes of k with seed. It does not allocate.
func HashKey(k *flowtable.Key, seed uint64) uint64 {
	b := (*[keySize]byte)(unsafe.Pointer(k))
	return metro.Hash64(b[:], seed)
}

// reduce maps h onto [0, n) without a division (Lemire's multiply-shift).
func reduce(h uint32, n int) int { return int((uint64(h) * uint64(n)) >> 32) }

// Toeplitz is RSS steering: the Toeplitz hash of Microsoft's RSS
// specification over the arriving packet's (source address, destination
// address, source port, destination port), looked up in the indirection
// table by its low-order bits. For IPv4 the input is 12 bytes, for IPv6 36.
type Toeplitz struct {
	workers int
	table   []uint16 // indirection table: hash & mask -> worker
	mask    uint32
	// lut[i][v] is the hash contribution of input byte i having value v:
	// the XOR of the 32-bit key windows starting at each set bit.
	lut [36][256]uint32
}

// MicrosoftKey is the 40-byte key of Microsoft's RSS verification suite, and
// the default key of many NICs.
var MicrosoftKey = [40]byte{
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2,
	0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
	0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4,
	0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
	0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
}

// NewToeplitz builds RSS steering from the NIC's key (at least 40 bytes, as
// `ethtool -x` prints it) and indirection table (entry i is the queue for
// hash values whose low bits are i; its length must be a power of two, as
// on every NIC). workers is the number of queues/workers; every table entry
// must be below it.
func NewToeplitz(key []byte, indirection []uint16, workers int) (*Toeplitz, error) {
	if len(key) < 40 {
		return nil, fmt.Errorf("%w: RSS key has %d bytes, need 40 (read it with `ethtool -x IFACE`)", ErrConfig, len(key))
	}
	n := len(indirection)
	if n == 0 || n&(n-1) != 0 {
		return nil, fmt.Errorf("%w: indirection table has %d entries, need a power of two", ErrConfig, n)
	}
	if workers <= 0 {
		return nil, fmt.Errorf("%w: %d workers", ErrConfig, workers)
	}
	for i, q := range indirection {
		if int(q) >= workers {
			return nil, fmt.Errorf("%w: indirection entry %d names queue %d, but there are %d workers", ErrConfig, i, q, workers)
		}
	}
	t := &Toeplitz{workers: workers, table: append([]uint16(nil), indirection...), mask: uint32(n - 1)}
	for i := range t.lut {
		for bit := range 8 {
			w := window(key, i*8+bit)
			for v := range 256 {
				if v&(0x80>>bit) != 0 {
					t.lut[i][v] ^= w
				}
			}
		}
	}
	return t, nil
}

// DefaultIndirection spreads 128 entries round-robin over workers, as NIC
// drivers do by default (ethtool_rxfh_indir_default).
func DefaultIndirection(workers int) []uint16 {
	t := make([]uint16, 128)
	for i := range t {
		t[i] = uint16(i % max(workers, 1))
	}
	return t
}

// window returns the 32 key bits starting at bit position pos (bit 0 is the
// most significant bit of key[0]).
func window(key []byte, pos int) uint32 {
	var w uint32
	for i := range 32 {
		p := pos + i
		if key[p/8]&(0x80>>(p%8)) != 0 {
			w |= 1 << (31 - i)
		}
	}
	return w
}

// Shards implements Steering.
func (t *Toeplitz) Shards() int { return t.workers }

// Steer implements Steering.
func (t *Toeplitz) Steer(k flowtable.Key) int {
	return int(t.table[t.Hash(&k)&t.mask])
}

// Hash is the RSS hash of k: over the 4-tuple when k is TCP or UDP, as NICs
// hash those (the verification suite's "IPv4 with TCP" column).
func (t *Toeplitz) Hash(k *flowtable.Key) uint32 {
	h := t.addrHash(k)
	return h ^ t.portHash(k, k.SrcPort, k.DstPort)
}

// Hash2 is the RSS hash over the addresses only (the suite's "IPv4" column).
func (t *Toeplitz) Hash2(k *flowtable.Key) uint32 { return t.addrHash(k) }

func (t *Toeplitz) addrHash(k *flowtable.Key) uint32 {
	var h uint32
	if k.Family == flowtable.FamilyIPv4 {
		for i := range 4 {
			h ^= t.lut[i][k.Src[12+i]] ^ t.lut[4+i][k.Dst[12+i]]
		}
		return h
	}
	for i := range 16 {
		h ^= t.lut[i][k.Src[i]] ^ t.lut[16+i][k.Dst[i]]
	}
	return h
}

func (t *Toeplitz) portHash(k *flowtable.Key, sport, dport uint16) uint32 {
	o := 8
	if k.Family != flowtable.FamilyIPv4 {
		o = 32
	}
	return t.lut[o][sport>>8] ^ t.lut[o+1][sport&0xff] ^ t.lut[o+2][dport>>8] ^ t.lut[o+3][dport&0xff]
}

// dstPortHash is the contribution of the destination (local) port alone.
func (t *Toeplitz) dstPortHash(fam uint8, dport uint16) uint32 {
	o := 10
	if fam != flowtable.FamilyIPv4 {
		o = 34
	}
	return t.lut[o][dport>>8] ^ t.lut[o+1][dport&0xff]
}
