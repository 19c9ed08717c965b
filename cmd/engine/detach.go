package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/xdpengine/engine/afxdp"
)

// runDetach removes the engine's XDP program from an interface, whether a
// previous run left it attached through netlink or through a pinned or
// still-held BPF link. Programs of other names are left alone.
func runDetach(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("detach", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ifname := fs.String("i", "", "interface to remove the engine's XDP program from (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: engine detach -i IF\n\nRemove the engine's XDP program ("+afxdp.ProgramName+") from IF.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *ifname == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	removed, err := afxdp.DetachStale(*ifname)
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
