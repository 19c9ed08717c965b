package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/spf13/pflag"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/ctl"
)

// target is where a client command finds the engine: -i IFACE or --ctl.
type target struct{ iface, path string }

func (t *target) flags(fs *pflag.FlagSet) {
	fs.StringVarP(&t.iface, "interface", "i", "", "`interface` of the engine to ask (its control socket is "+ctl.SocketPath("IFACE")+")")
	fs.StringVar(&t.path, "ctl", "", "control socket `path` of the engine to ask (instead of -i)")
	hideAlias(fs, "ctl", "socket")
}

// dial connects to the engine's control socket. With neither -i nor --ctl,
// it takes the only engine running, if there is exactly one.
func (t *target) dial() (*ctl.Client, error) {
	path := t.path
	switch {
	case t.iface != "" && t.path != "":
		return nil, usagef("give -i IFACE or --ctl PATH, not both")
	case t.iface != "":
		path = ctl.SocketPath(t.iface)
	case path == "":
		socks := liveSockets()
		switch len(socks) {
		case 0:
			return nil, fmt.Errorf("no control socket in %s: %w: start one with `engine serve -i IFACE --addr CIDR`, "+
				"or point to its socket with --ctl PATH", ctl.DefaultDir, ctl.ErrNoEngine)
		case 1:
			path = socks[0]
		default:
			var names []string
			for _, s := range socks {
				names = append(names, strings.TrimSuffix(filepath.Base(s), ".sock"))
			}
			return nil, usagef("engines run on %s: pick one with -i IFACE", strings.Join(names, ", "))
		}
	}
	c, err := ctl.Dial(path)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, ctl.ErrNoEngine):
		where := "at " + path
		if t.iface != "" {
			where = "on " + t.iface + " (no control socket " + path + ")"
		}
		iface := t.iface
		if iface == "" {
			iface = "IFACE"
		}
		return nil, fmt.Errorf("%w %s: start one with `engine serve -i %s --addr CIDR`, or point to a running one with --ctl PATH",
			ctl.ErrNoEngine, where, iface)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return nil, fmt.Errorf("%w (the control socket is mode 0600: run as the user that runs the engine, e.g. with sudo)", err)
	}
	return nil, err
}

// liveSockets lists the control sockets in ctl.DefaultDir that an engine
// answers on (a crashed engine leaves its file behind).
func liveSockets() []string {
	paths, _ := filepath.Glob(filepath.Join(ctl.DefaultDir, "*.sock"))
	var live []string
	for _, p := range paths {
		if c, err := ctl.Dial(p); err == nil {
			c.Close()
			live = append(live, p)
		}
	}
	return live
}

const statsSynopsis = `
Usage: engine stats [-i IFACE | --ctl PATH] [--json] [-a] [-w INTERVAL [-c COUNT]]

Print a running engine's counters, per queue and in total: packets and bytes,
drops by reason, AF_XDP ring counters, IPv4 reassembly and fragmentation,
tunnel decapsulation, ICMP, ARP, TCP and TCP memory (engine-wide figures,
shown in the total column only), and with IPv6 addresses IPv6 (snmp6's
Ip6 counters, reassembly and fragmentation), ICMPv6 by type and NDP; then, for an engine with a load
balancer, its VIPs and backends as 'engine lb show' prints them. Rows that
are zero everywhere are hidden unless -a, except the main ones. --json prints
engine.Stats as the engine sent it, with its stable snake_case names
(total.rx_packets, workers[0].tcp.active_opens, total.xsk.rx_ring_full).

With -w INTERVAL (1s, 500ms) it prints rates instead: each counter's change
per second over every interval, per queue and in total (levels, such as
frames in a ring, left out), until interrupted or -c COUNT times. With
--json, one object a line: {"time", "interval_seconds", "total": {NAME:
RATE}, "queues": [{NAME: RATE}]}, NAME the metric family without _total
and its label values (packets_rx, bytes_tx, drops_checksum).`

