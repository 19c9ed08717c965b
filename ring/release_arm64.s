//go:build !race

#include "textflag.h"

// func storeRelease(addr *atomic.Uint64, v uint64)
//
// STLR: a store-release; earlier loads and stores are visible before it.
TEXT ·storeRelease(SB), NOSPLIT, $0-16
	MOVD addr+0(FP), R0
	MOVD v+8(FP), R1
	STLR R1, (R0)
	RET
