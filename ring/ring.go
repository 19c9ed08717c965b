package ring

import (
	"errors"
	"fmt"
	"math/bits"
	"reflect"
)

// Size bounds accepted by NewSPSC and NewMPMC. Sizes are powers of two so
// that a free-running index is turned into a slot number with one AND.
const (
	MinSize = 1
	// MaxSize keeps every slot number and count representable in an int
	// on 32-bit platforms too. The indexes themselves are 64-bit.
	MaxSize = 1 << 30
)

// ErrSize is returned (wrapped) by the constructors when the requested size
// is not a power of two within [MinSize, MaxSize].
var ErrSize = errors.New("ring: size must be a power of two between 1 and 2^30")

// cacheLinePad separates the producer's and the consumer's state. 128 bytes
// is two 64-byte lines: Intel's adjacent-line (spatial) prefetcher fetches
// lines in aligned 128-byte pairs, and some arm64 parts have 128-byte lines,
// so 64 would still let the two sides bounce a line between cores. A full
// pad sits before and after every written field group, so whatever the
// allocation's alignment, two groups never share a 128-byte block.
const cacheLinePad = 128

type pad [cacheLinePad]byte

// checkSize validates a constructor's size argument.
func checkSize(size int) error {
	switch {
	case size < MinSize || size > MaxSize:
		return fmt.Errorf("%w: got %d", ErrSize, size)
	case size&(size-1) != 0:
		return fmt.Errorf("%w: got %d, round it up to %d", ErrSize, size, 1<<bits.Len(uint(size)))
	}
	return nil
}

// storage is the slot array and its read-only geometry, shared by both ring
// kinds. Its fields are written once by the constructor and only read
// afterwards, so both sides may cache the line it sits on.
type storage[T any] struct {
	buf  []T
	mask uint64 // len(buf)-1
	size uint64 // len(buf)
	// clear is set when T holds pointers: dequeued slots are then zeroed so
	// the ring does not keep the garbage collector from freeing what the
	// elements pointed to. Pointer-free T (packet descriptors) skip it.
	clear bool
}

func newStorage[T any](size int) storage[T] {
	return storage[T]{
		buf:   make([]T, size),
		mask:  uint64(size - 1),
		size:  uint64(size),
		clear: hasPointers(reflect.TypeFor[T]()),
	}
}

// put copies src into the slots starting at free-running index pos,
// wrapping at the end of the array. len(src) must not exceed the size.
func (s *storage[T]) put(pos uint64, src []T) {
	i := int(pos & s.mask)
	n := copy(s.buf[i:], src)
	if n < len(src) {
		copy(s.buf, src[n:])
	}
}

// get copies len(dst) slots starting at free-running index pos into dst,
// wrapping at the end of the array, and zeroes them when T holds pointers.
func (s *storage[T]) get(pos uint64, dst []T) {
	i := int(pos & s.mask)
	n := copy(dst, s.buf[i:])
	if n < len(dst) {
		copy(dst[n:], s.buf)
	}
	if s.clear {
		if i+len(dst) <= len(s.buf) {
			clear(s.buf[i : i+len(dst)])
		} else {
			clear(s.buf[i:])
			clear(s.buf[:len(dst)-n])
		}
	}
}

// take returns the one element at free-running index pos, zeroing its slot
// when T holds pointers.
func (s *storage[T]) take(pos uint64) T {
	p := &s.buf[pos&s.mask]
	v := *p
	if s.clear {
		var zero T
		*p = zero
	}
	return v
}

// hasPointers reports whether a value of type t can hold a pointer the
// garbage collector follows. It runs once per constructor call.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	default: // Pointer, UnsafePointer, Slice, String, Map, Chan, Func, Interface
		return true
	}
}

// clampLen turns a slice length into a request count no larger than the
// ring: a burst can never move more than size elements.
func clampLen(n int, size uint64) uint64 {
	if uint64(n) > size {
		return size
	}
	return uint64(n)
}
