package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// The fast path: a table per queue of rewrites that the steering program
// applies to matching IPv4 TCP and UDP packets itself, sending them back
// out of the interface they came in on (XDP_TX) without a copy to user
// space. The engine's load balancer offloads its established flows to it
// (lb): the workers still see every new flow, TCP segment with SYN, FIN or
// RST, fragment, and packet with a partial checksum (a Linux sender on a
// virtual link), so connection tracking stays theirs.
//
// A table is keyed by the packet's 5-tuple as it arrives (FastKey) and
// holds what to write (FastEntry): the Ethernet addresses, for NAT the
// addresses and ports with the checksum deltas of the change (RFC 1624),
// so the program never sums the packet, and for tunnels the outer headers
// to put in front of it. Each entry counts its packets and
// bytes and stamps the time of its last packet (CLOCK_MONOTONIC), which
// the owner reads back (FastTable.Scan) to age its flows and count them.

// FastKeySize and FastEntrySize are the map's key and value sizes.
const (
	FastKeySize   = 16
	FastEntrySize = 128
)

// FastKey is a packet's IPv4 5-tuple as it arrives: source and destination
// addresses and ports in network order, the protocol, three zero bytes —
// the bytes at offsets 12-23 of the IPv4 header, so the program copies
// them.
type FastKey [FastKeySize]byte

// FastKeyOf builds the key of a packet from src:sport to dst:dport.
func FastKeyOf(src, dst [4]byte, sport, dport uint16, proto uint8) FastKey {
	var k FastKey
	copy(k[0:4], src[:])
	copy(k[4:8], dst[:])
	binary.BigEndian.PutUint16(k[8:], sport)
	binary.BigEndian.PutUint16(k[10:], dport)
	k[12] = proto
	return k
}

// FastEntry is what the program does with a packet of its key; the layout
// is the map value's (TestFastEntryLayout).
type FastEntry struct {
	DstMAC, SrcMAC [6]byte
	// Src, Dst, SrcPort, DstPort replace the packet's when Flags has
	// FastNAT (network order).
	Src, Dst         [4]byte
	SrcPort, DstPort [2]byte
	// IPDelta and L4Delta are the one's complement sums the change adds
	// to the IPv4 and TCP/UDP checksums (SetNAT computes them).
	IPDelta, L4Delta uint32
	Flags            uint32
	// MaxInner is, with an encapsulation, the longest packet (IPv4 total
	// length) that fits the MTU once encapsulated (SetEncap).
	MaxInner uint16
	_        uint16
	// Written by the program: packets, bytes (IPv4 total length, before
	// any encapsulation) and the CLOCK_MONOTONIC time of the last packet
	// in nanoseconds.
	Packets, Bytes, Last uint64
	// Encap is the outer headers put in front of the packet (SetEncap).
	Encap [FastEncapMax]byte
}

// Flags of a FastEntry: FastNAT rewrites addresses and ports, not only the
// Ethernet header; FastIPIP, FastGUE and FastVXLAN put the packet in the
// outer headers of Encap (20, 28 and 50 bytes).
const (
	FastNAT   = 1
	FastIPIP  = 2
	FastGUE   = 4
	FastVXLAN = 8
)

// FastEncapMax is the room for outer headers in an entry.
const FastEncapMax = 64

// fastEncapLens are the outer headers' lengths by flag.
var fastEncapLens = map[uint32]int{FastIPIP: 20, FastGUE: 28, FastVXLAN: 50}

// SetEncap makes e put a packet in the outer headers outer (an IPv4
// header, protocol 4 for FastIPIP or UDP for FastGUE and FastVXLAN, then
// the UDP header and what follows it), as a packet of tos and df gets them:
// the program sends only packets with that TOS and DF bit this way (the
// others go to the workers), sets the outer total length, UDP length and
// IPv4 checksum of each, and only packets of at most maxInner bytes.
// outer's lengths and checksum are ignored.
func (e *FastEntry) SetEncap(kind uint32, outer []byte, maxInner int) error {
	n, ok := fastEncapLens[kind]
	if !ok || len(outer) != n {
		return fmt.Errorf("%w: fast path encapsulation %d of %d bytes", ErrConfig, kind, len(outer))
	}
	e.Flags |= kind
	copy(e.Encap[:], outer)
	ip := e.Encap[:20]
	binary.BigEndian.PutUint16(ip[2:], 0)  // total length: the program's
	binary.BigEndian.PutUint16(ip[10:], 0) // checksum: of the rest, below
	if kind != FastIPIP {
		binary.BigEndian.PutUint16(e.Encap[24:], 0) // UDP length: the program's
	}
	var s uint32
	for i := 0; i < 20; i += 2 {
		s += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(fold32(s)))
	e.MaxInner = uint16(min(maxInner, 0xffff))
	return nil
}

