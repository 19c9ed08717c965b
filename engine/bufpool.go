package engine

import "sync"

// Buffer sizes: small holds a whole frame at any MTU the UMEM allows; large
// holds the biggest IPv4 datagram.
const (
	smallBuf = 4096
	largeBuf = 65536
)

// pbuf is a packet buffer that moves between goroutines through rings (a
// datagram waiting in a socket, a datagram waiting to be sent, a frame handed
// to another worker).
type pbuf struct{ b []byte }

// bufPool recycles packet buffers. Buffers are taken and returned by every
// kind of goroutine (workers locked to their threads, application
// goroutines), so the free lists are sync.Pools: per-P caches whose fast path
// touches no shared cache line and never waits for another goroutine. (A
// shared two-phase ring such as ring.MPMC makes every user wait for one that
// was preempted between reserving and publishing a slot; with workers
// spinning on their threads that wait costs milliseconds.) In steady state
// nothing is allocated; a garbage collection empties the pools over two
// cycles, after which the next buffers are allocated afresh.
type bufPool struct {
	small, large sync.Pool
}

func newBufPool(prealloc int) *bufPool {
	p := &bufPool{}
	p.small.New = func() any { return &pbuf{b: make([]byte, smallBuf)} }
	p.large.New = func() any { return &pbuf{b: make([]byte, largeBuf)} }
	slab := make([]byte, prealloc*smallBuf)
	for i := range prealloc {
		p.small.Put(&pbuf{b: slab[i*smallBuf : (i+1)*smallBuf : (i+1)*smallBuf]})
	}
	return p
}

// get returns a buffer of at least n bytes (len = cap), or nil when n is
// more than any datagram can be.
func (p *bufPool) get(n int) *pbuf {
	if n > largeBuf {
		return nil
	}
	if n <= smallBuf {
		return p.small.Get().(*pbuf)
	}
	return p.large.Get().(*pbuf)
}

func (p *bufPool) put(b *pbuf) {
	if len(b.b) == smallBuf {
		p.small.Put(b)
	} else {
		p.large.Put(b)
	}
}
