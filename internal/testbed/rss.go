package testbed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RSS is a NIC's receive-side scaling configuration: the Toeplitz key and
// the indirection table (entry i is the queue of the packets whose hash has
// i in its low bits), as `ethtool -x` shows them.
//
// A veth has no RSS: the queue a frame arrives on at one end is the
// transmit queue the sender's kernel picked at the other, which for a
// local socket is a random hash per socket (sk_txhash), so a handful of
// flows can land anywhere, and nothing the receiver knows predicts it.
// EmulateRSS makes the peer's kernel pick the queue as a NIC's RSS would on
// receive: from the Toeplitz hash of the packet's IPv4 or IPv6 addresses and
// TCP or UDP ports. An engine told the same key and table (engine.Config.RSS)
// then knows where each flow lands, as on a NIC that reports its RSS
// configuration, and load generators can choose source ports that spread
// evenly (Queue).
type RSS struct {
	Key         [40]byte
	Indirection []uint16
}

// msKey is the key of Microsoft's RSS verification suite, the default of
// many NICs.
var msKey = [40]byte{
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2,
	0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
	0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4,
	0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
	0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
}

// DefaultRSS is what a NIC driver sets up by default for queues queues:
// Microsoft's key and 128 table entries round robin over the queues
// (ethtool_rxfh_indir_default).
func DefaultRSS(queues int) RSS {
	r := RSS{Key: msKey, Indirection: make([]uint16, 128)}
	for i := range r.Indirection {
		r.Indirection[i] = uint16(i % max(queues, 1))
	}
	return r
}

// maxIndirection bounds the table EmulateRSS takes (NICs have 64 to 512
// entries).
const maxIndirection = 512

func (r RSS) check(queues int) error {
	n := len(r.Indirection)
	if n == 0 || n&(n-1) != 0 || n > maxIndirection {
		return fmt.Errorf("testbed: RSS indirection table of %d entries: need a power of two up to %d", n, maxIndirection)
	}
	for i, q := range r.Indirection {
		if int(q) >= queues {
			return fmt.Errorf("testbed: RSS indirection entry %d names queue %d of %d", i, q, queues)
		}
	}
	return nil
}

// window is the 32 key bits from bit pos on (bit 0: the top bit of Key[0]).
func (r *RSS) window(pos int) uint32 {
	var w uint32
	for i := range 32 {
		if p := pos + i; r.Key[p/8]&(0x80>>(p%8)) != 0 {
			w |= 1 << (31 - i)
		}
	}
	return w
}

// Input bytes. The hash's input is the source address, the destination
// address, the source port and the destination port: 12 bytes for IPv4, 36
// for IPv6. Byte i of the input meets the key's 32 bits from bit 8i on, so
// the tables of IPv6's 36 bytes serve IPv4's addresses (bytes 0 to 7) too,
// and IPv4's ports (bytes 8 to 11) get four tables of their own after them.
const (
	lutIPv6      = 36          // tables 0-35: IPv6's input; 0-7: IPv4's addresses
	lutIPv4Ports = lutIPv6     // tables 36-39: IPv4's ports (input bytes 8-11)
	lutTables    = lutIPv6 + 4 // every table
	lutBytes     = lutTables * 1024
)

// lut returns, for each table (see the constants above) and each byte
// value, the hash contribution of that value at that place: Toeplitz is
// linear, so the hash is the XOR of one lookup per input byte.
func (r *RSS) lut() *[lutTables][256]uint32 {
	var t [lutTables][256]uint32
	for i := range t {
		pos := i * 8
		if i >= lutIPv4Ports {
			pos = (8 + i - lutIPv4Ports) * 8
		}
		for bit := range 8 {
			w := r.window(pos + bit)
			for v := range 256 {
				if v&(0x80>>bit) != 0 {
					t[i][v] ^= w
				}
			}
		}
	}
	return &t
}

// Hash is the Toeplitz hash of a TCP or UDP packet from src to dst (the
// "IPv4 with TCP" and "IPv6 with TCP" columns of the verification suite).
// Both addresses must be of one family (an IPv4-mapped address counts as
// IPv4).
func (r RSS) Hash(src, dst netip.AddrPort) uint32 {
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	if !s.IsValid() || !d.IsValid() || s.Is4() != d.Is4() {
		panic(fmt.Sprintf("testbed: RSS hash of %v -> %v: want two addresses of one family", src, dst))
	}
	in := append(s.AsSlice(), d.AsSlice()...)
	in = binary.BigEndian.AppendUint16(in, src.Port())
	in = binary.BigEndian.AppendUint16(in, dst.Port())
	var h uint32
	for pos := range 8 * len(in) {
		if in[pos/8]&(0x80>>(pos%8)) != 0 {
			h ^= r.window(pos)
		}
	}
	return h
}

