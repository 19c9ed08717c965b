package header

import "encoding/binary"

// TCP option kinds.
const (
	TCPOptEOL           = 0
	TCPOptNOP           = 1
	TCPOptMSS           = 2 // RFC 9293, length 4
	TCPOptWindowScale   = 3 // RFC 7323, length 3
	TCPOptSACKPermitted = 4 // RFC 2018, length 2
	TCPOptSACK          = 5 // RFC 2018, length 2 + 8n
	TCPOptTimestamp     = 8 // RFC 7323, length 10
)

// TCPMaxSACKBlocks is the most SACK blocks that fit in the option space.
const TCPMaxSACKBlocks = 4

// SACKBlock is one SACK block: [Start, End) in sequence space.
type SACKBlock struct{ Start, End uint32 }

// TCPOptions holds the options the engine understands.
//
// Parse contract: options are read kind by kind. EOL ends the list; NOP
// is skipped; any other kind must have a length byte of at least 2 that
// stays inside the option space, else parsing stops with ErrBadOption
// (what was read before stays filled). A known option with the wrong
// length is ignored, as Linux's tcp_parse_options does; unknown kinds are
// skipped by their length. A repeated option overwrites the earlier one. A
// SACK option holds 1 to 4 blocks.
type TCPOptions struct {
	MSS           uint16 // valid when HasMSS
	WindowScale   uint8  // valid when HasWindowScale; not capped here (RFC 7323 caps use at 14)
	TSVal, TSEcr  uint32 // valid when HasTimestamp
	NumSACK       int    // SACK[:NumSACK] are used
	SACK          [TCPMaxSACKBlocks]SACKBlock
	HasMSS        bool
	HasWScale     bool
	SACKPermitted bool
	HasTimestamp  bool
}

// ParseTCPOptions fills o from the option bytes b; see TCPOptions.
func ParseTCPOptions(b []byte, o *TCPOptions) error { return o.Parse(b) }

// Parse resets o and fills it from the option bytes b; see TCPOptions.
func (o *TCPOptions) Parse(b []byte) error {
	*o = TCPOptions{}
	for len(b) > 0 {
		kind := b[0]
		switch kind {
		case TCPOptEOL:
			return nil
		case TCPOptNOP:
			b = b[1:]
			continue
		}
		if len(b) < 2 {
			return ErrBadOption
		}
		l := int(b[1])
		if l < 2 || l > len(b) {
			return ErrBadOption
		}
		d := b[2:l]
		switch kind {
		case TCPOptMSS:
			if l == 4 {
				o.MSS, o.HasMSS = binary.BigEndian.Uint16(d), true
			}
		case TCPOptWindowScale:
			if l == 3 {
				o.WindowScale, o.HasWScale = d[0], true
			}
		case TCPOptSACKPermitted:
			if l == 2 {
				o.SACKPermitted = true
			}
		case TCPOptTimestamp:
			if l == 10 {
				o.TSVal, o.TSEcr, o.HasTimestamp = binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:]), true
			}
		case TCPOptSACK:
			n := (l - 2) / 8
			if (l-2)%8 == 0 && n >= 1 && n <= TCPMaxSACKBlocks {
				o.NumSACK = n
				for i := 0; i < n; i++ {
					o.SACK[i] = SACKBlock{binary.BigEndian.Uint32(d[8*i:]), binary.BigEndian.Uint32(d[8*i+4:])}
				}
			}
		}
		b = b[l:]
	}
	return nil
}

func (o *TCPOptions) numSACK() int {
	if o.NumSACK < 0 {
		return 0
	}
	return min(o.NumSACK, TCPMaxSACKBlocks)
}

// Len returns the encoded length, a multiple of 4. It may exceed
// TCPMaxOptions (40), in which case Put fails with ErrOptionsTooLong.
func (o *TCPOptions) Len() int {
	n := 0
	if o.HasMSS {
		n += 4
	}
	if o.HasWScale {
		n += 4 // NOP + 3
	}
	if o.HasTimestamp || o.SACKPermitted {
		// SACK-permitted rides in the timestamp option's two NOPs, as
		// Linux lays it out; alone it takes NOP NOP + 2.
		n += 4
		if o.HasTimestamp {
			n += 8
		}
	}
	if s := o.numSACK(); s > 0 {
		n += 4 + 8*s // NOP NOP kind len blocks
	}
	return n
}

// Put encodes the options in Linux's layout (MSS; SACK-permitted with
// timestamps or NOP NOP SACK-permitted; NOP window scale; NOP NOP SACK) into
// b and returns the length, a multiple of 4.
func (o *TCPOptions) Put(b []byte) (int, error) {
	n := o.Len()
	if n > TCPMaxOptions {
		return 0, ErrOptionsTooLong
	}
	if len(b) < n {
		return 0, ErrBufferTooSmall
	}
	i := 0
	if o.HasMSS {
		b[0], b[1] = TCPOptMSS, 4
		binary.BigEndian.PutUint16(b[2:], o.MSS)
		i = 4
	}
	switch {
	case o.HasTimestamp && o.SACKPermitted:
		b[i], b[i+1], b[i+2], b[i+3] = TCPOptSACKPermitted, 2, TCPOptTimestamp, 10
		i += 4
	case o.HasTimestamp:
		b[i], b[i+1], b[i+2], b[i+3] = TCPOptNOP, TCPOptNOP, TCPOptTimestamp, 10
		i += 4
	case o.SACKPermitted:
		b[i], b[i+1], b[i+2], b[i+3] = TCPOptNOP, TCPOptNOP, TCPOptSACKPermitted, 2
		i += 4
	}
	if o.HasTimestamp {
		binary.BigEndian.PutUint32(b[i:], o.TSVal)
		binary.BigEndian.PutUint32(b[i+4:], o.TSEcr)
		i += 8
	}
	if o.HasWScale {
		b[i], b[i+1], b[i+2], b[i+3] = TCPOptNOP, TCPOptWindowScale, 3, o.WindowScale
		i += 4
	}
	if s := o.numSACK(); s > 0 {
		b[i], b[i+1], b[i+2], b[i+3] = TCPOptNOP, TCPOptNOP, TCPOptSACK, uint8(2+8*s)
		i += 4
		for k := 0; k < s; k++ {
			binary.BigEndian.PutUint32(b[i:], o.SACK[k].Start)
			binary.BigEndian.PutUint32(b[i+4:], o.SACK[k].End)
			i += 8
		}
	}
	return i, nil
}
