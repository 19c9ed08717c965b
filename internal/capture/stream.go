package capture

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/stack/datapath"
)

// Args are a capture request's arguments (the "capture" control command).
type Args struct {
	Count   uint64 `json:"count,omitempty"`   // stop after this many frames (0: until the client ends it)
	Snaplen int    `json:"snaplen,omitempty"` // bytes kept of each frame (0: datapath.MaxSnaplen)
	Slots   int    `json:"slots,omitempty"`   // each worker's ring, in frames (0: datapath.DefaultTapSlots)
	Filter  string `json:"filter,omitempty"`  // a ParseFilter expression
	BPF     string `json:"bpf,omitempty"`     // a ParseBPF program (tcpdump -ddd)
}

// NewMatch checks the filters and returns the maker of one matcher per
// worker (nil: every frame), and a description of the filter for the
// pcapng interfaces.
func (a *Args) NewMatch() (func() func([]byte) bool, string, error) {
	if a.Filter != "" && a.BPF != "" {
		return nil, "", fmt.Errorf("%w: give an expression or a BPF program, not both", ErrFilter)
	}
	if a.BPF != "" {
		prog, err := ParseBPF(a.BPF)
		if err != nil {
			return nil, "", err
		}
		return func() func([]byte) bool {
			f, _ := newBPFFilter(prog) // checked by ParseBPF
			return f.Match
		}, fmt.Sprintf("classic BPF, %d instructions", len(prog)), nil
	}
	f, err := ParseFilter(a.Filter)
	if err != nil || f == nil {
		return nil, "", err
	}
	return func() func([]byte) bool {
		f, _ := ParseFilter(a.Filter) // a filter per worker: it has scratch state
		return f.Match
	}, a.Filter, nil
}

// Summary ends a capture stream.
type Summary struct {
	Frames   uint64              `json:"frames"`   // written to the stream
	Overruns uint64              `json:"overruns"` // lost: a worker's tap ring was full
	Queues   []datapath.TapStats `json:"queues"`
}

// The stream is a sequence of records: a kind byte, a 4-byte big-endian
// length and the payload. 'D' records carry pcapng bytes, to be written out
// as they come; the last record, 'E', carries the Summary in JSON.
const (
	recData = 'D'
	recEnd  = 'E'
	maxRec  = 1 << 20
)

// framer turns every Write into one data record.
type framer struct{ w io.Writer }

func (f framer) Write(p []byte) (int, error) {
	for off := 0; off < len(p); {
		n := min(len(p)-off, maxRec)
		var h [5]byte
		h[0] = recData
		binary.BigEndian.PutUint32(h[1:], uint32(n))
		if _, err := f.w.Write(h[:]); err != nil {
			return off, err
		}
		if _, err := f.w.Write(p[off : off+n]); err != nil {
			return off, err
		}
		off += n
	}
	return len(p), nil
}

func writeEnd(w io.Writer, s Summary) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	h := [5]byte{recEnd}
	binary.BigEndian.PutUint32(h[1:], uint32(len(b)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// drainEvery is how often Serve empties the tap rings.
const drainEvery = 2 * time.Millisecond

// Serve streams c's frames to out as pcapng in records (see Receive) until
// ctx is done or Args.Count frames went out, then closes c and sends the
// Summary. iface names the engine's interface in the pcapng file.
func Serve(ctx context.Context, c *engine.Capture, out io.Writer, iface string, a Args, filterDesc string) (Summary, error) {
	start := time.Now()
	bw := bufio.NewWriterSize(out, 256<<10)
	var sum Summary
	pw, err := NewWriter(framer{bw}, iface, c.Queues(), c.Snaplen(), filterDesc)
	if err != nil {
		c.Close()
		return sum, err
	}
	var werr error
	write := func(f *engine.CapturedFrame) {
		if werr != nil || a.Count != 0 && sum.Frames >= a.Count {
			return
		}
		werr = pw.WriteFrame(f.Time, f.Queue, f.Dir, f.Len, f.Data)
		sum.Frames++
	}
	flush := func() {
		if werr == nil {
			werr = pw.Flush()
		}
		if werr == nil {
			werr = bw.Flush()
		}
	}
	flush() // the header at once: a reader sees the file start
	tick := time.NewTicker(drainEvery)
	defer tick.Stop()
	for werr == nil && (a.Count == 0 || sum.Frames < a.Count) {
		if c.Drain(write) > 0 {
			flush()
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
			continue
		}
		break
	}
	c.Close()
	c.Drain(write) // what the workers put before they saw the tap go
	sum.Queues = c.Stats()
	for _, s := range sum.Queues {
		sum.Overruns += s.Overruns
	}
	if werr == nil {
		werr = pw.WriteStats(start, time.Now(), sum.Queues)
	}
	flush()
	if werr != nil {
		return sum, werr
	}
	if err := writeEnd(bw, sum); err != nil {
		return sum, err
	}
	return sum, bw.Flush()
}

// ErrTruncated is returned by Receive when the stream ends without its
// summary (the engine stopped, or the connection broke).
var ErrTruncated = errors.New("capture: the stream ended without its summary")

// Receive copies the pcapng bytes of a stream Serve writes from r to out
// (flushing out after each record when it has a Flush method) and returns
// the stream's Summary.
func Receive(r io.Reader, out io.Writer) (Summary, error) {
	var sum Summary
	fl, _ := out.(interface{ Flush() error })
	buf := make([]byte, 64<<10)
	for {
		var h [5]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return sum, ErrTruncated
			}
			return sum, err
		}
		n := binary.BigEndian.Uint32(h[1:])
		if n > maxRec {
			return sum, fmt.Errorf("capture: malformed stream: a record of %d bytes", n)
		}
		if int(n) > len(buf) {
			buf = make([]byte, n)
		}
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			return sum, ErrTruncated
		}
		switch h[0] {
		case recData:
			if _, err := out.Write(buf[:n]); err != nil {
				return sum, err
			}
			if fl != nil {
				if err := fl.Flush(); err != nil {
					return sum, err
				}
			}
		case recEnd:
			if err := json.Unmarshal(buf[:n], &sum); err != nil {
				return sum, fmt.Errorf("capture: malformed summary: %w", err)
			}
			return sum, nil
		default:
			return sum, fmt.Errorf("capture: malformed stream: record kind %#x", h[0])
		}
	}
}
