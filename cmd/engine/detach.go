package main

import (
	"fmt"
	"io"

	"github.com/xdpengine/engine/afxdp"
)

const detachSynopsis = `
Usage: engine detach -i IFACE

Remove the engine's XDP program (` + afxdp.ProgramName + `) from IFACE, whether a
previous run left it attached through netlink or through a pinned or
still-held BPF link. Programs of other names are left alone.`

// runDetach removes the engine's XDP program from an interface, whether a
// previous run left it attached through netlink or through a pinned or
// still-held BPF link. Programs of other names are left alone.
func runDetach(args []string, stdout, stderr io.Writer) error {
	fs := flagSet("detach", detachSynopsis)
	ifname := fs.StringP("interface", "i", "", "`interface` to remove the engine's XDP program from (required)")
	asJSON := fs.BoolP("json", "j", false, "print the result as JSON: interface, removed (the programs removed, as strings)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *ifname == "" {
		return usagef("no interface: run engine detach -i IF")
	}
	removed, err := afxdp.DetachStale(*ifname)
	if *asJSON && err == nil {
		out := struct {
			Interface string   `json:"interface"`
			Removed   []string `json:"removed"`
		}{*ifname, []string{}}
		for _, p := range removed {
			out.Removed = append(out.Removed, fmt.Sprint(p))
		}
		return writeJSON(stdout, out)
	}
	for _, p := range removed {
		fmt.Fprintf(stdout, "removed %v from %s\n", p, *ifname)
	}
	if err != nil {
		return err
	}
	if len(removed) == 0 {
		msg := "no engine XDP program on " + *ifname
		if id, name, err := afxdp.AttachedProgram(*ifname); err == nil && id != 0 {
			msg += fmt.Sprintf(" (program %d %q is attached and is not the engine's; left alone)", id, name)
		}
		fmt.Fprintln(stdout, msg)
	}
	return nil
}