// Queue is the queue a TCP or UDP packet from src to dst arrives on.
func (r RSS) Queue(src, dst netip.AddrPort) int {
	return int(r.Indirection[r.Hash(src, dst)&uint32(len(r.Indirection)-1)])
}

// txHash is a value of skb->hash for which the kernel's skb_tx_hash picks
// queue q of n: reciprocal_scale(h, n) = h*n >> 32, so the middle of q's
// range.
func txHash(q, n int) uint32 { return uint32((uint64(2*q+1) << 32) / uint64(2*n)) }

// rssProgram is the classifier EmulateRSS attaches to the peer's egress.
// Registers: r6 = skb, r7 = data, r5 = data_end, r8 = the hash, r9 = the
// map value: the lookup tables (lutTables × 256 words, table i's at
// i×1024) and then one word per indirection entry, the skb->hash that
// selects its queue. Every packet access follows a bounds check against
// data_end; IPv4's port bytes are read through a pointer offset by its
// header's length, the check made on it. IPv4 TCP and UDP (not fragments)
// are hashed over the 12-byte 4-tuple, IPv6 TCP and UDP whose header is
// followed at once by theirs over the 36-byte one, other IPv4 and IPv6
// packets (ICMP, fragments, extension headers) over the addresses as a NIC
// does; anything else (ARP) keeps the kernel's choice. It returns
// TC_ACT_OK (0) always.
func rssProgram(mask int32) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference("rss"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(asm.R9, asm.R0),
		asm.LoadMem(asm.R7, asm.R6, 76, asm.Word), // skb->data
		asm.LoadMem(asm.R5, asm.R6, 80, asm.Word), // skb->data_end
		asm.Mov.Imm(asm.R8, 0),
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Add.Imm(asm.R2, 14), // Ethernet
		asm.JGT.Reg(asm.R2, asm.R5, "out"),
		asm.LoadMem(asm.R1, asm.R7, 12, asm.Half),
		asm.JEq.Imm(asm.R1, int32(be16(0x86dd)), "ipv6"),
		asm.JNE.Imm(asm.R1, int32(be16(0x0800)), "out"),
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Add.Imm(asm.R2, 34), // the minimal IPv4 header
		asm.JGT.Reg(asm.R2, asm.R5, "out"),
	}
	// r8 ^= table i's word for the byte at off from base.
	xor := func(base asm.Register, off int16, i int) asm.Instructions {
		return asm.Instructions{
			asm.LoadMem(asm.R1, base, off, asm.Byte),
			asm.LSh.Imm(asm.R1, 2),
			asm.Mov.Reg(asm.R3, asm.R9),
			asm.Add.Reg(asm.R3, asm.R1),
			asm.Add.Imm(asm.R3, int32(i*1024)), // past a load's 16-bit offset
			asm.LoadMem(asm.R1, asm.R3, 0, asm.Word),
			asm.Xor.Reg(asm.R8, asm.R1),
		}
	}
	for i := range 8 { // IPv4's source and destination addresses
		insns = append(insns, xor(asm.R7, int16(26+i), i)...)
	}
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.R7, 23, asm.Byte), // protocol
		asm.JEq.Imm(asm.R1, unix.IPPROTO_TCP, "ports4"),
		asm.JNE.Imm(asm.R1, unix.IPPROTO_UDP, "set"),
		asm.LoadMem(asm.R1, asm.R7, 20, asm.Half).WithSymbol("ports4"), // flags, fragment offset
		asm.And.Imm(asm.R1, int32(be16(0x3fff))),                       // MF or an offset: a fragment
		asm.JNE.Imm(asm.R1, 0, "set"),
		asm.LoadMem(asm.R1, asm.R7, 14, asm.Byte),
		asm.And.Imm(asm.R1, 0x0f),
		asm.LSh.Imm(asm.R1, 2), // the IPv4 header's length
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Add.Reg(asm.R2, asm.R1),
		asm.Mov.Reg(asm.R3, asm.R2),
		asm.Add.Imm(asm.R3, 14+4),
		asm.JGT.Reg(asm.R3, asm.R5, "set"),
	)
	for j := range 4 { // IPv4's source and destination ports
		insns = append(insns, xor(asm.R2, int16(14+j), lutIPv4Ports+j)...)
	}
	insns = append(insns,
		asm.Ja.Label("set"),
		asm.Mov.Reg(asm.R2, asm.R7).WithSymbol("ipv6"),
		asm.Add.Imm(asm.R2, 14+40), // the fixed IPv6 header
		asm.JGT.Reg(asm.R2, asm.R5, "out"),
	)
	for i := range 32 { // IPv6's source and destination addresses
		insns = append(insns, xor(asm.R7, int16(22+i), i)...)
	}
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.R7, 20, asm.Byte), // next header
		asm.JEq.Imm(asm.R1, unix.IPPROTO_TCP, "ports6"),
		asm.JNE.Imm(asm.R1, unix.IPPROTO_UDP, "set"),
		asm.Mov.Reg(asm.R2, asm.R7).WithSymbol("ports6"),
		asm.Add.Imm(asm.R2, 14+40+4),
		asm.JGT.Reg(asm.R2, asm.R5, "set"),
	)
	for j := range 4 { // IPv6's source and destination ports
		insns = append(insns, xor(asm.R7, int16(54+j), 32+j)...)
	}
	return append(insns,
		asm.And.Imm(asm.R8, mask).WithSymbol("set"),
		asm.LSh.Imm(asm.R8, 2),
		asm.Mov.Reg(asm.R3, asm.R9),
		asm.Add.Reg(asm.R3, asm.R8),
		asm.Add.Imm(asm.R3, lutBytes),
		asm.LoadMem(asm.R2, asm.R3, 0, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.FnSetHash.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), // TC_ACT_OK
		asm.Return(),
	)
}

