package engine

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/xdpengine/engine/tcp"
)

// ringPool lends TCP ring memory (tcp.BufferPool): one sync.Pool per
// power-of-two size class, so a short connection reuses the 4 MiB receive
// ring and 256 KiB send ring of one that ended instead of allocating and
// zeroing fresh ones. The memory is handed out as it was left (rings never
// read a byte they did not write; see tcp.ByteRing). A garbage collection
// empties the pools over two cycles, so idle memory is not held for long.
//
// A buffer is stored as a pointer to its first byte (its length is the
// class size), which an interface holds without allocating.
type ringPool struct {
	class [31]sync.Pool // by log2(size)
	// Counters (tests and diagnostics): buffers handed out, of which
	// reused from the pool, and taken back.
	gets, reused, puts atomic.Int64
}

// lent returns the buffers handed out and not yet taken back.
func (p *ringPool) lent() int64 { return p.gets.Load() - p.puts.Load() }

var _ tcp.BufferPool = (*ringPool)(nil)

// Get returns size bytes, size a power of two (the tcp package checks);
// any other size gets a plain allocation.
func (p *ringPool) Get(size int) []byte {
	p.gets.Add(1)
	k := bits.TrailingZeros(uint(size))
	if size <= 0 || size&(size-1) != 0 || k >= len(p.class) {
		return make([]byte, size)
	}
	if v, ok := p.class[k].Get().(*byte); ok {
		p.reused.Add(1)
		return unsafe.Slice(v, size)
	}
	return make([]byte, size)
}

// Put takes back a buffer Get returned, once its endpoint released it.
func (p *ringPool) Put(b []byte) {
	p.puts.Add(1)
	size := len(b)
	k := bits.TrailingZeros(uint(size))
	if size <= 0 || size&(size-1) != 0 || cap(b) != size || k >= len(p.class) {
		return // not one of ours: the collector takes it
	}
	p.class[k].Put(unsafe.SliceData(b))
}

// endpointPool recycles TCP control blocks (tcp.EndpointPool): an endpoint
// comes back when both owners of its connection are done with it (the
// same point where its ring memory goes back, TCPConn.release), so a
// server of short connections allocates no endpoint per connection.
type endpointPool struct {
	p            sync.Pool
	gets, reused atomic.Int64 // counters for tests and diagnostics
}

var _ tcp.EndpointPool = (*endpointPool)(nil)

func (p *endpointPool) Get() *tcp.Endpoint {
	p.gets.Add(1)
	e, _ := p.p.Get().(*tcp.Endpoint)
	if e != nil {
		p.reused.Add(1)
	}
	return e
}

func (p *endpointPool) Put(e *tcp.Endpoint) { p.p.Put(e) }
