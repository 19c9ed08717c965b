package inet4

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/icmp"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/stats"
)

// The tunnel of these tests: a balancer (198.18.0.2) sends a client's
// (198.19.88.9) packets to the VIP (198.19.77.7, a transparent address of
// the engine) inside an outer header to the engine (198.18.0.1).
var (
	engineMAC   = header.MAC{2, 0, 0, 0, 0, 1}
	balancerMAC = header.MAC{2, 0, 0, 0, 0, 2}
	engineIP    = [4]byte{198, 18, 0, 1}
	balancerIP  = [4]byte{198, 18, 0, 2}
	clientIP    = [4]byte{198, 19, 88, 9}
	vipIP       = [4]byte{198, 19, 77, 7}
)

// golden decodes hex written in groups (spaces are ignored).
func golden(parts ...string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(strings.Join(parts, ""), " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// Golden frames, their checksums computed apart from this code (a few
// lines of Python's struct over RFC 1071).
var (
	// goldenInner is the client's datagram: UDP 40000 → 7000, "hello".
	goldenInner = golden(
		"4500 0021 04d2 0000 4011 44c3 c6135809 c6134d07", // IPv4, 33 bytes, ID 1234, TTL 64, UDP, 198.19.88.9 → 198.19.77.7
		"9c40 1b58 000d d331",                             // UDP 40000 → 7000, length 13, checksum
		"68656c6c6f",                                      // "hello"
	)
	// goldenIPIP is goldenInner as the balancer sends it in dsr-ipip.
	goldenIPIP = golden(
		"020000000001 020000000002 0800",                  // Ethernet: to the engine, from the balancer, IPv4
		"4500 0035 0000 4000 4004 ae9d c6120002 c6120001", // IPv4, 53 bytes, DF, TTL 64, protocol 4, 198.18.0.2 → 198.18.0.1
		"4500 0021 04d2 0000 4011 44c3 c6135809 c6134d07", // the inner packet
		"9c40 1b58 000d d331 68656c6c6f",
	)
	// goldenGUE is goldenInner in dsr-gue: UDP to 6080 without a
	// checksum, the inner packet straight after the UDP header.
	goldenGUE = golden(
		"020000000001 020000000002 0800",
		"4500 003d 0000 4000 4011 ae88 c6120002 c6120001", // IPv4, 61 bytes, DF, TTL 64, UDP, 198.18.0.2 → 198.18.0.1
		"c052 17c0 0029 0000",                             // UDP 49234 (entropy) → 6080, length 41, no checksum
		"4500 0021 04d2 0000 4011 44c3 c6135809 c6134d07", // the inner packet
		"9c40 1b58 000d d331 68656c6c6f",
	)
)

// catcher is a Transport that keeps a copy of the last packet it got.
type catcher struct {
	n       int
	ip      []byte
	inFrame bool // the packet lay right after the Ethernet header of a frame
}

func (c *catcher) Input(r Received) {
	c.n++
	c.ip = append(c.ip[:0], r.IP...)
	c.inFrame = len(r.Frame) > header.EthernetHeaderLen && &r.Frame[header.EthernetHeaderLen] == &r.IP[0]
}

func (c *catcher) ICMPError(*Received, *icmp.ReceivedError, header.ICMPv4) {}

// decapBed is one worker's layer with the VIP as a transparent address and
// catchers as its UDP and TCP; no socket: nothing may be transmitted
// except in place.
type decapBed struct {
	l        *Layer
	udp, tcp *catcher
}

func newDecapBed(t testing.TB, d Decap, trustPartial bool) *decapBed {
	t.Helper()
	h, err := NewHost(Config{
		Interface: "none", MAC: engineMAC, MTU: 1500,
		Addrs:        []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4(engineIP), 24)},
		TrustPartial: trustPartial, FragMemory: 1 << 20, TxQueue: 64,
		Bufs: datapath.NewBufs(0), Epoch: time.Now(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Decap:  d,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddTransparent(netip.AddrFrom4(vipIP)); err != nil {
		t.Fatal(err)
	}
	dp, err := datapath.New(datapath.Config{CPU: -1, Bufs: datapath.NewBufs(0), Epoch: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	l, err := h.NewLayer(dp, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := &decapBed{l: l, udp: &catcher{ip: make([]byte, 0, 2048)}, tcp: &catcher{ip: make([]byte, 0, 2048)}}
	l.Register(header.ProtocolUDP, b.udp)
	l.Register(header.ProtocolTCP, b.tcp)
	return b
}

// ipPacket builds an IPv4 packet (no options) with a valid header
// checksum.
func ipPacket(src, dst [4]byte, proto, tos uint8, id uint16, payload []byte) header.IPv4 {
	ip := make(header.IPv4, header.IPv4MinHeaderLen+len(payload))
	ip[0] = 0x45
	ip.SetTOS(tos)
	ip.SetTotalLength(uint16(len(ip)))
	ip.SetID(id)
	ip.SetTTL(64)
	ip.SetProtocol(proto)
	ip.SetSrc4(src)
	ip.SetDst4(dst)
	copy(ip[header.IPv4MinHeaderLen:], payload)
	ip.UpdateChecksum()
	return ip
}

// udpDatagram builds a UDP datagram with a full checksum.
func udpDatagram(src, dst [4]byte, sport, dport uint16, payload []byte) []byte {
	u := make(header.UDP, header.UDPHeaderLen+len(payload))
	u.SetSrcPort(sport)
	u.SetDstPort(dport)
	u.SetLength(uint16(len(u)))
	copy(u.Payload(), payload)
	u.UpdateChecksum(src, dst)
	return u
}

// ethFrame puts an IPv4 packet in a frame from the balancer to the engine.
func ethFrame(ip []byte) []byte {
	f := make([]byte, header.EthernetHeaderLen, header.EthernetHeaderLen+len(ip))
	copy(f[0:], engineMAC[:])
	copy(f[6:], balancerMAC[:])
	binary.BigEndian.PutUint16(f[12:], header.EtherTypeIPv4)
	return append(f, ip...)
}

// ipip wraps inner as the balancer does in dsr-ipip, with outer TOS tos.
func ipip(inner []byte, tos uint8) []byte {
	return ethFrame(ipPacket(balancerIP, engineIP, protoIPIP, tos, 0, inner))
}

// gue wraps inner in dsr-gue to port, the outer UDP checksum set by csum.
func gue(inner []byte, port uint16, csum func(u header.UDP)) []byte {
	u := make(header.UDP, header.UDPHeaderLen+len(inner))
	u.SetSrcPort(49234)
	u.SetDstPort(port)
	u.SetLength(uint16(len(u)))
	copy(u.Payload(), inner)
	if csum != nil {
		csum(u)
	}
	return ethFrame(ipPacket(balancerIP, engineIP, header.ProtocolUDP, 0, 0, u))
}

func fullSum(u header.UDP) { u.UpdateChecksum(balancerIP, engineIP) }
func partialSum(u header.UDP) {
	u.SetChecksum(header.PseudoHeaderChecksum(header.ProtocolUDP, balancerIP, engineIP, uint16(len(u))))
}
func badSum(u header.UDP) { u.SetChecksum(0x1234) }

// withInner returns goldenInner changed by fn, its header checksum redone.
func withInner(fn func(ip header.IPv4)) []byte {
	ip := header.IPv4(bytes.Clone(goldenInner))
	fn(ip)
	ip.UpdateChecksum()
	return ip
}

// TestDecapGolden runs single frames through a worker's layer: what the
// transports get, and what is counted.
func TestDecapGolden(t *testing.T) {
	both := Decap{IPIP: true, GUEPort: 6080}
	nested := ipPacket(clientIP, vipIP, protoIPIP, 0, 7, goldenInner)
	gueInIPIP := ipPacket(clientIP, engineIP, header.ProtocolUDP, 0, 8, udpDatagram(clientIP, engineIP, 1, 6080, goldenInner))
	nestedFrag := header.IPv4(bytes.Clone(nested))
	nestedFrag.SetFlagsFragmentOffset(header.IPv4FlagMoreFragments, 0)
	nestedFrag.UpdateChecksum()
	tcpInner := ipPacket(clientIP, vipIP, header.ProtocolTCP, 0, 9, make([]byte, header.TCPMinHeaderLen))
	for _, tc := range []struct {
		name    string
		cfg     Decap
		trust   bool
		frame   []byte
		udp     []byte // what UDP must get (nil: nothing)
		tcp     []byte
		decap   stats.Decap
		checked stats.Worker // DropChecksum, DropProto, RxCsumPartial
	}{
		{name: "ipip", cfg: both, frame: goldenIPIP, udp: goldenInner, decap: stats.Decap{IPIP: 1}},
		{name: "gue", cfg: both, frame: goldenGUE, udp: goldenInner, decap: stats.Decap{GUE: 1}},
		{name: "ipip only", cfg: Decap{IPIP: true}, frame: goldenIPIP, udp: goldenInner, decap: stats.Decap{IPIP: 1}},
		{name: "ipip, tcp inside", cfg: both, frame: ipip(tcpInner, 0), tcp: tcpInner, decap: stats.Decap{IPIP: 1}},
		{name: "gue, full checksum", cfg: both, frame: gue(goldenInner, 6080, fullSum), udp: goldenInner, decap: stats.Decap{GUE: 1}},
		{name: "gue, partial checksum, trusted", cfg: both, trust: true, frame: gue(goldenInner, 6080, partialSum),
			udp: goldenInner, decap: stats.Decap{GUE: 1}, checked: stats.Worker{RxCsumPartial: 1}},
		{name: "gue, partial checksum, not trusted", cfg: both, frame: gue(goldenInner, 6080, partialSum),
			checked: stats.Worker{DropChecksum: 1}},
		{name: "gue, bad checksum", cfg: both, trust: true, frame: gue(goldenInner, 6080, badSum),
			checked: stats.Worker{DropChecksum: 1}},
		{name: "gue, another port", cfg: both, frame: gue(goldenInner, 6081, nil), // the outer datagram, as any
			udp: gue(goldenInner, 6081, nil)[header.EthernetHeaderLen:]},
		{name: "gue, ipv6 inside", cfg: both, frame: gue(append([]byte{0x60}, goldenInner[1:]...), 6080, nil),
			decap: stats.Decap{DropUnsupported: 1}},
		{name: "gue, variant 0", cfg: both, frame: gue(append([]byte{0x00, 0, 0, 0}, goldenInner...), 6080, nil),
			decap: stats.Decap{DropUnsupported: 1}},
		{name: "gue, empty", cfg: both, frame: gue(nil, 6080, nil), decap: stats.Decap{DropUnsupported: 1}},
		{name: "ipip, inner checksum bad", cfg: both,
			frame: ipip(append([]byte{0x45, 0, 0, 0x21, 0x04, 0xd2, 0, 0, 0x40, 0x11, 0xde, 0xad}, goldenInner[12:]...), 0),
			decap: stats.Decap{DropMalformed: 1}},
		{name: "ipip, inner truncated", cfg: both, frame: ipip(goldenInner[:30], 0), decap: stats.Decap{DropMalformed: 1}},
		{name: "ipip, inner not ipv4", cfg: both, frame: ipip([]byte("not a packet, not a packet, not"), 0),
			decap: stats.Decap{DropMalformed: 1}},
		{name: "ipip in ipip", cfg: both, frame: ipip(nested, 0), decap: stats.Decap{DropNested: 1}},
		{name: "ipip fragment in ipip", cfg: both, frame: ipip(nestedFrag, 0), decap: stats.Decap{DropNested: 1}},
		{name: "gue in ipip", cfg: both, frame: ipip(gueInIPIP, 0), decap: stats.Decap{DropNested: 1}},
		{name: "ipip in gue", cfg: both, frame: gue(nested, 6080, nil), decap: stats.Decap{DropNested: 1}},
		{name: "inner not local", cfg: both, frame: ipip(withInner(func(ip header.IPv4) { ip.SetDst4([4]byte{198, 19, 99, 99}) }), 0),
			decap: stats.Decap{DropNotLocal: 1}},
		{name: "inner to the engine", cfg: both, frame: ipip(withInner(func(ip header.IPv4) { ip.SetDst4(engineIP) }), 0),
			udp: withInner(func(ip header.IPv4) { ip.SetDst4(engineIP) }), decap: stats.Decap{IPIP: 1}},
		{name: "ipip off", cfg: Decap{GUEPort: 6080}, frame: goldenIPIP, checked: stats.Worker{DropProto: 1}},
		{name: "gue off", cfg: Decap{IPIP: true}, frame: goldenGUE, udp: goldenGUE[header.EthernetHeaderLen:]},
		{name: "ipip to the vip", cfg: both, checked: stats.Worker{DropProto: 1}, // tunnels end at the engine's own addresses
			frame: ethFrame(ipPacket(balancerIP, vipIP, protoIPIP, 0, 0, goldenInner))},
		{name: "ce onto ect", cfg: both, frame: ipip(withInner(func(ip header.IPv4) { ip.SetTOS(0x2a) }), 0x2b),
			udp: withInner(func(ip header.IPv4) { ip.SetTOS(0x2b) }), decap: stats.Decap{IPIP: 1}},
		{name: "ce onto not-ect", cfg: both, frame: ipip(withInner(func(ip header.IPv4) { ip.SetTOS(0x28) }), 0x2b),
			udp: withInner(func(ip header.IPv4) { ip.SetTOS(0x28) }), decap: stats.Decap{IPIP: 1}},
		{name: "ect outside", cfg: both, frame: ipip(withInner(func(ip header.IPv4) { ip.SetTOS(0x2a) }), 0x2a),
			udp: withInner(func(ip header.IPv4) { ip.SetTOS(0x2a) }), decap: stats.Decap{IPIP: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newDecapBed(t, tc.cfg, tc.trust)
			frame := bytes.Clone(tc.frame)
			if n := b.l.Frame(frame); n != 0 {
				t.Errorf("a reply of %d bytes", n)
			}
			for _, c := range []struct {
				name string
				got  *catcher
				want []byte
			}{{"udp", b.udp, tc.udp}, {"tcp", b.tcp, tc.tcp}} {
				switch {
				case c.want == nil && c.got.n != 0:
					t.Errorf("%s got %x", c.name, c.got.ip)
				case c.want != nil && (c.got.n != 1 || !bytes.Equal(c.got.ip, c.want)):
					t.Errorf("%s got %d packets, the last\n%x\nwant\n%x", c.name, c.got.n, c.got.ip, c.want)
				case c.want != nil && !c.got.inFrame:
					t.Errorf("%s: the packet is not right after the frame's Ethernet header", c.name)
				}
			}
			st := b.l.Stats()
			if st.Decap != tc.decap {
				t.Errorf("decap counters %+v, want %+v", st.Decap, tc.decap)
			}
			if st.DropChecksum != tc.checked.DropChecksum || st.DropProto != tc.checked.DropProto ||
				st.RxCsumPartial != tc.checked.RxCsumPartial || st.DropMalformed != 0 || st.DropNotLocal != 0 {
				t.Errorf("checksum drops %d, protocol drops %d, partial %d, malformed %d, not local %d; want %d, %d, %d, 0, 0",
					st.DropChecksum, st.DropProto, st.RxCsumPartial, st.DropMalformed, st.DropNotLocal,
					tc.checked.DropChecksum, tc.checked.DropProto, tc.checked.RxCsumPartial)
			}
		})
	}
}

// split cuts an IPv4 packet (no options, not a fragment) into two
// fragments, the first carrying at bytes of its payload (a multiple of 8).
func split(ip header.IPv4, at int) (first, second header.IPv4) {
	p := ip.Payload()
	first = ipPacket(ip.Src4(), ip.Dst4(), ip.Protocol(), ip.TOS(), ip.ID(), p[:at])
	first.SetFlagsFragmentOffset(header.IPv4FlagMoreFragments, 0)
	first.UpdateChecksum()
	second = ipPacket(ip.Src4(), ip.Dst4(), ip.Protocol(), ip.TOS(), ip.ID(), p[at:])
	second.SetFlagsFragmentOffset(0, uint16(at))
	second.UpdateChecksum()
	return first, second
}

// bigInner is a client datagram of 600 bytes of payload to the VIP.
func bigInner() header.IPv4 {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 600/16)
	return ipPacket(clientIP, vipIP, header.ProtocolUDP, 0, 4321, udpDatagram(clientIP, vipIP, 40000, 7000, payload))
}

// TestDecapFragments: fragmented inner packets, fragmented tunnel packets,
// and both at once are reassembled and unwrapped; each datagram reaches
// UDP once, whole.
func TestDecapFragments(t *testing.T) {
	inner := bigInner()
	i1, i2 := split(inner, 304)
	outer := ipPacket(balancerIP, engineIP, protoIPIP, 0, 99, inner)
	o1, o2 := split(outer, 400)
	outerI1 := ipPacket(balancerIP, engineIP, protoIPIP, 0, 100, i1) // i1 in an outer packet that is cut too
	oi1, oi2 := split(outerI1, 200)
	for _, tc := range []struct {
		name   string
		frames [][]byte
		decap  stats.Decap
	}{
		{"inner fragments", [][]byte{ipip(i1, 0), ipip(i2, 0)}, stats.Decap{IPIP: 2}},
		{"inner fragments, last first", [][]byte{ipip(i2, 0), ipip(i1, 0)}, stats.Decap{IPIP: 2}},
		{"gue, inner fragments", [][]byte{gue(i1, 6080, nil), gue(i2, 6080, nil)}, stats.Decap{GUE: 2}},
		{"outer fragments", [][]byte{ethFrame(o1), ethFrame(o2)}, stats.Decap{IPIP: 1}},
		{"both", [][]byte{ethFrame(oi1), ipip(i2, 0), ethFrame(oi2)}, stats.Decap{IPIP: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newDecapBed(t, Decap{IPIP: true, GUEPort: 6080}, false)
			for _, f := range tc.frames {
				b.l.Frame(f)
			}
			if b.udp.n != 1 {
				t.Fatalf("UDP got %d datagrams, want 1", b.udp.n)
			}
			got := header.IPv4(b.udp.ip)
			if got.IsFragment() || got.Src4() != clientIP || got.Dst4() != vipIP || !bytes.Equal(got.Payload(), inner.Payload()) {
				t.Errorf("UDP got %x\nwant the payload of %x", got, inner)
			}
			if st := b.l.Stats(); st.Decap != tc.decap || st.DropMalformed != 0 {
				t.Errorf("decap counters %+v (malformed %d), want %+v", st.Decap, st.DropMalformed, tc.decap)
			}
		})
	}
}

// TestDecapEchoInPlace: a ping to the VIP through the tunnel is answered
// in place, from the frame it came in: an echo reply from the VIP to the
// client, unencapsulated, back to the frame's Ethernet source.
func TestDecapEchoInPlace(t *testing.T) {
	b := newDecapBed(t, Decap{IPIP: true, GUEPort: 6080}, false)
	echo := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g'}
	binary.BigEndian.PutUint16(echo[2:], ^header.Checksum(echo, 0))
	for _, frame := range [][]byte{
		ipip(ipPacket(clientIP, vipIP, header.ProtocolICMP, 0, 5, echo), 0),
		gue(ipPacket(clientIP, vipIP, header.ProtocolICMP, 0, 5, echo), 6080, nil),
	} {
		n := b.l.Frame(frame)
		if n == 0 {
			t.Fatal("no reply in place")
		}
		eth, err := header.ParseEthernet(frame[:n])
		if err != nil {
			t.Fatal(err)
		}
		ip, err := header.ParseIPv4(eth.Payload())
		if err != nil {
			t.Fatalf("reply %x: %v", frame[:n], err)
		}
		m, err := header.ParseICMPv4(ip.Payload())
		if err != nil {
			t.Fatal(err)
		}
		if eth.Dst() != balancerMAC || eth.Src() != engineMAC || ip.Src4() != vipIP || ip.Dst4() != clientIP ||
			ip.Protocol() != header.ProtocolICMP || m.Type() != header.ICMPv4EchoReply || !bytes.Equal(m[4:], echo[4:]) {
			t.Errorf("reply %x: want an echo reply from the VIP to the client, to the balancer's MAC", frame[:n])
		}
	}
	if st := b.l.Stats(); st.Decap != (stats.Decap{IPIP: 1, GUE: 1}) {
		t.Errorf("decap counters %+v", st.Decap)
	}
}

// orderHook records what the Hook saw.
type orderHook struct{ dst, proto []uint8 }

func (h *orderHook) Packet(p *Packet) Verdict {
	h.dst = append(h.dst, p.IP.Dst4()[3])
	h.proto = append(h.proto, p.IP.Protocol())
	return Pass
}

// TestDecapBeforeHook: the Hook sees the inner packet once, in the frame
// it was moved to, and not the tunnel packet.
func TestDecapBeforeHook(t *testing.T) {
	b := newDecapBed(t, Decap{IPIP: true, GUEPort: 6080}, false)
	h := &orderHook{}
	b.l.h.cfg.Hook = h
	b.l.Frame(bytes.Clone(goldenIPIP))
	b.l.Frame(bytes.Clone(goldenGUE))
	if string(h.dst) != "\x07\x07" || string(h.proto) != "\x11\x11" {
		t.Errorf("the Hook saw packets to .%v of protocols %v, want the inner UDP to the VIP (.7) twice", h.dst, h.proto)
	}
	if b.udp.n != 2 {
		t.Errorf("UDP got %d datagrams, want 2", b.udp.n)
	}
}

// TestDecapNoAlloc: unwrapping a frame allocates nothing.
func TestDecapNoAlloc(t *testing.T) {
	b := newDecapBed(t, Decap{IPIP: true, GUEPort: 6080}, true)
	buf := make([]byte, 2048)
	for _, g := range [][]byte{goldenIPIP, goldenGUE, gue(goldenInner, 6080, partialSum)} {
		if a := testing.AllocsPerRun(100, func() { b.l.Frame(buf[:copy(buf, g)]) }); a != 0 {
			t.Errorf("%.1f allocations per frame", a)
		}
	}
	if b.udp.n == 0 {
		t.Fatal("nothing delivered")
	}
}

// BenchmarkDecap: the cost of a frame through the layer to its transport,
// unwrapped or not (the plain frame carries the same inner datagram, sent
// straight to the VIP).
func BenchmarkDecap(b *testing.B) {
	bed := newDecapBed(b, Decap{IPIP: true, GUEPort: 6080}, true)
	buf := make([]byte, 2048)
	for _, bc := range []struct {
		name  string
		frame []byte
	}{
		{"plain", ethFrame(goldenInner)},
		{"ipip", goldenIPIP},
		{"gue", goldenGUE},
		{"gue-partial-checksum", gue(goldenInner, 6080, partialSum)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bed.l.Frame(buf[:copy(buf, bc.frame)])
			}
		})
	}
}