// SetNAT makes e rewrite a packet of key k to come from src:sport and go
// to dst:dport, with the checksum deltas of that change.
func (e *FastEntry) SetNAT(k FastKey, src, dst [4]byte, sport, dport uint16) {
	e.Flags |= FastNAT
	e.Src, e.Dst = src, dst
	binary.BigEndian.PutUint16(e.SrcPort[:], sport)
	binary.BigEndian.PutUint16(e.DstPort[:], dport)
	var ip, l4 uint32
	// The sums are over 16-bit words as the program loads them (the
	// host's order): one's complement sums commute with byte swapping.
	word := func(b []byte, i int) uint32 { return uint32(binary.NativeEndian.Uint16(b[i:])) }
	for i := 0; i < 4; i += 2 { // the addresses: IPv4 header and pseudo-header
		ip += ^word(k[:], i)&0xffff + word(e.Src[:], i)
		ip += ^word(k[:], 4+i)&0xffff + word(e.Dst[:], i)
	}
	l4 = ip
	l4 += ^word(k[:], 8)&0xffff + word(e.SrcPort[:], 0)
	l4 += ^word(k[:], 10)&0xffff + word(e.DstPort[:], 0)
	e.IPDelta, e.L4Delta = fold32(ip), fold32(l4)
}

func fold32(s uint32) uint32 {
	s = s&0xffff + s>>16
	return s&0xffff + s>>16
}

// FastTable is one queue's table. Its methods make system calls; one
// goroutine at a time (the queue's worker) uses a table.
type FastTable struct {
	m      *ebpf.Map
	cursor ebpf.MapBatchCursor
	keys   []FastKey
	vals   []FastEntry
	next   int // the next entry of keys/vals that Scan hands out
	filled int // how many keys/vals hold
	ended  bool
}

// Put adds or replaces the entry of k (its counters start from e's).
// ErrFastFull: the table is full.
func (t *FastTable) Put(k FastKey, e *FastEntry) error {
	if err := t.m.Put(k, e); err != nil {
		if errors.Is(err, unix.E2BIG) {
			return ErrFastFull
		}
		return bpfErr("fast path put", err)
	}
	return nil
}

// ErrFastFull is returned by Put when the table holds its most entries.
var ErrFastFull = errors.New("afxdp: fast path table full")

// Lookup returns k's entry with its counters.
func (t *FastTable) Lookup(k FastKey, e *FastEntry) bool {
	return t.m.Lookup(k, e) == nil
}

// Delete removes k's entry and returns it, with its last counters; false
// if there was none.
func (t *FastTable) Delete(k FastKey, e *FastEntry) bool {
	return t.m.LookupAndDelete(k, e) == nil
}

// fastScanBatch is how many entries one system call of Scan reads.
const fastScanBatch = 256

// Scan hands fn up to max entries, continuing where the last call ended,
// and reports whether it reached the end of the table (the next call
// starts again from the beginning). Entries added or removed meanwhile
// may be missed or seen twice in a pass.
func (t *FastTable) Scan(max int, fn func(k *FastKey, e *FastEntry)) (ended bool, err error) {
	if t.keys == nil {
		t.keys, t.vals = make([]FastKey, fastScanBatch), make([]FastEntry, fastScanBatch)
	}
	for n := 0; n < max; {
		if t.next == t.filled {
			if t.ended {
				t.ended, t.next, t.filled = false, 0, 0
				t.cursor = ebpf.MapBatchCursor{}
				return true, nil
			}
			c, err := t.m.BatchLookup(&t.cursor, t.keys, t.vals, nil)
			t.next, t.filled = 0, c
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				t.ended = true
			} else if err != nil {
				t.ended, t.next, t.filled = false, 0, 0
				t.cursor = ebpf.MapBatchCursor{}
				return true, bpfErr("fast path scan", err)
			}
			continue
		}
		fn(&t.keys[t.next], &t.vals[t.next])
		t.next++
		n++
	}
	return false, nil
}