// be16 is the value a load of v's network-order bytes yields on this host.
func be16(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// EmulateRSS makes the frames the peer namespace sends on PeerIf arrive on
// the engine side's queue that r gives, as a NIC's RSS would choose it on
// receive (see RSS). A tc classifier on PeerIf's egress sets each IPv4 and
// IPv6 packet's hash to one for which the kernel's transmit queue selection
// (skb_tx_hash, reciprocal_scale over the queues) picks that queue; a veth
// delivers a frame sent on transmit queue q to its other end's receive
// queue q. The peer's sockets cache their transmit queue, and every packet
// of a flow gets the same one, so the emulation holds for sockets opened
// after the call. Traffic that the peer forwards or bridges out of PeerIf
// (segment hosts, AddFar) goes through the same classifier.
//
// It needs a bed of more than one queue and is called once per bed,
// before the traffic it should steer. The classifier lives on PeerIf in
// the peer namespace and goes away with it (Close); nothing stays in the
// caller's. Frames an AF_PACKET socket sends with PACKET_QDISC_BYPASS skip
// it (and pick their queue by the sending CPU).
func (b *Bed) EmulateRSS(r RSS) error {
	if b.Queues < 2 {
		return errors.New("testbed: RSS emulation needs a bed with more than one queue")
	}
	if err := r.check(b.Queues); err != nil {
		return err
	}
	lut := r.lut()
	value := make([]byte, 0, lutBytes+4*len(r.Indirection))
	for i := range lut {
		for _, w := range lut[i] {
			value = binary.NativeEndian.AppendUint32(value, w)
		}
	}
	for _, q := range r.Indirection {
		value = binary.NativeEndian.AppendUint32(value, txHash(int(q), b.Queues))
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "testbed_rss", Type: ebpf.Array,
		KeySize: 4, ValueSize: uint32(len(value)), MaxEntries: 1})
	if err != nil {
		return fmt.Errorf("testbed: RSS map: %w", err)
	}
	defer m.Close()
	if err := m.Put(uint32(0), value); err != nil {
		return fmt.Errorf("testbed: RSS map: %w", err)
	}
	insns := rssProgram(int32(len(r.Indirection) - 1))
	if err := insns.AssociateMap("rss", m); err != nil {
		return err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "testbed_rss", Type: ebpf.SchedCLS,
		Instructions: insns, License: "GPL"})
	if err != nil {
		return fmt.Errorf("testbed: RSS classifier: %w", err)
	}
	defer prog.Close() // the filter holds its own reference
	return b.Do(func() error {
		link, err := netlink.LinkByName(b.PeerIf)
		if err != nil {
			return fmt.Errorf("testbed: %s: %w", b.PeerIf, err)
		}
		idx := link.Attrs().Index
		qd := &netlink.GenericQdisc{QdiscType: "clsact", QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: idx, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
		if err := netlink.QdiscAdd(qd); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("testbed: clsact on %s: %w", b.PeerIf, err)
		}
		f := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{LinkIndex: idx, Parent: netlink.HANDLE_MIN_EGRESS,
			Handle: 1, Protocol: unix.ETH_P_ALL, Priority: 1}, Fd: prog.FD(), Name: "testbed_rss", DirectAction: true}
		if err := netlink.FilterAdd(f); err != nil {
			return fmt.Errorf("testbed: RSS classifier on %s: %w", b.PeerIf, err)
		}
		return nil
	})
}
