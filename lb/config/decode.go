package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Parse reads a configuration from the contents of a file (doc.go describes
// the format), fills in the defaults and checks it. Unknown keys, values of
// the wrong type and invalid values are errors; each names its line, column
// and field path ("7:5: vips[0].backends[1].weight: ..."). The error is an
// *Error, or an ErrorList when there are several problems.
func Parse(data []byte) (*Config, error) { return parse("", data) }

// Load reads and parses the file at path; its errors start with the path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, data)
}

func parse(file string, data []byte) (*Config, error) {
	d := &decoder{pos: map[string]position{}, anchors: map[string]ast.Node{}}
	c := d.file(data)
	if len(d.errs) == 0 {
		v := validator{line: func(p string) int { return d.locate(p).line }}
		v.config(c)
		for _, e := range v.errs {
			p := d.locate(e.Path)
			e.Line, e.Column = p.line, p.col
		}
		d.errs = v.errs
	}
	if len(d.errs) == 0 {
		return c, nil
	}
	slices.SortStableFunc(d.errs, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	if n := len(d.errs); n > maxErrors {
		d.errs = append(d.errs[:maxErrors-1], &Error{Msg: fmt.Sprintf("and %d more problems: fix these first", n-maxErrors+1), Err: ErrInvalid})
	}
	for _, e := range d.errs {
		e.File = file
	}
	return nil, errorOf(d.errs)
}

type position struct{ line, col int }

// decoder walks the YAML syntax tree along the schema. It records the
// position of every field it meets (by path), so that the validator's
// errors, which only know paths, can name lines too.
type decoder struct {
	errs    ErrorList
	pos     map[string]position
	anchors map[string]ast.Node
	tooBig  bool // more than maxFields values: decoding stopped
}

// maxFields bounds the values decoded (about 250,000 backends), so that a
// small file whose aliases repeat large subtrees ("billion laughs") cannot
// exhaust memory.
const maxFields = 1 << 20

func posOf(n ast.Node) position {
	switch m := n.(type) {
	case *ast.MappingNode:
		if len(m.Values) > 0 && !m.IsFlowStyle {
			return posOf(m.Values[0].Key)
		}
	case *ast.MappingValueNode:
		return posOf(m.Key)
	}
	return tokenPos(n.GetToken())
}

func tokenPos(tk *token.Token) position {
	if tk == nil || tk.Position == nil {
		return position{}
	}
	return position{tk.Position.Line, tk.Position.Column}
}

// locate returns the position of path, or of its closest recorded parent
// (the mapping that lacks a field).
func (d *decoder) locate(path string) position {
	for {
		if p, ok := d.pos[path]; ok {
			return p
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return position{}
		}
		path = path[:i]
	}
}

func (d *decoder) errAt(p position, path string, kind error, format string, args ...any) {
	d.errs = append(d.errs, &Error{Line: p.line, Column: p.col, Path: path, Msg: fmt.Sprintf(format, args...), Err: kind})
}

// parseYAML parses data into a syntax tree. A panic of the parser on some
// odd input becomes an error: a configuration file must not crash the
// engine that reads it.
func parseYAML(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("the parser failed on this input (%v): check the syntax", r)
		}
	}()
	return parser.ParseBytes(data, 0)
}

// syntaxError is what goccy/go-yaml's parser errors provide.
type syntaxError interface {
	GetToken() *token.Token
	GetMessage() string
}

func (d *decoder) file(data []byte) *Config {
	c := New()
	f, err := parseYAML(data)
	if err != nil {
		var se syntaxError
		if errors.As(err, &se) && se.GetToken() != nil {
			d.errAt(tokenPos(se.GetToken()), "", ErrInvalid, "YAML syntax: %s", se.GetMessage())
		} else {
			d.errAt(position{}, "", ErrInvalid, "YAML syntax: %v", err)
		}
		return c
	}
	for _, doc := range f.Docs[min(1, len(f.Docs)):] {
		if doc.Body != nil {
			d.errAt(posOf(doc.Body), "", ErrInvalid, "a second YAML document (---): keep one document in the file")
			break
		}
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return c
	}
	root := f.Docs[0].Body
	if _, ok := d.resolve(root, "").(*ast.NullNode); ok {
		return c
	}
	d.fields(root, "", "a mapping with the keys vips and conntrack", []string{"vips", "conntrack"}, func(key string, n ast.Node, path string) {
		switch key {
		case "vips":
			for i, item := range d.sequence(n, path, "a list of VIPs") {
				c.VIPs = append(c.VIPs, d.vip(item, fmt.Sprintf("%s[%d]", path, i)))
			}
		case "conntrack":
			d.conntrack(n, path, &c.Conntrack)
		}
	})
	return c
}

var vipKeys = []string{"address", "port", "protocol", "forwarding", "table_size", "hash", "on_backend_down",
	"fragments", "gue_port", "vni", "vxlan_port", "fast_path", "announce", "health", "backends"}

