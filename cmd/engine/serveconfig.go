package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/spf13/pflag"
)

// applyServeConfig sets the flags of fs from the YAML file at path: a
// mapping whose keys are engine serve's long flags (tcp-mem, or tcp_mem),
// each with a value or, for a repeatable flag (addr, echo), a list. A flag
// given on the command line overrides the file's key (for a repeatable
// one, the whole list). An unknown key, a value the flag refuses or a
// nested mapping is an error that names the file, the line and the key;
// nothing is applied then.
func applyServeConfig(path string, fs *pflag.FlagSet) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	type setting struct {
		line   int
		key    string
		values []string
	}
	var settings []setting
	var errs []error
	root, err := parseConfigYAML(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	errAt := func(line int, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", path, line, fmt.Sprintf(format, a...)))
	}
	m, ok := root.(*ast.MappingNode)
	switch {
	case root == nil:
		return nil // an empty file
	case !ok:
		return fmt.Errorf("%s:%d: want a mapping of flag names to values, e.g. interface: eth1", path, line(root))
	}
	seen := map[string]bool{}
	for _, mv := range m.Values {
		key := strings.ReplaceAll(scalarText(mv.Key), "_", "-")
		ln := line(mv.Key)
		f := fs.Lookup(key)
		switch {
		case key == "config":
			errAt(ln, "config: a configuration file cannot name another")
			continue
		case f == nil || f.Hidden:
			errAt(ln, "unknown key %q: the keys are engine serve's long flags (engine serve -h), e.g. interface, addr, echo, tcp-mem", scalarText(mv.Key))
			continue
		case seen[key]:
			errAt(ln, "%s is given twice (as %s and %s)", key, key, strings.ReplaceAll(key, "-", "_"))
			continue
		}
		seen[key] = true
		s := setting{line: ln, key: key}
		switch v := mv.Value.(type) {
		case *ast.SequenceNode:
			for _, item := range v.Values {
				if !isScalar(item) {
					errAt(line(item), "%s: want a list of values, e.g. [udp:7, tcp:7]", key)
					continue
				}
				s.values = append(s.values, scalarText(item))
			}
		case *ast.NullNode:
			errAt(ln, "%s has no value", key)
		default:
			if !isScalar(v) {
				errAt(ln, "%s: want a value or a list of values, not a mapping", key)
				continue
			}
			s.values = []string{scalarText(v)}
		}
		settings = append(settings, s)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, s := range settings {
		if fs.Changed(s.key) {
			continue // the command line wins
		}
		for _, v := range s.values {
			if err := fs.Lookup(s.key).Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %v", path, s.line, s.key, err))
			}
		}
	}
	return errors.Join(errs...)
}

// parseConfigYAML parses data into its one document's root node (nil for
// an empty file). A panic of the parser on odd input becomes an error.
func parseConfigYAML(data []byte) (root ast.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("the YAML parser failed on this input (%v): check the syntax", r)
		}
	}()
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, fmt.Errorf("YAML syntax: %w", err)
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return nil, nil
	}
	if len(f.Docs) > 1 {
		return nil, errors.New("a second YAML document (---): keep one document in the file")
	}
	if _, ok := f.Docs[0].Body.(*ast.NullNode); ok {
		return nil, nil
	}
	return f.Docs[0].Body, nil
}

func isScalar(n ast.Node) bool {
	switch n.(type) {
	case *ast.StringNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.LiteralNode:
		return true
	}
	return false
}

// scalarText is a scalar's text as the command line would give it.
func scalarText(n ast.Node) string {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value
	case *ast.LiteralNode:
		return strings.TrimSpace(v.Value.Value)
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return n.String()
}

func line(n ast.Node) int {
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}
