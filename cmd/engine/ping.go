package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/ctl"
)

const pingSynopsis = `
Usage: engine ping [-i IFACE | --ctl PATH] [-c COUNT] [-s SIZE] [-t TTL] [-W TIMEOUT]
                   [--interval INTERVAL] [--json] ADDR

Send ICMP (IPv4) or ICMPv6 (IPv6) echo requests from a running engine to
ADDR, one every INTERVAL, and print the replies the way ping(8) does, then
a summary: packets transmitted and received, loss, and the round-trip
times (min/avg/max/mdev). The engine sends each request from its own
address toward ADDR through its own send path (ARP or Neighbor Discovery,
fragmentation) and matches the reply by identifier and sequence number;
the kernel's ping is not involved. A request with no reply within TIMEOUT
is reported lost. Without -c it runs until interrupted; it exits with
status 1 when no reply came. --json prints one object at the end: the
summary and every reply.`

// pingArgs is a "ping" request on the control socket: one echo request,
// answered with an engine.PingResult once its reply came.
type pingArgs struct {
	Addr      netip.Addr `json:"addr"`
	ID        uint16     `json:"id"`
	Seq       uint16     `json:"seq"`
	Size      int        `json:"size"`
	TTL       int        `json:"ttl,omitempty"`
	TimeoutMS int64      `json:"timeout_ms"`
}

// maxPingTimeout keeps a request's wait within the control client's
// deadline for one answer (10 s).
const maxPingTimeout = 8 * time.Second

// handlePing serves one echo request for `engine ping`.
func handlePing(eng *engine.Engine, raw json.RawMessage) (any, error) {
	var a pingArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("bad arguments: %w", err)
	}
	timeout := min(time.Duration(a.TimeoutMS)*time.Millisecond, maxPingTimeout)
	if timeout <= 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return eng.Ping(ctx, a.Addr, engine.PingOptions{ID: a.ID, Seq: a.Seq, Size: a.Size, TTL: a.TTL})
}

// pingSummary is what `engine ping --json` prints.
type pingSummary struct {
	Addr        netip.Addr          `json:"addr"`
	Transmitted int                 `json:"transmitted"`
	Received    int                 `json:"received"`
	LossPercent float64             `json:"loss_percent"`
	RTTMin      time.Duration       `json:"rtt_min_ns"`
	RTTAvg      time.Duration       `json:"rtt_avg_ns"`
	RTTMax      time.Duration       `json:"rtt_max_ns"`
	RTTMdev     time.Duration       `json:"rtt_mdev_ns"`
	Replies     []engine.PingResult `json:"replies"`
	Lost        []uint16            `json:"lost,omitempty"` // sequence numbers without a reply
	rtts        []time.Duration     // for the statistics
	elapsed     time.Duration       // from the first request to the end
}

func runPing(args []string, stdout, stderr io.Writer) error {
	var t target
	fs := flagSet("ping", pingSynopsis)
	t.flags(fs)
	count := fs.IntP("count", "c", 0, "stop after `COUNT` requests (default: until interrupted)")
	size := fs.IntP("size", "s", engine.DefaultPingSize, "`SIZE` data bytes after the ICMP header")
	ttl := fs.IntP("ttl", "t", 64, "IPv4 `TTL` or IPv6 hop limit of the requests")
	timeout := fs.DurationP("timeout", "W", time.Second, "wait `TIMEOUT` for each reply (at most "+maxPingTimeout.String()+")")
	interval := fs.Duration("interval", time.Second, "send a request every `INTERVAL`")
	asJSON := fs.BoolP("json", "j", false, "print the summary and the replies as one JSON object")
	rest, err := parseInterspersed(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("want one address: engine ping [-c COUNT] ADDR, e.g. engine ping -c 3 198.18.0.2")
	}
	dst, err := netip.ParseAddr(rest[0])
	switch {
	case err != nil:
		return usagef("%q: want an IPv4 or IPv6 address, e.g. 198.18.0.2 or 2001:db8::2", rest[0])
	case *count < 0:
		return usagef("-c %d: want a count of 1 or more", *count)
	case *size < 0 || *size > 65507:
		return usagef("-s %d: want 0 to 65507 data bytes", *size)
	case *ttl < 1 || *ttl > 255:
		return usagef("-t %d: want a TTL of 1 to 255", *ttl)
	case *timeout <= 0 || *timeout > maxPingTimeout:
		return usagef("-W %v: want a timeout above 0 and at most %v", *timeout, maxPingTimeout)
	case *interval < 10*time.Millisecond:
		return usagef("--interval %v: want 10ms or more", *interval)
	}
	dst = dst.Unmap()
	c, err := t.dial()
	if err != nil {
		return err
	}
	defer c.Close()

	stop := make(chan struct{})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sigs:
			close(stop)
		case <-done:
		}
	}()

	hdr := 20
	if dst.Is6() {
		hdr = 40
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "PING %s (%s) %d(%d) bytes of data.\n", dst, dst, *size, *size+8+hdr)
	}
	id := uint16(os.Getpid())
	if id == 0 {
		id = 1
	}
	s := pingSummary{Addr: dst, Replies: []engine.PingResult{}}
	begin := time.Now()
	tick := time.NewTicker(*interval)
	defer tick.Stop()
