package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// ProgramName is the name of the engine's XDP program in the kernel. A
// program by this name on an interface is the engine's: a new Attach
// replaces it, and DetachStale (engine detach) removes it.
const ProgramName = "engine_xsk"

// XDPMode is how the XDP program is attached.
type XDPMode int

const (
	// XDPAuto tries native (driver) mode, then generic (SKB) mode.
	XDPAuto XDPMode = iota
	// XDPNative requires driver mode.
	XDPNative
	// XDPGeneric forces generic (SKB) mode.
	XDPGeneric
)

func (m XDPMode) String() string {
	switch m {
	case XDPAuto:
		return "auto"
	case XDPNative:
		return "native"
	case XDPGeneric:
		return "generic"
	}
	return fmt.Sprintf("XDPMode(%d)", int(m))
}

// ParseXDPMode parses "auto", "native" or "generic".
func ParseXDPMode(s string) (XDPMode, error) {
	for _, m := range []XDPMode{XDPAuto, XDPNative, XDPGeneric} {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w: XDP mode %q (use auto, native or generic)", ErrConfig, s)
}

// ProgramConfig describes the steering program.
type ProgramConfig struct {
	// Mode: XDPAuto (default), XDPNative or XDPGeneric.
	Mode XDPMode
	// Queues is the size of the XSKMAP (default: the interface's queue count).
	Queues int
	// MaxAddrs bounds the owned-address table (default 256).
	MaxAddrs int
	// MaxGroups bounds the joined multicast group table (default 1024).
	MaxGroups int
	// Addrs are the addresses (IPv4 or IPv6) the engine owns from the start.
	Addrs []netip.Addr
	// Broadcasts are the directed broadcast addresses of the engine's
	// subnets (DirectedBroadcast) from the start; see AddBroadcastAddr.
	// They share the owned-address table's bound.
	Broadcasts []netip.Addr
	// VLAN steers frames with one 802.1Q tag too. Off by default: tagged
	// frames go to the host kernel (XDP_PASS), which may have a VLAN
	// sub-interface for them, while the engine's stack has none and would
	// drop them. Set it only for a receiver that handles the tag.
	VLAN bool
	// FastPath, if positive, gives the program a fast path (fastpath.go)
	// of this many entries per queue: FastTable.
	FastPath int
	// Prelude, if set, runs first on every frame, with r1 = ctx: it
	// returns an action of its own or jumps to the label "steer" with r1
	// = ctx for the steering. PreludeMaps are the maps its instructions
	// reference by name. The traffic generator's live mode (bench/xdpgen)
	// is one: frames it gives the program itself (Program.Run) carry a
	// mark in their metadata.
	Prelude     asm.Instructions
	PreludeMaps map[string]*ebpf.Map
}

// Program is the engine's XDP program attached to one interface, with its
// maps: the XSKMAP (queue -> socket), the owned IPv4 addresses (and the
// directed broadcast ones), the joined IPv4 multicast groups and the
// broadcast ports. The program redirects to the socket of the receiving
// queue (ctx->rx_queue_index) only IPv4 packets to an owned address, ARP
// packets whose target is one, UDP datagrams to a joined group, and
// unfragmented UDP broadcasts (to 255.255.255.255 or a registered directed
// broadcast address) whose destination port is registered, and IPv6
// packets to an owned address, its solicited-node group or a joined group
// (program6.go), untagged (with
// one 802.1Q tag too where ProgramConfig.VLAN is set); everything else
// (IGMP, other broadcasts and by default tagged frames included), and
// traffic for a queue without a socket, goes to the kernel (XDP_PASS), so
// the engine can share an interface with the host.
type Program struct {
	mu       sync.Mutex
	ifindex  int
	mode     XDPMode // XDPNative or XDPGeneric once attached
	prog     *ebpf.Program
	xsks     *ebpf.Map
	addrs    *ebpf.Map
	addrs6   *ebpf.Map // IPv6: owned addresses, their solicited-node groups, joined groups (program6.go)
	groups   *ebpf.Map
	bports   *ebpf.Map
	kinds    map[[4]byte]uint32   // address map values: addrOwned | addrBroadcast (guarded by mu)
	kinds6   map[[16]byte]uint32  // IPv6 address map values: addr6Owned | addr6Solicited | addr6Group (guarded by mu)
	solRefs  map[[16]byte]int     // owned IPv6 addresses per solicited-node group (guarded by mu)
	portRefs map[uint16]int       // broadcast port registrations (guarded by mu)
	bitmap   [portBitmapSize]byte // the bports value (guarded by mu)
	joined   map[netip.Addr]bool  // the groups in the map (guarded by mu)
	mcfd     int                  // AF_PACKET socket holding the groups' link-layer memberships; -1: none yet
	lnk      link.Link
	replaced []StaleProgram
	closed   bool
	// The fast path (fastpath.go): one table per queue, and the map of
	// them the program looks up by the receiving queue.
	fast      []*FastTable
	fastOuter *ebpf.Map
}

// StaleProgram describes an engine program found on an interface.
type StaleProgram struct {
	ProgramID uint32
	Via       string // "bpf_link" or "netlink"
	LinkID    uint32 // for Via "bpf_link"
}

func (p StaleProgram) String() string {
	if p.Via == "bpf_link" {
		return fmt.Sprintf("program %d (%s) via bpf_link %d", p.ProgramID, ProgramName, p.LinkID)
	}
	return fmt.Sprintf("program %d (%s) via netlink", p.ProgramID, ProgramName)
}

// AttachProgram loads the steering program and attaches it to ifname
// through a BPF link, so the kernel detaches it if the process dies. An
// engine program left on the interface by an earlier run is replaced
// (Replaced lists it); a foreign XDP program is left alone and reported.
func AttachProgram(ifname string, cfg ProgramConfig) (_ *Program, err error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrNoInterface, ifname, unix.ENODEV)
	}
	if cfg.Queues == 0 {
		if cfg.Queues, err = QueueCount(ifname); err != nil {
			return nil, err
		}
	}
	if cfg.MaxAddrs == 0 {
		cfg.MaxAddrs = 256
	}
	if cfg.MaxGroups == 0 {
		cfg.MaxGroups = 1024
	}
	if cfg.Queues < 1 || cfg.MaxAddrs < 1 || cfg.MaxGroups < 1 {
		return nil, fmt.Errorf("%w: %d queues, %d addresses, %d groups", ErrConfig, cfg.Queues, cfg.MaxAddrs, cfg.MaxGroups)
	}
	// A no-op where BPF memory is charged to the memory cgroup (5.11+,
	// including 6.18); on older kernels it lifts RLIMIT_MEMLOCK.
	_ = rlimit.RemoveMemlock()

	p := &Program{ifindex: ifi.Index, joined: map[netip.Addr]bool{}, mcfd: -1,
		kinds: map[[4]byte]uint32{}, kinds6: map[[16]byte]uint32{}, solRefs: map[[16]byte]int{}, portRefs: map[uint16]int{}}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if p.xsks, err = ebpf.NewMap(&ebpf.MapSpec{Name: "engine_xsks", Type: ebpf.XSKMap,
		KeySize: 4, ValueSize: 4, MaxEntries: uint32(cfg.Queues)}); err != nil {
		return nil, bpfErr("create XSKMAP", err)
	}
	if p.addrs, err = ebpf.NewMap(&ebpf.MapSpec{Name: "engine_addrs", Type: ebpf.Hash,
		KeySize: 4, ValueSize: 4, MaxEntries: uint32(cfg.MaxAddrs)}); err != nil {
		return nil, bpfErr("create address map", err)
	}
	if p.addrs6, err = ebpf.NewMap(&ebpf.MapSpec{Name: "engine_addrs6", Type: ebpf.Hash,
		KeySize: 16, ValueSize: 4, MaxEntries: uint32(2*cfg.MaxAddrs + cfg.MaxGroups)}); err != nil {
		return nil, bpfErr("create IPv6 address map", err)
	}
	if p.groups, err = ebpf.NewMap(&ebpf.MapSpec{Name: "engine_groups", Type: ebpf.Hash,
		KeySize: 4, ValueSize: 4, MaxEntries: uint32(cfg.MaxGroups)}); err != nil {
		return nil, bpfErr("create group map", err)
	}
	if p.bports, err = ebpf.NewMap(&ebpf.MapSpec{Name: "engine_bports", Type: ebpf.Array,
		KeySize: 4, ValueSize: portBitmapSize, MaxEntries: 1}); err != nil {
		return nil, bpfErr("create broadcast port map", err)
	}
	if cfg.FastPath > 0 {
		if err := p.newFastPath(cfg.Queues, cfg.FastPath); err != nil {
			return nil, err
		}
	}
	insns := append(slices.Clip(cfg.Prelude), programInsns(cfg.VLAN, cfg.FastPath > 0)...)
	for name, m := range cfg.PreludeMaps {
		if err := insns.AssociateMap(name, m); err != nil {
			return nil, err
		}
	}
	if cfg.FastPath > 0 {
		if err := insns.AssociateMap("engine_fast", p.fastOuter); err != nil {
			return nil, err
		}
	}
	if err := insns.AssociateMap("engine_addrs", p.addrs); err != nil {
		return nil, err
	}
	if err := insns.AssociateMap("engine_addrs6", p.addrs6); err != nil {
		return nil, err
	}
	if err := insns.AssociateMap("engine_groups", p.groups); err != nil {
		return nil, err
	}
	if err := insns.AssociateMap("engine_xsks", p.xsks); err != nil {
		return nil, err
	}
	if err := insns.AssociateMap("engine_bports", p.bports); err != nil {
		return nil, err
	}
	if p.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{Name: ProgramName, Type: ebpf.XDP,
		License: "Dual BSD/GPL", Instructions: insns}); err != nil {
		return nil, bpfErr("load XDP program", err)
	}
	for _, a := range cfg.Addrs {
		if err := p.AddAddr(a); err != nil {
			return nil, err
		}
	}
	for _, a := range cfg.Broadcasts {
		if err := p.AddBroadcastAddr(a); err != nil {
			return nil, err
		}
	}
	if p.replaced, err = DetachStaleIndex(ifi.Index); err != nil {
		return nil, err
	}
	if err := p.attach(cfg.Mode); err != nil {
		return nil, fmt.Errorf("attach XDP to %s: %w", ifname, err)
	}
	return p, nil
}

