package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/xdpengine/engine/lb/config"
)

const lbSynopsis = `
Usage: engine lb [-i IFACE | --ctl PATH] show [--json]
       engine lb [-i IFACE | --ctl PATH] flows [--vip VIP] [--limit N] [--json]
       engine lb [-i IFACE | --ctl PATH] vip add ADDR:PORT/PROTO --forwarding MODE
                 [--backend ADDR[=WEIGHT][@MAC]]... [--hash 5-tuple|source] [--table-size PRIME]
                 [--gue-port PORT] [--vni VNI] [--vxlan-port PORT]
       engine lb [-i IFACE | --ctl PATH] vip remove ADDR:PORT/PROTO
       engine lb [-i IFACE | --ctl PATH] backend add VIP ADDR [WEIGHT] [--mac MAC]
       engine lb [-i IFACE | --ctl PATH] backend remove|drain|undrain VIP ADDR
       engine lb [-i IFACE | --ctl PATH] backend weight VIP ADDR WEIGHT
       engine lb [-i IFACE | --ctl PATH] lookup VIP SRC:PORT
       engine lb [-i IFACE | --ctl PATH] reload

Show or change the load balancer of an engine started with 'engine serve
--lb FILE', as ipvsadm does for the kernel's. A VIP is written
ADDR:PORT/PROTO (198.18.0.100:80/tcp; port 0: every port), a backend by its
IPv4 address (it serves on the port the client sent to).

A VIP forwards in one MODE:
  nat        destination rewritten to the backend, source to the engine;
             the backend's replies come back through the engine
  dsr-l2     only the Ethernet destination rewritten: the backends are on
             the engine's segment and own the VIP on a loopback
  dsr-ipip   the packet inside IP-in-IP to the backend, which decapsulates
             it and answers the client directly
  dsr-gue    the same inside UDP to --gue-port (default 6080), Katran's GUE
  dsr-vxlan  the same inside VXLAN: UDP to --vxlan-port (default 4789) with
             --vni N (required); every backend needs the MAC of its VXLAN
             device: --backend ADDR@MAC, or backend add ... --mac MAC

show lists each VIP (forwarding with its tunnel port and VNI, hash, health
check, counters) and its backends (weight in use, state, health, counters),
then the VIPs' drops by reason. A backend's state is active, drained (drain:
no new flows, its tracked flows go on), or quiesced (weight 0). "-" marks
what this engine cannot report.

flows lists the tracked connections, like conntrack -L: protocol, client,
VIP, backend, the engine's address and port toward the backend (NAT) and
the worker that owns the flow. --limit bounds the list (default 1000, at
most 100000); its last line says how many flows were left out.

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
  engine lb vip add 198.18.0.100:443/tcp --forwarding dsr-vxlan --vni 42 --backend 198.18.1.11@02:00:5e:10:00:01
  engine lb backend add 198.18.0.100:443/tcp 198.18.1.12 2 --mac 02:00:5e:10:00:02
  engine lb backend drain 198.18.0.100:80/tcp 198.18.0.11
  engine lb flows --vip 198.18.0.100:80/tcp --limit 50
  engine lb -i eth1 show`

// What the lb.* control commands send and answer.

// lbState is the answer to lb.show, lb.reload and every change: the
// running configuration and its counters.
type lbState struct {
	File      string          `json:"file"`
	Conntrack lbConntrackJSON `json:"conntrack"`
	VIPs      []lbVIPJSON     `json:"vips"`
	// FastPath counts the XDP fast path's use (absent without one).
	FastPath *lbFastPathJSON `json:"fast_path,omitempty"`
	// Unavailable names what the engine cannot report yet ("flows",
	// "health"): those fields are null.
	Unavailable []string `json:"unavailable,omitempty"`
}

// lbConntrackJSON are the connection tracking settings in effect: the
// timeouts of the running configuration, and max_flows of the start (the
// tables are sized then; a changed max_flows applies at the next start).
type lbConntrackJSON struct {
	MaxFlows       uint32 `json:"max_flows"`
	TCPSyn         string `json:"tcp_syn"`
	TCPEstablished string `json:"tcp_established"`
	TCPClosing     string `json:"tcp_closing"`
	UDP            string `json:"udp"`
}

type lbFastPathJSON struct {
	Entries   int64  `json:"entries"`    // keys in the tables now (a NAT flow has two)
	Installs  uint64 `json:"installs"`   // keys put in the tables
	TableFull uint64 `json:"table_full"` // keys not put: a table was full
	Errors    uint64 `json:"errors"`     // keys not put: a system call failed
}

