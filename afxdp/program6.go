package afxdp

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// IPv6 steering. The program's second address map, engine_addrs6, is
// keyed by a whole IPv6 address; every entry steers packets to it:
//
//   - an owned address (AddAddr): everything to it;
//   - the solicited-node multicast group of an owned address (RFC 4291
//     2.7.1, ff02::1:ffXX:XXXX): the Neighbor Solicitations for it, DAD
//     probes included. Two owned addresses may share a group: it is
//     counted, and stays while one of them does;
//   - a joined multicast group (AddGroup): everything to it (MLD's
//     group-specific queries included, which the engine's MLD host answers).
//
// Everything else of IPv6 stays the host's: its link-local traffic, Router
// Advertisements and MLD general queries (to ff02::1: ICMPv6Tap gives
// the engine a copy), and multicast the
// engine did not join. One exception, for DAD: a Neighbor Advertisement to
// all nodes (ff02::1) whose target is an owned address goes to the engine,
// which defends the address or learns that it is a duplicate (the host
// would only have updated a cache entry it does not have).
//
// The solicited-node group of an owned address may be the host's too (its
// link-local address with the same low 24 bits, one chance in 16 million):
// the host then no longer hears solicitations to that group on this
// interface.

// Values of the IPv6 address map (the union of the kinds an address has).
const (
	addr6Owned     = 1
	addr6Solicited = 4
	addr6Group     = 8
)

// solicitedNode is the solicited-node multicast group of a (RFC 4291 2.7.1).
func solicitedNode(a [16]byte) [16]byte {
	return [16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]}
}

// groupMAC6 is the Ethernet address of an IPv6 multicast group (RFC 2464 7).
func groupMAC6(g [16]byte) [6]byte { return [6]byte{0x33, 0x33, g[12], g[13], g[14], g[15]} }

// addAddr6 owns a: the address itself and its solicited-node group (with
// the group's MAC address on the interface). p.mu held.
func (p *Program) addAddr6(a netip.Addr) error {
	k := a.As16()
	if p.kinds6[k]&addr6Owned != 0 {
		return nil
	}
	sol := solicitedNode(k)
	if p.solRefs[sol] == 0 {
		if err := p.linkMembership(netip.AddrFrom16(sol), unix.PACKET_ADD_MEMBERSHIP); err != nil {
			return err
		}
		if err := p.setKind6(sol, addr6Solicited, true); err != nil {
			p.linkMembership(netip.AddrFrom16(sol), unix.PACKET_DROP_MEMBERSHIP)
			return bpfErr("add solicited-node group of "+a.String(), err)
		}
	}
	p.solRefs[sol]++
	if err := p.setKind6(k, addr6Owned, true); err != nil {
		p.releaseSolicited(sol)
		return bpfErr("add address "+a.String(), err)
	}
	return nil
}

// removeAddr6 gives a back to the host, and its solicited-node group when
// no other owned address shares it. p.mu held.
func (p *Program) removeAddr6(a netip.Addr) error {
	k := a.As16()
	if p.kinds6[k]&addr6Owned == 0 {
		return nil
	}
	var err error
	if e := p.setKind6(k, addr6Owned, false); e != nil {
		err = bpfErr("remove address "+a.String(), e)
	}
	return errors.Join(err, p.releaseSolicited(solicitedNode(k)))
}

func (p *Program) releaseSolicited(sol [16]byte) error {
	if p.solRefs[sol]--; p.solRefs[sol] > 0 {
		return nil
	}
	delete(p.solRefs, sol)
	var err error
	if e := p.setKind6(sol, addr6Solicited, false); e != nil {
		err = bpfErr("remove solicited-node group "+netip.AddrFrom16(sol).String(), e)
	}
	return errors.Join(err, p.linkMembership(netip.AddrFrom16(sol), unix.PACKET_DROP_MEMBERSHIP))
}

// setKind6 sets or clears one kind of k in the IPv6 address map. p.mu held.
func (p *Program) setKind6(k [16]byte, kind uint32, on bool) error {
	v := p.kinds6[k] &^ kind
	if on {
		v |= kind
	}
	var err error
	if v == 0 {
		if err = p.addrs6.Delete(k); errors.Is(err, ebpf.ErrKeyNotExist) {
			err = nil
		}
	} else {
		err = p.addrs6.Put(k, v)
	}
	if err != nil {
		return err
	}
	if v == 0 {
		delete(p.kinds6, k)
	} else {
		p.kinds6[k] = v
	}
	return nil
}

// l3v6 checks an IPv6 header at off, copies its destination to the stack
// (fp-16) and goes to lookup6 with r7 = off.
func l3v6(off int32, sfx string) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Imm(asm.R7, off).WithSymbol("ipv6" + sfx),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, off+40),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
	}
	insns = append(insns, copy16(asm.R2, int16(off+24))...)
	return append(insns, asm.Ja.Label("lookup6"))
}

// copy16 copies the 16 bytes at src+off to the stack at fp-16 (r5 is
// the scratch register).
func copy16(src asm.Register, off int16) asm.Instructions {
	var insns asm.Instructions
	for i := int16(0); i < 16; i += 4 {
		insns = append(insns,
			asm.LoadMem(asm.R5, src, off+i, asm.Word),
			asm.StoreMem(asm.RFP, -16+i, asm.R5, asm.Word),
		)
	}
	return insns
}

// lookup6Insns looks the IPv6 destination at fp-16 up in the IPv6 address
// map (any entry: redirect), else, for a Neighbor Advertisement to
// ff02::1, its target: redirect when it is an owned address. r7 holds the
// offset of the IPv6 header (a constant on each path, which the verifier
// tracks, so the pointer it is added to is checked once more).
func lookup6Insns() asm.Instructions {
	insns := asm.Instructions{
		asm.LoadMapPtr(asm.R1, 0).WithReference("engine_addrs6").WithSymbol("lookup6"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, "redirect"),
		// ff02::1?
		asm.LoadMem(asm.R5, asm.RFP, -16, asm.Word),
		asm.JNE.Imm32(asm.R5, be32(0xff020000), "pass"),
		asm.LoadMem(asm.R5, asm.RFP, -12, asm.Word),
		asm.JNE.Imm32(asm.R5, 0, "pass"),
		asm.LoadMem(asm.R5, asm.RFP, -8, asm.Word),
		asm.JNE.Imm32(asm.R5, 0, "pass"),
		asm.LoadMem(asm.R5, asm.RFP, -4, asm.Word),
		asm.JNE.Imm32(asm.R5, be32(1), "pass"),
		// An ICMPv6 Neighbor Advertisement (no extension headers: RFC
		// 4861 7.1.2 has the hop limit 255, and a node sends none).
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // ctx->data
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word), // ctx->data_end
		asm.Add.Reg(asm.R2, asm.R7),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 40+24), // the IPv6 header, the NA to its target's end
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 6, asm.Byte), // next header
		asm.JNE.Imm(asm.R5, 58, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 40, asm.Byte), // ICMPv6 type
		asm.JNE.Imm(asm.R5, 136, "pass"),
	}
	insns = append(insns, copy16(asm.R2, 48)...)
	return append(insns,
		asm.LoadMapPtr(asm.R1, 0).WithReference("engine_addrs6"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.And.Imm(asm.R1, addr6Owned),
		asm.JEq.Imm(asm.R1, 0, "pass"),
		asm.Ja.Label("redirect"),
	)
}

// be32 gives the value a load of the network-order bytes of v yields on
// this host, as a 32-bit immediate.
func be32(v uint32) int32 {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return int32(binary.NativeEndian.Uint32(b[:]))
}
