package inet4

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/datapath"
)

var (
	burstEngineMAC = header.MAC{2, 0, 0, 0, 0, 1}
	burstEngineIP  = [4]byte{198, 18, 0, 1}
	burstPeerIP    = [4]byte{198, 18, 0, 2}
)

// burstFwd is a BurstForwarder that records what it is given, in order.
type burstFwd struct {
	events []string // "prefetch N" or "forward"
	tuples []Tuple  // every tuple of every PrefetchBurst
	fwd    []Tuple  // the packets Forward got
}

func (f *burstFwd) PrefetchBurst(tuples []Tuple) {
	f.events = append(f.events, "prefetch")
	f.tuples = append(f.tuples, tuples...)
}

func (f *burstFwd) Forward(p *Packet) Verdict {
	f.events = append(f.events, "forward")
	ip := p.IP
	l4 := ip.Payload()
	f.fwd = append(f.fwd, Tuple{Src: ip.Src4(), Dst: ip.Dst4(), SrcPort: binary.BigEndian.Uint16(l4),
		DstPort: binary.BigEndian.Uint16(l4[2:]), Proto: ip.Protocol()})
	return Drop
}

func (f *burstFwd) Fragment(*Packet) Verdict {
	f.events = append(f.events, "fragment")
	return Drop
}

// plainFwd is a Forwarder without the burst pre-pass.
type plainFwd struct{}

func (plainFwd) Forward(*Packet) Verdict  { return Pass }
func (plainFwd) Fragment(*Packet) Verdict { return Pass }

func newBurstLayer(t *testing.T) *Layer {
	t.Helper()
	h, err := NewHost(Config{
		Interface: "none", MAC: burstEngineMAC, MTU: 1500,
		Addrs:      []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4(burstEngineIP), 24)},
		FragMemory: 1 << 20, TxQueue: 64, Bufs: datapath.NewBufs(0), Epoch: time.Now(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
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
	return l
}

// burstFrame builds an Ethernet frame to the engine holding an IPv4
// packet (no options, valid header checksum) of protocol proto whose
// payload starts with the two ports.
func burstFrame(src [4]byte, sport, dport uint16, proto uint8, frag uint16) []byte {
	f := make([]byte, header.EthernetHeaderLen+header.IPv4MinHeaderLen+20)
	copy(f[0:6], burstEngineMAC[:])
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 2})
	binary.BigEndian.PutUint16(f[12:], header.EtherTypeIPv4)
	ip := header.IPv4(f[header.EthernetHeaderLen:])
	ip[0] = 0x45
	ip.SetTotalLength(uint16(len(ip)))
	binary.BigEndian.PutUint16(ip[6:], frag)
	ip.SetTTL(64)
	ip.SetProtocol(proto)
	ip.SetSrc4(src)
	ip.SetDst4(burstEngineIP)
	binary.BigEndian.PutUint16(ip[20:], sport)
	binary.BigEndian.PutUint16(ip[22:], dport)
	ip.UpdateChecksum()
	return f
}

