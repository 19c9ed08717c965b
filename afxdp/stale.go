package afxdp

import (
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// DetachStale removes every engine XDP program (by name, ProgramName) from
// ifname: those held by a BPF link (pinned, or of a process still running)
// are detached through the link; those attached through netlink (no link)
// are removed through netlink. Programs of other names are left alone. It
// returns what it removed.
func DetachStale(ifname string) ([]StaleProgram, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrNoInterface, ifname, unix.ENODEV)
	}
	return DetachStaleIndex(ifi.Index)
}

// DetachStaleIndex is DetachStale by interface index.
func DetachStaleIndex(ifindex int) ([]StaleProgram, error) {
	var out []StaleProgram
	it := new(link.Iterator)
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil || info.Type != link.XDPType {
			continue
		}
		if x := info.XDP(); x == nil || int(x.Ifindex) != ifindex || !isOurs(uint32(info.Program)) {
			continue
		}
		if err := it.Link.Detach(); err != nil {
			return out, bpfErr(fmt.Sprintf("detach bpf_link %d", it.ID), err)
		}
		out = append(out, StaleProgram{ProgramID: uint32(info.Program), Via: "bpf_link", LinkID: uint32(it.ID)})
	}
	if err := it.Err(); err != nil {
		return out, bpfErr("list BPF links", err)
	}

	id, mode, err := attachedProgram(ifindex)
	if err != nil {
		return out, err
	}
	if id == 0 || !isOurs(id) {
		return out, nil
	}
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return out, fmt.Errorf("%w: index %d: %w", ErrNoInterface, ifindex, err)
	}
	flags := map[uint32]int{
		nl.XDP_ATTACHED_DRV: unix.XDP_FLAGS_DRV_MODE,
		nl.XDP_ATTACHED_SKB: unix.XDP_FLAGS_SKB_MODE,
		nl.XDP_ATTACHED_HW:  unix.XDP_FLAGS_HW_MODE,
	}[mode]
	if err := netlink.LinkSetXdpFdWithFlags(l, -1, flags); err != nil {
		return out, bpfErr(fmt.Sprintf("remove XDP program %d through netlink", id), err)
	}
	return append(out, StaleProgram{ProgramID: id, Via: "netlink"}), nil
}

// attachedProgram returns the id and attach mode (nl.XDP_ATTACHED_*) of
// the XDP program on ifindex, or 0.
func attachedProgram(ifindex int) (uint32, uint32, error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: index %d: %w", ErrNoInterface, ifindex, err)
	}
	x := l.Attrs().Xdp
	if x == nil || !x.Attached {
		return 0, 0, nil
	}
	return x.ProgId, x.AttachMode, nil
}

// AttachedProgram reports the id and name of the XDP program attached to
// ifname (id 0: none).
func AttachedProgram(ifname string) (id uint32, name string, err error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %q: %w", ErrNoInterface, ifname, unix.ENODEV)
	}
	if id, _, err = attachedProgram(ifi.Index); err != nil || id == 0 {
		return id, "", err
	}
	return id, programName(id), nil
}

func programName(id uint32) string {
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return ""
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return ""
	}
	return info.Name
}

func isOurs(id uint32) bool { return programName(id) == ProgramName }
