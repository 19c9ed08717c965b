package capture

import (
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/xdpengine/engine/stack/datapath"
)

// Writer writes captured frames as pcapng (gopacket's pcapgo.NgWriter),
// with one interface per queue and direction: interface 2q is "qQ-rx" (the
// frames queue Q received), 2q+1 is "qQ-tx" (those it sent). pcapgo writes
// no per-packet options, so the interface carries the direction; tcpdump
// and tshark read such files, tshark shows the names (frame.interface_name).
type Writer struct {
	ng     *pcapgo.NgWriter
	queues int
}

// NewWriter writes the section header and the interfaces of queues queues
// of the engine's interface iface.
func NewWriter(w io.Writer, iface string, queues, snaplen int, filter string) (*Writer, error) {
	if queues < 1 {
		return nil, fmt.Errorf("capture: %d queues", queues)
	}
	opts := pcapgo.DefaultNgWriterOptions
	opts.SectionInfo.Application = "engine capture"
	intf := func(q int, dir datapath.Direction) pcapgo.NgInterface {
		what := "received by"
		if dir == datapath.DirTx {
			what = "sent by"
		}
		return pcapgo.NgInterface{
			Name:        fmt.Sprintf("q%d-%s", q, dir),
			Description: fmt.Sprintf("frames %s the engine on %s queue %d", what, iface, q),
			Filter:      filter,
			LinkType:    layers.LinkTypeEthernet,
			SnapLength:  uint32(snaplen),
		}
	}
	ng, err := pcapgo.NewNgWriterInterface(w, intf(0, datapath.DirRx), opts)
	if err != nil {
		return nil, fmt.Errorf("capture: pcapng: %w", err)
	}
	for i := 1; i < 2*queues; i++ {
		if _, err := ng.AddInterface(intf(i/2, datapath.Direction(i%2))); err != nil {
			return nil, fmt.Errorf("capture: pcapng: %w", err)
		}
	}
	return &Writer{ng: ng, queues: queues}, nil
}

// WriteFrame writes one frame: len is its length on the wire, data what was
// kept of it.
func (w *Writer) WriteFrame(t time.Time, queue int, dir datapath.Direction, length int, data []byte) error {
	if queue < 0 || queue >= w.queues {
		return fmt.Errorf("capture: queue %d of %d", queue, w.queues)
	}
	ci := gopacket.CaptureInfo{Timestamp: t, CaptureLength: len(data), Length: length, InterfaceIndex: 2*queue + int(dir)}
	return w.ng.WritePacket(ci, data)
}

// WriteStats writes an interface statistics block for each queue's rx
// interface: packets captured and dropped (overruns of the queue's tap
// ring, both directions together).
func (w *Writer) WriteStats(start, end time.Time, stats []datapath.TapStats) error {
	for q, s := range stats {
		if q >= w.queues {
			break
		}
		err := w.ng.WriteInterfaceStats(2*q, pcapgo.NgInterfaceStatistics{
			LastUpdate: end, StartTime: start, EndTime: end,
			PacketsReceived: s.Captured + s.Overruns, PacketsDropped: s.Overruns,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Flush writes what the writer buffers.
func (w *Writer) Flush() error { return w.ng.Flush() }
