package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/spf13/pflag"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/bench/measure"
	"github.com/xdpengine/engine/bench/xdpgen"
	"github.com/xdpengine/engine/header"
)

// benchPortFlags are the flags of the stateless benchmarks (udp, rfc2544,
// reflect) that open an xdpgen.Port.
type benchPortFlags struct {
	cfg      xdpgen.Config
	progress string // auto, on, off
}

// add registers -i, --addr, --queues, --mode, --xdp-mode, --poll and
// --progress on fs.
func (b *benchPortFlags) add(fs *pflag.FlagSet) {
	c := &b.cfg
	fs.StringVarP(&c.Interface, "interface", "i", "", "`interface` to drive (required)")
	fs.Func("addr", "IPv4 `CIDR` the harness owns on the link, e.g. 198.18.0.1/24 (required): it answers ARP for it and receives what is sent to it", func(v string) error {
		p, err := parsePrefix(v)
		if err == nil {
			c.Addr = p
		}
		return err
	})
	fs.IntVar(&c.Queues, "queues", 0, "queues (one worker each) to drive, from queue 0 (default: all of the interface's)")
	fs.Func("mode", "AF_XDP bind `mode`: auto (zero-copy, else copy; default), zerocopy, copy", func(v string) error {
		m, err := afxdp.ParseMode(v)
		c.Mode = m
		return err
	})
	fs.Func("xdp-mode", "XDP attach `mode`: auto (native, else generic; default), native, generic", func(v string) error {
		m, err := afxdp.ParseXDPMode(v)
		c.XDPMode = m
		return err
	})
	fs.Func("poll", "how workers wait while sending: adaptive (sleep in ppoll until the next frame is due; default) or busy (spin: one core each)", func(v string) error {
		switch v {
		case "adaptive", "busy":
			c.BusyPoll = v == "busy"
			return nil
		}
		return fmt.Errorf("%q: want adaptive or busy", v)
	})
	fs.BoolVar(&c.Live, "live", false, "udp, rfc2544: the kernel sends the frames (XDP live-frame mode, BPF_PROG_RUN, Linux 5.18): several times the rate per core, for untagged UDP of one size, one address each way, an incrementing --flows range at most; a veth peer needs an XDP program or GRO on")
	b.progress = "auto"
	fs.Func("progress", "a progress line every second on stderr: auto (on a terminal; default), on, off", func(v string) error {
		switch v {
		case "auto", "on", "off":
			b.progress = v
			return nil
		}
		return fmt.Errorf("%q: want auto, on or off", v)
	})
}

// check reports a missing interface or address as a usage error.
func (b *benchPortFlags) check() error {
	if b.cfg.Interface == "" {
		return usagef("-i IFACE is required")
	}
	if !b.cfg.Addr.IsValid() {
		return usagef("--addr CIDR is required (the harness's address on the link, e.g. 198.18.0.1/24)")
	}
	return nil
}

