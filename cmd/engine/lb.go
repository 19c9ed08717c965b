package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/xdpengine/engine/lb/config"
)

const lbSynopsis = `
Usage: engine lb [-i IFACE | --ctl PATH] show [--json]
       engine lb [-i IFACE | --ctl PATH] vip add ADDR:PORT/PROTO --forwarding nat|dsr-l2
                 [--backend ADDR[=WEIGHT]]... [--hash 5-tuple|source] [--table-size PRIME]
       engine lb [-i IFACE | --ctl PATH] vip remove ADDR:PORT/PROTO
       engine lb [-i IFACE | --ctl PATH] backend add VIP ADDR [WEIGHT]
       engine lb [-i IFACE | --ctl PATH] backend remove|drain|undrain VIP ADDR
       engine lb [-i IFACE | --ctl PATH] backend weight VIP ADDR WEIGHT
       engine lb [-i IFACE | --ctl PATH] lookup VIP SRC:PORT
       engine lb [-i IFACE | --ctl PATH] reload

Show or change the load balancer of an engine started with 'engine serve
--lb FILE', as ipvsadm does for the kernel's. A VIP is written
ADDR:PORT/PROTO (198.18.0.100:80/tcp; port 0: every port), a backend by its
IPv4 address (it serves on the port the client sent to).

show lists each VIP (forwarding, hash, health check, counters) and its
backends (weight in use, state, health, counters). A backend's state is
active, drained (drain: no new flows, its tracked flows go on), or
quiesced (weight 0). "-" marks what this engine cannot report yet.

vip and backend change the configuration: the engine applies the change,
then saves FILE atomically (without the comments a hand-written file had);
if either step fails, neither the engine nor the file changes. A file
edited by hand since it was loaded is not overwritten: apply it first with
'engine lb reload' (what SIGHUP does) or undo the edit. A weight is 0 to
65535, 1 by default; changes keep tracked flows on their backends.

lookup prints the backend a new flow from SRC:PORT to the VIP gets now
(a tracked flow keeps the backend it has). reload re-reads FILE; an
invalid file is refused with its line and the running configuration stays.
--json prints what the engine sent.

Examples:
  engine lb vip add 198.18.0.100:80/tcp --forwarding nat --backend 198.18.0.11 --backend 198.18.0.12=2
  engine lb backend drain 198.18.0.100:80/tcp 198.18.0.11
  engine lb -i eth1 show`

// What the lb.* control commands send and answer.

// lbState is the answer to lb.show, lb.reload and every change: the
// running configuration and its counters.
type lbState struct {
	File      string          `json:"file"`
	Conntrack lbConntrackJSON `json:"conntrack"`
	VIPs      []lbVIPJSON     `json:"vips"`
	// Unavailable names what the engine cannot report yet ("flows",
	// "health"): those fields are null.
	Unavailable []string `json:"unavailable,omitempty"`
}

// lbConntrackJSON are the connection tracking settings in effect (those
// of the start: a reload changes them at the next start).
type lbConntrackJSON struct {
	MaxFlows       uint32 `json:"max_flows"`
	TCPSyn         string `json:"tcp_syn"`
	TCPEstablished string `json:"tcp_established"`
	TCPClosing     string `json:"tcp_closing"`
	UDP            string `json:"udp"`
}

type lbVIPJSON struct {
	VIP         string          `json:"vip"` // ADDR:PORT/PROTO
	Forwarding  string          `json:"forwarding"`
	Hash        string          `json:"hash"`
	TableSize   uint32          `json:"table_size"`
	HealthCheck string          `json:"health_check"` // the type configured: tcp, http, udp, none
	Packets     uint64          `json:"packets"`
	Bytes       uint64          `json:"bytes"`
	NewFlows    uint64          `json:"new_flows"`
	Drops       uint64          `json:"drops"`
	Flows       *uint64         `json:"flows"` // tracked now; null: not available
	Backends    []lbBackendJSON `json:"backends"`
}

type lbBackendJSON struct {
	Addr         netip.Addr `json:"addr"`
	Weight       uint32     `json:"weight"`        // the balancer's: 0 when drained
	ConfigWeight uint32     `json:"config_weight"` // the file's
	Drain        bool       `json:"drain"`
	State        string     `json:"state"`  // active, drained, quiesced
	Health       *string    `json:"health"` // up or down; null: not available
	Packets      uint64     `json:"packets"`
	Bytes        uint64     `json:"bytes"`
	NewFlows     uint64     `json:"new_flows"`
	Flows        *uint64    `json:"flows"` // tracked now; null: not available
}