type lbVIPJSON struct {
	VIP        string `json:"vip"` // ADDR:PORT/PROTO
	Forwarding string `json:"forwarding"`
	// The tunnel's settings: gue_port in dsr-gue, vni and vxlan_port in
	// dsr-vxlan; absent in other modes.
	GUEPort     uint16  `json:"gue_port,omitempty"`
	VNI         *uint32 `json:"vni,omitempty"`
	VXLANPort   uint16  `json:"vxlan_port,omitempty"`
	Hash        string  `json:"hash"`
	TableSize   uint32  `json:"table_size"`
	FastPath    bool    `json:"fast_path"`
	Announce    bool    `json:"announce"`     // the engine answers ARP / Neighbor Discovery for the VIP
	HealthCheck string  `json:"health_check"` // the type configured: tcp, http, udp, none
	Packets     uint64  `json:"packets"`
	Bytes       uint64  `json:"bytes"`
	NewFlows    uint64  `json:"new_flows"`
	Drops       uint64  `json:"drops"`
	// DropsByReason breaks Drops down: every reason the balancer has
	// (lb.DropReason, snake_case: no_backend, table_full, too_big, other),
	// zeros included.
	DropsByReason map[string]uint64 `json:"drops_by_reason"`
	Flows         *uint64           `json:"flows"` // tracked now; null: not available
	Backends      []lbBackendJSON   `json:"backends"`
}

type lbBackendJSON struct {
	Addr         netip.Addr `json:"addr"`
	MAC          string     `json:"mac,omitempty"` // dsr-vxlan: the backend's VXLAN device's
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
	MAC        string         `json:"mac,omitempty"`     // backend add to a dsr-vxlan VIP
	Forwarding string         `json:"forwarding,omitempty"`
	Hash       string         `json:"hash,omitempty"`
	TableSize  uint32         `json:"table_size,omitempty"`
	GUEPort    uint16         `json:"gue_port,omitempty"`   // dsr-gue (default 6080)
	VNI        *uint32        `json:"vni,omitempty"`        // dsr-vxlan (required)
	VXLANPort  uint16         `json:"vxlan_port,omitempty"` // dsr-vxlan (default 4789)
	FastPath   bool           `json:"fast_path,omitempty"`  // vip add
	Announce   bool           `json:"announce,omitempty"`   // vip add
	Backends   []lbBackendArg `json:"backends,omitempty"`   // vip add
}

type lbBackendArg struct {
	Addr   netip.Addr `json:"addr"`
	Weight *uint32    `json:"weight,omitempty"` // default 1
	MAC    string     `json:"mac,omitempty"`    // dsr-vxlan (required there)
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
	// print renders an answer that is not an lbState (lookup, flows).
	print func(w io.Writer, raw json.RawMessage) error
}

// lbVerbs are the subcommands: their usage line and the positional
// arguments they take.
var lbVerbs = map[string]struct {
	usage    string
	min, max int
}{
	"show":   {"show [--json]", 0, 0},
	"flows":  {"flows [--vip VIP] [--limit N] [--json]", 0, 0},
	"reload": {"reload", 0, 0},
	"lookup": {"lookup VIP SRC:PORT", 2, 2},
	"vip add": {"vip add ADDR:PORT/PROTO --forwarding nat|dsr-l2|dsr-ipip|dsr-gue|dsr-vxlan [--backend ADDR[=WEIGHT][@MAC]]... " +
		"[--hash 5-tuple|source] [--table-size PRIME] [--gue-port PORT] [--vni VNI] [--vxlan-port PORT]", 1, 1},
	"vip remove":      {"vip remove ADDR:PORT/PROTO", 1, 1},
	"backend add":     {"backend add VIP ADDR [WEIGHT] [--mac MAC]", 2, 3},
	"backend remove":  {"backend remove VIP ADDR", 2, 2},
	"backend weight":  {"backend weight VIP ADDR WEIGHT", 3, 3},
	"backend drain":   {"backend drain VIP ADDR", 2, 2},
	"backend undrain": {"backend undrain VIP ADDR", 2, 2},
}

const lbVerbList = "show, flows, vip add|remove, backend add|remove|weight|drain|undrain, lookup or reload"

