package ipv6

import "errors"

// Sentinel errors of the reassembler. Add returns them unwrapped, so a
// worker can count drops per cause with a switch and no allocation.
var (
	// ErrNotFragment: the packet has no fragment header.
	ErrNotFragment = errors.New("ipv6: no fragment header")
	// ErrBadFragment: the fragment is malformed (inconsistent offsets, an
	// unfragmentable part longer than the 512 bytes reassembly keeps, or
	// no data). Only the fragment is dropped.
	ErrBadFragment = errors.New("ipv6: malformed fragment")
	// ErrBadLength: a fragment with M set whose data is not a multiple of
	// 8 bytes. Only the fragment is dropped; Config.OnParamProblem gets a
	// report pointing at the payload length (RFC 8200 4.5).
	ErrBadLength = errors.New("ipv6: fragment length not a multiple of 8")
	// ErrTooBig: the reassembled payload would exceed 65,535 bytes. On
	// arrival only the fragment is dropped and Config.OnParamProblem gets
	// a report pointing at the fragment offset (RFC 8200 4.5); at
	// completion (with the first fragment's headers) the datagram is
	// discarded.
	ErrTooBig = errors.New("ipv6: reassembled payload longer than 65535 bytes")
	// ErrDuplicate: the fragment repeats bytes already received. Only the
	// fragment is dropped.
	ErrDuplicate = errors.New("ipv6: duplicate fragment")
	// ErrOverlap: the fragment overlaps data already received. The whole
	// datagram is discarded and its later fragments too, until its
	// timeout (RFC 5722).
	ErrOverlap = errors.New("ipv6: overlapping fragment, datagram discarded")
	// ErrDiscarded: the fragment belongs to a datagram discarded after an
	// overlap (RFC 5722). Only the fragment is dropped.
	ErrDiscarded = errors.New("ipv6: fragment of a discarded datagram")
	// ErrConflict: the fragment contradicts the datagram's end (a second
	// last fragment with another end, data past the end). The datagram is
	// discarded.
	ErrConflict = errors.New("ipv6: fragment conflicts with datagram end, datagram discarded")
	// ErrTooManyFragments: more fragments than Config.MaxFragments. The
	// datagram is discarded.
	ErrTooManyFragments = errors.New("ipv6: too many fragments for one datagram, datagram discarded")
	// ErrNoMemory: the fragment would take the table over its memory
	// threshold even after evicting older datagrams. Only the fragment is
	// dropped.
	ErrNoMemory = errors.New("ipv6: reassembly memory limit reached, fragment dropped")
)

// Errors of the fragmenter.
var (
	// ErrBadPacket: the packet to fragment is not a valid IPv6 packet,
	// already carries a fragment header, or has a malformed
	// unfragmentable part.
	ErrBadPacket = errors.New("ipv6: invalid packet to fragment")
	// ErrBadMTU: the MTU is below IPv6's 1280 bytes, or leaves no room for
	// 8 bytes of data after the unfragmentable part and fragment header.
	ErrBadMTU = errors.New("ipv6: MTU too small to fragment (minimum 1280)")
	// ErrShortBuffers: fewer output buffers than fragments, or one shorter
	// than the MTU. Count says how many are needed.
	ErrShortBuffers = errors.New("ipv6: not enough output buffers for the fragments")
)
