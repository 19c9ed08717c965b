package tcp

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"
)

// RingPool lends ring memory (a BufferPool) by power-of-two size class,
// so a connection reuses the ring memory of one that ended, or that a
// ring gave back when it went idle, instead of allocating and zeroing
// fresh memory (a 4 MiB make costs ~0.3 ms of memclr). The memory is
// handed out as it was left (rings never read a byte they did not write;
// see ByteRing).
//
// The pool is bounded and decays, so that memory taken by a burst of
// connections goes back to the operating system after it: it keeps at
// most Max bytes (DefaultRingPoolMax when zero; a buffer beyond is left
// to the garbage collector), and each Decay (the engine calls it every
// second) lets go of half of the buffers of each size that nobody took
// since the previous one. What the pool lets go of is counted (Released);
// the garbage collector frees it and the Go runtime returns the pages to
// the operating system (the engine asks for that when a decay let go of
// much: see tcpsock).
//
// A buffer is stored as a pointer to its first byte (its length is the
// class size), which a slice holds without allocating.
type RingPool struct {
	// Max bounds the bytes kept; set it before use.
	Max int64

	mu    sync.Mutex
	free  [31][]*byte // by log2(size)
	low   [31]int     // fewest buffers free in each class since the last Decay
	bytes int64       // kept now
	// Counters (stats, tests): buffers handed out, of which reused from
	// the pool, and taken back; bytes let go of (bound and decay).
	gets, reused, puts, released atomic.Int64
	kept                         atomic.Int64 // bytes, a copy for Stats
}

// DefaultRingPoolMax is RingPool.Max's default: 32 MiB.
const DefaultRingPoolMax = 32 << 20

// lent returns the buffers handed out and not yet taken back.
func (p *RingPool) lent() int64 { return p.gets.Load() - p.puts.Load() }

// RingPoolStats are a RingPool's counters: buffers handed out (Gets), of
// which reused (Reused), taken back (Puts), and out now (Lent); bytes kept
// for reuse now (Bytes) and let go of by the bound and the decay
// (Released).
type RingPoolStats struct{ Gets, Reused, Puts, Lent, Bytes, Released int64 }

// Stats returns the pool's counters.
func (p *RingPool) Stats() RingPoolStats {
	return RingPoolStats{Gets: p.gets.Load(), Reused: p.reused.Load(), Puts: p.puts.Load(), Lent: p.lent(),
		Bytes: p.kept.Load(), Released: p.released.Load()}
}

var _ BufferPool = (*RingPool)(nil)

// Get returns size bytes, size a power of two (the tcp package checks);
// any other size gets a plain allocation.
func (p *RingPool) Get(size int) []byte {
	p.gets.Add(1)
	k := bits.TrailingZeros(uint(size))
	if size <= 0 || size&(size-1) != 0 || k >= len(p.free) {
		return make([]byte, size)
	}
	p.mu.Lock()
	if n := len(p.free[k]); n > 0 {
		v := p.free[k][n-1]
		p.free[k][n-1] = nil
		p.free[k] = p.free[k][:n-1]
		p.low[k] = min(p.low[k], n-1)
		p.bytes -= int64(size)
		p.kept.Store(p.bytes)
		p.mu.Unlock()
		p.reused.Add(1)
		return unsafe.Slice(v, size)
	}
	p.mu.Unlock()
	return make([]byte, size)
}

// Put takes back a buffer Get returned, once no ring can touch it.
func (p *RingPool) Put(b []byte) {
	p.puts.Add(1)
	size := len(b)
	k := bits.TrailingZeros(uint(size))
	if size <= 0 || size&(size-1) != 0 || cap(b) != size || k >= len(p.free) {
		return // not one of ours: the collector takes it
	}
	p.mu.Lock()
	if p.bytes+int64(size) > p.max() {
		p.mu.Unlock()
		p.released.Add(int64(size))
		return
	}
	p.free[k] = append(p.free[k], unsafe.SliceData(b))
	p.bytes += int64(size)
	p.kept.Store(p.bytes)
	p.mu.Unlock()
}

