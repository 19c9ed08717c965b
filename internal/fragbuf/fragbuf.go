// Package fragbuf holds the reassembly buffers of packages ipv4 and ipv6:
// size classes of 2 KiB ... 64 KiB of capacity, each preceded by a
// headroom for the first fragment's header (so that the finished packet
// is one contiguous slice), pooled per class up to a byte bound, and a
// Lease that hands a finished packet's buffer to a caller and takes it
// back once, however often Release is called.
//
//	b: [ headroom ][ capacity (class size) ]
//	        [hdr ][ payload              ]   <- the packet
//
// A Pool belongs to one Reassembler and its goroutine: nothing here is
// safe for concurrent use.
package fragbuf

const (
	minClassLog = 11 // 2 KiB
	// NumClasses is the number of size classes: 2, 4, 8, 16, 32, 64 KiB.
	NumClasses = 6
)

// ClassSize returns the capacity of class c.
func ClassSize(c int) int { return 1 << (minClassLog + c) }

// ClassFor returns the smallest class whose capacity holds n bytes; n is
// at most 65535, which class NumClasses-1 holds.
func ClassFor(n int) int {
	c := 0
	for ClassSize(c) < n {
		c++
	}
	return c
}

// Buffer is one buffer: B is headroom + ClassSize(Class()) bytes.
type Buffer struct {
	B     []byte
	class int
	gen   uint32 // incremented on every release: stale Leases are ignored
	inUse bool
}

// Class returns the buffer's size class.
func (b *Buffer) Class() int { return b.class }

// InUse reports whether the buffer is out of the pool.
func (b *Buffer) InUse() bool { return b.inUse }

// Pool keeps released buffers per class for reuse, at most maxFree bytes
// in all; beyond that released buffers go to the garbage collector.
type Pool struct {
	headroom  int
	free      [NumClasses][]*Buffer
	freeBytes int
	maxFree   int
}

// NewPool returns a pool of buffers with headroom bytes before their
// capacity, keeping at most maxFree bytes of released ones.
func NewPool(headroom, maxFree int) *Pool {
	p := &Pool{headroom: headroom, maxFree: maxFree}
	for c := range p.free {
		// Capacity for every buffer the byte limit admits, so releasing
		// never grows a slice.
		p.free[c] = make([]*Buffer, 0, maxFree/(headroom+ClassSize(c))+1)
	}
	return p
}

// Free returns the number of released buffers of class c kept.
func (p *Pool) Free(c int) int { return len(p.free[c]) }

// Get returns a buffer of class c.
func (p *Pool) Get(c int) *Buffer {
	var buf *Buffer
	if n := len(p.free[c]); n > 0 {
		buf = p.free[c][n-1]
		p.free[c][n-1] = nil
		p.free[c] = p.free[c][:n-1]
		p.freeBytes -= len(buf.B)
	} else {
		buf = &Buffer{B: make([]byte, p.headroom+ClassSize(c)), class: c}
	}
	buf.inUse = true
	return buf
}

// Put takes buf back (a buffer already back is ignored).
func (p *Pool) Put(buf *Buffer) {
	if !buf.inUse {
		return
	}
	buf.inUse = false
	buf.gen++
	if p.freeBytes+len(buf.B) > p.maxFree || len(p.free[buf.class]) == cap(p.free[buf.class]) {
		return // let the garbage collector have it
	}
	p.free[buf.class] = append(p.free[buf.class], buf)
	p.freeBytes += len(buf.B)
}

// Lease is a buffer handed to a caller: Release gives it back to its pool
// once; a copy released later, or a Lease whose buffer came back another
// way, does nothing. The zero Lease releases nothing.
type Lease struct {
	buf  *Buffer
	gen  uint32
	pool *Pool
}

// Lease returns a Lease of buf, which Get returned.
func (p *Pool) Lease(buf *Buffer) Lease { return Lease{buf: buf, gen: buf.gen, pool: p} }

// Buffer returns the leased buffer (nil for the zero Lease).
func (l Lease) Buffer() *Buffer { return l.buf }

// Release gives the buffer back to the pool, unless it already came back.
func (l Lease) Release() {
	if l.buf == nil || l.buf.gen != l.gen {
		return
	}
	l.pool.Put(l.buf)
}
