package main

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xdpengine/engine/internal/testbed"
)

// TestPortsCommand: engine ports shows, changes and reserves the running
// engine's ephemeral ports through the control socket; a range Linux would
// refuse is refused with the reason and leaves the running one alone.
func TestPortsCommand(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	sock := filepath.Join(t.TempDir(), "engine.sock")
	srv := startServe(t, sock, "-i", bed.HostIf, "--addr", netip.PrefixFrom(bed.EngineAddr, 24).String(),
		"--ctl", sock, "--ports", "40000-40999", "--reserved-ports", "40010,40100-40199")
	srv.waitControl(t, sock)
	want := func(out, rng, reserved string) {
		t.Helper()
		if out != "ip_local_port_range\t"+rng+"\nip_local_reserved_ports\t"+reserved+"\n" {
			t.Fatalf("engine ports:\n%s\nwant range %s, reserved %q", out, rng, reserved)
		}
	}
	out, stderr, code := engineCmd(t, "ports", "--ctl", sock)
	if code != 0 {
		t.Fatalf("engine ports: exit %d: %s", code, stderr)
	}
	want(out, "40000\t40999", "40010,40100-40199")
	out, stderr, code = engineCmd(t, "ports", "set", "50000-50999", "--ctl", sock)
	if code != 0 {
		t.Fatalf("engine ports set: exit %d: %s", code, stderr)
	}
	want(out, "50000\t50999", "40010,40100-40199")
	out, stderr, code = engineCmd(t, "ports", "reserve", "--ctl", sock)
	if code != 0 {
		t.Fatalf("engine ports reserve: exit %d: %s", code, stderr)
	}
	want(out, "50000\t50999", "")
	// Refused: below 1024 (the kernel's EINVAL), and malformed.
	_, stderr, code = engineCmd(t, "ports", "set", "500-600", "--ctl", sock)
	if code != 1 || !strings.Contains(stderr, "invalid argument") {
		t.Fatalf("engine ports set 500-600: exit %d, %q: want 1 and EINVAL", code, stderr)
	}
	_, stderr, code = engineCmd(t, "ports", "set", "60000-50000", "--ctl", sock)
	if code != 2 || !strings.Contains(stderr, "want FIRST-LAST") {
		t.Fatalf("engine ports set 60000-50000: exit %d, %q", code, stderr)
	}
	out, _, _ = engineCmd(t, "ports", "--ctl", sock)
	want(out, "50000\t50999", "")
	out, _, _ = engineCmd(t, "ports", "-j", "--ctl", sock)
	if !strings.Contains(out, `"first": 50000`) || !strings.Contains(out, `"reserved": []`) {
		t.Errorf("engine ports --json: want snake_case fields:\n%s", out)
	}
}