// Abandon counts b, which Get returned, as taken back without keeping it:
// a reader may still copy from it, and the collector frees it.
func (p *RingPool) Abandon([]byte) { p.puts.Add(1) }

func (p *RingPool) max() int64 {
	if p.Max > 0 {
		return p.Max
	}
	return DefaultRingPoolMax
}

// Decay lets go of half (rounded up) of the buffers of each size that
// stayed in the pool since the previous Decay, and returns the bytes let
// go of. The engine calls it every second.
func (p *RingPool) Decay() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var freed int64
	for k := range p.free {
		drop := (p.low[k] + 1) / 2
		for range drop {
			n := len(p.free[k])
			p.free[k][n-1] = nil
			p.free[k] = p.free[k][:n-1]
			freed += 1 << k
		}
		if len(p.free[k]) == 0 {
			p.free[k] = nil
		}
		p.low[k] = len(p.free[k])
	}
	p.bytes -= freed
	p.kept.Store(p.bytes)
	p.released.Add(freed)
	return freed
}

// EndpointFreeList recycles control blocks (an EndpointPool): an endpoint
// comes back when both owners of its connection are done with it (the
// same point where its ring memory goes back, the engine's connection
// release), so a server of short connections allocates no endpoint per
// connection. Like RingPool it is bounded (Max endpoints,
// DefaultEndpointPoolMax when zero) and decays: each Decay lets go of half
// of those nobody took since the previous one, so that the control blocks
// of a burst of connections go back to the operating system after it.
type EndpointFreeList struct {
	// Max bounds the endpoints kept; set it before use.
	Max int

	mu           sync.Mutex
	free         []*Endpoint
	low          int          // fewest free since the last Decay
	gets, reused atomic.Int64 // counters for tests and diagnostics
	released     atomic.Int64 // endpoints let go of (bound and decay)
}

// DefaultEndpointPoolMax is EndpointFreeList.Max's default: about 7 MB of
// control blocks (1.8 KB each), 13 MB with the RACK queues they keep.
const DefaultEndpointPoolMax = 4096

var _ EndpointPool = (*EndpointFreeList)(nil)

// Get implements EndpointPool.
func (p *EndpointFreeList) Get() *Endpoint {
	p.gets.Add(1)
	p.mu.Lock()
	n := len(p.free)
	if n == 0 {
		p.mu.Unlock()
		return nil
	}
	e := p.free[n-1]
	p.free[n-1] = nil
	p.free = p.free[:n-1]
	p.low = min(p.low, n-1)
	p.mu.Unlock()
	p.reused.Add(1)
	return e
}

// Put implements EndpointPool.
func (p *EndpointFreeList) Put(e *Endpoint) {
	max := p.Max
	if max <= 0 {
		max = DefaultEndpointPoolMax
	}
	p.mu.Lock()
	if len(p.free) >= max {
		p.mu.Unlock()
		p.released.Add(1)
		return
	}
	p.free = append(p.free, e)
	p.mu.Unlock()
}

// Decay lets go of half (rounded up) of the endpoints that stayed in the
// pool since the previous Decay, and returns how many.
func (p *EndpointFreeList) Decay() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	drop := (p.low + 1) / 2
	n := len(p.free)
	clear(p.free[n-drop:])
	p.free = p.free[:n-drop]
	if len(p.free) == 0 {
		p.free = nil
	}
	p.low = len(p.free)
	p.released.Add(int64(drop))
	return drop
}

// Stats returns the endpoints handed out and, of them, those reused.
func (p *EndpointFreeList) Stats() (gets, reused int64) { return p.gets.Load(), p.reused.Load() }

// Kept returns the endpoints the pool holds, and those it let go of.
func (p *EndpointFreeList) Kept() (kept int, released int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free), p.released.Load()
}