// showProgress reports whether progress lines go to w.
func (b *benchPortFlags) showProgress(w io.Writer) bool {
	switch b.progress {
	case "on":
		return true
	case "off":
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// open checks privileges and opens the port.
func (b *benchPortFlags) open() (*xdpgen.Port, error) {
	if err := checkCapabilities(); err != nil {
		return nil, err
	}
	p, err := xdpgen.Open(b.cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", b.cfg.Interface, err)
	}
	return p, nil
}

// benchTargetFlags are --to, --dst-mac and --gateway.
type benchTargetFlags struct {
	to      netip.AddrPort
	dstMAC  header.MAC
	haveMAC bool
	gateway netip.Addr
}

func (t *benchTargetFlags) add(fs *pflag.FlagSet) {
	fs.Func("to", "the device under test, `IP:PORT` (required): a UDP echo measures round trips", func(v string) error {
		ap, err := netip.ParseAddrPort(v)
		if err != nil || !ap.Addr().Is4() || ap.Port() == 0 {
			return fmt.Errorf("%q: want IPv4:PORT, e.g. 198.18.0.2:7", v)
		}
		t.to = ap
		return nil
	})
	fs.Func("dst-mac", "destination `MAC` of the frames (default: the target's, or the gateway's, by ARP)", func(v string) error {
		m, err := net.ParseMAC(v)
		if err != nil || len(m) != 6 {
			return fmt.Errorf("%q is not an Ethernet address", v)
		}
		t.dstMAC, t.haveMAC = header.MAC(m), true
		return nil
	})
	fs.Func("gateway", "next hop `IP` on the link for a target outside --addr's subnet (its MAC by ARP)", func(v string) error {
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return fmt.Errorf("%q is not an IPv4 address", v)
		}
		t.gateway = a
		return nil
	})
}

func (t *benchTargetFlags) check(addr netip.Prefix) error {
	if !t.to.IsValid() {
		return usagef("--to IP:PORT is required")
	}
	if !t.haveMAC && !addr.Contains(t.to.Addr()) && !t.gateway.IsValid() {
		return usagef("--to %v is outside %v: give --gateway IP or --dst-mac MAC", t.to.Addr(), addr.Masked())
	}
	return nil
}

// resolve returns the frames' destination MAC.
func (t *benchTargetFlags) resolve(ctx context.Context, p *xdpgen.Port) (header.MAC, error) {
	if t.haveMAC {
		return t.dstMAC, nil
	}
	hop := t.to.Addr()
	if !p.Addr().Contains(hop) {
		hop = t.gateway
	}
	mac, err := p.Resolve(ctx, hop)
	if err != nil {
		return mac, fmt.Errorf("%w (is %v up on the link? --dst-mac skips ARP)", err, hop)
	}
	return mac, nil
}

// benchLatencyJSON is a latency distribution in nanoseconds.
type benchLatencyJSON struct {
	Count uint64 `json:"count"`
	Min   int64  `json:"min"`
	Mean  int64  `json:"mean"`
	P50   int64  `json:"p50"`
	P90   int64  `json:"p90"`
	P99   int64  `json:"p99"`
	P999  int64  `json:"p999"`
	Max   int64  `json:"max"`
}

func benchLatencyOf(l measure.Latency) benchLatencyJSON {
	return benchLatencyJSON{Count: l.Count, Min: int64(l.Min), Mean: int64(l.Mean), P50: int64(l.P50),
		P90: int64(l.P90), P99: int64(l.P99), P999: int64(l.P999), Max: int64(l.Max)}
}

// benchWriteJSON writes v, indented, to path.
func benchWriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// benchDur formats a latency for people: microseconds with one decimal
// below 1 ms.
func benchDur(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.1fµs", float64(d)/1e3)
	}
	return d.Round(10 * time.Microsecond).String()
}

// benchLatencyText formats a latency distribution on one line.
func benchLatencyText(l measure.Latency) string {
	if l.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("min %s  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s", benchDur(l.Min), benchDur(l.P50),
		benchDur(l.P90), benchDur(l.P99), benchDur(l.P999), benchDur(l.Max))
}

// benchRate formats frames per second.
func benchRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3f Mpps", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f kpps", v/1e3)
	}
	return fmt.Sprintf("%.0f pps", v)
}

// benchProgressLine rewrites one line of w with an interval of a run.
func benchProgressLine(w io.Writer, label string, iv xdpgen.Interval) {
	lat := ""
	if iv.Latency.Count > 0 {
		lat = fmt.Sprintf("  p50 %s  p99 %s", benchDur(iv.Latency.P50), benchDur(iv.Latency.P99))
	}
	fmt.Fprintf(w, "\r\033[K%s %5.1fs  offered %s  received %s  loss %.3f%%%s  errors %d",
		label, iv.Elapsed.Seconds(), benchRate(iv.SentPPS()), benchRate(iv.ReceivedPPS()), 100*iv.Loss(), lat, iv.Errors+iv.Other)
}
