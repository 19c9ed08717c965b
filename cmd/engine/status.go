package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/stack/socktab"
)

const statusSynopsis = `
Usage: engine status [-i IFACE | --ctl PATH] [--json] [-w INTERVAL]

One screen about a running engine: its interface, driver, queues and
addresses, uptime, services, packet and bit rates (measured over -w,
default 1s; -w 0 skips them), TCP connections (established, TIME-WAIT,
orphans, listeners), UDP sockets and drops. --json prints the same as one
object: interface, driver, pid, version, running, uptime_seconds, queues,
mtu, mode, xdp_mode, poll, addrs, services, control, metrics, lb,
rates {interval_seconds, rx_pps, tx_pps, rx_bps, tx_bps, drops_per_second},
tcp {established, time_wait, orphans, listeners}, udp_sockets, drops.`

// engineStatus is what engine status prints.
type engineStatus struct {
	Interface     string         `json:"interface"`
	Driver        string         `json:"driver"`
	Pid           int            `json:"pid"`
	Version       string         `json:"version"`
	Running       bool           `json:"running"`
	UptimeSeconds float64        `json:"uptime_seconds"`
	Queues        int            `json:"queues"`
	Procs         int            `json:"gomaxprocs"`
	Loops         int            `json:"loops"`
	MTU           int            `json:"mtu"`
	Mode          string         `json:"mode"`
	XDPMode       string         `json:"xdp_mode"`
	Poll          string         `json:"poll"`
	Nap           string         `json:"nap,omitempty"`
	Addrs         []netip.Prefix `json:"addrs"`
	Services      []string       `json:"services"`
	Control       string         `json:"control"`
	Metrics       string         `json:"metrics,omitempty"`
	LB            string         `json:"lb,omitempty"`
	Rates         *statusRates   `json:"rates,omitempty"` // absent with -w 0
	TCP           statusTCP      `json:"tcp"`
	UDPSockets    int            `json:"udp_sockets"`
	Drops         uint64         `json:"drops"` // since the start, every reason
}

type statusRates struct {
	Interval       float64 `json:"interval_seconds"`
	RxPPS          float64 `json:"rx_pps"`
	TxPPS          float64 `json:"tx_pps"`
	RxBPS          float64 `json:"rx_bps"` // bits per second
	TxBPS          float64 `json:"tx_bps"`
	DropsPerSecond float64 `json:"drops_per_second"`
}

type statusTCP struct {
	Established uint64 `json:"established"` // ESTABLISHED and CLOSE-WAIT
	TimeWait    uint64 `json:"time_wait"`
	Orphans     uint64 `json:"orphans"`
	Listeners   int    `json:"listeners"`
}

// drops sums every drop reason of the workers.
func drops(ws []engine.WorkerStats) uint64 {
	var n uint64
	for i := range counters {
		if counters[i].family == "drops_total" {
			n += counters[i].value(ws)
		}
	}
	return n
}

