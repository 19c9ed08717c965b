package stream

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/xdpengine/engine/header"
)

// Errors returned by New and ReadPcap, wrapped with the field or frame they
// concern; compare with errors.Is.
var (
	ErrBadAddress   = errors.New("stream: address is not IPv4")
	ErrBadRange     = errors.New("stream: range ends before it starts")
	ErrBadSize      = errors.New("stream: frame size out of range")
	ErrNoRoom       = errors.New("stream: frame too small for the signature")
	ErrNoFrames     = errors.New("stream: replay without frames")
	ErrBadKind      = errors.New("stream: unknown kind")
	ErrLinkType     = errors.New("stream: capture is not Ethernet")
	ErrSnapTruncate = errors.New("stream: captured frame shorter than it was on the wire")
)

// Frame sizes, counted as RFC 2544 counts them: the Ethernet frame from the
// destination address to the frame check sequence, FCS included, preamble
// and inter-frame gap excluded. Next writes Size-FCSLen bytes: AF_XDP and
// AF_PACKET hand frames over without the FCS, which the NIC appends.
const (
	FCSLen       = 4
	MinFrameSize = 64
	MaxFrameSize = 9018 // a 9000-byte MTU with a VLAN tag
	// WireOverhead is what a frame costs on the wire beyond its size:
	// preamble and start delimiter (8 bytes) and the inter-frame gap (12).
	WireOverhead = 20
)

// Kind is the template a stream's frames are built from.
type Kind uint8

// Kinds of stream. UDP is the zero value.
const (
	UDP      Kind = iota // Ethernet/IPv4/UDP
	TCPSYN               // Ethernet/IPv4/TCP with SYN set, no options
	TCPACK               // Ethernet/IPv4/TCP with ACK set, no options
	ICMPEcho             // Ethernet/IPv4/ICMP echo request
	Replay               // the frames of Spec.Frames, in order, cycling
)

var kindNames = [...]string{"udp", "tcp-syn", "tcp-ack", "icmp-echo", "replay"}

// String returns the kind's name as ParseKind takes it.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind returns the kind named s ("udp", "tcp-syn", "tcp-ack",
// "icmp-echo", "replay").
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if n == s {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrBadKind, s)
}

// Mode says how a range is walked.
type Mode uint8

const (
	// Inc takes First, First+1, ..., Last, then First again: one step per
	// packet. Several incrementing fields step together (in lockstep, as
	// TRex's field engine does), so ranges of coprime lengths give every
	// combination and equal lengths pair the fields up.
	Inc Mode = iota
	// Random draws uniformly from [First, Last] per packet, from the
	// stream's generator seeded with Spec.Seed (PCG): the same seed gives
	// the same packets.
	Random
)

// AddrRange is a range of IPv4 addresses. A zero Last means First alone.
// A zero range (no First) leaves the address as the template has it, which
// is only allowed for Replay.
type AddrRange struct {
	First, Last netip.Addr
	Mode        Mode
}

// PortRange is a range of ports; a zero Last means First alone. For Replay,
// a zero range leaves the frames' ports alone.
type PortRange struct {
	First, Last uint16
	Mode        Mode
}

// VLANRange is a range of VLAN ids (1 to 4094). The frames are tagged
// (802.1Q) when Last or First is set; a zero range means untagged. PCP is
// the priority written in every tag.
type VLANRange struct {
	First, Last uint16
	Mode        Mode
	PCP         uint8
}

// SignMode says which frames carry a signature.
type SignMode uint8

const (
	// SignAuto signs generated frames when the smallest size leaves room
	// for one, and never signs replayed frames (they go out byte for
	// byte).
	SignAuto SignMode = iota
	// SignOn signs every frame; New fails with ErrNoRoom where one does
	// not fit (a replayed frame must then be IPv4 UDP, TCP or ICMP echo).
	SignOn
	// SignOff signs nothing.
	SignOff
)

// Frame is one frame of a capture: its bytes (without FCS) and when it was
// captured, relative to the first frame of the file.
type Frame struct {
	Data   []byte
	Offset time.Duration
}