func (p *Program) attach(mode XDPMode) error {
	try := func(m XDPMode) error {
		f := link.XDPDriverMode
		if m == XDPGeneric {
			f = link.XDPGenericMode
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: p.prog, Interface: p.ifindex, Flags: f})
		if err != nil {
			return err
		}
		p.lnk, p.mode = l, m
		return nil
	}
	var err error
	switch mode {
	case XDPAuto:
		if err = try(XDPNative); err == nil {
			return nil
		}
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
			return p.foreign(err)
		}
		err = try(XDPGeneric)
	case XDPNative, XDPGeneric:
		err = try(mode)
	default:
		return fmt.Errorf("%w: XDP mode %v", ErrConfig, mode)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EBUSY), errors.Is(err, unix.EEXIST):
		return p.foreign(err)
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%w: %v mode: %w", ErrNotSupported, mode, err)
	}
	return bpfErr(fmt.Sprintf("%v mode", mode), err)
}

// foreign describes the program that holds the interface.
func (p *Program) foreign(err error) error {
	id, _, _ := attachedProgram(p.ifindex)
	name := "?"
	if id != 0 {
		if pr, e := ebpf.NewProgramFromID(ebpf.ProgramID(id)); e == nil {
			if info, e := pr.Info(); e == nil {
				name = info.Name
			}
			pr.Close()
		}
	}
	return fmt.Errorf("interface has another XDP program attached (id %d, name %q), not the engine's; remove it (ip link set dev IF xdp off) or use another interface: %w", id, name, err)
}

