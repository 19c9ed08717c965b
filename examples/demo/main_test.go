package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/internal/testbed"
)

// buildDemo builds the demo program into a test directory.
func buildDemo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "demo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build the demo: %v\n%s", err, out)
	}
	return bin
}

// checkGone fails t if the demo process pid left a bed, or if pid's engine
// child still runs.
func checkGone(t *testing.T, pid int, out string) {
	t.Helper()
	if left := testbed.Leftovers(pid); len(left) > 0 {
		t.Errorf("the demo left behind: %v", left)
		testbed.Sweep() // the demo exited: its beds are swept
	}
	if m := regexp.MustCompile(`runs \(pid (\d+)\)`).FindStringSubmatch(out); m != nil {
		child, _ := strconv.Atoi(m[1])
		if err := syscall.Kill(child, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("engine serve (pid %d) still runs after the demo: %v", child, err)
			syscall.Kill(child, syscall.SIGKILL)
		}
	}
}

// TestDemo runs the demo end to end as `make demo` does (it builds the
// engine itself) and checks its exit status and narration.
func TestDemo(t *testing.T) {
	testbed.RequirePrivileged(t)
	cmd := exec.Command(buildDemo(t))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := out.String()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, text)
	}
	for _, want := range []string{
		"$ go build -o ",
		"$ engine serve -i xeb",
		`msg="engine started"`,
		"3 packets transmitted, 3 received, 0% packet loss",
		"rtt min/avg/max/mdev = ",
		"ok: the engine answered ICMP echo from userspace",
		`"hello from the peer kernel", echoed in `,
		"5 exchanges: rtt min ",
		"in 41 IPv4 fragments (MTU 1500)",
		"engine: 41 fragments received, 1 datagram reassembled; 1 datagram fragmented into 41 fragments",
		"60000 bytes, byte-for-byte equal",
		`the peer's read returned "connection refused"`,
		"ping6 from the peer kernel",
		"ok: the engine answered ICMPv6 echo from userspace",
		"$ engine ping --ctl ",
		"ok: echo requests built by the engine",
		`"hello over IPv6 (udp6)", echoed in `,
		`"hello over IPv6 (tcp6)", echoed in `,
		"udp   UNCONN 0      0      [::]:7             [::]:*",
		"tcp   LISTEN 0      4096   [::]:7             [::]:*",
		`engine_ipv6_packets_total{direction="in",queue="0"} `,
		`engine_drops_total{queue="0",reason="no_socket"} 1`,
		`msg="final counters"`,
		"engine serve exited with status 0",
		"no XDP program left on xeb",
		"nothing left behind",
		"demo: all 7 exchanges succeeded",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if !regexp.MustCompile(`\n  datagrams reassembled +1\n`).MatchString(text) {
		t.Errorf("demo output lacks the stats row \"datagrams reassembled 1\"")
	}
	if n := strings.Count(text, "3 packets transmitted, 3 received, 0% packet loss"); n != 4 {
		t.Errorf("%d pings of 3 answered, want 4 (the peer's over IPv4 and IPv6, the engine's over both)", n)
	}
	if strings.Contains(text, "FAILED") {
		t.Errorf("demo reported a failure")
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", text)
	}
	checkGone(t, cmd.Process.Pid, text)
}

// TestDemoEngineFails gives the demo an engine that exits at once: the demo
// says so, exits 1 and still removes its bed.
func TestDemoEngineFails(t *testing.T) {
	testbed.RequirePrivileged(t)
	fake := filepath.Join(t.TempDir(), "engine")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'engine serve: cannot serve today' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(buildDemo(t), "-engine", fake)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("demo with a failing engine: %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{"[engine] engine serve: cannot serve today", "engine serve exited before it served",
		"nothing left behind", "demo: FAILED: setup"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	checkGone(t, cmd.Process.Pid, string(out))
}

// TestDemoInterrupted sends SIGINT to the demo while it runs: it stops the
// engine, removes the bed and exits 130.
func TestDemoInterrupted(t *testing.T) {
	testbed.RequirePrivileged(t)
	engineBin := filepath.Join(t.TempDir(), "engine")
	if err := buildEngine(engineBin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(buildDemo(t), "-engine", engineBin)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	waited := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); waited <- err }()
	sc := bufio.NewScanner(pr)
	sent := false
	for sc.Scan() {
		text.WriteString(sc.Text() + "\n")
		if !sent && strings.HasPrefix(sc.Text(), "== 1. ping") {
			cmd.Process.Signal(syscall.SIGINT)
			sent = true
		}
	}
	var err error
	select {
	case err = <-waited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the demo did not exit after SIGINT:\n%s", text.String())
	}
	var ee *exec.ExitError
	if !sent || !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("interrupted demo: sent %v, %v, want exit status 130\n%s", sent, err, text.String())
	}
	if !strings.Contains(text.String(), "stopping the engine and removing the test bed") ||
		!strings.Contains(text.String(), "nothing left behind") {
		t.Errorf("interrupted demo output:\n%s", text.String())
	}
	checkGone(t, cmd.Process.Pid, text.String())
}
