//go:build !race

#include "textflag.h"

// func storeRelease(addr *atomic.Uint64, v uint64)
//
// On amd64 every store has release semantics (TSO: a store is not made
// visible before earlier loads and stores), so a plain MOV suffices. Go's
// atomic Store uses XCHG, a full barrier that also waits for the store to
// reach the cache; we do not need the store-load ordering it adds.
TEXT ·storeRelease(SB), NOSPLIT, $0-16
	MOVQ addr+0(FP), AX
	MOVQ v+8(FP), BX
	MOVQ BX, (AX)
	RET
