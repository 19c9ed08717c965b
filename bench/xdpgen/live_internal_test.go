package xdpgen

import (
	"testing"
	"unsafe"
)

// TestLiveStateLayout: liveState is the map value the live prelude reads
// at fixed offsets.
func TestLiveStateLayout(t *testing.T) {
	var s liveState
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"size", unsafe.Sizeof(s), 32}, {"ClockOff", unsafe.Offsetof(s.ClockOff), 8},
		{"IPBase", unsafe.Offsetof(s.IPBase), 16}, {"L4Base", unsafe.Offsetof(s.L4Base), 20},
		{"SportFirst", unsafe.Offsetof(s.SportFirst), 24}, {"SportN", unsafe.Offsetof(s.SportN), 26},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
}