func bpfErr(what string, err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: %s: %w", ErrPermission, what, err)
	case errors.Is(err, unix.ENOMEM):
		return fmt.Errorf("%w: %s: %w", ErrMemlock, what, err)
	}
	return fmt.Errorf("afxdp: %s: %w", what, err)
}

// Mode returns the mode the program was attached in: XDPNative or XDPGeneric.
func (p *Program) Mode() XDPMode { return p.mode }

// Replaced lists the stale engine programs this Attach removed.
func (p *Program) Replaced() []StaleProgram { return p.replaced }

// ProgramID returns the kernel's id of the loaded program.
func (p *Program) ProgramID() (uint32, error) {
	info, err := p.prog.Info()
	if err != nil {
		return 0, err
	}
	id, _ := info.ID()
	return uint32(id), nil
}

// Register steers the traffic of s's queue to s.
func (p *Program) Register(s *Socket) error {
	if err := p.xsks.Put(uint32(s.Queue()), uint32(s.FD())); err != nil {
		return bpfErr(fmt.Sprintf("put socket of queue %d in XSKMAP", s.Queue()), err)
	}
	return nil
}

// RegisterFD steers queue's traffic to the AF_XDP socket fd, which may
// come from another AF_XDP implementation (benchmarks compare them under
// the same program).
func (p *Program) RegisterFD(queue, fd int) error {
	if err := p.xsks.Put(uint32(queue), uint32(fd)); err != nil {
		return bpfErr(fmt.Sprintf("put socket of queue %d in XSKMAP", queue), err)
	}
	return nil
}