// Monotonic returns CLOCK_MONOTONIC in nanoseconds, the clock of
// FastEntry.Last.
func Monotonic() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// MonotonicOffset returns CLOCK_MONOTONIC less the clock now reads (both
// in nanoseconds), for a BPF program whose bpf_ktime_get_ns must be told
// in that clock. It keeps the tightest of 16 readings of now, each
// between two of Monotonic, and takes their midpoint: a single pair of
// reads is off by however long the thread was held up between them
// (microseconds, milliseconds under load), which would shift every time
// the program writes by as much.
func MonotonicOffset(now func() int64) int64 {
	best, off := int64(math.MaxInt64), int64(0)
	for range 16 {
		m1 := Monotonic()
		n := now()
		m2 := Monotonic()
		if w := m2 - m1; w >= 0 && w < best {
			best, off = w, m1+w/2-n
		}
	}
	return off
}

// FastTable returns queue's fast path table; nil when the program has no
// fast path (ProgramConfig.FastPath) or no such queue.
func (p *Program) FastTable(queue int) *FastTable {
	if queue < 0 || queue >= len(p.fast) {
		return nil
	}
	return p.fast[queue]
}

// newFastPath makes the outer map (queue → table) and one table per queue
// of entries entries each.
func (p *Program) newFastPath(queues, entries int) error {
	// Not preallocated: entries are allocated as flows come (a table is
	// sized for the connection tracking's share of the queue, often far
	// more than are ever in it).
	inner := &ebpf.MapSpec{Name: "engine_fastq", Type: ebpf.Hash, KeySize: FastKeySize,
		ValueSize: FastEntrySize, MaxEntries: uint32(entries), Flags: unix.BPF_F_NO_PREALLOC}
	var err error
	if p.fastOuter, err = ebpf.NewMap(&ebpf.MapSpec{Name: "engine_fast", Type: ebpf.ArrayOfMaps,
		KeySize: 4, ValueSize: 4, MaxEntries: uint32(queues), InnerMap: inner}); err != nil {
		return bpfErr("create fast path map", err)
	}
	for q := range queues {
		m, err := ebpf.NewMap(inner)
		if err != nil {
			return bpfErr(fmt.Sprintf("create fast path table of queue %d", q), err)
		}
		p.fast = append(p.fast, &FastTable{m: m})
		if err := p.fastOuter.Put(uint32(q), m); err != nil {
			return bpfErr(fmt.Sprintf("install fast path table of queue %d", q), err)
		}
	}
	return nil
}

// closeFast frees the fast path's maps.
func (p *Program) closeFast() []error {
	var errs []error
	for _, t := range p.fast {
		errs = append(errs, t.m.Close())
	}
	if p.fastOuter != nil {
		errs = append(errs, p.fastOuter.Close())
	}
	return errs
}

const xdpTX = 3

