package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/portalloc"
)

const portsSynopsis = `
Usage: engine ports [-i IFACE | --ctl PATH] [--json]
       engine ports set FIRST-LAST [-i IFACE | --ctl PATH]
       engine ports reserve [PORT|FIRST-LAST[,...]] [-i IFACE | --ctl PATH]

Show or change a running engine's ephemeral port range and reserved ports,
as sysctl's net.ipv4.ip_local_port_range and ip_local_reserved_ports do for
the kernel. A new range applies to every later connect, bind to port 0 and
automatic listen bind; connections on ports outside it keep them. A range
must start at 1024 or above. "reserve" with no list clears the reserved
ports.`

// portsJSON is the port configuration on the control socket.
type portsJSON struct {
	Range    portalloc.Range   `json:"range"`
	Reserved []portalloc.Range `json:"reserved"`
}

// portsOut is what engine ports --json prints: {"range": {"first",
// "last"}, "reserved": [{"first", "last"}]}.
type portsOut struct {
	Range    portRangeOut   `json:"range"`
	Reserved []portRangeOut `json:"reserved"`
}

type portRangeOut struct {
	First uint16 `json:"first"`
	Last  uint16 `json:"last"`
}

func (p portsJSON) out() portsOut {
	o := portsOut{Range: portRangeOut(p.Range), Reserved: []portRangeOut{}}
	for _, r := range p.Reserved {
		o.Reserved = append(o.Reserved, portRangeOut(r))
	}
	return o
}

func portsOf(eng *engine.Engine) portsJSON {
	p := portsJSON{Range: eng.PortRange(), Reserved: eng.ReservedPorts()}
	if p.Reserved == nil {
		p.Reserved = []portalloc.Range{}
	}
	return p
}

// handlePortsSet and handlePortsReserve are the control socket's "ports.set"
// and "ports.reserve".
func handlePortsSet(eng *engine.Engine, raw json.RawMessage) (any, error) {
	var r portalloc.Range
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("want a range: %w", err)
	}
	if err := eng.SetPortRange(r); err != nil {
		return nil, err
	}
	return portsOf(eng), nil
}

func handlePortsReserve(eng *engine.Engine, raw json.RawMessage) (any, error) {
	var rs []portalloc.Range
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &rs); err != nil {
			return nil, fmt.Errorf("want a list of ranges: %w", err)
		}
	}
	if err := eng.SetReservedPorts(rs); err != nil {
		return nil, err
	}
	return portsOf(eng), nil
}

func runPorts(args []string, stdout, stderr io.Writer) error {
	verb := ""
	var operand string
	if len(args) > 0 && (args[0] == "set" || args[0] == "reserve") {
		verb, args = args[0], args[1:]
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			operand, args = args[0], args[1:]
		}
	}
	var t target
	fs := flagSet("ports", portsSynopsis)
	t.flags(fs)
	asJSON := fs.BoolP("json", "j", false, "print the configuration as JSON")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	var call string
	var callArgs any
	switch verb {
	case "set":
		r, err := parseRange(operand)
		if err != nil {
			return usagef("ports set %s", err)
		}
		call, callArgs = "ports.set", r
	case "reserve":
		rs, err := parseRanges(operand)
		if err != nil {
			return usagef("ports reserve: %v", err)
		}
		call, callArgs = "ports.reserve", rs
	default:
		call = "ports"
	}
	c, err := t.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	var p portsJSON
	if err := c.Call(call, callArgs, &p); err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, p.out())
	}
	fmt.Fprintf(stdout, "ip_local_port_range\t%d\t%d\n", p.Range.First, p.Range.Last)
	var rs []string
	for _, r := range p.Reserved {
		if r.First == r.Last {
			rs = append(rs, fmt.Sprint(r.First))
		} else {
			rs = append(rs, fmt.Sprintf("%d-%d", r.First, r.Last))
		}
	}
	fmt.Fprintf(stdout, "ip_local_reserved_ports\t%s\n", strings.Join(rs, ","))
	return nil
}
