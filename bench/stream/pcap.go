package stream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// pcapngMagic is the block type of a pcapng file's first block.
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// ReadPcap reads every frame of a capture, pcap (microsecond or nanosecond
// timestamps) or pcapng, of Ethernet link type, for Replay. Offsets count
// from the first frame. Errors: ErrLinkType for another link type,
// ErrSnapTruncate for a frame the capture cut short (a replay would send it
// short), and the reader's, wrapped.
func ReadPcap(r io.Reader) ([]Frame, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(len(pcapngMagic))
	if err != nil {
		return nil, fmt.Errorf("stream: reading capture: %w", err)
	}
	var (
		read func() ([]byte, gopacket.CaptureInfo, error)
		lt   layers.LinkType
	)
	if bytes.Equal(head, pcapngMagic) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("stream: reading pcapng: %w", err)
		}
		read, lt = ng.ReadPacketData, ng.LinkType()
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("stream: reading pcap: %w", err)
		}
		read, lt = pr.ReadPacketData, pr.LinkType()
	}
	if lt != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("%w: link type %v", ErrLinkType, lt)
	}
	var (
		frames []Frame
		first  time.Time
	)
	for i := 0; ; i++ {
		data, ci, err := read()
		if errors.Is(err, io.EOF) {
			return frames, nil
		}
		if err != nil {
			return nil, fmt.Errorf("stream: capture frame %d: %w", i, err)
		}
		if ci.CaptureLength < ci.Length {
			return nil, fmt.Errorf("%w: frame %d, %d of %d bytes", ErrSnapTruncate, i, ci.CaptureLength, ci.Length)
		}
		if i == 0 {
			first = ci.Timestamp
		}
		frames = append(frames, Frame{Data: data, Offset: ci.Timestamp.Sub(first)})
	}
}

// WritePcap writes frames as a pcap file with nanosecond timestamps,
// Ethernet link type, the frames' offsets after start: what a test compares
// with a capture of the replay, or a way to save generated frames.
func WritePcap(w io.Writer, start time.Time, frames []Frame) error {
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(MaxFrameSize, layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("stream: writing pcap: %w", err)
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(f.Offset), CaptureLength: len(f.Data), Length: len(f.Data)}
		if err := pw.WritePacket(ci, f.Data); err != nil {
			return fmt.Errorf("stream: writing pcap frame %d: %w", i, err)
		}
	}
	return nil
}
