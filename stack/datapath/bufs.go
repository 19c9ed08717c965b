package datapath

import "sync"

// Buffer sizes: SmallBuf holds a whole frame at any MTU the UMEM allows;
// LargeBuf holds the biggest IPv4 datagram and the biggest IPv6 packet
// (a 40-byte header and a 65,535-byte payload).
const (
	SmallBuf = 4096
	LargeBuf = 65536 + 40
)

// Buf is a packet buffer that moves between goroutines through rings (a
// datagram waiting in a socket, a datagram waiting to be sent, a frame handed
// to another worker).
type Buf struct{ B []byte }

// Bufs recycles packet buffers. Buffers are taken and returned by every
// kind of goroutine (workers locked to their threads, application
// goroutines), so the free lists are sync.Pools: per-P caches whose fast path
// touches no shared cache line and never waits for another goroutine. (A
// shared two-phase ring such as ring.MPMC makes every user wait for one that
// was preempted between reserving and publishing a slot; with workers
// spinning on their threads that wait costs milliseconds.) In steady state
// nothing is allocated; a garbage collection empties the pools over two
// cycles, after which the next buffers are allocated afresh.
type Bufs struct {
	small, large sync.Pool
}

// NewBufs makes a pool with prealloc small buffers ready (one slab).
func NewBufs(prealloc int) *Bufs {
	p := &Bufs{}
	p.small.New = func() any { return &Buf{B: make([]byte, SmallBuf)} }
	p.large.New = func() any { return &Buf{B: make([]byte, LargeBuf)} }
	slab := make([]byte, prealloc*SmallBuf)
	for i := range prealloc {
		p.small.Put(&Buf{B: slab[i*SmallBuf : (i+1)*SmallBuf : (i+1)*SmallBuf]})
	}
	return p
}

// Get returns a buffer of at least n bytes (len = cap), or nil when n is
// more than any datagram can be.
func (p *Bufs) Get(n int) *Buf {
	if n > LargeBuf {
		return nil
	}
	if n <= SmallBuf {
		return p.small.Get().(*Buf)
	}
	return p.large.Get().(*Buf)
}

// Put returns b to the pool.
func (p *Bufs) Put(b *Buf) {
	if len(b.B) == SmallBuf {
		p.small.Put(b)
	} else {
		p.large.Put(b)
	}
}
