package engine

import "github.com/xdpengine/engine/ring"

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

// bufPool recycles packet buffers through lock-free free lists. In steady
// state nothing is allocated: a buffer goes back to its list when its reader
// is done with it. When a list runs dry (a burst larger than anything seen
// before) a new buffer is allocated; when a list is full on return, the
// buffer is left to the garbage collector. Both lists are bounded.
type bufPool struct {
	small, large *ring.MPMC[*pbuf]
}

func newBufPool(prealloc int) *bufPool {
	size := 1
	for size < 4*prealloc {
		size <<= 1
	}
	small, err := ring.NewMPMC[*pbuf](size)
	if err != nil {
		panic(err)
	}
	large, err := ring.NewMPMC[*pbuf](256)
	if err != nil {
		panic(err)
	}
	p := &bufPool{small: small, large: large}
	slab := make([]byte, prealloc*smallBuf)
	for i := range prealloc {
		p.small.Enqueue(&pbuf{b: slab[i*smallBuf : (i+1)*smallBuf : (i+1)*smallBuf]})
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
		if b, ok := p.small.Dequeue(); ok {
			return b
		}
		return &pbuf{b: make([]byte, smallBuf)}
	}
	if b, ok := p.large.Dequeue(); ok {
		return b
	}
	return &pbuf{b: make([]byte, largeBuf)}
}

func (p *bufPool) put(b *pbuf) {
	if len(b.b) == smallBuf {
		p.small.Enqueue(b)
	} else {
		p.large.Enqueue(b)
	}
}