// lbArgs are the arguments of lb.vip.* and lb.backend.*.
type lbArgs struct {
	VIP        string         `json:"vip,omitempty"`     // ADDR:PORT/PROTO
	Backend    string         `json:"backend,omitempty"` // an IPv4 address
	Weight     *uint32        `json:"weight,omitempty"`  // backend add (default 1) and weight
	Forwarding string         `json:"forwarding,omitempty"`
	Hash       string         `json:"hash,omitempty"`
	TableSize  uint32         `json:"table_size,omitempty"`
	Backends   []lbBackendArg `json:"backends,omitempty"` // vip add
}

type lbBackendArg struct {
	Addr   netip.Addr `json:"addr"`
	Weight *uint32    `json:"weight,omitempty"` // default 1
}

// lbLookupArgs are the arguments of lb.lookup.
type lbLookupArgs struct {
	VIP   netip.AddrPort `json:"vip"`
	Proto string         `json:"proto"` // tcp or udp
	Src   netip.AddrPort `json:"src"`
}

type lbLookupJSON struct {
	VIP     string         `json:"vip"`
	Src     netip.AddrPort `json:"src"`
	Backend netip.Addr     `json:"backend"`
}

// lbRequest is a parsed engine lb command line.
type lbRequest struct {
	t      target
	asJSON bool
	verb   string // "show", "vip add", "backend drain", ...
	cmd    string // the control command
	args   any    // its arguments, nil for none
	// done says what a change did, for the human output.
	done func(st lbState) string
}

// lbVerbs are the subcommands: their usage line and the positional
// arguments they take.
var lbVerbs = map[string]struct {
	usage    string
	min, max int
}{
	"show":            {"show [--json]", 0, 0},
	"reload":          {"reload", 0, 0},
	"lookup":          {"lookup VIP SRC:PORT", 2, 2},
	"vip add":         {"vip add ADDR:PORT/PROTO --forwarding nat|dsr-l2 [--backend ADDR[=WEIGHT]]... [--hash 5-tuple|source] [--table-size PRIME]", 1, 1},
	"vip remove":      {"vip remove ADDR:PORT/PROTO", 1, 1},
	"backend add":     {"backend add VIP ADDR [WEIGHT]", 2, 3},
	"backend remove":  {"backend remove VIP ADDR", 2, 2},
	"backend weight":  {"backend weight VIP ADDR WEIGHT", 3, 3},
	"backend drain":   {"backend drain VIP ADDR", 2, 2},
	"backend undrain": {"backend undrain VIP ADDR", 2, 2},
}

const lbVerbList = "show, vip add|remove, backend add|remove|weight|drain|undrain, lookup or reload"

