package ipv6

import "github.com/xdpengine/engine/internal/fragbuf"

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
// by what is pinned. The buffers and their pool are internal/fragbuf's.

const (
	// headroom bounds the unfragmentable part a reassembled packet may
	// have; a fragment with a longer one is refused (ErrBadFragment).
	// Linux has no such bound; 512 bytes leave 472 for hop-by-hop,
	// routing and destination options headers.
	headroom = 512
)

// Datagram is a packet Add returns: a reassembled one in a buffer of the
// Reassembler's pool, or an atomic fragment rewritten in the caller's own
// frame. The caller owns it until Release; after Release the bytes may be
// reused and must not be touched. Release is optional (an unreleased
// buffer goes to the garbage collector), idempotent (a second Release, of
// the same value or a copy, does nothing), a no-op for an atomic fragment,
// and must run on the Reassembler's goroutine.
type Datagram struct {
	b     []byte
	lease fragbuf.Lease // the zero Lease when the bytes are not the pool's
}

// Bytes returns the packet: the first fragment's IPv6 header and
// unfragmentable extension headers (payload length and the Next Header
// that named the fragment header rewritten), then the fragmentable part.
func (d Datagram) Bytes() []byte { return d.b }

// Release hands the buffer back to the pool.
func (d Datagram) Release() { d.lease.Release() }

// Shorthands for the size classes.
var (
	classFor  = fragbuf.ClassFor
	classSize = fragbuf.ClassSize
)
