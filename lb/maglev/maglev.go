package maglev

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

const (
	// DefaultSize is the table size Build uses when given 0: the prime the
	// Maglev paper uses, 65537 entries (128 KiB), enough for an even spread
	// over a few hundred backends.
	DefaultSize = 65537
	// MaxSize bounds the table size: 2^24 entries (32 MiB); the largest
	// valid size is the prime 16777213.
	MaxSize = 1 << 24
	// MaxBackends bounds the number of backends of a table: entries are
	// uint16 backend indices.
	MaxBackends = 1 << 16
)

var (
	// ErrSize is returned for a table size that is not a prime in
	// [2, MaxSize] or is smaller than the number of backends.
	ErrSize = errors.New("maglev: invalid table size")
	// ErrTooManyBackends is returned for more than MaxBackends backends.
	ErrTooManyBackends = errors.New("maglev: too many backends")
	// ErrDuplicateKey is returned when two backends have the same Key.
	ErrDuplicateKey = errors.New("maglev: duplicate backend key")
)

// Backend is one backend as the table sees it.
type Backend struct {
	// Key identifies the backend, for instance its address
	// ("192.0.2.7:80"); a []byte key converts with string(b). The
	// backend's place in the table depends on its Key (and the seed and
	// size) only, never on the other backends, which is what keeps a
	// change of the backend set from moving more than its share of the
	// table. Keys must be unique.
	Key string
	// Weight is the backend's share of the table relative to the other
	// backends' weights; 0 gives it no entries (drain).
	Weight uint32
}

// Table is a built Maglev lookup table. It is immutable, and safe for
// concurrent use by any number of goroutines.
type Table struct {
	entries  []uint16  // backend index per entry; nil when no backend has a weight
	size     uint32    // M
	backends []Backend // sorted by Key; entries index into it
	counts   []uint32  // entries per backend
}

// Build builds the lookup table of size entries (0: DefaultSize) for the
// backends, hashing their keys with seed. size must be a prime in
// [2, MaxSize] and at least len(backends); for an even spread pick one
// about 100 times the number of backends or more. The result depends only
// on the set of (Key, Weight) pairs, size and seed, not on the order of
// backends: Build sorts a copy of the backends by Key, and the indices
// Lookup returns refer to that sorted list (Backends).
//
// Errors wrap ErrSize, ErrTooManyBackends or ErrDuplicateKey. Build does not
// keep or modify backends.
func Build(backends []Backend, size uint32, seed uint64) (*Table, error) {
	if size == 0 {
		size = DefaultSize
	}
	if len(backends) > MaxBackends {
		return nil, fmt.Errorf("%w: %d backends, at most %d", ErrTooManyBackends, len(backends), MaxBackends)
	}
	if err := checkSize(size, len(backends)); err != nil {
		return nil, err
	}
	bs := slices.Clone(backends)
	slices.SortFunc(bs, func(a, b Backend) int { return strings.Compare(a.Key, b.Key) })
	for i := 1; i < len(bs); i++ {
		if bs[i].Key == bs[i-1].Key {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateKey, bs[i].Key)
		}
	}
	t := &Table{size: size, backends: bs, counts: quotas(bs, size)}
	if slices.ContainsFunc(bs, func(b Backend) bool { return b.Weight > 0 }) {
		t.entries = make([]uint16, size)
		populate(t.entries, bs, t.counts, seed)
	}
	return t, nil
}

// checkSize validates a table size for n backends.
func checkSize(size uint32, n int) error {
	if size > MaxSize {
		return fmt.Errorf("%w: %d is above MaxSize %d; the largest prime allowed is %d", ErrSize, size, MaxSize, prevPrime(MaxSize))
	}
	if !isPrime(size) {
		if p := NextPrime(size); p != 0 {
			return fmt.Errorf("%w: %d is not prime; the next prime is %d", ErrSize, size, p)
		}
		return fmt.Errorf("%w: %d is not prime; the largest prime allowed is %d", ErrSize, size, prevPrime(size))
	}
	if uint64(size) < uint64(n) {
		return fmt.Errorf("%w: %d is smaller than the number of backends, %d (the next prime above it is %d; about 100 entries a backend spread evenly)",
			ErrSize, size, n, NextPrime(uint32(n)))
	}
	return nil
}

// Lookup returns the index, into Backends, of the backend for a flow hash,
// or -1 when no backend has a weight. The entry is hash mod Size, one
// 64-bit division over all the hash's bits, so a 32-bit hash (a NIC's
// Toeplitz RSS hash) works as well as a 64-bit one. It allocates nothing.
func (t *Table) Lookup(hash uint64) int {
	e := t.entries
	if len(e) == 0 {
		return -1
	}
	return int(e[hash%uint64(len(e))])
}

// Size returns the number of entries, M.
func (t *Table) Size() uint32 { return t.size }

// Len returns the number of backends, including those of weight 0.
func (t *Table) Len() int { return len(t.backends) }

// Backend returns backend i of the sorted list (0 <= i < Len).
func (t *Table) Backend(i int) Backend { return t.backends[i] }

// Backends returns a copy of the backends sorted by Key: the list the
// indices of Lookup and Counts refer to.
func (t *Table) Backends() []Backend { return slices.Clone(t.backends) }

// Counts returns a new slice with the number of entries of each backend,
// indexed like Backends; they sum to Size unless no backend has a weight.
func (t *Table) Counts() []uint32 { return slices.Clone(t.counts) }
