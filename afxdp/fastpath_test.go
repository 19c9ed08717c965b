package afxdp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestFastEntryLayout: FastEntry is the map value the program reads at
// fixed offsets.
func TestFastEntryLayout(t *testing.T) {
	var e FastEntry
	if s := unsafe.Sizeof(e); s != FastEntrySize {
		t.Fatalf("size %d, want %d", s, FastEntrySize)
	}
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"SrcMAC", unsafe.Offsetof(e.SrcMAC), 6}, {"Src", unsafe.Offsetof(e.Src), 12},
		{"Dst", unsafe.Offsetof(e.Dst), 16}, {"SrcPort", unsafe.Offsetof(e.SrcPort), 20},
		{"IPDelta", unsafe.Offsetof(e.IPDelta), 24}, {"L4Delta", unsafe.Offsetof(e.L4Delta), 28},
		{"Flags", unsafe.Offsetof(e.Flags), 32}, {"MaxInner", unsafe.Offsetof(e.MaxInner), 36},
		{"Packets", unsafe.Offsetof(e.Packets), 40}, {"Bytes", unsafe.Offsetof(e.Bytes), 48},
		{"Last", unsafe.Offsetof(e.Last), 56}, {"Encap", unsafe.Offsetof(e.Encap), 64},
	} {
		if c.got != c.want {
			t.Errorf("%s at %d, want %d", c.name, c.got, c.want)
		}
	}
}

// fastFrame builds an Ethernet + IPv4 + TCP or UDP frame with full
// checksums and a payload of n bytes; flags are TCP's.
func fastFrame(proto uint8, src, dst [4]byte, sport, dport uint16, flags byte, n int) []byte {
	l4len := 8
	if proto == header.ProtocolTCP {
		l4len = 20
	}
	f := make([]byte, 14+20+l4len+n)
	copy(f[0:6], []byte{2, 0, 0, 0, 0, 1})
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 2})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := header.IPv4(f[14:])
	ip[0] = 0x45
	ip.SetTotalLength(uint16(20 + l4len + n))
	ip.SetID(0x1234)
	ip.SetFlagsFragmentOffset(header.IPv4FlagDontFragment, 0)
	ip.SetTTL(64)
	ip.SetProtocol(proto)
	ip.SetSrc4(src)
	ip.SetDst4(dst)
	ip.UpdateChecksum()
	for i := range n {
		f[14+20+l4len+i] = byte(i * 7)
	}
	l4 := f[34:]
	if proto == header.ProtocolTCP {
		t := header.TCP(l4)
		t.SetSrcPort(sport)
		t.SetDstPort(dport)
		t.SetSeq(1000)
		t.SetAck(2000)
		l4[12] = 5 << 4
		l4[13] = flags
		binary.BigEndian.PutUint16(l4[14:], 65535)
		t.UpdateChecksum(src, dst)
	} else {
		u := header.UDP(l4)
		u.SetSrcPort(sport)
		u.SetDstPort(dport)
		u.SetLength(uint16(8 + n))
		u.UpdateChecksum(src, dst)
	}
	return f
}