func runStatus(args []string, stdout, _ io.Writer) error {
	var t target
	fs := flagSet("status", statusSynopsis)
	t.flags(fs)
	asJSON := fs.BoolP("json", "j", false, "print the status as JSON")
	interval := fs.DurationP("interval", "w", time.Second, "measure the rates over this `INTERVAL` (0: no rates)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *interval < 0 {
		return usagef("-w %v: want 0 (no rates) or more", *interval)
	}
	c, err := t.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	var info serveInfo
	if err := c.Call("config", nil, &info); err != nil {
		return err
	}
	var prev engine.Stats
	if err := c.Call("stats", nil, &prev); err != nil {
		return err
	}
	st := engineStatus{Interface: info.Interface, Driver: info.Driver, Pid: info.Pid, Version: info.Version,
		Running: info.Running, Queues: info.Queues, Procs: info.Procs, Loops: info.Loops, MTU: info.MTU, Mode: info.Mode, XDPMode: info.XDPMode,
		Poll: info.Poll, Nap: info.Nap, Addrs: info.Addrs, Services: info.Echo, Control: info.Control, Metrics: info.Metrics, LB: info.LB}
	if info.HTTP != 0 {
		st.Services = append(st.Services, fmt.Sprintf("http tcp:%d", info.HTTP))
	}
	if info.Running {
		st.UptimeSeconds = time.Since(info.Started).Seconds()
	}
	cur := prev
	if *interval > 0 {
		start := time.Now()
		time.Sleep(*interval)
		if err := c.Call("stats", nil, &cur); err != nil {
			return err
		}
		secs := time.Since(start).Seconds()
		p, q := &prev.Total, &cur.Total
		st.Rates = &statusRates{Interval: secs,
			RxPPS: rate(p.RxPackets, q.RxPackets, secs), TxPPS: rate(p.TxPackets, q.TxPackets, secs),
			RxBPS: 8 * rate(p.RxBytes, q.RxBytes, secs), TxBPS: 8 * rate(p.TxBytes, q.TxBytes, secs),
			DropsPerSecond: rate(drops(prev.Workers), drops(cur.Workers), secs)}
	}
	st.Drops = drops(cur.Workers)
	st.TCP.Established, st.TCP.TimeWait, st.TCP.Orphans = cur.Total.TCP.CurrEstab, cur.Total.TCP.CurrTimeWait, cur.Total.TCP.CurrOrphans
	// Listeners and UDP sockets are few: count them from the listing.
	for _, a := range []ssArgs{{Proto: "tcp", Which: "listening"}, {Proto: "udp", Which: "all"}} {
		n := &countSS{}
		if err := streamFrom(&t, a, n); err != nil {
			return err
		}
		if a.Proto == "tcp" {
			st.TCP.Listeners = n.n
		} else {
			st.UDPSockets = n.n
		}
	}
	if *asJSON {
		return writeJSON(stdout, st)
	}
	return writeStatus(stdout, &st)
}

// countSS counts the entries of a listing.
type countSS struct{ n int }

func (c *countSS) Entry(*socktab.Entry) error { c.n++; return nil }
func (c *countSS) Close() error               { return nil }

func writeStatus(w io.Writer, st *engineStatus) error {
	var b strings.Builder
	state := "starting"
	if st.Running {
		state = "up " + uptime(time.Duration(st.UptimeSeconds*float64(time.Second))).String()
	}
	fmt.Fprintf(&b, "engine %s on %s (%s), pid %d, %s\n", st.Version, st.Interface, st.Driver, st.Pid, state)
	poll := st.Poll
	if st.Nap != "" {
		poll += ", nap " + st.Nap
	}
	fmt.Fprintf(&b, "  queues    %d, mtu %d, af_xdp %s, xdp %s, poll %s, gomaxprocs %d, loops %d\n", st.Queues, st.MTU, st.Mode, st.XDPMode, poll, st.Procs, st.Loops)
	fmt.Fprintf(&b, "  addrs     %s\n", joinPrefixes(st.Addrs))
	if len(st.Services) > 0 {
		fmt.Fprintf(&b, "  services  %s\n", strings.Join(st.Services, ", "))
	}
	if r := st.Rates; r != nil {
		fmt.Fprintf(&b, "  rx        %s pps, %s\n", fmtRate(r.RxPPS), fmtBits(r.RxBPS))
		fmt.Fprintf(&b, "  tx        %s pps, %s\n", fmtRate(r.TxPPS), fmtBits(r.TxBPS))
	}
	fmt.Fprintf(&b, "  tcp       %d established, %d time-wait, %d orphans, %d listening\n",
		st.TCP.Established, st.TCP.TimeWait, st.TCP.Orphans, st.TCP.Listeners)
	fmt.Fprintf(&b, "  udp       %d socket%s\n", st.UDPSockets, plural(st.UDPSockets))
	fmt.Fprintf(&b, "  drops     %d", st.Drops)
	if st.Rates != nil {
		fmt.Fprintf(&b, " (%s/s over %.1fs)", fmtRate(st.Rates.DropsPerSecond), st.Rates.Interval)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  control   %s", st.Control)
	if st.Metrics != "" {
		fmt.Fprintf(&b, ", metrics http://%s/metrics", st.Metrics)
	}
	b.WriteString("\n")
	if st.LB != "" {
		fmt.Fprintf(&b, "  lb        %s (engine lb show)\n", st.LB)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
