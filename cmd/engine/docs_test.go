package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionBash: the script lists the commands and each command's
// flags, and bash accepts it.
func TestCompletionBash(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"completion", "bash"}, &out, &errb); code != 0 {
		t.Fatalf("engine completion bash: exit %d: %s", code, errb.String())
	}
	script := out.String()
	for _, want := range []string{"complete -F _engine engine", `"serve") words=`, "--interface", "--http-expose-status",
		`"bench udp") words=`, "status stats", "--config"} {
		if !strings.Contains(script, want) {
			t.Errorf("completion lacks %q", want)
		}
	}
	if code := run([]string{"completion", "tcsh"}, &out, &errb); code != 2 {
		t.Errorf("engine completion tcsh: exit %d, want 2", code)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	// Complete "engine ss --he" and "engine st" with the script loaded.
	for line, want := range map[string]string{
		"engine st":          "stats",
		"engine ss --no-h":   "--no-header",
		"engine bench u":     "udp",
		"engine serve --con": "--config",
	} {
		words := strings.Fields(line)
		cmd := exec.Command(bash, "-c", script+`
COMP_WORDS=(`+strings.Join(words, " ")+`); COMP_CWORD=`+string(rune('0'+len(words)-1))+`; _engine; echo "${COMPREPLY[@]}"`)
		got, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(got), want) {
			t.Errorf("completing %q: %q, %v; want %s", line, got, err, want)
		}
	}
}

// TestManPages: engine man writes a page per command, each listing the
// command's flags once, and man(1) formats them when it is installed.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"man", dir}, &out, &errb); code != 0 {
		t.Fatalf("engine man: exit %d: %s", code, errb.String())
	}
	for _, name := range []string{"engine.1", "engine-serve.1", "engine-ss.1", "engine-stats.1", "engine-status.1", "engine-bench-udp.1", "engine-lb.1"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.HasPrefix(b, []byte(".TH ")) || !bytes.Contains(b, []byte(".SH EXIT STATUS")) {
			t.Errorf("%s is not a man page:\n%.300s", name, b)
		}
	}
	serve, _ := os.ReadFile(filepath.Join(dir, "engine-serve.1"))
	if n := bytes.Count(serve, []byte(`\fB\-\-interface\fR`)); n != 1 || !bytes.Contains(serve, []byte(`\fB\-i\fR, \fB\-\-interface\fR`)) {
		t.Errorf("engine-serve.1 lists --interface %d times, want once with -i", n)
	}
	if code := run([]string{"man"}, &out, &errb); code != 2 {
		t.Errorf("engine man without a directory: exit %d, want 2", code)
	}
	man, err := exec.LookPath("man")
	if err != nil {
		return
	}
	cmd := exec.Command(man, "-l", filepath.Join(dir, "engine-ss.1"))
	cmd.Env = append(os.Environ(), "MANPAGER=cat", "MANWIDTH=100")
	if got, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(got), "--no-header") {
		t.Errorf("man -l engine-ss.1: %v\n%s", err, got)
	}
}