// fastInsns is the fast path, entered at "fast" from the untagged IPv4
// path with r2 = data, r3 = data_end, r6 = ctx and r7 = 14. It leaves for
// "ipv4_slow" (the steering, which checks the bounds again) with r2 and r3
// reloaded, or returns XDP_TX. r8 holds the offset of the TCP or UDP
// checksum and r9 the entry; both survive the helper calls.
func fastInsns() asm.Instructions {
	const ip = 14
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("fast"),
		asm.Add.Imm(asm.R4, ip+20),
		asm.JGT.Reg(asm.R4, asm.R3, "ipv4_slow"),
		asm.LoadMem(asm.R4, asm.R2, ip, asm.Byte),
		asm.JNE.Imm(asm.R4, 0x45, "ipv4_slow"), // IPv4 options: the worker's
		asm.LoadMem(asm.R4, asm.R2, ip+6, asm.Half),
		asm.And.Imm(asm.R4, be16(0x3fff)), // MF or an offset: a fragment
		asm.JNE.Imm(asm.R4, 0, "ipv4_slow"),
		asm.LoadMem(asm.R5, asm.R2, ip+9, asm.Byte),
		asm.JEq.Imm(asm.R5, 6, "fast_tcp"),
		asm.JNE.Imm(asm.R5, 17, "ipv4_slow"),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, ip+20+8),
		asm.JGT.Reg(asm.R4, asm.R3, "ipv4_slow"),
		asm.Mov.Imm(asm.R8, ip+20+6),
		asm.Ja.Label("fast_key"),
		asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("fast_tcp"),
		asm.Add.Imm(asm.R4, ip+20+20),
		asm.JGT.Reg(asm.R4, asm.R3, "ipv4_slow"),
		asm.LoadMem(asm.R4, asm.R2, ip+20+13, asm.Byte),
		asm.And.Imm(asm.R4, 0x07), // FIN, SYN, RST: connection tracking's
		asm.JNE.Imm(asm.R4, 0, "ipv4_slow"),
		asm.Mov.Imm(asm.R8, ip+20+16),
		// The key: the header's addresses and ports, the protocol.
		asm.LoadMem(asm.R4, asm.R2, ip+12, asm.Word).WithSymbol("fast_key"),
		asm.StoreMem(asm.RFP, -16, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.R2, ip+16, asm.Word),
		asm.StoreMem(asm.RFP, -12, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.R2, ip+20, asm.Word),
		asm.StoreMem(asm.RFP, -8, asm.R4, asm.Word),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.StoreMem(asm.RFP, -4, asm.R5, asm.Byte),
		// A checksum that holds only the pseudo-header's sum (a Linux
		// sender on a virtual link) must be completed: the worker's.
		// UDP's 0 is no checksum.
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Reg(asm.R4, asm.R8),
		asm.LoadMem(asm.R9, asm.R4, 0, asm.Half),
		asm.JEq.Imm(asm.R9, 0, "fast_lookup"),
		asm.LoadMem(asm.R1, asm.R2, ip+12, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R1),
		asm.RSh.Imm(asm.R4, 16),
		asm.And.Imm(asm.R1, 0xffff),
		asm.Add.Reg(asm.R1, asm.R4),
		asm.LoadMem(asm.R4, asm.R2, ip+16, asm.Word),
		asm.Mov.Reg(asm.R0, asm.R4),
		asm.RSh.Imm(asm.R0, 16),
		asm.And.Imm(asm.R4, 0xffff),
		asm.Add.Reg(asm.R1, asm.R4),
		asm.Add.Reg(asm.R1, asm.R0),
		asm.Mov.Reg(asm.R4, asm.R5),
		asm.HostTo(asm.BE, asm.R4, asm.Half), // the protocol as the word 0x00PP
		asm.Add.Reg(asm.R1, asm.R4),
		asm.LoadMem(asm.R4, asm.R2, ip+2, asm.Half), // total length
		asm.HostTo(asm.BE, asm.R4, asm.Half),
		asm.Sub.Imm(asm.R4, 20),
		asm.HostTo(asm.BE, asm.R4, asm.Half), // the TCP or UDP length, as loaded
		asm.Add.Reg(asm.R1, asm.R4),
	}
	insns = append(insns, fold(asm.R1, asm.R4)...)
	insns = append(insns, fold(asm.R1, asm.R4)...)
	insns = append(insns,
		asm.JEq.Reg(asm.R1, asm.R9, "ipv4_slow"),
		// The queue's table, then the entry.
		asm.LoadMem(asm.R4, asm.R6, 16, asm.Word).WithSymbol("fast_lookup"), // ctx->rx_queue_index
		asm.StoreMem(asm.RFP, -20, asm.R4, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference("engine_fast"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -20),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "fast_miss"),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "fast_miss"),
		asm.Mov.Reg(asm.R9, asm.R0),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word),
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Reg(asm.R4, asm.R8),
		asm.Add.Imm(asm.R4, 2),
		asm.JGT.Reg(asm.R4, asm.R3, "fast_miss"),
		asm.LoadMem(asm.R4, asm.R9, 32, asm.Word), // flags
		asm.JEq.Imm(asm.R4, FastIPIP, "fast_encap_ipip"),
		asm.JEq.Imm(asm.R4, FastGUE, "fast_encap_gue"),
		asm.JEq.Imm(asm.R4, FastVXLAN, "fast_encap_vxlan"),
		// Ethernet addresses.
		asm.LoadMem(asm.R4, asm.R9, 0, asm.Word),
		asm.StoreMem(asm.R2, 0, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.R9, 4, asm.Word),
		asm.StoreMem(asm.R2, 4, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.R9, 8, asm.Word),
		asm.StoreMem(asm.R2, 8, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.R9, 32, asm.Word), // flags
		asm.JEq.Imm(asm.R4, 0, "fast_count"),
		// NAT: addresses, ports and both checksums.
		asm.LoadMem(asm.R4, asm.R9, 12, asm.Word),
		asm.StoreMem(asm.R2, ip+12, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.R9, 16, asm.Word),
		asm.StoreMem(asm.R2, ip+16, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.R9, 20, asm.Word),
		asm.StoreMem(asm.R2, ip+20, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.R2, ip+10, asm.Half),
		asm.LoadMem(asm.R5, asm.R9, 24, asm.Word),
	)
	insns = append(insns, csumUpdate(asm.R4, asm.R5, asm.R1)...)
	insns = append(insns,
		asm.StoreMem(asm.R2, ip+10, asm.R4, asm.Half),
		asm.Mov.Reg(asm.R3, asm.R2),
		asm.Add.Reg(asm.R3, asm.R8),
		asm.LoadMem(asm.R4, asm.R3, 0, asm.Half),
		asm.JNE.Imm(asm.R8, ip+20+6, "fast_l4"), // TCP
		asm.JEq.Imm(asm.R4, 0, "fast_count"),    // UDP without a checksum
		asm.LoadMem(asm.R5, asm.R9, 28, asm.Word).WithSymbol("fast_l4"),
	)
	insns = append(insns, csumUpdate(asm.R4, asm.R5, asm.R1)...)
	insns = append(insns,
		asm.JNE.Imm(asm.R4, 0, "fast_l4_store"),
		asm.JNE.Imm(asm.R8, ip+20+6, "fast_l4_store"),
		asm.Mov.Imm(asm.R4, 0xffff), // UDP sends a computed 0 as 0xffff
		asm.StoreMem(asm.R3, 0, asm.R4, asm.Half).WithSymbol("fast_l4_store"),
		// Counters: packets, bytes, the time of the last one.
		asm.Mov.Imm(asm.R1, 1).WithSymbol("fast_count"),
		asm.AddAtomic.Mem(asm.R9, asm.R1, asm.DWord, 40),
		asm.LoadMem(asm.R1, asm.R2, ip+2, asm.Half),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.AddAtomic.Mem(asm.R9, asm.R1, asm.DWord, 48),
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.R9, 56, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, xdpTX),
		asm.Return(),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word).WithSymbol("fast_miss"),
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word),
		asm.Ja.Label("ipv4_slow"),
	)
	insns = append(insns, encapInsns(FastIPIP, "ipip")...)
	insns = append(insns, encapInsns(FastGUE, "gue")...)
	return append(insns, encapInsns(FastVXLAN, "vxlan")...)
}

