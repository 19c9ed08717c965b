package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"text/tabwriter"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/ctl"
	"github.com/xdpengine/engine/stack/socktab"
)

// ssBatch is how many sockets the "ss.stream" command gathers from a
// worker at a time and writes before it asks for more: what the server
// holds of a listing, whatever its length (a variable for tests).
var ssBatch = 1024

// ssArgs are the arguments of the "ss" and "ss.stream" control commands.
type ssArgs struct {
	Proto string `json:"proto"` // "udp" (default) or "tcp"
	// Which sockets "ss.stream" sends: "connected" (default), "listening"
	// (UDP: unconnected) or "all". "ss" sends them all.
	Which string `json:"which,omitempty"`
	Info  bool   `json:"info,omitempty"` // TCP details (ss -i); "ss" always sends them
	// Filter (ss's state, sport and dport; "ss.stream" only): its states
	// replace Which.
	Filter *ssFilter `json:"filter,omitempty"`
}

func (a *ssArgs) parse(raw json.RawMessage) (socktab.Proto, error) {
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, a); err != nil {
			return 0, fmt.Errorf("ss arguments: %w", err)
		}
	}
	switch a.Which {
	case "", "connected", "listening", "all":
	default:
		return 0, fmt.Errorf("ss: unknown selection %q (want connected, listening or all)", a.Which)
	}
	switch a.Proto {
	case "udp", "":
		return socktab.UDP, nil
	case "tcp":
		return socktab.TCP, nil
	}
	return 0, fmt.Errorf("ss: unknown protocol %q (want udp or tcp)", a.Proto)
}

// wants reports whether the selection takes e, as ss's default, -l and -a.
func (a *ssArgs) wants(e *socktab.Entry) bool {
	if f := a.Filter; f != nil {
		if !f.matchPorts(e) {
			return false
		}
		if len(f.States) > 0 {
			return slices.Contains(f.States, e.StateName())
		}
	}
	listen := e.StateName() == "UNCONN" || e.StateName() == "LISTEN"
	switch a.Which {
	case "all":
		return true
	case "listening":
		return listen
	}
	return !listen
}

// handleSS registers "ss" (the whole listing as one answer: kept for
// older clients and small engines) and "ss.stream" (one JSON entry a
// line, written batch by batch as the workers answer: what engine ss
// uses).
func handleSS(c *ctl.Server, eng *engine.Engine) {
	c.Handle("ss", func(raw json.RawMessage) (any, error) {
		var a ssArgs
		p, err := a.parse(raw)
		if err != nil {
			return nil, err
		}
		entries := eng.Sockets(p)
		if entries == nil {
			entries = []socktab.Entry{}
		}
		return entries, nil
	})
	c.HandleStream("ss.stream", func(raw json.RawMessage) (ctl.Stream, error) {
		var a ssArgs
		p, err := a.parse(raw)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, w io.Writer) error { return streamSS(ctx, w, eng, p, a) }, nil
	})
}