// TestBurstForwarder checks the IPv4 layer's burst pre-pass: a Forwarder
// that is a BurstForwarder makes the layer a datapath.BurstInput, which
// gives it the burst's TCP and UDP 5-tuples in order before the packets
// reach Forward one by one; malformed frames are skipped without harm, by
// the pre-pass and by the layer after it.
func TestBurstForwarder(t *testing.T) {
	l := newBurstLayer(t)
	if _, ok := l.Worker().Input().(datapath.BurstInput); ok {
		t.Fatal("a layer without a Forwarder is a BurstInput")
	}
	l.SetForwarder(plainFwd{})
	if _, ok := l.Worker().Input().(datapath.BurstInput); ok {
		t.Fatal("a layer whose Forwarder takes no bursts is a BurstInput")
	}
	f := &burstFwd{}
	l.SetForwarder(f)
	in, ok := l.Worker().Input().(datapath.BurstInput)
	if !ok {
		t.Fatal("a layer whose Forwarder is a BurstForwarder is not a BurstInput")
	}

	udp := burstFrame(burstPeerIP, 40000, 53, header.ProtocolUDP, 0)
	tcp := burstFrame([4]byte{198, 18, 0, 3}, 40001, 80, header.ProtocolTCP, 0x4000) // DF is no fragment
	want := []Tuple{
		{Src: burstPeerIP, Dst: burstEngineIP, SrcPort: 40000, DstPort: 53, Proto: header.ProtocolUDP},
		{Src: [4]byte{198, 18, 0, 3}, Dst: burstEngineIP, SrcPort: 40001, DstPort: 80, Proto: header.ProtocolTCP},
	}
	mutate := func(b []byte, fn func(b []byte)) []byte {
		b = slices.Clone(b)
		fn(b)
		return b
	}
	ipOff := header.EthernetHeaderLen
	malformed := [][]byte{
		nil,
		{},
		udp[:13],                              // not even an EtherType
		udp[:ipOff+header.IPv4MinHeaderLen+3], // the ports cut short
		mutate(udp, func(b []byte) { binary.BigEndian.PutUint16(b[12:], 0x86dd) }),  // IPv6
		mutate(udp, func(b []byte) { binary.BigEndian.PutUint16(b[12:], 0x8100) }),  // VLAN tagged
		mutate(udp, func(b []byte) { b[ipOff] = 0x65 }),                             // version 6
		mutate(udp, func(b []byte) { b[ipOff] = 0x44 }),                             // header shorter than 20 bytes
		mutate(udp, func(b []byte) { b[ipOff] = 0x4f }),                             // 60-byte header, past the frame
		mutate(udp, func(b []byte) { binary.BigEndian.PutUint16(b[ipOff+2:], 22) }), // total length cuts the ports
		burstFrame(burstPeerIP, 1, 2, header.ProtocolUDP, 0x2000),                   // first fragment
		burstFrame(burstPeerIP, 1, 2, header.ProtocolUDP, 0x0010),                   // a later fragment
		burstFrame(burstPeerIP, 1, 2, header.ProtocolICMP, 0),
		burstFrame(burstPeerIP, 1, 2, 47, 0), // GRE
	}
	burst := [][]byte{udp}
	burst = append(burst, malformed...)
	burst = append(burst, tcp)

	in.PrefetchBurst(burst)
	if len(f.events) != 1 || !slices.Equal(f.tuples, want) {
		t.Fatalf("pre-pass: events %v, tuples %+v; want one prefetch of %+v", f.events, f.tuples, want)
	}
	for _, fr := range burst {
		in.Frame(fr)
	}
	// The layer forwards the ICMP and GRE packets too, and asks Fragment
	// about the fragments: the pre-pass leaves them out.
	l4 := slices.DeleteFunc(slices.Clone(f.fwd), func(t Tuple) bool {
		return t.Proto != header.ProtocolTCP && t.Proto != header.ProtocolUDP
	})
	if f.events[0] != "prefetch" || slices.Contains(f.events[1:], "prefetch") || !slices.Equal(l4, want) {
		t.Fatalf("events %v, forwarded TCP and UDP %+v; want one prefetch first, %+v", f.events, l4, want)
	}

	// A burst with nothing to prefetch is not handed over.
	events := len(f.events)
	in.PrefetchBurst(malformed)
	if len(f.events) != events {
		t.Fatalf("a burst of malformed frames reached PrefetchBurst: %v", f.events)
	}
	if a := testing.AllocsPerRun(100, func() { in.PrefetchBurst(burst) }); a != 0 {
		t.Errorf("%.1f allocations per burst, want 0", a)
	}

	l.SetForwarder(nil)
	if _, ok := l.Worker().Input().(datapath.BurstInput); ok {
		t.Fatal("a layer whose Forwarder was removed is still a BurstInput")
	}
}

// FuzzTupleOf checks that the pre-pass's parser never reads out of bounds
// and reports a tuple only for an unfragmented IPv4 TCP or UDP packet
// whose ports lie within the frame.
func FuzzTupleOf(f *testing.F) {
	f.Add(burstFrame(burstPeerIP, 40000, 53, header.ProtocolUDP, 0))
	f.Add(burstFrame(burstPeerIP, 1, 2, header.ProtocolTCP, 0x2000))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		var tu Tuple
		if !tupleOf(frame, &tu) {
			return
		}
		ip := frame[header.EthernetHeaderLen:]
		hl := int(ip[0]&0xf) * 4
		if ip[0]>>4 != 4 || hl < 20 || len(ip) < hl+4 || (tu.Proto != header.ProtocolTCP && tu.Proto != header.ProtocolUDP) {
			t.Fatalf("tuple %+v from a frame that does not hold one: % x", tu, frame)
		}
		if tu.SrcPort != binary.BigEndian.Uint16(ip[hl:]) || tu.Src != [4]byte(ip[12:16]) {
			t.Fatalf("tuple %+v does not match the frame % x", tu, frame)
		}
	})
}
