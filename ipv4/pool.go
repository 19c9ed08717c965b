package ipv4

// Buffers for reassembly come in size classes of payload capacity 2 KiB,
// 4 KiB, ... 64 KiB, each preceded by room for the largest IPv4 header, so
// that the first fragment's header can be placed right before the payload
// and the finished datagram is one contiguous slice:
//
//	b: [ headroom (60 bytes) ][ payload capacity (class size) ]
//	              [hdr][ payload                    ]   <- the datagram
//
// A datagram starts in the class that holds the highest end seen so far and
// moves to a larger class (copying what it holds) when a fragment lands past
// its capacity; memory is accounted by class size, the memory really pinned.

const (
	headroom     = 60 // the longest IPv4 header
	minClassLog  = 11 // 2 KiB
	numClasses   = 6  // 2, 4, 8, 16, 32, 64 KiB
	maxClassSize = 1 << (minClassLog + numClasses - 1)
)

func classSize(c int) int { return 1 << (minClassLog + c) }

// classFor returns the smallest class whose capacity holds n payload bytes.
// n is at most 65535, which class numClasses-1 holds.
func classFor(n int) int {
	c := 0
	for classSize(c) < n {
		c++
	}
	return c
}

type buffer struct {
	b     []byte // headroom + classSize(class) bytes
	class int
	gen   uint32 // incremented on every release: stale Datagrams are ignored
	inUse bool
}

// pool keeps released buffers per class for reuse. It is owned by one
// Reassembler and, like it, used by one goroutine. The free lists hold at
// most maxFree bytes; beyond that released buffers go to the garbage
// collector.
type pool struct {
	free      [numClasses][]*buffer
	freeBytes int
	maxFree   int
}

func newPool(maxFree int) *pool {
	p := &pool{maxFree: maxFree}
	for c := range p.free {
		// Capacity for every buffer the byte limit admits, so releasing
		// never grows a slice.
		p.free[c] = make([]*buffer, 0, maxFree/(headroom+classSize(c))+1)
	}
	return p
}

func (p *pool) get(class int) *buffer {
	var buf *buffer
	if n := len(p.free[class]); n > 0 {
		buf = p.free[class][n-1]
		p.free[class][n-1] = nil
		p.free[class] = p.free[class][:n-1]
		p.freeBytes -= len(buf.b)
	} else {
		buf = &buffer{b: make([]byte, headroom+classSize(class)), class: class}
	}
	buf.inUse = true
	return buf
}

func (p *pool) put(buf *buffer) {
	if !buf.inUse {
		return
	}
	buf.inUse = false
	buf.gen++
	if p.freeBytes+len(buf.b) > p.maxFree || len(p.free[buf.class]) == cap(p.free[buf.class]) {
		return // let the garbage collector have it
	}
	p.free[buf.class] = append(p.free[buf.class], buf)
	p.freeBytes += len(buf.b)
}

// Datagram is a reassembled IPv4 datagram, header included, in a buffer
// that belongs to the Reassembler's pool. The caller owns it until it calls
// Release; after Release the bytes may be reused by the next datagram and
// must not be touched. Releasing is optional (an unreleased buffer is
// garbage collected) but without it the pool allocates anew. A second
// Release of the same Datagram, or of a copy of it, does nothing. Release
// must be called from the goroutine that owns the Reassembler.
type Datagram struct {
	b    []byte
	buf  *buffer
	gen  uint32
	pool *pool
}

// Bytes returns the datagram: the first fragment's IPv4 header (with total
// length, flags, offset and checksum rewritten) followed by the payload.
func (d Datagram) Bytes() []byte { return d.b }

// Release hands the buffer back to the pool.
func (d Datagram) Release() {
	if d.buf == nil || d.buf.gen != d.gen {
		return
	}
	d.pool.put(d.buf)
}