func (d *decoder) vip(n ast.Node, path string) VIP {
	var v VIP
	seen := d.fields(n, path, "a VIP (address: ..., port: ..., ...)", vipKeys, func(key string, n ast.Node, path string) {
		switch key {
		case "address":
			v.Addr = d.address(n, path)
		case "port":
			v.Port = uint16(d.integer(n, path, 0, 65535))
		case "protocol":
			v.Proto = Proto(d.enum(n, path, "protocol", []string{TCP: "tcp", UDP: "udp"}))
		case "forwarding":
			v.Forwarding = Mode(d.enum(n, path, "forwarding mode", modeNames))
		case "table_size":
			v.TableSize = uint32(d.integer(n, path, 2, MaxTableSize))
		case "hash":
			v.Hash = HashMode(d.enum(n, path, "hash mode", hashNames))
		case "on_backend_down":
			v.OnBackendDown = DownAction(d.enum(n, path, "action", downNames))
		case "fragments":
			v.Fragments = FragMode(d.enum(n, path, "fragment mode", fragNames))
		case "gue_port":
			v.GUEPort = uint16(d.integer(n, path, 1, 65535))
		case "vni":
			v.VNI = uint32(d.integer(n, path, 0, MaxVNI))
		case "vxlan_port":
			v.VXLANPort = uint16(d.integer(n, path, 1, 65535))
		case "fast_path":
			v.FastPath = d.boolean(n, path)
		case "announce":
			v.Announce = d.boolean(n, path)
		case "health":
			d.health(n, path, &v.Health)
		case "backends":
			for i, item := range d.sequence(n, path, "a list of backends") {
				v.Backends = append(v.Backends, d.backend(item, fmt.Sprintf("%s[%d]", path, i)))
			}
		}
	})
	if seen == nil {
		return v
	}
	p := d.pos[path]
	for _, r := range [...]struct{ key, hint string }{
		{"address", "add address: followed by the IPv4 address clients connect to"},
		{"port", "add port: N (0 for every port)"},
		{"protocol", "add protocol: tcp or protocol: udp"},
		{"forwarding", "add forwarding: " + choices(modeNames)},
	} {
		if !seen[r.key] {
			d.errAt(p, join(path, r.key), ErrInvalid, "missing: %s", r.hint)
		}
	}
	if v.Forwarding == DSRVXLAN && !seen["vni"] {
		d.errAt(p, join(path, "vni"), ErrInvalid, "forwarding dsr-vxlan needs a vni: add vni: N (0 to %d)", MaxVNI)
	}
	fillDefaults(&v)
	return v
}

var healthKeys = []string{"type", "port", "path", "status", "send", "expect", "interval", "timeout", "rise", "fall", "target"}

// healthTargets are target's values, AtVIP false and true.
var healthTargets = []string{"backend", "vip"}

func (d *decoder) health(n ast.Node, path string, h *Health) {
	seen := d.fields(n, path, "a health check, like {type: tcp}", healthKeys, func(key string, n ast.Node, path string) {
		switch key {
		case "type":
			h.Type = HealthType(d.enum(n, path, "health check type", healthNames))
		case "port":
			h.Port = uint16(d.integer(n, path, 1, 65535))
		case "path":
			h.Path = d.str(n, path)
		case "status":
			h.Status = int(d.integer(n, path, 100, 599))
		case "send":
			h.Send = d.str(n, path)
		case "expect":
			h.Expect = d.str(n, path)
		case "interval":
			h.Interval = d.duration(n, path)
		case "timeout":
			h.Timeout = d.duration(n, path)
		case "rise":
			h.Rise = int(d.integer(n, path, 1, MaxRiseFall))
		case "fall":
			h.Fall = int(d.integer(n, path, 1, MaxRiseFall))
		case "target":
			h.AtVIP = d.enum(n, path, "health check target", healthTargets) == 1
		}
	})
	if seen != nil && !seen["type"] {
		d.errAt(d.pos[path], join(path, "type"), ErrInvalid, "missing: add type: %s", choices(healthNames))
	}
}

func (d *decoder) backend(n ast.Node, path string) Backend {
	b := Backend{Weight: DefaultWeight}
	seen := d.fields(n, path, "a backend, like {address: 198.18.1.11}", []string{"address", "weight", "drain", "mac"}, func(key string, n ast.Node, path string) {
		switch key {
		case "address":
			b.Addr = d.address(n, path)
		case "mac":
			b.MAC = d.mac(n, path)
		case "weight":
			b.Weight = uint32(d.integer(n, path, 0, MaxWeight))
		case "drain":
			b.Drain = d.boolean(n, path)
		}
	})
	if seen != nil && !seen["address"] {
		d.errAt(d.pos[path], join(path, "address"), ErrInvalid, "missing: add address: followed by the backend's IPv4 address")
	}
	return b
}

func (d *decoder) conntrack(n ast.Node, path string, ct *Conntrack) {
	keys := []string{"max_flows", "tcp_syn", "tcp_established", "tcp_closing", "udp"}
	d.fields(n, path, "conntrack settings, like {max_flows: 1000000}", keys, func(key string, n ast.Node, path string) {
		switch key {
		case "max_flows":
			ct.MaxFlows = uint32(d.integer(n, path, 1, math.MaxUint32))
		case "tcp_syn":
			ct.TCPSyn = d.duration(n, path)
		case "tcp_established":
			ct.TCPEstablished = d.duration(n, path)
		case "tcp_closing":
			ct.TCPClosing = d.duration(n, path)
		case "udp":
			ct.UDP = d.duration(n, path)
		}
	})
}
