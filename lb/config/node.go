package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/xdpengine/engine/header"
)

// This file holds the decoder's generic half: mappings, lists and scalars of
// the YAML syntax tree, each checked for its type and range, with errors
// that name the field's path and position. decode.go holds the schema.

// resolve follows anchors and aliases; it reports tags, which the format
// does not use, and returns nil for them and for unknown aliases.
func (d *decoder) resolve(n ast.Node, path string) ast.Node {
	for hops := 0; ; hops++ {
		if hops > 64 {
			d.errAt(posOf(n), path, ErrInvalid, "aliases refer to each other in a loop: give the value itself")
			return nil
		}
		switch a := n.(type) {
		case *ast.AnchorNode:
			d.anchors[a.Name.GetToken().Value] = a.Value
			n = a.Value
		case *ast.AliasNode:
			name := a.Value.GetToken().Value
			target, ok := d.anchors[name]
			if !ok {
				d.errAt(posOf(a), path, ErrInvalid, "alias *%s has no anchor &%s before it: define the anchor first", name, name)
				return nil
			}
			n = target
		case *ast.TagNode:
			d.errAt(posOf(a), path, ErrInvalid, "tag %s: the format uses no tags: remove it", a.Start.Value)
			return nil
		default:
			return n
		}
	}
}

// collectAnchors records the anchors of a subtree the schema ignores (an
// "x-" key), so that aliases elsewhere can use them.
func (d *decoder) collectAnchors(n ast.Node) {
	ast.Walk(anchorVisitor{d}, n)
}

type anchorVisitor struct{ d *decoder }

func (v anchorVisitor) Visit(n ast.Node) ast.Visitor {
	if a, ok := n.(*ast.AnchorNode); ok {
		v.d.anchors[a.Name.GetToken().Value] = a.Value
	}
	return v
}

type entry struct {
	key  string
	pos  position
	node ast.Node
}

// entries returns the entries of a mapping, merge keys (<<) expanded: an
// entry of the mapping itself wins over a merged one. ok is false when n is
// not a mapping (and the error was reported).
func (d *decoder) entries(n ast.Node, path, want string) (es []entry, ok bool) {
	var values []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.NullNode:
		return nil, true
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	default:
		d.wrongType(n, path, want)
		return nil, false
	}
	var merged []entry
	for _, mv := range values {
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			src := d.resolve(mv.Value, path)
			if src == nil {
				continue
			}
			items := []ast.Node{src}
			if s, ok := src.(*ast.SequenceNode); ok {
				items = s.Values
			}
			for _, it := range items {
				if it = d.resolve(it, path); it == nil {
					continue
				}
				more, _ := d.entries(it, path, "a mapping to merge (<<: *anchor)")
				merged = append(merged, more...)
			}
			continue
		}
		k, ok := mv.Key.(*ast.StringNode)
		if !ok {
			d.errAt(posOf(mv.Key), path, ErrInvalid, "key %s: keys are names, like port", mv.Key.GetToken().Value)
			continue
		}
		es = append(es, entry{k.Value, posOf(k), mv.Value})
	}
	for _, m := range merged {
		if !slices.ContainsFunc(es, func(e entry) bool { return e.key == m.key }) {
			es = append(es, m)
		}
	}
	return es, true
}

// fields decodes a mapping of known keys: set is called for each present
// key with the value node and its path. It returns the keys present, or nil
// when n is not a mapping. The top level also takes "x-" keys, ignored but
// for their anchors.
func (d *decoder) fields(n ast.Node, path, want string, known []string, set func(key string, n ast.Node, path string)) map[string]bool {
	if len(d.pos) >= maxFields {
		if !d.tooBig {
			d.tooBig = true
			d.errAt(posOf(n), path, ErrInvalid, "the file holds more than %d values (aliases used over and over?): split the VIPs, or write them out", maxFields)
		}
		return nil
	}
	d.pos[path] = posOf(n)
	n = d.resolve(n, path)
	if n == nil {
		return nil
	}
	es, ok := d.entries(n, path, want)
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	for _, e := range es {
		p := join(path, e.key)
		switch {
		case slices.Contains(known, e.key):
			seen[e.key] = true
			d.pos[p] = posOf(e.node)
			set(e.key, e.node, p)
		case path == "" && strings.HasPrefix(e.key, "x-"):
			d.collectAnchors(e.node)
		case suggest(e.key, known) != "":
			d.errAt(e.pos, p, ErrInvalid, "unknown key: did you mean %s?", suggest(e.key, known))
		default:
			d.errAt(e.pos, p, ErrInvalid, "unknown key: use %s", strings.Join(known, ", "))
		}
	}
	return seen
}

// sequence returns the items of a list (none for an empty value).
func (d *decoder) sequence(n ast.Node, path, want string) []ast.Node {
	switch s := d.resolve(n, path).(type) {
	case nil, *ast.NullNode:
		return nil
	case *ast.SequenceNode:
		for i, it := range s.Values {
			d.pos[fmt.Sprintf("%s[%d]", path, i)] = posOf(it)
		}
		return s.Values
	default:
		d.wrongType(s, path, want)
		return nil
	}
}

