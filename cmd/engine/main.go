package main

import (
	"errors"
	"fmt"
	"github.com/spf13/pflag"
	"io"
	"os"
)

// command is one subcommand: engine NAME [flags].
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the engine on an interface, with built-in echo services", runServe},
		{"status", "one screen about a running engine: interface, addresses, uptime, rates, connections, drops", runStatus},
		{"stats", "print a running engine's counters (per queue and total), or their rates (-w)", runStats},
		{"ss", "list a running engine's sockets, like ss(8)", runSS},
		{"neigh", "list a running engine's ARP neighbors, like ip neigh", runNeigh},
		{"ping", "send ICMP/ICMPv6 echo requests from a running engine, like ping(8)", runPing},
		{"ports", "show or change a running engine's ephemeral port range and reserved ports", runPorts},
		{"capture", "capture the frames a running engine receives and sends, as pcapng", runCapture},
		{"lb", "show or change a running engine's load balancer (VIPs, backends), like ipvsadm", runLB},
		{"bench", "generate, reflect and measure traffic (packets and connections)", runBench},
		{"detach", "remove the engine's XDP program left on an interface (-i IF)", runDetach},
		{"version", "print the engine's version and build information", runVersion},
		{"completion", "print a shell completion script (bash)", runCompletion},
		{"man", "write the manual pages (troff) to a directory", runMan},
	}
}

// errUsage makes a command exit with status 2. A usageError carries the
// message to print; a bare errUsage means the command printed it already.
var errUsage = errors.New("usage")

// errHelp makes a command exit with status 0 after printing its help.
var errHelp = errors.New("help")

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return errUsage }

// usagef returns a usage error (exit status 2) with a message that says what
// to do.
func usagef(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	if args[0] == "--version" || args[0] == "-V" {
		args = append([]string{"version"}, args[1:]...)
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		var ue *usageError
		switch {
		case err == nil, errors.Is(err, errHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "engine %s: %s\nRun 'engine %s -h' for its flags.\n", c.name, ue.msg, c.name)
			return 2
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
	fmt.Fprintln(w, "\nRun 'engine COMMAND -h' for a command's flags, 'engine --version' for the version.")
	fmt.Fprintln(w, "Exit status: 0 success, 1 runtime error, 2 usage error (bad flag or argument).")
}

// parseFlags parses args with fs (parseGNU); positional arguments are
// refused.
func parseFlags(fs *pflag.FlagSet, args []string, stdout io.Writer) error {
	if err := parseGNU(fs, args, stdout, true); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (every option is a flag)", fs.Arg(0))
	}
	return nil
}