// encapInsns is the fast path's encapsulation of kind, entered at
// "fast_encap_"+name with r2 = data (the Ethernet, IPv4 and TCP or UDP
// headers in bounds), r6 = ctx and r9 = the entry. A packet whose TOS or
// DF bit differs from the outer header's template, or that would not fit
// the MTU once encapsulated, goes to "fast_miss" unchanged; otherwise the
// frame grows by the outer headers in front (bpf_xdp_adjust_head), which
// are copied from the entry with their lengths and checksum set, after a
// new Ethernet header.
func encapInsns(kind uint32, name string) asm.Instructions {
	const ip, tmpl = 14, 64
	n := int16(fastEncapLens[kind])
	insns := asm.Instructions{
		asm.LoadMem(asm.R4, asm.R2, ip+1, asm.Byte).WithSymbol("fast_encap_" + name), // TOS
		asm.LoadMem(asm.R5, asm.R9, tmpl+1, asm.Byte),
		asm.JNE.Reg(asm.R4, asm.R5, "fast_miss"),
		asm.LoadMem(asm.R4, asm.R2, ip+6, asm.Byte), // DF, in the flags' byte
		asm.And.Imm(asm.R4, 0x40),
		asm.LoadMem(asm.R5, asm.R9, tmpl+6, asm.Byte),
		asm.And.Imm(asm.R5, 0x40),
		asm.JNE.Reg(asm.R4, asm.R5, "fast_miss"),
		asm.LoadMem(asm.R4, asm.R2, ip+2, asm.Half), // the packet's length
		asm.HostTo(asm.BE, asm.R4, asm.Half),
		asm.LoadMem(asm.R5, asm.R9, 36, asm.Half), // MaxInner
		asm.JGT.Reg(asm.R4, asm.R5, "fast_miss"),
		asm.StoreMem(asm.RFP, -32, asm.R4, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, int32(-n)),
		asm.FnXdpAdjustHead.Call(),
		asm.JNE.Imm(asm.R0, 0, "fast_miss"),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word),
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, int32(ip+n+20)),
		asm.JGT.Reg(asm.R4, asm.R3, "fast_abort_"+name), // cannot be: the frame grew by n
		// Ethernet: the entry's addresses, IPv4.
		asm.LoadMem(asm.R4, asm.R9, 0, asm.Word),
		asm.StoreMem(asm.R2, 0, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.R9, 4, asm.Word),
		asm.StoreMem(asm.R2, 4, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.R9, 8, asm.Word),
		asm.StoreMem(asm.R2, 8, asm.R4, asm.Word),
		asm.StoreImm(asm.R2, 12, int64(be16(0x0800)), asm.Half),
	}
	// The outer headers, a word at a time (and a half word for VXLAN's 50).
	for off := int16(0); off < n; off += 4 {
		size := asm.Word
		if n-off < 4 {
			size = asm.Half
		}
		insns = append(insns,
			asm.LoadMem(asm.R4, asm.R9, tmpl+off, size),
			asm.StoreMem(asm.R2, ip+off, asm.R4, size),
		)
	}
	insns = append(insns,
		// Total length and checksum (the template's is of a zero length).
		asm.LoadMem(asm.R5, asm.RFP, -32, asm.DWord),
		asm.Add.Imm(asm.R5, int32(n)),
		asm.Mov.Reg(asm.R4, asm.R5),
		asm.HostTo(asm.BE, asm.R4, asm.Half),
		asm.StoreMem(asm.R2, ip+2, asm.R4, asm.Half),
		asm.LoadMem(asm.R1, asm.R2, ip+10, asm.Half),
	)
	insns = append(insns, csumUpdate(asm.R1, asm.R4, asm.R0)...)
	insns = append(insns, asm.StoreMem(asm.R2, ip+10, asm.R1, asm.Half))
	if kind != FastIPIP {
		insns = append(insns,
			asm.Mov.Reg(asm.R4, asm.R5),
			asm.Sub.Imm(asm.R4, 20),
			asm.HostTo(asm.BE, asm.R4, asm.Half),
			asm.StoreMem(asm.R2, ip+20+4, asm.R4, asm.Half),
		)
	}
	return append(insns,
		// Counters: the packet's own length.
		asm.Mov.Imm(asm.R1, 1),
		asm.AddAtomic.Mem(asm.R9, asm.R1, asm.DWord, 40),
		asm.LoadMem(asm.R1, asm.RFP, -32, asm.DWord),
		asm.AddAtomic.Mem(asm.R9, asm.R1, asm.DWord, 48),
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.R9, 56, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, xdpTX),
		asm.Return(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("fast_abort_"+name), // XDP_ABORTED
		asm.Return(),
	)
}

// fold adds the upper half of r's sum to its lower 16 bits (tmp is
// clobbered).
func fold(r, tmp asm.Register) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(tmp, r),
		asm.RSh.Imm(tmp, 16),
		asm.And.Imm(r, 0xffff),
		asm.Add.Reg(r, tmp),
	}
}

// csumUpdate turns the checksum field c into ~(~c + d) (RFC 1624, eq. 3),
// d a folded one's complement sum of the change.
func csumUpdate(c, d, tmp asm.Register) asm.Instructions {
	insns := asm.Instructions{
		asm.Xor.Imm(c, 0xffff),
		asm.Add.Reg(c, d),
	}
	insns = append(insns, fold(c, tmp)...)
	insns = append(insns, fold(c, tmp)...)
	return append(insns, asm.Xor.Imm(c, 0xffff))
}