// TestFastPathProgram runs the steering program with a fast path on
// frames (BPF_PROG_TEST_RUN, no traffic): a packet of an entry comes back
// rewritten for XDP_TX with valid checksums and is counted; everything the
// workers must see (SYN, FIN, RST, fragments, options, partial checksums,
// no entry) takes the steering path (here XDP_PASS: no socket is
// registered).
func TestFastPathProgram(t *testing.T) {
	testbed.RequirePrivileged(t)
	bed := testbed.New(t, testbed.Config{})
	vip := bed.EngineAddr.As4()
	prog, err := AttachProgram(bed.HostIf, ProgramConfig{Addrs: []netip.Addr{bed.EngineAddr}, FastPath: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	tab := prog.FastTable(0)
	if tab == nil || prog.FastTable(1) != nil {
		t.Fatal("FastTable(0) missing or FastTable(1) present on one queue")
	}
	client := [4]byte{198, 18, 200, 7}
	backend := [4]byte{198, 18, 200, 11}
	snat := [4]byte{198, 18, 200, 1}
	beMAC := [6]byte{2, 0xbe, 0, 0, 0, 11}
	ourMAC := [6]byte{2, 0xee, 0, 0, 0, 1}
	run := func(frame []byte) (uint32, []byte) {
		t.Helper()
		opts := &ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+256)}
		ret, err := prog.prog.Run(opts)
		if err != nil {
			t.Fatal(err)
		}
		return ret, opts.DataOut
	}
	const pass, tx = xdpPass, xdpTX

	for _, proto := range []uint8{header.ProtocolUDP, header.ProtocolTCP} {
		in := fastFrame(proto, client, vip, 40001, 80, header.TCPFlagACK, 100)
		if ret, _ := run(in); ret != pass {
			t.Fatalf("proto %d without an entry: %d, want XDP_PASS", proto, ret)
		}
		k := FastKeyOf(client, vip, 40001, 80, proto)
		e := FastEntry{DstMAC: beMAC, SrcMAC: ourMAC}
		e.SetNAT(k, snat, backend, 33000, 8080)
		if err := tab.Put(k, &e); err != nil {
			t.Fatal(err)
		}
		before := Monotonic()
		ret, out := run(in)
		if ret != tx {
			t.Fatalf("proto %d with a NAT entry: %d, want XDP_TX", proto, ret)
		}
		want := fastFrame(proto, snat, backend, 33000, 8080, header.TCPFlagACK, 100)
		copy(want[0:6], beMAC[:])
		copy(want[6:12], ourMAC[:])
		if !bytes.Equal(out, want) {
			t.Errorf("proto %d NAT:\n got %x\nwant %x", proto, out, want)
		}
		var got FastEntry
		if !tab.Lookup(k, &got) || got.Packets != 1 || got.Bytes != uint64(len(in)-14) ||
			int64(got.Last) < before || int64(got.Last) > Monotonic() {
			t.Errorf("proto %d counters: %+v (frame %d bytes, window %d..)", proto, got, len(in), before)
		}
		if proto == header.ProtocolTCP {
			for _, fl := range []byte{header.TCPFlagSYN, header.TCPFlagFIN | header.TCPFlagACK, header.TCPFlagRST} {
				if ret, _ := run(fastFrame(proto, client, vip, 40001, 80, fl, 0)); ret != pass {
					t.Errorf("TCP flags %#x: %d, want XDP_PASS (the worker tracks them)", fl, ret)
				}
			}
		}
		// A partial checksum: the pseudo-header's sum alone.
		partial := fastFrame(proto, client, vip, 40001, 80, header.TCPFlagACK, 100)
		off := 14 + 20 + 6
		if proto == header.ProtocolTCP {
			off = 14 + 20 + 16
		}
		binary.BigEndian.PutUint16(partial[off:], header.PseudoHeaderChecksum(proto, client, vip, uint16(len(partial)-34)))
		if ret, _ := run(partial); ret != pass {
			t.Errorf("proto %d partial checksum: %d, want XDP_PASS (the worker completes it)", proto, ret)
		}
		// A fragment and a header with options.
		frag := fastFrame(proto, client, vip, 40001, 80, header.TCPFlagACK, 100)
		header.IPv4(frag[14:]).SetFlagsFragmentOffset(header.IPv4FlagMoreFragments, 0)
		header.IPv4(frag[14:]).UpdateChecksum()
		if ret, _ := run(frag); ret != pass {
			t.Errorf("proto %d fragment: %d, want XDP_PASS", proto, ret)
		}
		opts := fastFrame(proto, client, vip, 40001, 80, header.TCPFlagACK, 100)
		opts[14] = 0x46
		if ret, _ := run(opts); ret != pass {
			t.Errorf("proto %d with options: %d, want XDP_PASS", proto, ret)
		}
	}

	// UDP without a checksum keeps none.
	in := fastFrame(header.ProtocolUDP, client, vip, 40002, 80, 0, 10)
	binary.BigEndian.PutUint16(in[14+20+6:], 0)
	k := FastKeyOf(client, vip, 40002, 80, header.ProtocolUDP)
	e := FastEntry{DstMAC: beMAC, SrcMAC: ourMAC}
	e.SetNAT(k, snat, backend, 33001, 8080)
	if err := tab.Put(k, &e); err != nil {
		t.Fatal(err)
	}
	ret, out := run(in)
	ip := header.IPv4(out[14:])
	if ret != tx || header.UDP(ip.Payload()).Checksum() != 0 || !ip.ChecksumValid() || ip.Dst4() != backend {
		t.Errorf("UDP without checksum: ret %d, %x", ret, out)
	}

	// DSR: the Ethernet addresses alone.
	in = fastFrame(header.ProtocolTCP, client, vip, 40003, 80, header.TCPFlagACK|header.TCPFlagPSH, 33)
	k = FastKeyOf(client, vip, 40003, 80, header.ProtocolTCP)
	if err := tab.Put(k, &FastEntry{DstMAC: beMAC, SrcMAC: ourMAC}); err != nil {
		t.Fatal(err)
	}
	ret, out = run(in)
	want := bytes.Clone(in)
	copy(want[0:6], beMAC[:])
	copy(want[6:12], ourMAC[:])
	if ret != tx || !bytes.Equal(out, want) {
		t.Errorf("DSR: ret %d\n got %x\nwant %x", ret, out, want)
	}

	testFastEncap(t, tab, run, client, vip, beMAC, ourMAC)

	// Scan sees the four entries, Delete returns one with its counters.
	for pass := 0; pass < 2; pass++ {
		n := 0
		for {
			ended, err := tab.Scan(3, func(*FastKey, *FastEntry) { n++ })
			if err != nil {
				t.Fatal(err)
			}
			if ended {
				break
			}
		}
		if n != 7 {
			t.Errorf("scan %d saw %d entries, want 7", pass, n)
		}
	}
	var last FastEntry
	if !tab.Delete(k, &last) || last.Packets != 1 || tab.Delete(k, &last) {
		t.Errorf("Delete: %+v", last)
	}
}

