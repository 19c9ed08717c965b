package reflector

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// XDPName is the name of the reflecting XDP program in the kernel.
const XDPName = "bench_reflect"

// XDP is Reflect as an XDP program attached to an interface: an IPv4 UDP
// or TCP frame addressed to the program's address, without IPv4 options,
// goes back out of the interface it came in on (XDP_TX) with its Ethernet
// and IPv4 addresses and ports swapped, checksums untouched, as Reflect
// does; everything else (ARP, other addresses, fragments after the first
// one's header, IPv4 options) is passed to the kernel, which answers ARP
// for an address it owns. No user-space thread takes part, so a round
// trip through it costs the sender's CPU alone: on a veth pair the
// reflection runs in the softirq that the sender's transmit raises, which
// is what a measurement of the generator's own latency wants.
type XDP struct {
	prog *ebpf.Program
	lnk  link.Link
}

// ErrXDPAttach is returned (wrapping the kernel's error) when the program
// cannot be loaded or attached.
var ErrXDPAttach = errors.New("reflector: attach XDP")

// AttachXDP loads the reflecting program for addr (IPv4) and attaches it to
// ifname in native (driver) mode, or generic mode where the driver has no
// XDP. Close detaches it.
func AttachXDP(ifname string, addr netip.Addr) (*XDP, error) {
	if !addr.Is4() {
		return nil, fmt.Errorf("%w: %v is not IPv4", ErrXDPAttach, addr)
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrXDPAttach, ifname, err)
	}
	prog, err := loadXDP(addr)
	if err != nil {
		return nil, err
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index, Flags: link.XDPDriverMode})
	if err != nil {
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index, Flags: link.XDPGenericMode})
	}
	if err != nil {
		prog.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrXDPAttach, ifname, err)
	}
	return &XDP{prog: prog, lnk: l}, nil
}

// loadXDP loads the program for addr without attaching it.
func loadXDP(addr netip.Addr) (*ebpf.Program, error) {
	_ = rlimit.RemoveMemlock() // kernels before 5.11 charge maps and programs to RLIMIT_MEMLOCK
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: XDPName, Type: ebpf.XDP,
		License: "Dual BSD/GPL", Instructions: xdpInsns(addr.As4())})
	if err != nil {
		return nil, fmt.Errorf("%w: load: %w", ErrXDPAttach, err)
	}
	return prog, nil
}

// Close detaches and unloads the program.
func (x *XDP) Close() error {
	return errors.Join(x.lnk.Close(), x.prog.Close())
}

// xdpInsns is the program: r2 = data, r3 = data_end; one bounds check for
// Ethernet, a 20-byte IPv4 header and the four bytes of ports, then loads
// and stores at constant offsets from r2. Loads of 16- and 32-bit fields
// are in host (little-endian) order, so the constants compared with them
// are the wire bytes read the same way.
func xdpInsns(addr [4]byte) asm.Instructions {
	le32 := int32(uint32(addr[0]) | uint32(addr[1])<<8 | uint32(addr[2])<<16 | uint32(addr[3])<<24)
	const (
		xdpPass = 2
		xdpTX   = 3
	)
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // ctx->data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // ctx->data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14+20+4),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half), // EtherType 0x0800
		asm.JNE.Imm(asm.R5, 0x0008, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 14, asm.Byte), // version 4, IHL 5
		asm.JNE.Imm(asm.R5, 0x45, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 14+16, asm.Word), // destination address
		asm.JNE.Imm(asm.R5, le32, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 14+9, asm.Byte), // protocol: UDP or TCP
		asm.JEq.Imm(asm.R5, 17, "l4"),
		asm.JNE.Imm(asm.R5, 6, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 14+6, asm.Half).WithSymbol("l4"), // fragment offset 0
		asm.And.Imm(asm.R5, 0xff1f),
		asm.JNE.Imm(asm.R5, 0, "pass"),
		// Ethernet destination <-> source (6 bytes each: a word and a half).
		asm.LoadMem(asm.R4, asm.R2, 0, asm.Word),
		asm.LoadMem(asm.R5, asm.R2, 6, asm.Word),
		asm.StoreMem(asm.R2, 0, asm.R5, asm.Word),
		asm.StoreMem(asm.R2, 6, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.R2, 4, asm.Half),
		asm.LoadMem(asm.R5, asm.R2, 10, asm.Half),
		asm.StoreMem(asm.R2, 4, asm.R5, asm.Half),
		asm.StoreMem(asm.R2, 10, asm.R4, asm.Half),
		// IPv4 source <-> destination.
		asm.LoadMem(asm.R4, asm.R2, 14+12, asm.Word),
		asm.LoadMem(asm.R5, asm.R2, 14+16, asm.Word),
		asm.StoreMem(asm.R2, 14+12, asm.R5, asm.Word),
		asm.StoreMem(asm.R2, 14+16, asm.R4, asm.Word),
		// Source port <-> destination port.
		asm.LoadMem(asm.R4, asm.R2, 34, asm.Half),
		asm.LoadMem(asm.R5, asm.R2, 36, asm.Half),
		asm.StoreMem(asm.R2, 34, asm.R5, asm.Half),
		asm.StoreMem(asm.R2, 36, asm.R4, asm.Half),
		asm.Mov.Imm(asm.R0, xdpTX),
		asm.Return(),
		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
		asm.Return(),
	}
}