// Unregister stops steering queue's traffic to a socket.
func (p *Program) Unregister(queue int) error {
	if err := p.xsks.Delete(uint32(queue)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return bpfErr("delete from XSKMAP", err)
	}
	return nil
}

// AddAddr makes the engine own an address: packets to it go to the
// sockets, and ARP for it (IPv4) or the Neighbor Solicitations to its
// solicited-node group (IPv6, whose MAC address the interface then
// accepts). An IPv4-mapped IPv6 address is refused.
func (p *Program) AddAddr(a netip.Addr) error {
	switch {
	case a.Is4():
		return p.setKind(a, addrOwned, true, "add address ")
	case a.Is6() && !a.Is4In6() && !a.IsMulticast() && !a.IsUnspecified():
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			return ErrClosed
		}
		return p.addAddr6(a.WithZone(""))
	}
	return fmt.Errorf("%w: %v is not a unicast address", ErrConfig, a)
}

// RemoveAddr gives an address back to the kernel.
func (p *Program) RemoveAddr(a netip.Addr) error {
	switch {
	case a.Is4():
		return p.setKind(a, addrOwned, false, "remove address ")
	case a.Is6() && !a.Is4In6():
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			return ErrClosed
		}
		return p.removeAddr6(a.WithZone(""))
	}
	return fmt.Errorf("%w: %v is not a unicast address", ErrConfig, a)
}

// Values of the address map: an owned address (everything to it is the
// engine's) and a directed broadcast address (UDP to a broadcast port is).
// An address that is both is owned.
const (
	addrOwned     = 1
	addrBroadcast = 2
)

// setKind sets or clears one kind of a in the address map, which holds the
// union of the kinds (no entry for none).
func (p *Program) setKind(a netip.Addr, kind uint32, on bool, what string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	k := a.As4()
	v := p.kinds[k] &^ kind
	if on {
		v |= kind
	}
	var err error
	if v == 0 {
		if err = p.addrs.Delete(k); errors.Is(err, ebpf.ErrKeyNotExist) {
			err = nil
		}
	} else {
		err = p.addrs.Put(k, v)
	}
	if err != nil {
		return bpfErr(what+a.String(), err)
	}
	if v == 0 {
		delete(p.kinds, k)
	} else {
		p.kinds[k] = v
	}
	return nil
}

// Close detaches the program and frees it and its maps.
func (p *Program) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	if p.lnk != nil {
		errs = append(errs, p.lnk.Close())
	}
	if p.prog != nil {
		errs = append(errs, p.prog.Close())
	}
	for _, m := range []*ebpf.Map{p.xsks, p.addrs, p.addrs6, p.groups, p.bports} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	errs = append(errs, p.closeFast()...)
	if p.mcfd >= 0 {
		errs = append(errs, unix.Close(p.mcfd)) // the kernel drops its memberships
	}
	return errors.Join(errs...)
}

// be16 and be32 give the value a load of the network-order bytes of v
// yields on this host, for comparisons inside the program.
func be16(v uint16) int32 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return int32(binary.NativeEndian.Uint16(b[:]))
}

