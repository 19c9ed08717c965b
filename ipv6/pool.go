package ipv6

// Reassembly buffers come in size classes of 2 KiB ... 64 KiB of
// fragmentable-part capacity, preceded by headroom for the first fragment's
// unfragmentable part (the IPv6 header and the extension headers before the
// fragment header), so that the finished packet is one contiguous slice:
//
//	b: [ headroom (512 bytes)        ][ capacity (class size)      ]
//	             [IPv6 hdr + ext hdrs][ fragmentable part          ]
//
// A datagram starts in the class holding the highest end seen and moves up
// (copying what it holds) when a fragment lands beyond; memory is accounted
// by what is pinned.

const (
	// headroom bounds the unfragmentable part a reassembled packet may
	// have; a fragment with a longer one is refused (ErrBadFragment).
	// Linux has no such bound; 512 bytes leave 472 for hop-by-hop,
	// routing and destination options headers.
	headroom    = 512
	minClassLog = 11 // 2 KiB
	numClasses  = 6  // 2 ... 64 KiB
)

func classSize(c int) int { return 1 << (minClassLog + c) }

// classFor returns the smallest class holding n bytes (n <= 65535).
func classFor(n int) int {
	c := 0
	for classSize(c) < n {
		c++
	}
	return c
}

type buffer struct {
	b     []byte // headroom + classSize(class)
	class int
	gen   uint32 // bumped on release: a stale Datagram's Release is ignored
	inUse bool
}

// pool keeps released buffers per class, up to maxFree bytes in all. It
// belongs to one Reassembler and its goroutine.
type pool struct {
	free      [numClasses][]*buffer
	freeBytes int
	maxFree   int
}

func newPool(maxFree int) *pool {
	p := &pool{maxFree: maxFree}
	for c := range p.free {
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
		return // to the garbage collector
	}
	p.free[buf.class] = append(p.free[buf.class], buf)
	p.freeBytes += len(buf.b)
}

// Datagram is a packet Add returns: a reassembled one in a buffer of the
// Reassembler's pool, or an atomic fragment rewritten in the caller's own
// frame. The caller owns it until Release; after Release the bytes may be
// reused and must not be touched. Release is optional (an unreleased
// buffer goes to the garbage collector), idempotent (a second Release, of
// the same value or a copy, does nothing), a no-op for an atomic fragment,
// and must run on the Reassembler's goroutine.
type Datagram struct {
	b    []byte
	buf  *buffer
	gen  uint32
	pool *pool
}

// Bytes returns the packet: the first fragment's IPv6 header and
// unfragmentable extension headers (payload length and the Next Header
// that named the fragment header rewritten), then the fragmentable part.
func (d Datagram) Bytes() []byte { return d.b }

// Release hands the buffer back to the pool.
func (d Datagram) Release() {
	if d.buf == nil || d.buf.gen != d.gen {
		return
	}
	d.pool.put(d.buf)
}
