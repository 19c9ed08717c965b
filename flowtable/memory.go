package flowtable

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Table memory. A lookup in a large table is a random access into an array
// of hundreds of megabytes: with 4 KiB pages almost every lookup also misses
// the TLB, and under virtualization a TLB miss is a two-dimensional page
// walk that costs about as much as the cache misses themselves. The Go heap
// never asks the kernel for transparent huge pages, and on kernels whose THP
// mode is "madvise" (the common default) it gets none. So New maps large
// tables itself: an anonymous private mapping, aligned to 2 MiB, advised
// with MADV_HUGEPAGE, and (unless Config.NoPopulate) populated at once so
// that Insert never takes a page fault. The arrays hold only integers (sync/atomic values and bytes),
// no Go pointers, so memory the garbage collector does not know about is
// allowed to hold them. Close unmaps it.

// hugePageSize is the x86-64 and arm64 (4 KiB granule) transparent huge page.
const hugePageSize = 2 << 20

// mapMinBytes is the smallest table (slots plus headers) that New maps
// itself; smaller ones live on the Go heap, where huge pages could not help
// anyway. Tests lower it to run the concurrency test on mapped memory.
var mapMinBytes uintptr = hugePageSize

// region is an anonymous mapping owned by a table.
type region struct {
	base unsafe.Pointer
	size uintptr
}

// mapRegion maps size bytes (rounded up to huge pages) at a 2 MiB boundary,
// advises huge pages and, if populate, populates the range. The memory is
// zero.
func mapRegion(size uintptr, populate bool) (region, error) {
	size = (size + hugePageSize - 1) &^ (hugePageSize - 1)
	// Map one huge page more than needed and trim both ends, so that the
	// region starts on a huge page boundary.
	p, err := unix.MmapPtr(-1, 0, nil, size+hugePageSize,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return region{}, err
	}
	head := (hugePageSize - uintptr(p)%hugePageSize) % hugePageSize
	base := unsafe.Add(p, head)
	if head > 0 {
		_ = unix.MunmapPtr(p, head)
	}
	if tail := hugePageSize - head; tail > 0 {
		_ = unix.MunmapPtr(unsafe.Add(base, size), tail)
	}
	b := unsafe.Slice((*byte)(base), size)
	// Best effort: without THP support in the kernel (EINVAL) the region
	// still works with small pages.
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	if !populate {
		return region{base: base, size: size}, nil
	}
	// Fault everything in now rather than on the writer's hot path.
	// MADV_POPULATE_WRITE (Linux 5.14) honours the huge page advice; on
	// older kernels touch one byte per small page instead.
	if unix.Madvise(b, unix.MADV_POPULATE_WRITE) != nil {
		for i := uintptr(0); i < size; i += 4096 {
			b[i] = 0
		}
	}
	return region{base: base, size: size}, nil
}

// unmap releases the region.
func (r region) unmap() error {
	return unix.MunmapPtr(r.base, r.size)
}

// allocate gives the table its slot and header arrays: mapped memory when
// the table is large enough and noHuge is false (falling back to the Go
// heap if the mapping fails), else the Go heap.
func allocate(nslots, nbuckets int, noHuge, populate bool) ([]slot, []bucketMeta, region) {
	slotBytes := uintptr(nslots) * unsafe.Sizeof(slot{})
	metaBytes := uintptr(nbuckets) * unsafe.Sizeof(bucketMeta{})
	if !noHuge && slotBytes+metaBytes >= mapMinBytes {
		if r, err := mapRegion(slotBytes+metaBytes, populate); err == nil {
			// Slots first, at the 2 MiB boundary (so each slot is one
			// cache line); the headers follow (slotBytes is a multiple of
			// 512, which keeps them 16-aligned).
			slots := unsafe.Slice((*slot)(r.base), nslots)
			meta := unsafe.Slice((*bucketMeta)(unsafe.Add(r.base, slotBytes)), nbuckets)
			return slots, meta, r
		}
	}
	return make([]slot, nslots), make([]bucketMeta, nbuckets), region{}
}

// allocPointers gives an Index its pointer array (see Index): on the Go
// heap, since the garbage collector must see the pointers. Next to a table
// in mapped memory (mapped true) it is large too, a sixteenth of the slots
// (32 MiB for the load balancer's 1M flows a worker), and a batch's
// accesses to it miss the TLB as the slots' would: so the array gets a
// huge page of slack, starts at a 2 MiB boundary, and that range is
// advised MADV_HUGEPAGE (pages faulted in later come as huge pages) and
// collapsed (MADV_COLLAPSE, Linux 6.1: pages the allocator already
// touched). Both are best effort; the advice stays on the range after the
// array is freed, which only lets the heap's later use of it have huge
// pages too. Measured with lb's BenchmarkConntrack (1M flows, batched):
// about 10 ns a lookup less, of about 100.
//
// With populate false the array is left as the allocator gave it (fresh
// memory is faulted in as pointers are stored), without MADV_COLLAPSE,
// which would fault it all in.
func allocPointers(n int, mapped, populate bool) []unsafe.Pointer {
	const ptrSize = unsafe.Sizeof(unsafe.Pointer(nil))
	if !mapped || uintptr(n)*ptrSize < hugePageSize {
		return make([]unsafe.Pointer, n)
	}
	all := make([]unsafe.Pointer, n+int(hugePageSize/ptrSize))
	head := (hugePageSize - uintptr(unsafe.Pointer(&all[0]))%hugePageSize) % hugePageSize / ptrSize
	p := all[head : head+uintptr(n) : head+uintptr(n)]
	b := unsafe.Slice((*byte)(unsafe.Pointer(&p[0])), (uintptr(n)*ptrSize)&^(hugePageSize-1))
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	if populate {
		_ = unix.Madvise(b, unix.MADV_COLLAPSE)
	}
	return p
}