// parseLB parses engine lb's command line. The -i, --ctl and --json flags
// go before or after the subcommand; its own flags anywhere after it.
func parseLB(args []string, stdout io.Writer) (*lbRequest, error) {
	r := &lbRequest{}
	fs := flagSet("lb", lbSynopsis)
	r.t.flags(fs)
	fs.BoolVar(&r.asJSON, "json", false, "print what the engine sent, as JSON")
	rest, err := parseFlagsUntilArg(fs, args, stdout)
	if err != nil {
		return nil, err
	}
	if len(rest) == 0 {
		return nil, usagef("give a subcommand: %s", lbVerbList)
	}
	verb := rest[0]
	rest = rest[1:]
	if verb == "vip" || verb == "backend" {
		if len(rest) == 0 {
			return nil, usagef("lb %s: give what to do: %s", verb, map[string]string{"vip": "add or remove", "backend": "add, remove, weight, drain or undrain"}[verb])
		}
		sub := rest[0]
		if verb == "vip" && (sub == "del" || sub == "delete" || sub == "rm") {
			sub = "remove"
		}
		verb += " " + sub
		rest = rest[1:]
	}
	spec, ok := lbVerbs[verb]
	if !ok {
		return nil, usagef("unknown subcommand %q: want %s", verb, lbVerbList)
	}
	r.verb = verb
	sfs := flagSet("lb "+verb, "Usage: engine lb [-i IFACE | --ctl PATH] "+spec.usage+"\n\nRun 'engine lb -h' for what it does.")
	before := r.t
	r.t.flags(sfs) // sets the defaults: keep what came before the subcommand
	r.t = before
	sfs.BoolVar(&r.asJSON, "json", r.asJSON, "print what the engine sent, as JSON")
	var a lbArgs
	if verb == "vip add" {
		sfs.StringVar(&a.Forwarding, "forwarding", "", "how packets reach the backends: nat or dsr-l2 (required)")
		sfs.Func("backend", "add the backend `ADDR[=WEIGHT]` (repeatable; weight 0 to 65535, default 1)", func(v string) error {
			b, err := parseBackendArg(v)
			if err == nil {
				a.Backends = append(a.Backends, b)
			}
			return err
		})
		sfs.StringVar(&a.Hash, "hash", "", "what a new flow's hash covers: 5-tuple (default) or source (client affinity)")
		sfs.Func("table-size", "Maglev table `size`, a prime (default 65537)", func(v string) error {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n == 0 {
				return fmt.Errorf("%q: want a prime such as 65537", v)
			}
			a.TableSize = uint32(n)
			return nil
		})
	}
	pos, err := parseInterspersed(sfs, rest, stdout)
	if err != nil {
		return nil, err
	}
	if len(pos) < spec.min || len(pos) > spec.max {
		return nil, usagef("wrong number of arguments: engine lb %s", spec.usage)
	}
	if verb != "show" && verb != "reload" {
		if _, err := config.ParseVIPKey(pos[0]); err != nil {
			return nil, usagef("%v", err)
		}
		a.VIP = pos[0]
	}
	switch verb {
	case "show":
		r.cmd = "lb.show"
	case "reload":
		r.cmd = "lb.reload"
		r.done = func(st lbState) string {
			return fmt.Sprintf("reloaded %s: %d VIP%s", st.File, len(st.VIPs), plural(len(st.VIPs)))
		}
	case "lookup":
		k, _ := config.ParseVIPKey(pos[0])
		src, err := netip.ParseAddrPort(pos[1])
		if err != nil || !src.Addr().Is4() {
			return nil, usagef("lookup: client %q: want its IPv4 ADDR:PORT, e.g. 198.18.0.2:40000", pos[1])
		}
		r.cmd, r.args = "lb.lookup", lbLookupArgs{VIP: netip.AddrPortFrom(k.Addr, k.Port), Proto: k.Proto.String(), Src: src}
	case "vip add":
		if a.Forwarding == "" {
			return nil, usagef("vip add: give --forwarding nat or dsr-l2")
		}
		if _, err := parseForwarding(a.Forwarding); err != nil {
			return nil, usagef("--%v", err)
		}
		if a.Hash != "" {
			if _, err := parseHash(a.Hash); err != nil {
				return nil, usagef("--%v", err)
			}
		}
		r.cmd, r.args = "lb.vip.add", a
		r.done = func(lbState) string {
			return fmt.Sprintf("added VIP %s (%s) with %d backend%s", a.VIP, a.Forwarding, len(a.Backends), plural(len(a.Backends)))
		}
	case "vip remove":
		r.cmd, r.args = "lb.vip.remove", a
		r.done = func(lbState) string { return "removed VIP " + a.VIP }
	default: // backend VERB
		addr, err := parseBackendAddr(pos[1])
		if err != nil {
			return nil, usagef("%v", err)
		}
		a.Backend = addr.String()
		if len(pos) == 3 {
			w, err := parseWeight(pos[2])
			if err != nil {
				return nil, usagef("%v", err)
			}
			a.Weight = &w
		}
		sub := strings.TrimPrefix(verb, "backend ")
		r.cmd, r.args = "lb.backend."+sub, a
		r.done = func(lbState) string {
			switch sub {
			case "add":
				w := uint32(config.DefaultWeight)
				if a.Weight != nil {
					w = *a.Weight
				}
				return fmt.Sprintf("added backend %s to %s with weight %d", a.Backend, a.VIP, w)
			case "remove":
				return fmt.Sprintf("removed backend %s from %s (its tracked flows go on until they end)", a.Backend, a.VIP)
			case "weight":
				return fmt.Sprintf("backend %s of %s has weight %d", a.Backend, a.VIP, *a.Weight)
			case "drain":
				return fmt.Sprintf("drained backend %s of %s: no new flows, its tracked flows go on", a.Backend, a.VIP)
			}
			return fmt.Sprintf("backend %s of %s takes new flows again", a.Backend, a.VIP)
		}
	}
	return r, nil
}

// parseFlagsUntilArg parses the flags before the first argument that is
// not one and returns the rest.
func parseFlagsUntilArg(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil, errHelp
		}
		return nil, usagef("%v", err)
	}
	return fs.Args(), nil
}