// streamSS writes the selected sockets as JSON lines, a batch at a time.
func streamSS(ctx context.Context, w io.Writer, eng *engine.Engine, p socktab.Proto, a ssArgs) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	err := eng.EachSocket(p, ssBatch, a.Info, func(batch []socktab.Entry) error {
		if err := ctx.Err(); err != nil {
			return err // the client went away
		}
		for i := range batch {
			if a.wants(&batch[i]) {
				if err := enc.Encode(&batch[i]); err != nil {
					return err
				}
			}
		}
		return bw.Flush()
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

const ssSynopsis = `
Usage: engine ss [-t] [-u] [-a | -l] [-n] [-H] [-e] [-m] [--info] [-s] [--json] [-i IFACE | --ctl PATH] [FILTER]

List a running engine's sockets the way ss(8) lists the kernel's: State,
Recv-Q, Send-Q, Local Address:Port, Peer Address:Port (numeric, as with -n).
Like ss, it shows connected sockets by default, listening ones (for UDP:
unconnected) with -l, and both with -a; -t and -u select TCP and UDP (both,
with a Netid column, when neither is given). Letters combine: engine ss -tam.
--info adds ss -i's second line for TCP connections (congestion control,
window scale, rto, rtt, mss, cwnd, ssthresh, bytes, retransmits); -i itself
names the interface, as in the other engine commands. -m adds the memory a
TCP connection holds, as skmem:(rQUEUED,rbRING,tQUEUED,tbRING): the bytes
queued to read and to send and the ring memory held for each. -e adds the
socket's identifier (sk:ID). -n is accepted: names are never resolved. -s
prints a summary instead: sockets by protocol, family and state.

--json prints [{"netid", "state", "recv_q", "send_q", "local", "peer",
"id" (-e), "tcp_info" (--info: cc, rto_ns, rtt_ns, mss, cwnd_bytes,
bytes_sent, ...), "memory" (-m: recv_queued_bytes, recv_ring_bytes,
send_queued_bytes, send_ring_bytes)}]; with -s, {"total", "tcp", "udp"},
each protocol's {"total", "ipv4", "ipv6", "states": {STATE: N}}.

FILTER is a subset of ss's: state STATE (repeatable; established, syn-sent,
syn-recv, fin-wait-1, fin-wait-2, time-wait, closed, close-wait, last-ack,
listening, closing, or the groups all, connected, synchronized, bucket,
big), replacing -a and -l as in ss; sport OP :PORT and dport OP :PORT, OP
one of = != < > <= >= (eq ne lt gt le ge). Every condition must hold ("and"
may be written; "or" and "not" are not supported). Example:
engine ss -t state established dport = :443

The engine streams the listing in batches, so a million connections cost it
little memory; like ss, this command holds the text to align the columns
(--json prints each entry as it arrives). Listeners come first, sorted, then
each worker's connections in its table order; as with the kernel's ss, the
listing is not a snapshot of a busy engine.`

func runSS(args []string, stdout, stderr io.Writer) error {
	var t target
	fs := flagSet("ss", ssSynopsis)
	t.flags(fs)
	tcp := fs.BoolP("tcp", "t", false, "TCP sockets")
	udp := fs.BoolP("udp", "u", false, "UDP sockets")
	all := fs.BoolP("all", "a", false, "listening and connected sockets")
	listening := fs.BoolP("listening", "l", false, "listening sockets only (UDP: unconnected)")
	noHeader := fs.BoolP("no-header", "H", false, "no header line")
	fs.BoolP("numeric", "n", true, "numeric addresses and ports (always; accepted for ss compatibility)")
	fs.BoolP("ipv4", "4", true, "IPv4 sockets (the engine has no others yet; accepted for ss compatibility)")
	info := fs.Bool("info", false, "show TCP internals (ss -i: cc, rtt, rto, mss, cwnd, bytes, retransmits); -i names the interface here")
	extended := fs.BoolP("extended", "e", false, "show each socket's identifier in the engine (sk:ID)")
	memory := fs.BoolP("memory", "m", false, "show the memory a TCP connection holds: bytes queued and ring memory, both ways")
	summary := fs.BoolP("summary", "s", false, "print a summary: sockets by protocol, family and state")
	asJSON := fs.BoolP("json", "j", false, "print the entries as JSON")
	if err := parseFlagsWithArgs(fs, args, stdout); err != nil {
		return err
	}
	if *all && *listening {
		return usagef("-a already includes the listening sockets: give -a or -l")
	}
	filter, err := parseSSFilter(fs.Args())
	if err != nil {
		return err
	}
	if !*tcp && !*udp {
		*tcp, *udp = true, true
	}
	which := "connected"
	switch {
	case *all, *summary:
		which = "all"
	case *listening:
		which = "listening"
	}
	show := ssShow{extended: *extended, info: *info, memory: *memory}
	var out ssOutput
	var sum *ssSummary
	switch {
	case *summary:
		sum = &ssSummary{}
		out = sum
	case *asJSON:
		out = &ssJSON{w: stdout, show: show}
	default:
		out = newSSText(stdout, *tcp && *udp, *noHeader, show)
	}
	for _, p := range []struct {
		on   bool
		name string
	}{{*udp, "udp"}, {*tcp, "tcp"}} {
		if !p.on {
			continue
		}
		a := ssArgs{Proto: p.name, Which: which, Info: *info || *memory, Filter: filter}
		if *summary {
			a.Filter = nil
		}
		if err := streamFrom(&t, a, out); err != nil {
			return err
		}
	}
	if sum != nil {
		if err := ssOrphans(&t, sum); err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, sum)
		}
		return writeSSSummary(stdout, sum)
	}
	return out.Close()
}

// ssOrphans fills the summary's TCP orphans from the engine's counters.
func ssOrphans(t *target, sum *ssSummary) error {
	c, err := t.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	var st engine.Stats
	if err := c.Call("stats", nil, &st); err != nil {
		return err
	}
	sum.TCP.Orphans = st.Total.TCP.CurrOrphans
	return nil
}