func describe(n ast.Node) string {
	switch v := n.(type) {
	case *ast.NullNode:
		return "nothing"
	case *ast.StringNode:
		return fmt.Sprintf("the string %q", v.Value)
	case *ast.LiteralNode:
		return fmt.Sprintf("the text %q", v.Value.Value)
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "the number " + n.GetToken().Value
	case *ast.BoolNode:
		return n.GetToken().Value
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	return n.Type().String()
}

func (d *decoder) wrongType(n ast.Node, path, want string) {
	d.errAt(posOf(n), path, ErrInvalid, "want %s, got %s", want, describe(n))
}

func (d *decoder) str(n ast.Node, path string) string {
	switch s := d.resolve(n, path).(type) {
	case nil:
	case *ast.StringNode:
		return s.Value
	case *ast.LiteralNode:
		return s.Value.Value
	default:
		d.wrongType(s, path, "a string (quote it if it looks like a number: \"80\")")
	}
	return ""
}

func (d *decoder) integer(n ast.Node, path string, lo, hi int64) int64 {
	want := fmt.Sprintf("a whole number from %d to %d", lo, hi)
	var v int64
	switch s := d.resolve(n, path).(type) {
	case nil:
		return 0
	case *ast.IntegerNode:
		switch x := s.GetValue().(type) {
		case int64:
			v = x
		case uint64:
			if x > math.MaxInt64 {
				d.errAt(posOf(s), path, ErrInvalid, "%s is above %d: use %d to %d", s.GetToken().Value, hi, lo, hi)
				return 0
			}
			v = int64(x)
		}
	case *ast.StringNode:
		// The parser leaves integers too large for 64 bits as strings.
		tk := s.GetToken()
		if tk.Type != token.StringType || strings.Trim(s.Value, "0123456789") != "" || s.Value == "" {
			d.wrongType(s, path, want)
			return 0
		}
		d.errAt(posOf(s), path, ErrInvalid, "%s is above %d: use %d to %d", s.Value, hi, lo, hi)
		return 0
	default:
		d.wrongType(s, path, want)
		return 0
	}
	if v < lo || v > hi {
		d.errAt(posOf(n), path, ErrInvalid, "%s", rangeMsg(v, lo, hi))
		return 0
	}
	return v
}

func (d *decoder) boolean(n ast.Node, path string) bool {
	switch s := d.resolve(n, path).(type) {
	case nil:
	case *ast.BoolNode:
		return s.Value
	default:
		d.wrongType(s, path, "true or false")
	}
	return false
}

func (d *decoder) duration(n ast.Node, path string) time.Duration {
	s := d.resolve(n, path)
	switch s.(type) {
	case nil:
		return 0
	case *ast.IntegerNode, *ast.FloatNode:
		d.errAt(posOf(s), path, ErrInvalid, "%s has no unit: write a duration like %sms or %ss", s.GetToken().Value, s.GetToken().Value, s.GetToken().Value)
		return 0
	case *ast.StringNode:
	default:
		d.wrongType(s, path, "a duration like 500ms or 2s")
		return 0
	}
	text := s.(*ast.StringNode).Value
	v, err := time.ParseDuration(text)
	if err != nil {
		d.errAt(posOf(s), path, ErrInvalid, "%q is not a duration: write one like 500ms, 2s or 1h", text)
		return 0
	}
	if v <= 0 {
		d.errAt(posOf(s), path, ErrInvalid, "%s is not positive: use a duration like 500ms, 30s or 1h", text)
		return 0
	}
	return v
}

func (d *decoder) address(n ast.Node, path string) netip.Addr {
	s := d.resolve(n, path)
	if _, ok := s.(*ast.StringNode); !ok {
		if s != nil {
			d.wrongType(s, path, "an IP address like 198.18.0.100")
		}
		return netip.Addr{}
	}
	text := s.(*ast.StringNode).Value
	a, err := netip.ParseAddr(text)
	if err != nil {
		d.errAt(posOf(s), path, ErrInvalid, "%q is not an IP address: write one like 198.18.0.100 or 2001:db8::100", text)
	}
	return a
}

// mac decodes an Ethernet address, 02:00:5e:10:00:01.
func (d *decoder) mac(n ast.Node, path string) header.MAC {
	text := d.str(n, path)
	if text == "" {
		return header.MAC{}
	}
	hw, err := net.ParseMAC(text)
	if err != nil || len(hw) != 6 {
		d.errAt(d.pos[path], path, ErrInvalid, "%q is not an Ethernet address: write one like 02:00:5e:10:00:01", text)
		return header.MAC{}
	}
	return header.MAC(hw)
}

// enum decodes one of names and returns its index.
func (d *decoder) enum(n ast.Node, path, what string, names []string) int {
	s := d.resolve(n, path)
	if s == nil {
		return 0
	}
	str, ok := s.(*ast.StringNode)
	if !ok {
		d.wrongType(s, path, "one of "+choices(names))
		return 0
	}
	i := lookupName(names, str.Value)
	if i < 0 {
		d.errAt(posOf(s), path, ErrInvalid, "%q is not a %s: use %s", str.Value, what, choices(names))
		return 0
	}
	return i
}

// suggest returns the known key closest to an unknown one, if close enough
// to be a typo.
func suggest(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if dist := editDistance(key, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
