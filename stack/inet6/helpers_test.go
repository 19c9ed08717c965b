package inet6

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ipv6"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/stats"
)

var (
	ourMAC  = header.MAC{2, 0, 0, 0, 0, 1}
	peerMAC = header.MAC{2, 0, 0, 0, 0, 2}
	ourIP   = netip.MustParseAddr("2001:db8:1::1")
	peerIP  = netip.MustParseAddr("2001:db8:1::2")
	ourNet  = netip.MustParsePrefix("2001:db8:1::1/64")
)

// fakeLink records what a layer sends. Its frames come from a fixed pool
// so that a benchmark allocates nothing; keep makes it copy them.
type fakeLink struct {
	keep   bool
	frames [][]byte
	pool   [][]byte
	next   uint64
}

func newFakeLink(keep bool) *fakeLink {
	f := &fakeLink{keep: keep}
	for range 128 {
		f.pool = append(f.pool, make([]byte, 4096))
	}
	return f
}

func (f *fakeLink) SendFrame(b []byte) {
	if f.keep {
		f.frames = append(f.frames, slices.Clone(b))
	}
}

func (f *fakeLink) AllocFrames(addrs []uint64) int {
	for i := range addrs {
		addrs[i] = f.next % uint64(len(f.pool))
		f.next++
	}
	return len(addrs)
}

func (f *fakeLink) ReleaseAddrs([]uint64)       {}
func (f *fakeLink) FrameBuffer(a uint64) []byte { return f.pool[a] }
func (f *fakeLink) QueueTx(d afxdp.Desc)        { f.SendFrame(f.pool[d.Addr][:d.Len]) }
func (f *fakeLink) TxChecksumOffload() bool     { return false }
func (f *fakeLink) QueueTxChecksum(d afxdp.Desc, start, offset int) {
	datapath.FinishChecksum(f.pool[d.Addr][:d.Len], start, offset)
	f.QueueTx(d)
}
func (f *fakeLink) take() [][]byte { fs := f.frames; f.frames = nil; return fs }
func (f *fakeLink) count() int     { return len(f.frames) }
func (f *fakeLink) only(t testing.TB) []byte {
	t.Helper()
	fs := f.take()
	if len(fs) != 1 {
		t.Fatalf("sent %d frames, want 1", len(fs))
	}
	return fs[0]
}

// testLayer is a layer on a fake link with a settable clock.
type testLayer struct {
	*Layer
	link *fakeLink
	st   *stats.Worker
	now  int64
}

func testConfig() Config {
	return Config{
		Interface: "none", MAC: ourMAC, MTU: 1500, Addrs: []netip.Prefix{ourNet}, NoDAD: true,
		FragMemory: 1 << 20, TxQueue: 64, Bufs: datapath.NewBufs(0), Epoch: time.Now(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func newTestLayer(t testing.TB, cfg Config, keep bool) *testLayer {
	t.Helper()
	h, err := NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tl := &testLayer{link: newFakeLink(keep), st: &stats.Worker{}, now: 1}
	l, err := h.newLayer(nil, tl.link, 0, tl.st, 1)
	if err != nil {
		t.Fatal(err)
	}
	l.now = func() int64 { return tl.now }
	tl.Layer = l
	return tl
}

// packet6 builds an IPv6 packet.
func packet6(src, dst netip.Addr, next, hop uint8, payload []byte) []byte {
	b := make([]byte, header.IPv6HeaderLen+len(payload))
	header.PutIPv6(b, 0, 0, uint16(len(payload)), next, hop, src.As16(), dst.As16())
	copy(b[header.IPv6HeaderLen:], payload)
	return b
}

// frameOf puts an Ethernet header in front of an IPv6 packet.
func frameOf(dstMAC, srcMAC header.MAC, pkt []byte) []byte {
	b := make([]byte, ethHeaderLen+len(pkt), max(4096, ethHeaderLen+len(pkt)))
	copy(b, dstMAC[:])
	copy(b[6:], srcMAC[:])
	binary.BigEndian.PutUint16(b[12:], header.EtherTypeIPv6)
	copy(b[ethHeaderLen:], pkt)
	return b
}

// icmp6 builds an ICMPv6 message with its checksum.
func icmp6(src, dst netip.Addr, typ, code uint8, rest uint32, body []byte) []byte {
	m := make([]byte, header.ICMPv6HeaderLen+len(body))
	m[0], m[1] = typ, code
	binary.BigEndian.PutUint32(m[4:], rest)
	copy(m[8:], body)
	header.ICMPv6(m).UpdateChecksum(src.As16(), dst.As16())
	return m
}

// ndpMsg fills the checksum of an NDP message built by the header
// package.
func ndpMsg(src, dst netip.Addr, m []byte) []byte {
	m = slices.Clone(m)
	header.ICMPv6(m).SetChecksum(0)
	header.ICMPv6(m).UpdateChecksum(src.As16(), dst.As16())
	return m
}

// udp6 builds a UDP datagram with its checksum.
func udp6(src, dst netip.Addr, sport, dport uint16, data []byte) []byte {
	u := make([]byte, 8+len(data))
	binary.BigEndian.PutUint16(u, sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], data)
	c := ^header.Checksum(u, header.PseudoHeaderChecksum6(header.ProtocolUDP, src.As16(), dst.As16(), uint32(len(u))))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return u
}

func echoRequest(src, dst netip.Addr, id, seq uint16, data []byte) []byte {
	return packet6(src, dst, header.ProtocolICMPv6, 64,
		icmp6(src, dst, header.ICMPv6EchoRequest, 0, uint32(id)<<16|uint32(seq), data))
}

// fragments splits pkt at mtu.
func fragments(t testing.TB, pkt []byte, mtu int) [][]byte {
	t.Helper()
	var f ipv6.Fragmenter
	n, err := f.Count(pkt, mtu)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, mtu)
	}
	if _, err := f.Fragment(pkt, mtu, 0x1234, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// parseSent parses a frame the layer sent: its IPv6 packet, and the
// upper-layer header on.
func parseSent(t testing.TB, f []byte) (header.Ethernet, header.IPv6, []byte) {
	t.Helper()
	eth, err := header.ParseEthernet(f)
	if err != nil || eth.Type() != header.EtherTypeIPv6 {
		t.Fatalf("sent a frame that is not IPv6: %x", f)
	}
	ip, err := header.ParseIPv6(eth.Payload())
	if err != nil {
		t.Fatalf("sent a bad IPv6 packet: %v", err)
	}
	var ext header.IPv6Ext
	if err := header.ParseIPv6Ext(ip, &ext); err != nil {
		t.Fatalf("sent bad extension headers: %v", err)
	}
	return eth, ip, ip[ext.Offset:]
}

// sentICMP parses an ICMPv6 message the layer sent and checks its
// checksum.
func sentICMP(t testing.TB, f []byte) (header.Ethernet, header.IPv6, header.ICMPv6) {
	t.Helper()
	eth, ip, p := parseSent(t, f)
	m, err := header.ParseICMPv6(p)
	if err != nil {
		t.Fatal(err)
	}
	if !m.ChecksumValid(ip.Src16(), ip.Dst16()) {
		t.Fatalf("ICMPv6 type %d sent with a bad checksum", m.Type())
	}
	return eth, ip, m
}
