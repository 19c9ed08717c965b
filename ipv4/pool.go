package ipv4

import "github.com/xdpengine/engine/internal/fragbuf"

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
// The buffers and their pool are internal/fragbuf's.

const (
	headroom = 60 // the longest IPv4 header
)

// Datagram is a reassembled IPv4 datagram, header included, in a buffer
// that belongs to the Reassembler's pool. The caller owns it until it calls
// Release; after Release the bytes may be reused by the next datagram and
// must not be touched. Releasing is optional (an unreleased buffer is
// garbage collected) but without it the pool allocates anew. A second
// Release of the same Datagram, or of a copy of it, does nothing. Release
// must be called from the goroutine that owns the Reassembler.
type Datagram struct {
	b     []byte
	lease fragbuf.Lease // the zero Lease when the bytes are not the pool's
}

// Bytes returns the datagram: the first fragment's IPv4 header (with total
// length, flags, offset and checksum rewritten) followed by the payload.
func (d Datagram) Bytes() []byte { return d.b }

// Release hands the buffer back to the pool.
func (d Datagram) Release() { d.lease.Release() }

// Shorthands for the size classes.
var (
	classFor  = fragbuf.ClassFor
	classSize = fragbuf.ClassSize
)