// BenchmarkFastPathProgram times the steering program in the kernel
// (BPF_PROG_TEST_RUN, the frame run b.N times in one call; the duration
// is the kernel's per run) on a 64-byte UDP frame to an owned address:
// without a fast path (steering alone: the XSKMAP lookup, here without a
// socket), with one that misses (the price the fast path's lookups add to
// every TCP and UDP packet the workers take), and hitting a NAT and a
// dsr-l2 entry (rewrite, checksums, counters, XDP_TX). What the driver
// does around the program (veth's skb-to-XDP conversion and its
// transmit) is not in it.
func BenchmarkFastPathProgram(b *testing.B) {
	testbed.RequirePrivileged(b)
	bed := testbed.New(b, testbed.Config{})
	vip := bed.EngineAddr.As4()
	client := [4]byte{198, 18, 200, 7}
	frame := fastFrame(header.ProtocolUDP, client, vip, 40001, 80, 0, 18) // 60 bytes
	k := FastKeyOf(client, vip, 40001, 80, header.ProtocolUDP)
	// The runs share one buffer, so a NAT rewrite is undone by a second
	// entry for the rewritten packet: every run is a hit.
	snat, backend := [4]byte{198, 18, 200, 1}, [4]byte{198, 18, 200, 11}
	there, back := &FastEntry{DstMAC: [6]byte{2, 1, 2, 3, 4, 5}}, &FastEntry{DstMAC: [6]byte{2, 0, 0, 0, 0, 1}}
	there.SetNAT(k, snat, backend, 33000, 8080)
	kb := FastKeyOf(snat, backend, 33000, 8080, header.ProtocolUDP)
	back.SetNAT(kb, client, vip, 40001, 80)
	for _, c := range []struct {
		name    string
		fast    int
		entries map[FastKey]*FastEntry
		want    uint32
	}{
		{"steering", 0, nil, xdpPass},
		{"fast-miss", 64, nil, xdpPass},
		{"fast-nat", 64, map[FastKey]*FastEntry{k: there, kb: back}, xdpTX},
		{"fast-dsr", 64, map[FastKey]*FastEntry{k: {DstMAC: [6]byte{2, 1, 2, 3, 4, 5}}}, xdpTX},
	} {
		b.Run(c.name, func(b *testing.B) {
			prog, err := AttachProgram(bed.HostIf, ProgramConfig{Addrs: []netip.Addr{bed.EngineAddr}, FastPath: c.fast})
			if err != nil {
				b.Fatal(err)
			}
			defer prog.Close()
			for k, e := range c.entries {
				if err := prog.FastTable(0).Put(k, e); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			ret, per, err := prog.prog.Benchmark(frame, b.N, nil)
			if err != nil {
				b.Fatal(err)
			}
			if ret != c.want {
				b.Fatalf("returned %d, want %d", ret, c.want)
			}
			b.ReportMetric(float64(per.Nanoseconds()), "kernel-ns/pkt")
		})
	}
}

// testFastEncap: entries that encapsulate (IPIP, GUE, VXLAN) put the
// packet, unchanged, behind a new Ethernet header and their outer headers
// with the right lengths and a valid checksum; a packet whose TOS or DF
// bit differs from the template's, or too long for the MTU once
// encapsulated, is left to the steering path untouched.
func testFastEncap(t *testing.T, tab *FastTable, run func([]byte) (uint32, []byte), client, vip [4]byte, beMAC, ourMAC [6]byte) {
	t.Helper()
	backend, us := [4]byte{198, 18, 200, 11}, [4]byte{198, 18, 200, 1}
	for i, c := range []struct {
		kind uint32
		n    int
	}{{FastIPIP, 20}, {FastGUE, 28}, {FastVXLAN, 50}} {
		sport := uint16(41000 + i)
		in := fastFrame(header.ProtocolTCP, client, vip, sport, 80, header.TCPFlagACK, 100)
		inner := header.IPv4(in[14:])
		inner.SetTOS(0x10)
		inner.UpdateChecksum()
		outer := make([]byte, c.n)
		o := header.IPv4(outer[:20])
		o[0] = 0x45
		o.SetTOS(0x10)
		o.SetFlagsFragmentOffset(header.IPv4FlagDontFragment, 0)
		o.SetTTL(64)
		o.SetProtocol(4)
		o.SetSrc4(us)
		o.SetDst4(backend)
		if c.kind != FastIPIP {
			o.SetProtocol(header.ProtocolUDP)
			binary.BigEndian.PutUint16(outer[20:], 50000+uint16(i))
			binary.BigEndian.PutUint16(outer[22:], 6080)
			for j := 28; j < c.n; j++ {
				outer[j] = byte(j) // VXLAN header and inner Ethernet: copied as they are
			}
		}
		k := FastKeyOf(client, vip, sport, 80, header.ProtocolTCP)
		e := FastEntry{DstMAC: beMAC, SrcMAC: ourMAC}
		if err := e.SetEncap(c.kind, outer, 1500-c.n); err != nil {
			t.Fatal(err)
		}
		if err := tab.Put(k, &e); err != nil {
			t.Fatal(err)
		}
		ret, out := run(in)
		if ret != xdpTX || len(out) != len(in)+c.n {
			t.Fatalf("encap %d: ret %d, %d bytes out of %d", c.kind, ret, len(out), len(in))
		}
		got := header.IPv4(out[14:])
		if !bytes.Equal(out[0:6], beMAC[:]) || !bytes.Equal(out[6:12], ourMAC[:]) || binary.BigEndian.Uint16(out[12:]) != 0x0800 ||
			!got.ChecksumValid() || int(got.TotalLength()) != len(in)-14+c.n || got.Dst4() != backend || got.TOS() != 0x10 ||
			!bytes.Equal(out[14+c.n:], in[14:]) {
			t.Errorf("encap %d:\n got %x", c.kind, out)
		}
		if c.kind != FastIPIP {
			if ul := binary.BigEndian.Uint16(out[14+24:]); int(ul) != len(in)-14+c.n-20 || !bytes.Equal(out[14+28:14+c.n], outer[28:]) {
				t.Errorf("encap %d: UDP length %d, rest %x", c.kind, ul, out[14+28:14+c.n])
			}
		}
		var st FastEntry
		if !tab.Lookup(k, &st) || st.Packets != 1 || st.Bytes != uint64(len(in)-14) {
			t.Errorf("encap %d counters: %d packets, %d bytes", c.kind, st.Packets, st.Bytes)
		}
		for what, mod := range map[string]func([]byte){
			"TOS":      func(f []byte) { header.IPv4(f[14:]).SetTOS(0); header.IPv4(f[14:]).UpdateChecksum() },
			"DF":       func(f []byte) { header.IPv4(f[14:]).SetFlagsFragmentOffset(0, 0); header.IPv4(f[14:]).UpdateChecksum() },
			"too long": func(f []byte) {},
		} {
			f := bytes.Clone(in)
			mod(f)
			if what == "too long" {
				e.MaxInner = uint16(len(in) - 15)
				if err := tab.Put(k, &e); err != nil {
					t.Fatal(err)
				}
			}
			if ret, out := run(f); ret != xdpPass || !bytes.Equal(out, f) {
				t.Errorf("encap %d, %s differs: ret %d, frame changed %v", c.kind, what, ret, !bytes.Equal(out, f))
			}
		}
	}
}

// TestMonotonicOffset: against a clock that is CLOCK_MONOTONIC less a
// known amount, the offset comes out as that amount, within the tightest
// bracket of its readings.
func TestMonotonicOffset(t *testing.T) {
	const shift = 123_456_789
	off := MonotonicOffset(func() int64 { return Monotonic() - shift })
	if d := off - shift; d < -50_000 || d > 50_000 {
		t.Errorf("offset %d, want %d (±50µs)", off, shift)
	}
}