// parseLB parses engine lb's command line. The -i, --ctl and --json flags
// go before or after the subcommand; its own flags anywhere after it.
func parseLB(args []string, stdout io.Writer) (*lbRequest, error) {
	r := &lbRequest{}
	fs := flagSet("lb", lbSynopsis)
	r.t.flags(fs)
	fs.BoolVarP(&r.asJSON, "json", "j", false, "print what the engine sent, as JSON")
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
	sfs.BoolVarP(&r.asJSON, "json", "j", r.asJSON, "print what the engine sent, as JSON")
	var a lbArgs
	var fa *lbFlowsArgs
	switch verb {
	case "vip add":
		addVIPFlags(sfs, &a)
	case "backend add":
		sfs.Func("mac", "the Ethernet `MAC` of the backend's VXLAN device (a dsr-vxlan VIP needs it)", func(v string) error {
			m, err := parseMAC(v)
			a.MAC = m.String()
			return err
		})
	case "flows":
		fa = addFlowsFlags(sfs)
	}
	pos, err := parseInterspersed(sfs, rest, stdout)
	if err != nil {
		return nil, err
	}
	if len(pos) < spec.min || len(pos) > spec.max {
		return nil, usagef("wrong number of arguments: engine lb %s", spec.usage)
	}
	if verb != "show" && verb != "reload" && verb != "flows" {
		if _, err := config.ParseVIPKey(pos[0]); err != nil {
			return nil, usagef("%v", err)
		}
		a.VIP = pos[0]
	}
	switch verb {
	case "show":
		r.cmd = "lb.show"
	case "flows":
		r.cmd, r.args, r.print = "lb.flows", *fa, printFlows
	case "reload":
		r.cmd = "lb.reload"
		r.done = func(st lbState) string {
			return fmt.Sprintf("reloaded %s: %d VIP%s", st.File, len(st.VIPs), plural(len(st.VIPs)))
		}
	case "lookup":
		k, _ := config.ParseVIPKey(pos[0])
		src, err := netip.ParseAddrPort(pos[1])
		if err != nil || src.Addr().Is4() != k.Addr.Is4() || src.Addr().Is4In6() {
			if k.Addr.Is6() {
				return nil, usagef("lookup: client %q: want its IPv6 [ADDR]:PORT (an IPv6 VIP's clients are IPv6), e.g. [2001:db8::2]:40000", pos[1])
			}
			return nil, usagef("lookup: client %q: want its IPv4 ADDR:PORT, e.g. 198.18.0.2:40000", pos[1])
		}
		r.cmd, r.args, r.print = "lb.lookup", lbLookupArgs{VIP: netip.AddrPortFrom(k.Addr, k.Port), Proto: k.Proto.String(), Src: src}, printLookup
	case "vip add":
		if err := checkVIPAdd(&a); err != nil {
			return nil, err
		}
		r.cmd, r.args = "lb.vip.add", a
		r.done = func(lbState) string {
			return fmt.Sprintf("added VIP %s (%s) with %d backend%s", a.VIP, describeForwarding(&a), len(a.Backends), plural(len(a.Backends)))
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
		r.done = func(lbState) string { return backendDone(sub, &a) }
	}
	return r, nil
}

// backendDone says what lb.backend.VERB did.
func backendDone(verb string, a *lbArgs) string {
	switch verb {
	case "add":
		w := uint32(config.DefaultWeight)
		if a.Weight != nil {
			w = *a.Weight
		}
		mac := ""
		if a.MAC != "" {
			mac = " (MAC " + a.MAC + ")"
		}
		return fmt.Sprintf("added backend %s%s to %s with weight %d", a.Backend, mac, a.VIP, w)
	case "remove":
		return fmt.Sprintf("removed backend %s from %s (its tracked flows go on until they end)", a.Backend, a.VIP)
	case "weight":
		return fmt.Sprintf("backend %s of %s has weight %d", a.Backend, a.VIP, *a.Weight)
	case "drain":
		return fmt.Sprintf("drained backend %s of %s: no new flows, its tracked flows go on", a.Backend, a.VIP)
	}
	return fmt.Sprintf("backend %s of %s takes new flows again", a.Backend, a.VIP)
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
	if r.print != nil {
		return r.print(stdout, raw)
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

// printLookup prints lb.lookup's answer.
func printLookup(w io.Writer, raw json.RawMessage) error {
	var l lbLookupJSON
	if err := json.Unmarshal(raw, &l); err != nil {
		return fmt.Errorf("engine sent malformed JSON: %w", err)
	}
	_, err := fmt.Fprintf(w, "%s from %s -> %s\n", l.VIP, l.Src, l.Backend)
	return err
}