// parseInterspersed parses flags placed anywhere among the positional
// arguments, which it returns in order.
func parseInterspersed(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	var pos []string
	for {
		rest, err := parseFlagsUntilArg(fs, args, stdout)
		if err != nil || len(rest) == 0 {
			return pos, err
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// parseBackendAddr parses a backend: an IPv4 address, no port.
func parseBackendAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err == nil && a.Is4() {
		return a, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Is4() {
		return netip.Addr{}, fmt.Errorf("backend %q: give its address only, %s: a backend serves on the port the client sent to", s, ap.Addr())
	}
	return netip.Addr{}, fmt.Errorf("backend %q is not an IPv4 address, e.g. 198.18.0.11", s)
}

func parseWeight(s string) (uint32, error) {
	w, err := strconv.ParseUint(s, 10, 32)
	if err != nil || w > config.MaxWeight {
		return 0, fmt.Errorf("weight %q: want 0 to %d (0: no new flows)", s, config.MaxWeight)
	}
	return uint32(w), nil
}

// parseBackendArg parses --backend ADDR[=WEIGHT].
func parseBackendArg(s string) (lbBackendArg, error) {
	as, ws, hasWeight := strings.Cut(s, "=")
	addr, err := parseBackendAddr(as)
	if err != nil {
		return lbBackendArg{}, err
	}
	b := lbBackendArg{Addr: addr}
	if hasWeight {
		w, err := parseWeight(ws)
		if err != nil {
			return lbBackendArg{}, err
		}
		b.Weight = &w
	}
	return b, nil
}

func runLB(args []string, stdout, stderr io.Writer) error {
	r, err := parseLB(args, stdout)
	if err != nil {
		return err
	}
	c, err := r.t.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	var raw json.RawMessage
	if err := c.Call(r.cmd, r.args, &raw); err != nil {
		if strings.Contains(err.Error(), "unknown command") {
			return fmt.Errorf("%w (this engine predates `engine lb %s`: run the engine of this version)", err, r.verb)
		}
		return err
	}
	if r.asJSON {
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return fmt.Errorf("engine sent malformed JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err := stdout.Write(buf.Bytes())
		return err
	}
	if r.cmd == "lb.lookup" {
		var l lbLookupJSON
		if err := json.Unmarshal(raw, &l); err != nil {
			return fmt.Errorf("engine sent malformed JSON: %w", err)
		}
		_, err := fmt.Fprintf(stdout, "%s from %s -> %s\n", l.VIP, l.Src, l.Backend)
		return err
	}
	var st lbState
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("engine sent malformed JSON: %w", err)
	}
	if r.done != nil {
		msg := r.done(st)
		if r.verb != "reload" {
			msg += " (saved to " + st.File + ")"
		}
		_, err := fmt.Fprintln(stdout, msg)
		return err
	}
	return writeLBTable(stdout, st)
}

// writeLBTable prints the load balancer the way ipvsadm -Ln does: a line
// per VIP, then a line per backend, under two header lines that share the
// columns. Text columns are left-aligned, counters right-aligned; "-" is a
// value the engine cannot report yet.
func writeLBTable(w io.Writer, st lbState) error {
	unavailable := map[string]bool{}
	for _, u := range st.Unavailable {
		unavailable[u] = true
	}
	opt := func(what string, v *uint64) string {
		if v == nil || unavailable[what] {
			return "-"
		}
		return strconv.FormatUint(*v, 10)
	}
	num := func(v uint64) string { return strconv.FormatUint(v, 10) }
	ct := st.Conntrack
	var b strings.Builder
	fmt.Fprintf(&b, "Load balancer from %s: %d VIP%s; conntrack: max %d flows, idle timeouts tcp_syn %s, tcp_established %s, tcp_closing %s, udp %s\n\n",
		st.File, len(st.VIPs), plural(len(st.VIPs)), ct.MaxFlows, ct.TCPSyn, ct.TCPEstablished, ct.TCPClosing, ct.UDP)
	rows := [][]string{
		{"VIP", "Forward", "Hash", "Check", "Packets", "Bytes", "NewFlows", "Drops", "Flows"},
		{"  -> Backend", "Weight", "State", "Health", "Packets", "Bytes", "NewFlows", "", "Flows"},
	}
	for _, v := range st.VIPs {
		rows = append(rows, []string{v.VIP, v.Forwarding, v.Hash, v.HealthCheck, num(v.Packets), num(v.Bytes), num(v.NewFlows), num(v.Drops), opt("flows", v.Flows)})
		for _, be := range v.Backends {
			health := "-"
			if be.Health != nil && !unavailable["health"] {
				health = *be.Health
			}
			rows = append(rows, []string{"  -> " + be.Addr.String(), num(uint64(be.Weight)), be.State, health,
				num(be.Packets), num(be.Bytes), num(be.NewFlows), "", opt("flows", be.Flows)})
		}
	}
	const textCols = 4 // the name, forward/weight, hash/state, check/health
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], len(cell))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		for i, cell := range r {
			if i > 0 {
				line.WriteString("  ")
			}
			if i < textCols {
				fmt.Fprintf(&line, "%-*s", widths[i], cell)
			} else {
				fmt.Fprintf(&line, "%*s", widths[i], cell)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	if len(st.VIPs) == 0 {
		b.WriteString("(no VIPs: add one with `engine lb vip add ADDR:PORT/PROTO --forwarding nat --backend ADDR`)\n")
	}
	if len(st.Unavailable) > 0 {
		fmt.Fprintf(&b, "\n-: not available from this engine yet (%s)\n", strings.Join(st.Unavailable, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// shortDuration writes d as the file does: 24h, 2m, 1m30s, 500ms.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
