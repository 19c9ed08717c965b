package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/ctl"
	"github.com/xdpengine/engine/stack/socktab"
)

// target is where a client command finds the engine: -i IFACE or --ctl.
type target struct{ iface, path string }

func (t *target) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.iface, "i", "", "`interface` of the engine to ask (its control socket is "+ctl.SocketPath("IFACE")+")")
	fs.StringVar(&t.path, "ctl", "", "control socket `path` of the engine to ask (instead of -i)")
	fs.StringVar(&t.path, "socket", "", "same as --ctl")
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
Usage: engine stats [-i IFACE | --ctl PATH] [--json] [-a]

Print a running engine's counters, per queue and in total: packets and bytes,
drops by reason, AF_XDP ring counters, IPv4 reassembly and fragmentation,
tunnel decapsulation, ICMP and ARP; then, for an engine with a load
balancer, its VIPs and backends as 'engine lb show' prints them. Rows that
are zero everywhere are hidden unless -a, except the main ones. --json prints
engine.Stats as the engine sent it.`

func runStats(args []string, stdout, stderr io.Writer) error {
	var t target
	fs := flagSet("stats", statsSynopsis)
	t.flags(fs)
	asJSON := fs.Bool("json", false, "print the raw counters as JSON")
	all := fs.Bool("a", false, "show every counter, zero or not")
	fs.BoolVar(all, "all", false, "same as -a")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	c, err := t.dial()
	if err != nil {
		return err
	}
	defer c.Close()
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
	fmt.Fprintf(stdout, "engine on %s (%s), pid %d, %s: %d queue%s, mtu %d, poll %s, rx checksums %s (%s), addrs %s\n\n",
		info.Interface, info.Driver, info.Pid, state, info.Queues, plural(info.Queues), info.MTU, info.Poll,
		csum, info.RxChecksum, joinPrefixes(info.Addrs))
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
// Stats.Total does not sum all of them).
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
		var sum uint64
		for i := range st.Workers {
			v := c.get(&st.Workers[i])
			sum += v
			vals = append(vals, fmt.Sprint(v))
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

const ssSynopsis = `
Usage: engine ss [-t] [-u] [-a | -l] [-H] [--info] [-i IFACE | --ctl PATH]

List a running engine's sockets the way ss(8) lists the kernel's: State,
Recv-Q, Send-Q, Local Address:Port, Peer Address:Port (numeric, as with -n).
Like ss, it shows connected sockets by default, listening ones (for UDP:
unconnected) with -l, and both with -a; -t and -u select TCP and UDP (both,
with a Netid column, when neither is given). Letters combine: engine ss -ta.
--info adds ss -i's second line for TCP connections (congestion control,
window scale, rto, rtt, mss, cwnd, ssthresh, bytes, retransmits); -i itself
names the interface, as in the other engine commands.`

func runSS(args []string, stdout, stderr io.Writer) error {
	var t target
	fs := flagSet("ss", ssSynopsis)
	t.flags(fs)
	tcp := fs.Bool("t", false, "TCP sockets")
	udp := fs.Bool("u", false, "UDP sockets")
	all := fs.Bool("a", false, "listening and connected sockets")
	listening := fs.Bool("l", false, "listening sockets only (UDP: unconnected)")
	noHeader := fs.Bool("H", false, "no header line")
	fs.Bool("n", true, "numeric addresses and ports (always; accepted for ss compatibility)")
	fs.Bool("4", true, "IPv4 sockets (the engine has no others yet; accepted for ss compatibility)")
	info := fs.Bool("info", false, "show TCP internals (ss -i: cc, rtt, rto, mss, cwnd, bytes, retransmits); -i names the interface here")
	asJSON := fs.Bool("json", false, "print the entries as JSON")
	if err := parseFlags(fs, expandShort(args, "tualnH4"), stdout); err != nil {
		return err
	}
	if *all && *listening {
		return usagef("-a already includes the listening sockets: give -a or -l")
	}
	if !*tcp && !*udp {
		*tcp, *udp = true, true
	}
	c, err := t.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	var entries []socktab.Entry
	for _, p := range []struct {
		on   bool
		name string
	}{{*udp, "udp"}, {*tcp, "tcp"}} {
		if !p.on {
			continue
		}
		var es []socktab.Entry
		if err := c.Call("ss", ssArgs{Proto: p.name}, &es); err != nil {
			return err
		}
		for _, e := range es {
			if !*info {
				e.TCP = nil
			}
			listen := e.StateName() == "UNCONN" || e.StateName() == "LISTEN"
			if *all || listen == *listening {
				entries = append(entries, e)
			}
		}
	}
	if *asJSON {
		if entries == nil {
			entries = []socktab.Entry{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	var buf bytes.Buffer
	if *tcp && *udp {
		err = writeSSNetid(&buf, entries)
	} else {
		err = socktab.WriteSS(&buf, entries)
	}
	if err != nil {
		return err
	}
	out := buf.Bytes()
	if *noHeader {
		if i := bytes.IndexByte(out, '\n'); i >= 0 {
			out = out[i+1:]
		}
	}
	_, err = stdout.Write(out)
	return err
}

// writeSSNetid prints entries of several protocols with ss's Netid column.
func writeSSNetid(w io.Writer, entries []socktab.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	fmt.Fprintln(tw, "Netid\tState\tRecv-Q\tSend-Q\tLocal Address:Port\tPeer Address:Port")
	for _, e := range entries {
		peer := "0.0.0.0:*"
		if e.Peer.IsValid() {
			peer = e.Peer.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", protoName(e.Proto), e.StateName(), e.RecvQ, e.SendQ, e.Local, peer)
		if e.TCP != nil {
			fmt.Fprintf(tw, "\t %s\n", e.TCP)
		}
	}
	return tw.Flush()
}
