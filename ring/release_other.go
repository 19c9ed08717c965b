//go:build !(amd64 || arm64) || race

package ring

import "sync/atomic"

// storeRelease stores v to *addr with (at least) release ordering; see
// release_asm.go. Here it is the sequentially consistent atomic Store.
func storeRelease(addr *atomic.Uint64, v uint64) { addr.Store(v) }
