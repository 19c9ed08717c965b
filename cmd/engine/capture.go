package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/capture"
	"github.com/xdpengine/engine/internal/ctl"
	"github.com/xdpengine/engine/stack/datapath"
)

const captureSynopsis = `
Usage: engine capture [-i IFACE | --ctl PATH] [-w FILE|-] [-c COUNT] [-s SNAPLEN]
                      [--filter EXPR | --filter-ddd PROGRAM] [--ring FRAMES]

Capture the frames a running engine receives and sends, as tcpdump cannot:
frames redirected to AF_XDP never reach the kernel's packet taps. The
output is pcapng with one interface per queue and direction (q0-rx, q0-tx,
q1-rx, ...), for tcpdump -r, tshark -r or Wireshark; "-w -" (the default
when the output is not a terminal) streams it:

  engine capture -i eth1 -w - --filter 'udp port 53' | tcpdump -n -r -

--filter takes the common part of tcpdump's language: [src|dst] host ADDR,
[src|dst] net CIDR, [tcp|udp] [src|dst] port N, portrange N-M, ip, ip6, arp,
tcp, udp, icmp, proto N, ether proto N, with not/and/or and parentheses.
Any other tcpdump filter works through its classic BPF code:

  engine capture -i eth1 -w out.pcapng --filter-ddd "$(tcpdump -ddd 'vlan and tcp[13] & 2 != 0')"

Filters run on the workers, before the copy. Capture costs the engine
nothing while none runs; while one runs, each worker copies the frames that
match (at most SNAPLEN bytes) into a ring of FRAMES slots and never waits
for this command: a frame that finds the ring full is lost to the capture
(not to the link) and counted as an overrun, reported at the end and in the
file's interface statistics. One capture runs at a time. Ctrl-C (or
--count) ends it.`

func runCapture(args []string, stdout, stderr io.Writer) error {
	var t target
	fs := flagSet("capture", captureSynopsis)
	t.flags(fs)
	out := ""
	var a capture.Args
	var dddFile string
	fs.StringVarP(&out, "write", "w", "", "write the pcapng to `FILE`, or - for standard output (default - when it is not a terminal)")
	fs.Uint64VarP(&a.Count, "count", "c", 0, "stop after `COUNT` frames (default: until interrupted)")
	fs.IntVarP(&a.Snaplen, "snaplen", "s", datapath.MaxSnaplen, "keep at most `SNAPLEN` bytes of each frame (1-4096)")
	fs.StringVar(&a.Filter, "filter", "", "capture the frames that match `EXPR` (host, net, port, proto...; see above)")
	fs.StringVar(&a.BPF, "filter-ddd", "", "capture the frames a classic BPF `PROGRAM` accepts, as tcpdump -ddd prints it")
	fs.StringVar(&dddFile, "filter-ddd-file", "", "read the --filter-ddd program from `FILE`")
	fs.IntVar(&a.Slots, "ring", datapath.DefaultTapSlots, "each worker's capture ring, in `FRAMES` (a power of two)")
	quiet := fs.BoolP("quiet", "q", false, "print no summary at the end")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if dddFile != "" {
		if a.BPF != "" {
			return usagef("give --filter-ddd or --filter-ddd-file, not both")
		}
		b, err := os.ReadFile(dddFile)
		if err != nil {
			return usagef("--filter-ddd-file: %v", err)
		}
		a.BPF = string(b)
	}
	if a.Snaplen < 1 || a.Snaplen > datapath.MaxSnaplen {
		return usagef("--snaplen %d: want 1 to %d", a.Snaplen, datapath.MaxSnaplen)
	}
	if a.Slots < 2 || a.Slots&(a.Slots-1) != 0 || a.Slots > 1<<20 {
		return usagef("--ring %d: want a power of two from 2 to %d", a.Slots, 1<<20)
	}
	// Check the filter here, for a usage error that names the flag.
	if _, _, err := a.NewMatch(); err != nil {
		flagName := "--filter"
		if a.BPF != "" {
			flagName = "--filter-ddd"
		}
		return usagef("%s: %v", flagName, strings.TrimPrefix(err.Error(), capture.ErrFilter.Error()+": "))
	}
	var w io.Writer
	switch out {
	case "":
		if isTerminal(stdout) {
			return usagef("the capture is pcapng: give -w FILE, or pipe it (-w - | tcpdump -n -r -)")
		}
		w = stdout
	case "-":
		w = stdout
	default:
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	c, err := t.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Stream("capture", &a)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGPIPE)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sigs:
			st.CloseWrite() // the engine ends the stream, then sends the summary
		case <-done:
		}
	}()
	sum, err := capture.Receive(st, w)
	if err != nil {
		if errors.Is(err, syscall.EPIPE) {
			return nil // the reader (head, tcpdump -c) is gone
		}
		return err
	}
	if !*quiet {
		fmt.Fprintf(stderr, "%d frames captured, %d lost to overruns (the engine's capture ring was full)\n", sum.Frames, sum.Overruns)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// handleCapture registers the "capture" streaming command.
func (s *server) handleCapture() {
	s.ctl.HandleStream("capture", func(raw json.RawMessage) (ctl.Stream, error) {
		var a capture.Args
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &a); err != nil {
				return nil, fmt.Errorf("capture arguments: %w", err)
			}
		}
		newMatch, desc, err := a.NewMatch()
		if err != nil {
			return nil, err
		}
		c, err := s.eng.StartCapture(engine.CaptureConfig{Slots: a.Slots, Snaplen: a.Snaplen, NewMatch: newMatch})
		if err != nil {
			return nil, err
		}
		s.log.Info("capture started", "filter", desc, "snaplen", c.Snaplen(), "count", a.Count)
		return func(ctx context.Context, w io.Writer) error {
			sum, err := capture.Serve(ctx, c, w, s.opts.cfg.Interface, a, desc)
			s.log.Info("capture ended", "frames", sum.Frames, "overruns", sum.Overruns, "queues", sum.Queues, "err", err)
			return err
		}, nil
	})
}
