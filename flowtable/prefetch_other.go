//go:build !amd64 && !arm64

package flowtable

import "unsafe"

// prefetch is a no-op where the package has no prefetch instruction.
func prefetch(unsafe.Pointer) {}

// prefetch3 is a no-op where the package has no prefetch instruction.
func prefetch3(_, _, _ unsafe.Pointer) {}
