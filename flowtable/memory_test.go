package flowtable

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// withMapMin sets mapMinBytes for the rest of the test.
func withMapMin(t *testing.T, n uintptr) {
	old := mapMinBytes
	mapMinBytes = n
	t.Cleanup(func() { mapMinBytes = old })
}

// TestMappedTable checks where New puts a table's memory: a table of 2 MiB
// or more is a 2 MiB-aligned mapping (unless NoHugePages), smaller ones and
// NoHugePages tables live on the Go heap, and both kinds work the same and
// close cleanly (twice too).
func TestMappedTable(t *testing.T) {
	big := int(hugePageSize / unsafe.Sizeof(slot{})) // 32768 slots: 2 MiB of slots
	for _, tc := range []struct {
		name       string
		cfg        Config
		wantMapped bool
	}{
		{"large", Config{Capacity: big}, true},
		{"large-nohuge", Config{Capacity: big, NoHugePages: true}, false},
		{"small", Config{Capacity: big / 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Rand = fixedRand(9)
			tbl, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := tbl.Stats().Mapped; got != tc.wantMapped {
				t.Fatalf("Stats().Mapped = %v, want %v", got, tc.wantMapped)
			}
			if tc.wantMapped {
				if p := uintptr(unsafe.Pointer(&tbl.slots[0])); p%hugePageSize != 0 {
					t.Errorf("slots at %#x, not 2 MiB-aligned", p)
				}
				if p := uintptr(unsafe.Pointer(&tbl.meta[0])); p%unsafe.Alignof(bucketMeta{}) != 0 {
					t.Errorf("headers at %#x, misaligned", p)
				}
			}
			// The memory starts zeroed and holds what is written, up to
			// the last slot and header.
			n := tbl.Cap() * 3 / 4
			for i := range uint32(n) {
				if err := tbl.Insert(testKey(i), uint64(i)+1, 0, 0); err != nil {
					t.Fatalf("Insert %d: %v", i, err)
				}
			}
			for i := range uint32(n) {
				if v, ok := tbl.Lookup(testKey(i)); !ok || v != uint64(i)+1 {
					t.Fatalf("Lookup %d: %d, %v", i, v, ok)
				}
			}
			if _, ok := tbl.Lookup(testKey(uint32(n))); ok {
				t.Fatal("absent key found")
			}
			tbl.check(t)
			if err := tbl.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := tbl.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if tbl.Stats().Mapped {
				t.Error("still mapped after Close")
			}
		})
	}
}

// TestMapRegion checks the mapping itself: rounded up to huge pages,
// aligned, zeroed, writable to its last byte.
func TestMapRegion(t *testing.T) {
	r, err := mapRegion(hugePageSize+1, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.size != 2*hugePageSize {
		t.Errorf("size %d, want %d", r.size, 2*hugePageSize)
	}
	if uintptr(r.base)%hugePageSize != 0 {
		t.Errorf("base %p not 2 MiB-aligned", r.base)
	}
	b := unsafe.Slice((*byte)(r.base), r.size)
	for i := 0; i < len(b); i += 4096 {
		if b[i] != 0 {
			t.Fatalf("byte %d is %d, want 0", i, b[i])
		}
	}
	b[len(b)-1] = 1
	if err := r.unmap(); err != nil {
		t.Fatal(err)
	}
	if r, err := mapRegion(1<<62, true); err == nil {
		_ = r.unmap()
		t.Error("a 4 EiB mapping succeeded")
	}
}

// TestMapRegionPopulate: a region is resident from the start when
// populated, and only where written when not (Config.NoPopulate).
func TestMapRegionPopulate(t *testing.T) {
	resident := func(r region) int {
		t.Helper()
		vec := make([]byte, r.size/4096)
		if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(r.base), r.size, uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
			t.Fatal(e)
		}
		n := 0
		for _, v := range vec {
			n += int(v & 1)
		}
		return n
	}
	for _, populate := range []bool{true, false} {
		r, err := mapRegion(4*hugePageSize, populate)
		if err != nil {
			t.Fatal(err)
		}
		pages := int(r.size / 4096)
		got := resident(r)
		if populate && got != pages || !populate && got != 0 {
			t.Errorf("populate %v: %d of %d pages resident", populate, got, pages)
		}
		if !populate {
			*(*byte)(r.base) = 1
			if got := resident(r); got == 0 || got > 512 {
				t.Errorf("after one write: %d pages resident, want one page or one huge page", got)
			}
		}
		r.unmap()
	}
}
