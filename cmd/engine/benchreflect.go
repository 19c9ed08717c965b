package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/xdpengine/engine/bench/reflector"
	"github.com/xdpengine/engine/bench/xdpgen"
)

const benchReflectSynopsis = `
Usage: engine bench reflect -i IFACE --addr CIDR [--duration D] [flags]

Send every IPv4 frame that reaches --addr on IFACE back where it came from,
through AF_XDP, one worker per queue: Ethernet and IPv4 addresses and UDP
or TCP ports swapped in place, payload (and a generator's signature) as it
was, checksums still valid (a partial checksum a Linux peer sent over a
virtual link is finished first). ARP for --addr is answered; everything
else on IFACE stays the kernel's. A generator ('engine bench udp' on
another host, or another link) then measures loss and latency through the
device under test and back.

--xdp reflects in an XDP program instead (XDP_TX, in the kernel's receive
path: no worker thread, no CPU of its own, the lowest added latency): the
kernel must own --addr's address on IFACE (it answers ARP; the program
passes everything but UDP and TCP to that address), frames with IPv4
options or a partial checksum (a Linux sender's offload on a virtual link)
are not reflected correctly, and there are no counters. On a veth, the
other end must have an XDP program of its own (a generator's AF_XDP port
has one): XDP_TX hands the frame to that end's XDP receive queue.

It runs until SIGINT or SIGTERM (or --duration), then prints what it did:
frames reflected, ARP requests answered, frames dropped as not IPv4, and
errors (kernel drops, transmit ring full). A progress line every second on
a terminal.

Example:
  engine bench reflect -i eth1 --addr 198.18.0.2/24
  engine bench reflect -i eth1 --addr 198.18.0.2/24 --xdp`

func init() {
	benchCommands["reflect"] = benchCommand{
		summary: "send every frame to --addr back where it came from (a second harness host)",
		run:     runBenchReflect,
	}
}

func runBenchReflect(args []string, stdout, stderr io.Writer) error {
	var pf benchPortFlags
	var duration time.Duration
	var jsonPath string
	var inXDP bool
	fs := flagSet("bench reflect", benchReflectSynopsis)
	pf.add(fs)
	fs.BoolVar(&inXDP, "xdp", false, "reflect in an XDP program (XDP_TX) instead of AF_XDP workers; the kernel must own --addr")
	fs.DurationVar(&duration, "duration", 0, "stop after this long (default: until SIGINT or SIGTERM)")
	fs.StringVar(&jsonPath, "json", "", "write the final counters to `FILE` as JSON")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := pf.check(); err != nil {
		return err
	}
	if duration < 0 {
		return usagef("--duration %v: want a positive duration", duration)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	if inXDP {
		return benchReflectXDP(ctx, &pf, jsonPath, stdout)
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Fprintf(stdout, "engine bench reflect: reflecting to %v on %s (%s, %d queue(s)); SIGINT stops\n",
		pf.cfg.Addr.Addr(), pf.cfg.Interface, p.Mode(), p.Queues())
	var progress func(xdpgen.Counters)
	show := pf.showProgress(stderr)
	if show {
		start, prev, prevAt := time.Now(), xdpgen.Counters{}, time.Now()
		progress = func(c xdpgen.Counters) {
			now := time.Now()
			fmt.Fprintf(stderr, "\r\033[Kreflect %5.1fs  %s  arp %d  other %d  errors %d", now.Sub(start).Seconds(),
				benchRate(float64(c.Reflected-prev.Reflected)/now.Sub(prevAt).Seconds()), c.ARP, c.Other, c.Errors)
			prev, prevAt = c, now
		}
	}
	c, err := p.Reflect(ctx, 0, progress)
	if show {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "received %d frames (%d bytes), reflected %d; answered %d ARP requests; dropped %d (not IPv4); errors %d\n",
		c.Received, c.ReceivedBytes, c.Reflected, c.ARP, c.Other, c.Errors)
	if jsonPath != "" {
		return benchWriteJSON(jsonPath, map[string]any{"test": "reflect", "interface": pf.cfg.Interface,
			"received": c.Received, "reflected": c.Reflected, "arp": c.ARP, "other": c.Other, "errors": c.Errors})
	}
	return nil
}

// benchReflectXDP reflects with reflector.AttachXDP until ctx ends.
func benchReflectXDP(ctx context.Context, pf *benchPortFlags, jsonPath string, stdout io.Writer) error {
	x, err := reflector.AttachXDP(pf.cfg.Interface, pf.cfg.Addr.Addr())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "engine bench reflect: reflecting to %v on %s in XDP (XDP_TX); SIGINT stops\n",
		pf.cfg.Addr.Addr(), pf.cfg.Interface)
	<-ctx.Done()
	if err := x.Close(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "detached the XDP reflector")
	if jsonPath != "" {
		return benchWriteJSON(jsonPath, map[string]any{"test": "reflect", "interface": pf.cfg.Interface, "xdp": true})
	}
	return nil
}
