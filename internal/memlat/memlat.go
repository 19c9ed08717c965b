// Package memlat measures the floor under a lookup in a large table: the
// time of one random cache-line access that depends on the previous one,
// and the time per access when several such chains run at once, the most
// a batch of independent lookups can overlap (memory-level parallelism).
// flowtable's BenchmarkMemoryLatency and lb's connection-tracking benchmark
// both measure with it, so that a lookup's cost can be stated as a multiple
// of these figures measured in the same run.
//
// A Buffer is a random cyclic permutation of its cache lines (Sattolo's
// shuffle): word 0 of each line holds the index of the next line's word 0,
// so following it visits every line once, in an order the hardware
// prefetchers cannot guess. Bench follows 1 to 8 chains started at evenly
// spaced points of the cycle and reports ns/access.
package memlat

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxChains is the most chains Bench follows at once.
const MaxChains = 8

const hugePageSize = 2 << 20

// Buffer is a pointer-chasing buffer; Close releases it.
type Buffer struct {
	lines []uint64
	mem   []byte // the mapping, nil on the Go heap
}

// New makes a buffer of size bytes (a multiple of 64, at least 64*
// MaxChains): in an anonymous mapping aligned to 2 MiB and advised for
// transparent huge pages (as flowtable maps its large tables) when huge is
// true, else on the Go heap. seed drives the shuffle.
func New(size uintptr, huge bool, seed uint64) (*Buffer, error) {
	b := &Buffer{}
	if huge {
		m, err := unix.Mmap(-1, 0, int(size+hugePageSize), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return nil, err
		}
		b.mem = m
		head := (hugePageSize - uintptr(unsafe.Pointer(&m[0]))%hugePageSize) % hugePageSize
		region := m[head : head+size]
		_ = unix.Madvise(region, unix.MADV_HUGEPAGE) // best effort, as flowtable
		b.lines = unsafe.Slice((*uint64)(unsafe.Pointer(&region[0])), size/8)
	} else {
		b.lines = make([]uint64, size/8)
	}
	n := int(size / 64)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	rng := rand.New(rand.NewPCG(seed, seed+1))
	for i := n - 1; i > 0; i-- {
		j := rng.IntN(i)
		perm[i], perm[j] = perm[j], perm[i]
	}
	for i := range n {
		b.lines[i*8] = uint64(perm[i] * 8)
	}
	return b, nil
}

// Close releases the buffer's mapping, if it has one.
func (b *Buffer) Close() error {
	b.lines = nil
	if b.mem == nil {
		return nil
	}
	m := b.mem
	b.mem = nil
	return unix.Munmap(m)
}

// Bench follows chains (1 or MaxChains) independent chains through the
// buffer for b's iterations, one access per chain per iteration, and
// reports the time per access as "ns/access", which it also returns.
func (buf *Buffer) Bench(b *testing.B, chains int) float64 {
	lines := buf.lines
	n := len(lines) / 8
	var p [MaxChains]uint64
	for c := range p {
		p[c] = uint64(c * (n / MaxChains) * 8)
	}
	for b.Loop() {
		if chains == 1 {
			p[0] = lines[p[0]]
			continue
		}
		p[0], p[1], p[2], p[3] = lines[p[0]], lines[p[1]], lines[p[2]], lines[p[3]]
		p[4], p[5], p[6], p[7] = lines[p[4]], lines[p[5]], lines[p[6]], lines[p[7]]
	}
	runtime.KeepAlive(p) // the loads are the work: keep them
	if chains != 1 {
		chains = MaxChains
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*chains)
	b.ReportMetric(ns, "ns/access")
	return ns
}