loop:
	for seq := uint16(1); *count == 0 || s.Transmitted < *count; seq++ {
		s.Transmitted++
		var r engine.PingResult
		err := c.Call("ping", pingArgs{Addr: dst, ID: id, Seq: seq, Size: *size, TTL: *ttl, TimeoutMS: timeout.Milliseconds()}, &r)
		switch {
		case err == nil:
			s.Received++
			s.Replies = append(s.Replies, r)
			s.rtts = append(s.rtts, r.RTT)
			if !*asJSON {
				fmt.Fprintf(stdout, "%d bytes from %s: icmp_seq=%d ttl=%d time=%s ms\n", r.Bytes, r.Addr, r.Seq, r.TTL, fmtMS(r.RTT))
			}
		case strings.Contains(err.Error(), engine.ErrNoEchoReply.Error()):
			s.Lost = append(s.Lost, seq)
			if !*asJSON {
				fmt.Fprintf(stdout, "no reply for icmp_seq=%d within %v\n", seq, *timeout)
			}
		case errors.Is(err, ctl.ErrNoEngine) || !strings.HasPrefix(err.Error(), "engine: ping: "):
			return err // the engine went away, or the control connection broke
		default:
			// Refused by the engine (no route, bad address): as ping(8),
			// say so and stop.
			return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "engine: ping: "))
		}
		if *count != 0 && s.Transmitted >= *count {
			break
		}
		select {
		case <-stop:
			break loop
		case <-tick.C:
		}
	}
	s.elapsed = time.Since(begin)
	s.stats()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "\n--- %s ping statistics ---\n", dst)
		fmt.Fprintf(stdout, "%d packets transmitted, %d received, %s%% packet loss, time %dms\n",
			s.Transmitted, s.Received, fmtLoss(s.LossPercent), s.elapsed.Milliseconds())
		if s.Received > 0 {
			fmt.Fprintf(stdout, "rtt min/avg/max/mdev = %s/%s/%s/%s ms\n", fmtMS(s.RTTMin), fmtMS(s.RTTAvg), fmtMS(s.RTTMax), fmtMS(s.RTTMdev))
		}
	}
	if s.Received == 0 {
		return fmt.Errorf("ping %s: no reply to %d request%s: %w", dst, s.Transmitted, plural(s.Transmitted), errNoReply)
	}
	return nil
}

// errNoReply makes engine ping exit with status 1 when nothing answered,
// as ping(8).
var errNoReply = errors.New("no echo reply")

// stats fills the loss and the round-trip statistics (mdev as ping(8):
// the standard deviation).
func (s *pingSummary) stats() {
	if s.Transmitted > 0 {
		s.LossPercent = 100 * float64(s.Transmitted-s.Received) / float64(s.Transmitted)
	}
	if len(s.rtts) == 0 {
		return
	}
	var sum, sq float64
	s.RTTMin = s.rtts[0]
	for _, r := range s.rtts {
		s.RTTMin, s.RTTMax = min(s.RTTMin, r), max(s.RTTMax, r)
		sum += float64(r)
		sq += float64(r) * float64(r)
	}
	n := float64(len(s.rtts))
	avg := sum / n
	s.RTTAvg = time.Duration(avg)
	s.RTTMdev = time.Duration(math.Sqrt(max(sq/n-avg*avg, 0)))
}

// fmtMS prints a duration in milliseconds with three decimals, as ping(8).
func fmtMS(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) }

// fmtLoss prints a loss percentage as ping(8): whole, or with up to four
// significant digits.
func fmtLoss(p float64) string {
	if p == math.Trunc(p) {
		return fmt.Sprintf("%.0f", p)
	}
	return fmt.Sprintf("%.4g", p)
}