// streamFrom reads one "ss.stream" into out. Each command takes a
// connection of its own: a stream carries nothing else.
func streamFrom(t *target, a ssArgs, out ssOutput) error {
	c, err := t.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	sr, err := c.Stream("ss.stream", a)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(sr)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		var e socktab.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("engine sent a malformed socket entry: %w", err)
		}
		if !a.Info {
			e.TCP = nil
		}
		if err := out.Entry(&e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("ss: reading the engine's listing: %w", err)
	}
	return nil
}

// ssOutput renders entries as they arrive.
type ssOutput interface {
	Entry(e *socktab.Entry) error
	Close() error
}

// ssJSON prints entries as one indented JSON array, as
// json.Encoder.SetIndent("", "  ") prints a []socktab.Entry, an entry at a
// time.
type ssJSON struct {
	w    io.Writer
	show ssShow
	n    int
}

func (j *ssJSON) Entry(e *socktab.Entry) error {
	b, err := json.MarshalIndent(ssEntryOut(e, j.show), "  ", "  ")
	if err != nil {
		return err
	}
	sep := ",\n  "
	if j.n == 0 {
		sep = "[\n  "
	}
	j.n++
	_, err = fmt.Fprintf(j.w, "%s%s", sep, b)
	return err
}

func (j *ssJSON) Close() error {
	if j.n == 0 {
		_, err := io.WriteString(j.w, "[]\n")
		return err
	}
	_, err := io.WriteString(j.w, "\n]\n")
	return err
}

// ssText prints ss's table: socktab.WriteSS's columns, or with netid
// writeSSNetid's. The tabwriter holds the text until Close to align the
// columns, as ss does; with -H the header still counts in the widths.
type ssText struct {
	tw    *tabwriter.Writer
	netid bool
	show  ssShow
}

func newSSText(w io.Writer, netid, noHeader bool, show ssShow) *ssText {
	if noHeader {
		w = &skipLine{w: w}
	}
	t := &ssText{tw: tabwriter.NewWriter(w, 0, 8, 1, ' ', 0), netid: netid, show: show}
	if netid {
		fmt.Fprintln(t.tw, "Netid\tState\tRecv-Q\tSend-Q\tLocal Address:Port\tPeer Address:Port")
	} else {
		fmt.Fprintln(t.tw, "State\tRecv-Q\tSend-Q\tLocal Address:Port\tPeer Address:Port")
	}
	return t
}

func (t *ssText) Entry(e *socktab.Entry) error {
	var err error
	if t.netid {
		peer := "0.0.0.0:*"
		if e.Local.Addr().Is6() {
			peer = "[::]:*"
		}
		if e.Peer.IsValid() {
			peer = e.Peer.String()
		}
		_, err = fmt.Fprintf(t.tw, "%s\t%s\t%d\t%d\t%s\t%s", protoName(e.Proto), e.StateName(), e.RecvQ, e.SendQ, e.Local, peer)
	} else {
		peer := hostPort(netip.IPv4Unspecified(), "*")
		if e.Local.Addr().Is6() {
			peer = hostPort(netip.IPv6Unspecified(), "*")
		}
		if e.Peer.IsValid() {
			peer = hostPort(e.Peer.Addr(), fmt.Sprint(e.Peer.Port()))
		}
		_, err = fmt.Fprintf(t.tw, "%s\t%d\t%d\t%s\t%s", e.StateName(), e.RecvQ, e.SendQ,
			hostPort(e.Local.Addr(), fmt.Sprint(e.Local.Port())), peer)
	}
	same, second := ssExtra(e, t.show)
	if err == nil {
		_, err = fmt.Fprintf(t.tw, "%s\n", same)
	}
	if err == nil && second != "" {
		_, err = fmt.Fprintf(t.tw, "\t %s\n", second)
	}
	return err
}

func (t *ssText) Close() error { return t.tw.Flush() }

// hostPort formats like ss (and socktab.WriteSS): IPv6 in brackets, "*"
// for an unset port.
func hostPort(a netip.Addr, port string) string {
	if a.Is4() {
		return a.String() + ":" + port
	}
	return "[" + a.String() + "]:" + port
}

// skipLine drops what is written up to the first newline (-H).
type skipLine struct {
	w    io.Writer
	done bool
}

func (s *skipLine) Write(p []byte) (int, error) {
	n := len(p)
	if !s.done {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return n, nil
		}
		s.done, p = true, p[i+1:]
	}
	if _, err := s.w.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}

// writeSSNetid prints entries of several protocols with ss's Netid column.
func writeSSNetid(w io.Writer, entries []socktab.Entry) error {
	t := newSSText(w, true, false, ssShow{info: true})
	for i := range entries {
		if err := t.Entry(&entries[i]); err != nil {
			return err
		}
	}
	return t.Close()
}
