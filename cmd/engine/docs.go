package main

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
)

// cmdDoc is one command's flag set as flagSet made it: what `engine man`
// and `engine completion` are generated from, so that they list exactly
// the flags the command parses.
type cmdDoc struct {
	name     string // "serve", "bench udp"
	synopsis string
	fs       *pflag.FlagSet
}

// docRecorder collects the flag sets made while it is set (docs only).
var docRecorder struct {
	sync.Mutex
	docs *[]cmdDoc
}

func recordFlagSet(name, synopsis string, fs *pflag.FlagSet) {
	docRecorder.Lock()
	defer docRecorder.Unlock()
	if docRecorder.docs != nil {
		*docRecorder.docs = append(*docRecorder.docs, cmdDoc{name, synopsis, fs})
	}
}

// docCommands are the commands and subcommands to document: each is run
// with --help (nothing else happens) and its flag set recorded.
func docCommands() [][]string {
	var out [][]string
	for _, c := range commands() {
		if c.name == "bench" {
			for _, b := range benchNames() {
				out = append(out, []string{"bench", b})
			}
			continue
		}
		out = append(out, []string{c.name})
	}
	return append(out, []string{"lb", "vip", "add"}, []string{"lb", "flows"})
}

// collectDocs runs every command with --help and returns its flag set.
func collectDocs() []cmdDoc {
	docRecorder.Lock()
	var docs []cmdDoc
	docRecorder.docs = &docs
	docRecorder.Unlock()
	for _, args := range docCommands() {
		run(append(slices.Clone(args), "--help"), io.Discard, io.Discard)
	}
	docRecorder.Lock()
	docRecorder.docs = nil
	docRecorder.Unlock()
	// A command that makes a second set for its subcommand (lb vip add)
	// records both; keep one per name, the last.
	seen := map[string]int{}
	var out []cmdDoc
	for _, d := range docs {
		if i, ok := seen[d.name]; ok {
			out[i] = d
			continue
		}
		seen[d.name] = len(out)
		out = append(out, d)
	}
	return out
}

func summaryOf(name string) string {
	first, rest, _ := strings.Cut(name, " ")
	for _, c := range commands() {
		if c.name == first {
			if b, ok := benchCommands[rest]; ok && first == "bench" {
				return b.summary
			}
			return c.summary
		}
	}
	return ""
}

const manSynopsis = `
Usage: engine man DIR

Write the manual pages: engine(1) and one engine-COMMAND(1) per command
(engine-bench-udp(1) for bench's), troff, generated from the flags the
commands parse. Install them with: engine man /usr/local/share/man/man1`

func runMan(args []string, stdout, _ io.Writer) error {
	fs := flagSet("man", manSynopsis)
	if err := parseGNU(fs, args, stdout, true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("give the directory to write the pages to, e.g. engine man man/man1")
	}
	dir := fs.Arg(0)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pages := manPages(time.Now())
	for _, name := range slices.Sorted(maps.Keys(pages)) {
		if err := os.WriteFile(filepath.Join(dir, name), pages[name], 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "wrote %d pages to %s\n", len(pages), dir)
	return nil
}

// manPages returns the pages by file name.
func manPages(now time.Time) map[string][]byte {
	v := readVersion().Version
	date := now.UTC().Format("2006-01-02")
	pages := map[string][]byte{}
	docs := collectDocs()
	var b bytes.Buffer
	fmt.Fprintf(&b, ".TH ENGINE 1 %q %q \"User Commands\"\n", date, "engine "+v)
	b.WriteString(".SH NAME\nengine \\- a kernel-bypass (AF_XDP) packet engine with a userspace network stack\n")
	b.WriteString(".SH SYNOPSIS\n\\fBengine\\fR \\fICOMMAND\\fR [\\fIflags\\fR]\n.SH COMMANDS\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, ".TP\n\\fBengine %s\\fR\n%s\n", c.name, roff(c.summary))
	}
	b.WriteString(manExitStatus)
	b.WriteString(".SH SEE ALSO\n")
	var refs []string
	for _, d := range docs {
		refs = append(refs, fmt.Sprintf("\\fB%s\\fR(1)", pageName(d.name)))
	}
	b.WriteString(strings.Join(refs, ",\n") + "\n")
	pages["engine.1"] = slices.Clone(b.Bytes())
	for _, d := range docs {
		b.Reset()
		page := pageName(d.name)
		fmt.Fprintf(&b, ".TH %s 1 %q %q \"User Commands\"\n", strings.ToUpper(page), date, "engine "+v)
		fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", page, roff(summaryOf(d.name)))
		usage, desc := splitSynopsis(d.synopsis)
		b.WriteString(".SH SYNOPSIS\n.nf\n" + roff(usage) + "\n.fi\n")
		if desc != "" {
			b.WriteString(".SH DESCRIPTION\n")
			for _, para := range strings.Split(desc, "\n\n") {
				b.WriteString(".PP\n" + roff(para) + "\n")
			}
		}
		b.WriteString(".SH OPTIONS\n")
		d.fs.VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			fmt.Fprintf(&b, ".TP\n%s\n%s\n", roffFlag(f), roff(flagUsage(f)))
		})
		b.WriteString(".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\nprint the help and exit\n")
		b.WriteString(manExitStatus)
		b.WriteString(".SH SEE ALSO\n\\fBengine\\fR(1)\n")
		pages[page+".1"] = slices.Clone(b.Bytes())
	}
	return pages
}

const manExitStatus = `.SH EXIT STATUS
.TP
0
success (and -h, --help)
.TP
1
a runtime error: no engine running, no permission, an interface or address that cannot be used
.TP
2
a usage error: an unknown flag, a bad value, a missing or extra argument, an invalid configuration file
`

func pageName(cmd string) string { return "engine-" + strings.ReplaceAll(cmd, " ", "-") }

// splitSynopsis cuts a synopsis into its Usage lines and the text after.
func splitSynopsis(s string) (usage, desc string) {
	s = strings.TrimSpace(s)
	usage, desc, _ = strings.Cut(s, "\n\n")
	return strings.TrimPrefix(usage, "Usage: "), strings.TrimSpace(desc)
}

// roff escapes text for troff: backslashes, dashes, and lines that would
// start with a control character.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

func roffFlag(f *pflag.Flag) string {
	var s string
	if f.Shorthand != "" {
		s = `\fB\-` + f.Shorthand + `\fR, `
	}
	s += `\fB\-\-` + roff(f.Name) + `\fR`
	if name, _ := pflag.UnquoteUsage(f); name != "" && f.NoOptDefVal == "" {
		s += ` \fI` + roff(name) + `\fR`
	}
	return s
}

// flagUsage is the flag's help with its default, as the help prints it.
func flagUsage(f *pflag.Flag) string {
	_, usage := pflag.UnquoteUsage(f)
	switch f.DefValue {
	case "", "false", "0", "0s", "[]":
		return usage
	}
	if f.Value.Type() != "func" && !strings.Contains(usage, "(default") {
		usage += fmt.Sprintf(" (default %s)", f.DefValue)
	}
	return usage
}
