package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/internal/testbed"
	"golang.org/x/sys/unix"
)

func TestDetachUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"detach"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "engine detach -i IF") {
		t.Fatalf("engine detach without -i: exit %d, stderr %q", code, errb.String())
	}
}

func TestDetachRemovesStaleProgram(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	// A program of the engine's name left attached through netlink, as a
	// crashed run that did not use a BPF link would leave it.
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: afxdp.ProgramName, Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := netlink.LinkByIndex(bed.HostIndex)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetXdpFdWithFlags(l, prog.FD(), unix.XDP_FLAGS_SKB_MODE); err != nil {
		t.Fatal(err)
	}
	prog.Close()

	var out, errb bytes.Buffer
	if code := run([]string{"detach", "-i", bed.HostIf}, &out, &errb); code != 0 {
		t.Fatalf("engine detach: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "removed program") || !strings.Contains(out.String(), "via netlink") {
		t.Fatalf("output %q", out.String())
	}
	if id, _, _ := afxdp.AttachedProgram(bed.HostIf); id != 0 {
		t.Fatalf("program %d still attached", id)
	}
	out.Reset()
	if code := run([]string{"detach", "-i", bed.HostIf}, &out, &errb); code != 0 || !strings.Contains(out.String(), "no engine XDP program") {
		t.Fatalf("second detach: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"detach", "-ji", bed.HostIf}, &out, &errb); code != 0 || !strings.Contains(out.String(), `"removed": []`) {
		t.Fatalf("detach --json: exit %d, %q", code, out.String())
	}
	if code := run([]string{"detach", "-i", "xebnosuchif0"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no such interface") {
		t.Fatalf("unknown interface: exit %d, %q", code, errb.String())
	}
}
