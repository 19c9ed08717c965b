package testbed

import (
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// AttachPeerPassXDP attaches an XDP program that passes every frame to
// PeerIf, in the peer namespace, and returns what detaches it and frees
// the program (call it when done, t.Cleanup).
//
// It is for tests of an engine that sends frames with XDP_TX in native
// mode: veth delivers such frames promptly only to a peer that has an XDP
// program of its own. It queues them for a peer with NAPI (GRO on) but
// schedules that NAPI only when the peer has a program (veth_xdp_flush in
// drivers/net/veth.c), and drops them for a peer with neither. A NIC needs
// nothing of the kind; generic XDP mode needs nothing either.
func (b *Bed) AttachPeerPassXDP() (detach func() error, err error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "bed_pass", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}}) // XDP_PASS
	if err != nil {
		return nil, fmt.Errorf("testbed: load XDP_PASS: %w", err)
	}
	var l link.Link
	if err := b.Do(func() error {
		ifi, err := net.InterfaceByName(b.PeerIf)
		if err != nil {
			return err
		}
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index})
		return err
	}); err != nil {
		prog.Close()
		return nil, fmt.Errorf("testbed: XDP_PASS on %s: %w", b.PeerIf, err)
	}
	return func() error {
		err := l.Close()
		prog.Close()
		return err
	}, nil
}
