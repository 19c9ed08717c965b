//go:build amd64 || arm64

package flowtable

import "unsafe"

// prefetch asks the CPU to bring the cache line at p into its caches
// (PREFETCHT0 on amd64, PRFM PLDL1KEEP on arm64) and returns at once. Unlike
// a load, a prefetch never holds up the instructions after it: a lookup that
// ends up not needing the line does not wait for it. It never faults, so p
// may be any address.
//
//go:noescape
func prefetch(p unsafe.Pointer)

// prefetch3 is prefetch of three addresses in one call: a batch's first
// pass asks for three lines a key, and the call, which the compiler cannot
// inline (it is assembly), costs about as much as a prefetch.
//
//go:noescape
func prefetch3(a, b, c unsafe.Pointer)
