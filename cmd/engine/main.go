// Command engine runs the kernel-bypass packet engine and inspects a running
// one. It only wires the project's packages together; the work lives in them.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// command is one subcommand: engine NAME [flags].
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"version", "print the engine's version and build information", runVersion},
		{"detach", "remove the engine's XDP program left on an interface (-i IF)", runDetach},
	}
}

var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, errUsage):
			return 2
		default:
			fmt.Fprintf(stderr, "engine %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "engine: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "engine: a kernel-bypass (AF_XDP) packet engine with a userspace network stack")
	fmt.Fprintln(w, "\nUsage: engine COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'engine COMMAND -h' for a command's flags.")
}

func runVersion(_ []string, stdout, _ io.Writer) error {
	v, goVersion := "(devel)", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v += " " + s.Value
			}
		}
	}
	fmt.Fprintf(stdout, "engine %s (%s)\n", v, goVersion)
	return nil
}
