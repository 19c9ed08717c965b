package main

import (
	"github.com/spf13/pflag"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/xdpengine/engine/stack/socktab"
)

// ssFilter is the part of ss(8)'s filter that engine ss takes, after its
// flags: "state STATE" (repeatable: any of the states given), and "sport
// OP :PORT" / "dport OP :PORT" with OP one of = == eq != ne < lt > gt <=
// le >= ge; every condition must hold ("and" may be written, parentheses
// are ignored, "or" and "not" are not supported). States take ss's names
// and groups; given, they replace the -a / -l selection, as in ss. The
// engine applies it while it streams ("ss.stream"), so what is left out
// never crosses the control socket.
type ssFilter struct {
	States []string   `json:"states,omitempty"` // socktab.Entry.StateName values
	Ports  []portCond `json:"ports,omitempty"`
}

// portCond compares a socket's local (sport) or peer (dport) port.
type portCond struct {
	Dst  bool   `json:"dst,omitempty"`
	Op   string `json:"op"` // ==, !=, <, >, <=, >=
	Port uint16 `json:"port"`
}

// ssStates are ss's state names and groups, as the engine's StateName.
var ssStates = func() map[string][]string {
	m := map[string][]string{
		"established": {"ESTAB"}, "syn-sent": {"SYN-SENT"}, "syn-recv": {"SYN-RECV"},
		"fin-wait-1": {"FIN-WAIT-1"}, "fin-wait-2": {"FIN-WAIT-2"}, "time-wait": {"TIME-WAIT"},
		"closed": {"UNCONN"}, "close-wait": {"CLOSE-WAIT"}, "last-ack": {"LAST-ACK"},
		"listening": {"LISTEN"}, "listen": {"LISTEN"}, "closing": {"CLOSING"},
	}
	m["connected"] = []string{"ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "CLOSE-WAIT", "LAST-ACK", "CLOSING"}
	m["synchronized"] = slices.DeleteFunc(slices.Clone(m["connected"]), func(s string) bool { return s == "SYN-SENT" })
	m["bucket"] = []string{"SYN-RECV", "TIME-WAIT"}
	m["big"] = slices.DeleteFunc(slices.Concat(m["connected"], []string{"LISTEN", "UNCONN"}),
		func(s string) bool { return s == "SYN-RECV" || s == "TIME-WAIT" })
	m["all"] = slices.Concat(m["connected"], []string{"LISTEN", "UNCONN"})
	return m
}()

var ssOps = map[string]string{"=": "==", "==": "==", "eq": "==", "!=": "!=", "ne": "!=", "neq": "!=",
	"<": "<", "lt": "<", ">": ">", "gt": ">", "<=": "<=", "le": "<=", ">=": ">=", "ge": ">="}

// parseSSFilter parses ss's filter words (args after the flags).
func parseSSFilter(args []string) (*ssFilter, error) {
	words := strings.Fields(strings.NewReplacer("(", " ", ")", " ").Replace(strings.Join(args, " ")))
	if len(words) == 0 {
		return nil, nil
	}
	f := &ssFilter{}
	for len(words) > 0 {
		w := words[0]
		switch w {
		case "and", "&&":
			words = words[1:]
		case "state", "exclude":
			if w == "exclude" {
				return nil, usagef("filter: exclude is not supported: list the states to show with state STATE")
			}
			if len(words) < 2 || ssStates[words[1]] == nil {
				return nil, usagef("filter: want state STATE, STATE one of established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, " +
					"time-wait, closed, close-wait, last-ack, listening, closing, or all, connected, synchronized, bucket, big")
			}
			f.States = append(f.States, ssStates[words[1]]...)
			words = words[2:]
		case "sport", "dport", "src", "dst":
			if w == "src" || w == "dst" {
				return nil, usagef("filter: %s is not supported (sport and dport are)", w)
			}
			op, ok := "", false
			if len(words) >= 3 {
				op, ok = ssOps[words[1]]
			}
			port, err := parseFilterPort(words[min(2, len(words)-1)])
			if !ok || err != nil {
				return nil, usagef("filter: want %s OP :PORT, OP one of = != < > <= >= (or eq ne lt gt le ge), e.g. %s = :80", w, w)
			}
			f.Ports = append(f.Ports, portCond{Dst: w == "dport", Op: op, Port: port})
			words = words[3:]
		default:
			return nil, usagef("filter: %q is not supported: engine ss takes state STATE, sport OP :PORT and dport OP :PORT, all of which must hold", w)
		}
	}
	return f, nil
}

// parseFilterPort parses :PORT (also *:PORT or PORT).
func parseFilterPort(s string) (uint16, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "*"), ":")
	p, err := strconv.ParseUint(s, 10, 16)
	return uint16(p), err
}

// matchPorts reports whether e passes the port conditions.
func (f *ssFilter) matchPorts(e *socktab.Entry) bool {
	for _, c := range f.Ports {
		p := e.Local.Port()
		if c.Dst {
			if !e.Peer.IsValid() {
				p = 0 // ss: an unconnected socket's peer port is *, i.e. 0
			} else {
				p = e.Peer.Port()
			}
		}
		var ok bool
		switch c.Op {
		case "==":
			ok = p == c.Port
		case "!=":
			ok = p != c.Port
		case "<":
			ok = p < c.Port
		case ">":
			ok = p > c.Port
		case "<=":
			ok = p <= c.Port
		case ">=":
			ok = p >= c.Port
		}
		if !ok {
			return false
		}
	}
	return true
}

// parseFlagsWithArgs is parseFlags for a command that takes arguments
// among its flags (fs.Args()).
func parseFlagsWithArgs(fs *pflag.FlagSet, args []string, stdout io.Writer) error {
	return parseGNU(fs, args, stdout, true)
}
