//go:build (amd64 || arm64) && !race

package ring

import "sync/atomic"

// storeRelease stores v to *addr with release ordering only: every load and
// store before it is visible to a goroutine that observes v with an atomic
// load (acquire). It is cheaper than (*atomic.Uint64).Store, which is
// sequentially consistent (a full barrier), and is what the rings need to
// publish an index. Race builds use the atomic Store so that the race
// detector sees the synchronisation.
//
// The Go compiler does not move memory accesses across a call to an
// assembly function, and the function itself gives the ordering in
// hardware (TSO on amd64, STLR on arm64).
//
//go:noescape
func storeRelease(addr *atomic.Uint64, v uint64)