// programInsns is the steering program. Registers: r6 = ctx, r2 = data,
// r3 = data_end, r5 = the loaded field, r7 = the offset of the IPv4 header
// (0 for ARP), which survives the helper calls. Every packet access is
// preceded by a bounds check against data_end, at constant offsets (one
// code path per VLAN depth) or from a pointer the check was made on, which
// is what the verifier accepts. With vlan, a frame with one 802.1Q tag
// takes the second path (labels with the suffix "_vlan", r7 = 18);
// without it that path is not emitted at all (no label of it is
// referenced), and a tagged frame's EtherType, 0x8100, is neither IPv4
// nor ARP, so it is passed. An IPv4 destination in 224.0.0.0/4 is
// looked up in the group map, and only for UDP: IGMP and every other
// protocol to a group stay the host's. 255.255.255.255, and an address
// whose value in the address map is addrBroadcast, go to the broadcast
// port check (broadcastInsns).
func programInsns(vlan, fast bool) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1).WithSymbol("steer"),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // ctx->data
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word), // ctx->data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half), // EtherType
	}
	if vlan {
		insns = append(insns, asm.JEq.Imm(asm.R5, be16(0x8100), "vlan"))
	}
	insns = append(insns, l3(14, "", fast)...)
	insns = append(insns, l3v6(14, "")...)
	if vlan {
		insns = append(insns,
			asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("vlan"),
			asm.Add.Imm(asm.R4, 18),
			asm.JGT.Reg(asm.R4, asm.R3, "pass"),
			asm.LoadMem(asm.R5, asm.R2, 16, asm.Half), // inner EtherType
		)
		insns = append(insns, l3(18, "_vlan", false)...)
		insns = append(insns, l3v6(18, "_vlan")...)
	}
	insns = append(insns,
		// r5 holds the destination (IPv4) or target (ARP) address.
		asm.StoreMem(asm.RFP, -4, asm.R5, asm.Word).WithSymbol("lookup"),
		asm.LoadMapPtr(asm.R1, 0).WithReference("engine_addrs"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.JEq.Imm(asm.R1, addrBroadcast, "dbcast"),
		asm.LoadMapPtr(asm.R1, 0).WithReference("engine_xsks").WithSymbol("redirect"),
		asm.LoadMem(asm.R2, asm.R6, 16, asm.Word), // ctx->rx_queue_index
		asm.Mov.Imm(asm.R3, xdpPass),              // no socket on that queue: XDP_PASS
		asm.FnRedirectMap.Call(),
		asm.Return(),
		// r5 holds a multicast destination of a UDP datagram.
		asm.StoreMem(asm.RFP, -4, asm.R5, asm.Word).WithSymbol("mlookup"),
		asm.LoadMapPtr(asm.R1, 0).WithReference("engine_groups"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.Ja.Label("redirect"),
		// A directed broadcast address: ARP for it is the host's.
		asm.JEq.Imm(asm.R7, 0, "pass").WithSymbol("dbcast"),
	)
	insns = append(insns, broadcastInsns()...)
	insns = append(insns, lookup6Insns()...)
	if fast {
		insns = append(insns, fastInsns()...)
	}
	return append(insns,
		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
		asm.Return(),
	)
}

const xdpPass = 2

// l3 checks an IPv4 or ARP header at off and loads the address to look up;
// with fast, an IPv4 packet goes through the fast path first (fastInsns),
// which comes back to "ipv4_slow".
func l3(off int32, sfx string, fast bool) asm.Instructions {
	ipv4 := asm.Instructions{asm.Mov.Imm(asm.R7, off).WithSymbol("ipv4" + sfx)}
	if fast {
		ipv4 = append(ipv4, asm.Ja.Label("fast"))
	}
	ipv4 = append(ipv4,
		asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("ipv4_slow"+sfx),
		asm.Add.Imm(asm.R4, off+20),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
	)
	return append(asm.Instructions{
		asm.JEq.Imm(asm.R5, be16(0x0800), "ipv4"+sfx),
		asm.JEq.Imm(asm.R5, be16(0x0806), "arp"+sfx),
		asm.JEq.Imm(asm.R5, be16(0x86dd), "ipv6"+sfx),
		asm.Ja.Label("pass"),
	}, append(ipv4,
		asm.LoadMem(asm.R5, asm.R2, int16(off+16), asm.Word), // daddr
		asm.JEq.Imm32(asm.R5, -1, "bcheck"),                  // 255.255.255.255
		asm.LoadMem(asm.R4, asm.R2, int16(off+16), asm.Byte), // its first octet
		asm.And.Imm(asm.R4, 0xf0),
		asm.JNE.Imm(asm.R4, 0xe0, "lookup"),                 // unicast: the owned addresses
		asm.LoadMem(asm.R4, asm.R2, int16(off+9), asm.Byte), // multicast: protocol
		asm.JEq.Imm(asm.R4, 17, "mlookup"),                  // UDP: the joined groups
		asm.Ja.Label("pass"),
		asm.Mov.Imm(asm.R7, 0).WithSymbol("arp"+sfx),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, off+28),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, int16(off+24), asm.Word), // target protocol address
		asm.Ja.Label("lookup"),
	)...)
}
