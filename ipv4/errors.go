package ipv4

import (
	"errors"
	"fmt"
	"syscall"
)

// Sentinel errors of the reassembler. Add returns them unwrapped, so a
// worker can count drops per cause with a switch and no allocation.
var (
	// ErrNotFragment: the packet has MF clear and offset 0; it is a whole
	// datagram and needs no reassembly.
	ErrNotFragment = errors.New("ipv4: not a fragment (MF clear, offset 0)")
	// ErrBadFragment: the fragment is malformed: an IPv4 header outside
	// 20..60 bytes, an offset that is not a multiple of 8, no payload, or
	// a non-last fragment whose payload is not a multiple of 8 bytes.
	// Only the fragment is dropped.
	ErrBadFragment = errors.New("ipv4: malformed fragment")
	// ErrTinyFragment: a TCP fragment dropped by the RFC 1858 / RFC 3128
	// rules (offset of 8 bytes, or a first fragment too short to hold the
	// TCP flags). Only the fragment is dropped.
	ErrTinyFragment = errors.New("ipv4: tiny TCP fragment (RFC 1858)")
	// ErrDuplicate: the fragment lies entirely inside data already received
	// and carries the same bytes. Only the fragment is dropped.
	ErrDuplicate = errors.New("ipv4: duplicate fragment")
	// ErrOverlap: the fragment overlaps data already received with
	// different bytes or a different extent. The whole datagram is
	// discarded (counted in ReasmOverlaps and ReasmFails).
	ErrOverlap = errors.New("ipv4: overlapping fragment, datagram discarded")
	// ErrConflict: the fragment contradicts the datagram's end (a second
	// last fragment with another end, or data past the known end). The
	// whole datagram is discarded.
	ErrConflict = errors.New("ipv4: fragment conflicts with datagram end, datagram discarded")
	// ErrTooBig: the reassembled datagram would exceed 65,535 bytes. The
	// whole datagram is discarded.
	ErrTooBig = errors.New("ipv4: reassembled datagram longer than 65535 bytes, datagram discarded")
	// ErrTooManyFragments: the datagram received more fragments than
	// Config.MaxFragments. The whole datagram is discarded.
	ErrTooManyFragments = errors.New("ipv4: too many fragments for one datagram, datagram discarded")
	// ErrNoMemory: taking the fragment would push the table over its high
	// memory threshold even after evicting older datagrams. Only the
	// fragment is dropped.
	ErrNoMemory = errors.New("ipv4: reassembly memory limit reached, fragment dropped")
)

// Errors of the fragmenter.
var (
	// ErrBadPacket: the datagram handed to Fragment is not a valid IPv4
	// datagram (bad version, header length, total length or options).
	ErrBadPacket = errors.New("ipv4: invalid datagram to fragment")
	// ErrBadMTU: the MTU leaves no room for 8 bytes of payload after the
	// header (IPv4 requires an MTU of at least 68).
	ErrBadMTU = errors.New("ipv4: MTU too small to fragment (minimum 68)")
	// ErrShortBuffers: the caller gave fewer output buffers than there are
	// fragments, or a buffer shorter than the MTU. Give len(out) >=
	// FragmentCount(...) buffers of at least mtu bytes each.
	ErrShortBuffers = errors.New("ipv4: not enough output buffers for the fragments")
)

// MTUError is returned by Fragment when the datagram is larger than the MTU
// and its DF bit is set. It matches errors.Is(err, syscall.EMSGSIZE), as the
// kernel's send(2) does for a socket with IP_PMTUDISC_DO, and carries the
// MTU the caller should use (what IP_MTU would report).
type MTUError struct {
	MTU int // the link MTU the datagram did not fit
	Len int // the datagram's length
}

func (e *MTUError) Error() string {
	return fmt.Sprintf("ipv4: datagram of %d bytes exceeds MTU %d and has DF set: %v", e.Len, e.MTU, syscall.EMSGSIZE)
}

// Unwrap returns syscall.EMSGSIZE.
func (e *MTUError) Unwrap() error { return syscall.EMSGSIZE }
