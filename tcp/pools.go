package tcp

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"
)

// RingPool lends ring memory (a BufferPool) by power-of-two size
// class, so a short connection reuses the 4 MiB receive ring and 256 KiB
// send ring of one that ended instead of allocating and zeroing fresh ones
// (a 4 MiB make costs ~0.3 ms of memclr). The memory is handed out as it
// was left (rings never read a byte they did not write; see ByteRing).
//
// Each class has two levels: a small stack that garbage collection leaves
// alone (ringKeep bytes per class at most: what a burst of short
// connections churns through), then a sync.Pool, which a collection
// empties over two cycles, so a large idle surplus is not held for long.
//
// A buffer is stored as a pointer to its first byte (its length is the
// class size), which an interface holds without allocating.
type RingPool struct {
	mu    sync.Mutex
	keep  [31][]*byte   // by log2(size): the first level
	class [31]sync.Pool // by log2(size): the second
	// Counters (tests and diagnostics): buffers handed out, of which
	// reused from the pool, and taken back.
	gets, reused, puts atomic.Int64
}

// lent returns the buffers handed out and not yet taken back.
func (p *RingPool) lent() int64 { return p.gets.Load() - p.puts.Load() }

// RingPoolStats are a RingPool's counters: buffers handed out (Gets), of
// which reused (Reused), taken back (Puts), and out now (Lent).
type RingPoolStats struct{ Gets, Reused, Puts, Lent int64 }

// Stats returns the pool's counters.
func (p *RingPool) Stats() RingPoolStats {
	return RingPoolStats{Gets: p.gets.Load(), Reused: p.reused.Load(), Puts: p.puts.Load(), Lent: p.lent()}
}

var _ BufferPool = (*RingPool)(nil)

// Get returns size bytes, size a power of two (the tcp package checks);
// any other size gets a plain allocation.
func (p *RingPool) Get(size int) []byte {
	p.gets.Add(1)
	k := bits.TrailingZeros(uint(size))
	if size <= 0 || size&(size-1) != 0 || k >= len(p.class) {
		return make([]byte, size)
	}
	p.mu.Lock()
	if n := len(p.keep[k]); n > 0 {
		v := p.keep[k][n-1]
		p.keep[k][n-1] = nil
		p.keep[k] = p.keep[k][:n-1]
		p.mu.Unlock()
		p.reused.Add(1)
		return unsafe.Slice(v, size)
	}
	p.mu.Unlock()
	if v, ok := p.class[k].Get().(*byte); ok {
		p.reused.Add(1)
		return unsafe.Slice(v, size)
	}
	return make([]byte, size)
}

// Put takes back a buffer Get returned, once its endpoint released it.
func (p *RingPool) Put(b []byte) {
	p.puts.Add(1)
	size := len(b)
	k := bits.TrailingZeros(uint(size))
	if size <= 0 || size&(size-1) != 0 || cap(b) != size || k >= len(p.class) {
		return // not one of ours: the collector takes it
	}
	p.mu.Lock()
	if len(p.keep[k]) < max(1, ringKeep>>k) {
		p.keep[k] = append(p.keep[k], unsafe.SliceData(b))
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.class[k].Put(unsafe.SliceData(b))
}

// ringKeep bounds the ring memory kept through garbage collections, per
// size class: 8 receive rings of the default 4 MiB, 128 send rings.
const ringKeep = 32 << 20

// EndpointFreeList recycles control blocks (an EndpointPool): an endpoint
// comes back when both owners of its connection are done with it (the
// same point where its ring memory goes back, the engine's connection release), so a
// server of short connections allocates no endpoint per connection.
type EndpointFreeList struct {
	p            sync.Pool
	gets, reused atomic.Int64 // counters for tests and diagnostics
}

var _ EndpointPool = (*EndpointFreeList)(nil)

// Get implements EndpointPool.
func (p *EndpointFreeList) Get() *Endpoint {
	p.gets.Add(1)
	e, _ := p.p.Get().(*Endpoint)
	if e != nil {
		p.reused.Add(1)
	}
	return e
}

// Put implements EndpointPool.
func (p *EndpointFreeList) Put(e *Endpoint) { p.p.Put(e) }

// Stats returns the endpoints handed out and, of them, those reused.
func (p *EndpointFreeList) Stats() (gets, reused int64) { return p.gets.Load(), p.reused.Load() }