// Spec describes a stream. Only Kind, the MACs, Src and Dst (and the ports
// of UDP and TCP) are needed; the zero value of everything else is usable.
type Spec struct {
	ID   uint16 // carried in the signature; ICMP echo's identifier too
	Kind Kind

	SrcMAC, DstMAC header.MAC // for Replay: zero leaves the frames' own
	VLAN           VLANRange
	Src, Dst       AddrRange
	SrcPort        PortRange
	DstPort        PortRange
	TTL            uint8 // 0 means 64; not applied to Replay
	TOS            uint8 // not applied to Replay

	Size Sizes // generated kinds only; the zero value is Fixed(64)

	// Frames are Replay's templates (see ReadPcap), sent in order and
	// cycling. Varied fields apply to the IPv4 frames whose header
	// checksum verifies (ports: to UDP and TCP first fragments); other
	// frames go out as they are, but for the MACs and the VLAN tag (a tag
	// is inserted when VLAN is set and a frame has none).
	Frames []Frame
	// FixChecksums recomputes the replayed frames' checksums once, when
	// the stream is built; without it the file's checksums are updated
	// incrementally and stay as right or wrong as they were (a capture
	// taken on a sender with checksum offload holds partial checksums).
	FixChecksums bool

	Sign SignMode
	Seed uint64 // seeds Random ranges and sizes
}

// Sizes is the distribution of frame sizes of a stream (see the package
// documentation for how sizes are counted). Make one with Fixed, SizeRange
// or IMIX; the zero value is Fixed(64).
type Sizes struct {
	kind     uint8 // sizeFixed, sizeRange, sizeIMIX
	min, max int
	mode     Mode
}

const (
	sizeFixed = iota
	sizeRange
	sizeIMIX
)

// imixPattern is the Simple IMIX, 7:4:1 of 64-, 594- and 1518-byte frames
// (IP packets of 40, 576 and 1500 bytes, the short one padded to the
// Ethernet minimum), interleaved over a cycle of twelve so that every
// stretch of traffic has the mix. Average 361.83 bytes.
var imixPattern = [12]int{64, 594, 64, 64, 594, 64, 1518, 64, 594, 64, 594, 64}

// Fixed is a single frame size.
func Fixed(size int) Sizes { return Sizes{kind: sizeFixed, min: size, max: size} }

// SizeRange is every size from min to max, walked by mode.
func SizeRange(min, max int, mode Mode) Sizes {
	return Sizes{kind: sizeRange, min: min, max: max, mode: mode}
}

// IMIX is the Simple IMIX: 64, 594 and 1518-byte frames, 7:4:1.
func IMIX() Sizes { return Sizes{kind: sizeIMIX, min: 64, max: 1518} }

// Min returns the smallest size.
func (s Sizes) Min() int {
	if s.min == 0 {
		return MinFrameSize
	}
	return s.min
}

// Max returns the largest size.
func (s Sizes) Max() int {
	if s.max == 0 {
		return MinFrameSize
	}
	return s.max
}

// Mean returns the average size over a long run.
func (s Sizes) Mean() float64 {
	if s.kind == sizeIMIX {
		t := 0
		for _, n := range imixPattern {
			t += n
		}
		return float64(t) / float64(len(imixPattern))
	}
	return float64(s.Min()+s.Max()) / 2
}

// String returns s in the form ParseSizes reads.
func (s Sizes) String() string {
	switch {
	case s.kind == sizeIMIX:
		return "imix"
	case s.Min() == s.Max():
		return strconv.Itoa(s.Min())
	case s.mode == Inc:
		return strconv.Itoa(s.Min()) + "-" + strconv.Itoa(s.Max()) + ":inc"
	}
	return strconv.Itoa(s.Min()) + "-" + strconv.Itoa(s.Max())
}

// ParseSizes reads "64" (fixed), "64-1518" (random in the range),
// "64-1518:inc" (incrementing) or "imix".
func ParseSizes(v string) (Sizes, error) {
	if v == "imix" {
		return IMIX(), nil
	}
	mode := Random
	if r, ok := strings.CutSuffix(v, ":inc"); ok {
		v, mode = r, Inc
	}
	lo, hi, isRange := strings.Cut(v, "-")
	a, err := strconv.Atoi(lo)
	if err != nil {
		return Sizes{}, fmt.Errorf("%w: %q", ErrBadSize, v)
	}
	if !isRange {
		return Fixed(a), nil
	}
	b, err := strconv.Atoi(hi)
	if err != nil {
		return Sizes{}, fmt.Errorf("%w: %q", ErrBadSize, v)
	}
	return SizeRange(a, b, mode), nil
}

func (s Sizes) validate() error {
	if s.Min() < MinFrameSize || s.Max() > MaxFrameSize || s.Min() > s.Max() {
		return fmt.Errorf("%w: %s (want %d to %d)", ErrBadSize, s, MinFrameSize, MaxFrameSize)
	}
	return nil
}