func runStats(args []string, stdout, stderr io.Writer) error {
	var t target
	fs := flagSet("stats", statsSynopsis)
	t.flags(fs)
	asJSON := fs.BoolP("json", "j", false, "print the raw counters as JSON")
	all := fs.BoolP("all", "a", false, "show every counter, zero or not")
	interval := fs.DurationP("interval", "w", 0, "print rates (changes per second) every `INTERVAL`, e.g. 1s (default: the counters once)")
	count := fs.IntP("count", "c", 0, "with -w, stop after `COUNT` intervals (default: until interrupted)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	switch {
	case *interval < 0 || (*interval > 0 && *interval < 10*time.Millisecond):
		return usagef("-w %v: want an interval of 10ms or more, e.g. 1s", *interval)
	case *count < 0:
		return usagef("-c %d: want a count of 1 or more", *count)
	case *count > 0 && *interval == 0:
		return usagef("-c needs -w INTERVAL: engine stats -w 1s -c %d", *count)
	}
	c, err := t.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	if *interval > 0 {
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
		return watchStats(c, stdout, *interval, *count, *asJSON, *all, stop)
	}
	if *asJSON {
		var raw json.RawMessage
		if err := c.Call("stats", nil, &raw); err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return fmt.Errorf("engine sent malformed JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err := stdout.Write(buf.Bytes())
		return err
	}
	var info serveInfo
	if err := c.Call("config", nil, &info); err != nil {
		return err
	}
	var st engine.Stats
	if err := c.Call("stats", nil, &st); err != nil {
		return err
	}
	state := "starting"
	if info.Running {
		state = "up " + uptime(time.Since(info.Started)).String()
	}
	csum := "verified"
	if info.TrustPartial {
		csum = "partial trusted"
	}
	txCsum := "computed"
	if info.TxOffload {
		txCsum = "offloaded"
	}
	fmt.Fprintf(stdout, "engine on %s (%s), pid %d, %s: %d queue%s, mtu %d, poll %s, rx checksums %s (%s), tx checksums %s (%s), addrs %s\n\n",
		info.Interface, info.Driver, info.Pid, state, info.Queues, plural(info.Queues), info.MTU, info.Poll,
		csum, info.RxChecksum, txCsum, info.TxChecksum, joinPrefixes(info.Addrs))
	if err := writeStatsTable(stdout, st, *all); err != nil || info.LB == "" {
		return err
	}
	// The load balancer's counters by VIP and backend, as engine lb show
	// prints them.
	var lbs lbState
	if err := c.Call("lb.show", nil, &lbs); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nload balancer (%s):\n", info.LB)
	return writeLBTable(stdout, lbs)
}

// uptime rounds d for reading: tenths of a second in the first minute,
// seconds after.
func uptime(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}

// writeStatsTable prints one column per queue (and a total when there are
// several), one row per counter, grouped in sections. The total column is
// the sum of the queues' values, computed here for every counter (engine
// Stats.Total does not sum all of them); an engine-wide figure (the TCP
// memory's) has its value in the total column and "-" in the queues'.
func writeStatsTable(w io.Writer, st engine.Stats, all bool) error {
	heads := []string{""}
	for _, ws := range st.Workers {
		heads = append(heads, fmt.Sprintf("queue %d", ws.Queue))
	}
	total := len(st.Workers) != 1
	if total {
		heads = append(heads, "total")
	}
	// Rows are built first, then printed with the names left-aligned and
	// the numbers right-aligned under their column heads.
	var rows [][]string
	rows = append(rows, heads)
	section := ""
	for _, c := range counters {
		vals := make([]string, 0, len(heads))
		sum := c.value(st.Workers)
		for i := range st.Workers {
			if c.global && total {
				vals = append(vals, "-") // engine-wide: in the total column only
				continue
			}
			vals = append(vals, fmt.Sprint(c.get(&st.Workers[i])))
		}
		if total {
			vals = append(vals, fmt.Sprint(sum))
		}
		nonzero := sum != 0
		if !all && !c.always && !nonzero {
			continue
		}
		if c.section != section {
			section = c.section
			rows = append(rows, []string{section})
		}
		rows = append(rows, append([]string{"  " + c.row}, vals...))
	}
	return writeRows(w, rows)
}

// writeRows prints rows with the first cell left-aligned and the others
// right-aligned under the first row's heads. A row of one cell is a title.
func writeRows(w io.Writer, rows [][]string) error {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		if len(r) == 1 {
			continue // a section title may run over the numbers' columns
		}
		for i, cell := range r {
			widths[i] = max(widths[i], len(cell))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(r[0])
		if len(r) > 1 {
			b.WriteString(strings.Repeat(" ", widths[0]-len(r[0])))
			for i, cell := range r[1:] {
				fmt.Fprintf(&b, "  %*s", widths[i+1], cell)
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
