package tcpsock

import (
	"testing"
	"unsafe"

	"github.com/xdpengine/engine/stack/socktab"
)

// A dial makes a Conn and a socket-table entry, memory that with a million
// connections open comes fresh from the operating system (README,
// TestTCPMillion): their fields are ordered so that each fills a smaller
// size class of the allocator. A new field that pushes one into the next
// class (288 → 320, 160 → 176 bytes) must be a choice, not an accident.
func TestConnSize(t *testing.T) {
	if got := unsafe.Sizeof(Conn{}); got > 288 {
		t.Errorf("Conn: %d bytes, want at most 288 (order the fields by size, or raise the bound knowingly)", got)
	}
	if got := unsafe.Sizeof(socktab.Socket{}); got > 160 {
		t.Errorf("socktab.Socket: %d bytes, want at most 160", got)
	}
}
