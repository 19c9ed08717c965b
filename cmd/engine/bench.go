package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// benchCommand is one of engine bench's subcommands (udp, tcp, rfc2544,
// reflect, ...). The file that implements one registers it in
// benchCommands from an init function.
type benchCommand struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

// benchCommands are engine bench's subcommands by name.
var benchCommands = map[string]benchCommand{}

// runBench runs engine bench SUBCOMMAND [flags].
func runBench(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := stdout
		if len(args) == 0 {
			w = stderr
		}
		benchUsage(w)
		if len(args) == 0 {
			return errUsage
		}
		return errHelp
	}
	c, ok := benchCommands[args[0]]
	if !ok {
		return usagef("unknown benchmark %q: want %s", args[0], strings.Join(benchNames(), ", "))
	}
	return c.run(args[1:], stdout, stderr)
}

func benchNames() []string {
	names := make([]string, 0, len(benchCommands))
	for n := range benchCommands {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func benchUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: engine bench SUBCOMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Generate, reflect and measure traffic on an interface through the engine's AF_XDP")
	fmt.Fprintln(w, "datapath and its own TCP. Run 'engine bench SUBCOMMAND -h' for its flags.")
	fmt.Fprintln(w)
	for _, n := range benchNames() {
		fmt.Fprintf(w, "  %-9s %s\n", n, benchCommands[n].summary)
	}
}
