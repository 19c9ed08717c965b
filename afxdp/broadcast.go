package afxdp

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/cilium/ebpf/asm"
)

// portBitmapSize is the size of the broadcast port map's one value: a bit
// per UDP port, bit p%8 of byte p/8.
const portBitmapSize = 65536 / 8

// DirectedBroadcast returns the directed broadcast address of an IPv4
// prefix (its host bits all ones), and false for a prefix that has none:
// IPv6, or /31 and /32 (RFC 3021), as Linux adds no broadcast route for
// them.
func DirectedBroadcast(p netip.Prefix) (netip.Addr, bool) {
	if !p.Addr().Is4() || p.Bits() < 0 || p.Bits() >= 31 {
		return netip.Addr{}, false
	}
	b := p.Masked().Addr().As4()
	host := ^uint32(0) >> p.Bits()
	for i := range b {
		b[i] |= byte(host >> (24 - 8*i))
	}
	return netip.AddrFrom4(b), true
}

// AddBroadcastAddr registers a directed broadcast address of the engine's
// subnets (DirectedBroadcast of an owned prefix): UDP to it on a
// broadcast port (AddBroadcastPort) goes to the sockets, like UDP to
// 255.255.255.255, which needs no registration. Everything else to it,
// and ARP for it, stays the host's. It shares the owned-address map
// (ProgramConfig.MaxAddrs); an address that is also owned stays owned.
// Adding an address twice is a no-op.
func (p *Program) AddBroadcastAddr(a netip.Addr) error {
	if !a.Is4() || a.IsMulticast() || a.IsUnspecified() {
		return fmt.Errorf("%w: %v is not an IPv4 broadcast address", ErrConfig, a)
	}
	return p.setKind(a, addrBroadcast, true, "add broadcast address ")
}

// RemoveBroadcastAddr unregisters a directed broadcast address; removing
// one that was not added is a no-op.
func (p *Program) RemoveBroadcastAddr(a netip.Addr) error {
	if !a.Is4() {
		return fmt.Errorf("%w: %v is not an IPv4 address", ErrConfig, a)
	}
	return p.setKind(a, addrBroadcast, false, "remove broadcast address ")
}

// AddBroadcastPort makes broadcast UDP to port the engine's: a datagram to
// 255.255.255.255 or to a registered directed broadcast address, whose
// destination port is port, goes to the sockets. Other broadcasts (DHCP's
// 67 and 68, NetBIOS, ...) stay with the host unless the engine adds their
// port. Registrations are counted here: each AddBroadcastPort needs a
// RemoveBroadcastPort, so every engine socket that may receive broadcasts
// (a UDP socket bound to the wildcard or to a broadcast address) can add
// its port when it binds and remove it when it closes. Port 0 is refused
// (ErrConfig). Fragmented broadcasts stay with the host: the port of a
// later fragment is not known.
func (p *Program) AddBroadcastPort(port uint16) error {
	if port == 0 {
		return fmt.Errorf("%w: broadcast port 0", ErrConfig)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.portRefs[port] == 0 {
		if err := p.setPortBit(port, true); err != nil {
			return err
		}
	}
	p.portRefs[port]++
	return nil
}

// RemoveBroadcastPort drops one registration of port; the last one gives
// broadcast UDP to it back to the host. Removing a port with no
// registration is a no-op.
func (p *Program) RemoveBroadcastPort(port uint16) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	switch p.portRefs[port] {
	case 0:
		return nil
	case 1:
		if err := p.setPortBit(port, false); err != nil {
			return err
		}
		delete(p.portRefs, port)
	default:
		p.portRefs[port]--
	}
	return nil
}

// BroadcastPorts returns the registered broadcast ports, sorted.
func (p *Program) BroadcastPorts() []uint16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]uint16, 0, len(p.portRefs))
	for port := range p.portRefs {
		out = append(out, port)
	}
	slices.Sort(out)
	return out
}

// setPortBit updates the bitmap and writes it to the map. Called with p.mu
// held. An array map's value is updated in place: a program running
// meanwhile reads every other byte unchanged.
func (p *Program) setPortBit(port uint16, on bool) error {
	old := p.bitmap[port/8]
	if on {
		p.bitmap[port/8] |= 1 << (port % 8)
	} else {
		p.bitmap[port/8] &^= 1 << (port % 8)
	}
	if err := p.bports.Put(uint32(0), p.bitmap[:]); err != nil {
		p.bitmap[port/8] = old
		return bpfErr(fmt.Sprintf("broadcast port %d", port), err)
	}
	return nil
}

// broadcastInsns is the broadcast check, entered at "bcheck" with r7 the
// offset of an IPv4 header whose destination is a broadcast address: an
// unfragmented UDP datagram whose destination port has its bit in the
// port map is redirected, anything else passed. r2 and r3 are reloaded
// from ctx (a helper call may have clobbered them), so the header is
// bounds-checked again.
func broadcastInsns() asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word).WithSymbol("bcheck"), // ctx->data
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word),                      // ctx->data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Reg(asm.R4, asm.R7), // the IPv4 header (r7 is 14, or 18 behind an 802.1Q tag)
		asm.Mov.Reg(asm.R1, asm.R4),
		asm.Add.Imm(asm.R1, 20),
		asm.JGT.Reg(asm.R1, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R4, 9, asm.Byte), // protocol
		asm.JNE.Imm(asm.R5, 17, "pass"),
		asm.LoadMem(asm.R5, asm.R4, 6, asm.Half), // flags and fragment offset
		asm.And.Imm(asm.R5, be16(0x3fff)),        // MF or an offset: a fragment
		asm.JNE.Imm(asm.R5, 0, "pass"),
		asm.LoadMem(asm.R5, asm.R4, 0, asm.Byte), // version and IHL
		asm.And.Imm(asm.R5, 0x0f),
		asm.LSh.Imm(asm.R5, 2),
		asm.JLT.Imm(asm.R5, 20, "pass"),
		asm.Add.Reg(asm.R4, asm.R5), // the UDP header
		asm.Mov.Reg(asm.R1, asm.R4),
		asm.Add.Imm(asm.R1, 8),
		asm.JGT.Reg(asm.R1, asm.R3, "pass"),
		// The destination port, in host order, from its two bytes: the
		// verifier then knows it is below 65536.
		asm.LoadMem(asm.R8, asm.R4, 2, asm.Byte),
		asm.LSh.Imm(asm.R8, 8),
		asm.LoadMem(asm.R5, asm.R4, 3, asm.Byte),
		asm.Or.Reg(asm.R8, asm.R5),
		asm.Mov.Imm(asm.R1, 0),
		asm.StoreMem(asm.RFP, -4, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference("engine_bports"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.Mov.Reg(asm.R1, asm.R8),
		asm.RSh.Imm(asm.R1, 3),
		asm.Add.Reg(asm.R0, asm.R1),
		asm.LoadMem(asm.R2, asm.R0, 0, asm.Byte), // byte port/8 of the bitmap
		asm.And.Imm(asm.R8, 7),
		asm.RSh.Reg(asm.R2, asm.R8),
		asm.And.Imm(asm.R2, 1),
		asm.JEq.Imm(asm.R2, 0, "pass"),
		asm.Ja.Label("redirect"),
	}
}
