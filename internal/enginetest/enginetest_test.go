package enginetest_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

func TestPattern(t *testing.T) {
	a, b := make([]byte, 100), make([]byte, 100)
	enginetest.Pattern(a, 1)
	enginetest.Pattern(b, 1)
	if !bytes.Equal(a, b) {
		t.Fatal("the same length and tag give different bytes")
	}
	if got := binary.BigEndian.Uint32(a); got != 100 {
		t.Errorf("pattern starts with %d, want its length 100", got)
	}
	enginetest.Pattern(b, 2)
	if i := enginetest.FirstDiff(a, b); i == len(a) {
		t.Error("tags 1 and 2 give the same bytes")
	}
	if i := enginetest.FirstDiff(a, a); i != len(a) {
		t.Errorf("FirstDiff of equal slices: %d, want %d", i, len(a))
	}
	short := []byte{9, 9, 9}
	enginetest.Pattern(short, 0) // shorter than the length prefix: no panic
}

func TestPutSYN(t *testing.T) {
	src, dst := [4]byte{198, 18, 0, 2}, [4]byte{198, 18, 0, 1}
	var b [40]byte
	enginetest.PutSYN(b[:], src, dst, 40000, 80, 12345)
	ip, err := header.ParseIPv4(b[:])
	if err != nil {
		t.Fatal(err)
	}
	if ip.Protocol() != header.ProtocolTCP || ip.Src() != netip.AddrFrom4(src) || ip.Dst() != netip.AddrFrom4(dst) {
		t.Fatalf("IPv4 header: protocol %d, %v -> %v", ip.Protocol(), ip.Src(), ip.Dst())
	}
	tcp := header.TCP(b[20:])
	if tcp.SrcPort() != 40000 || tcp.DstPort() != 80 || tcp.Seq() != 12345 || tcp.Flags() != header.TCPFlagSYN {
		t.Errorf("TCP header: ports %d -> %d, seq %d, flags %#x", tcp.SrcPort(), tcp.DstPort(), tcp.Seq(), tcp.Flags())
	}
	if !tcp.ChecksumValid(src, dst) {
		t.Error("TCP checksum is not valid")
	}
}

func TestConfigFor(t *testing.T) {
	bed := &testbed.Bed{HostIf: "xebtest", EngineAddr: netip.MustParseAddr("198.18.7.1"), Prefix: netip.MustParsePrefix("198.18.7.0/24")}
	cfg := enginetest.ConfigFor(bed, engine.Config{Queues: 2})
	if cfg.Interface != "xebtest" || len(cfg.Addrs) != 1 || cfg.Addrs[0] != netip.MustParsePrefix("198.18.7.1/24") ||
		cfg.Logger == nil || cfg.Queues != 2 {
		t.Errorf("ConfigFor: %+v", cfg)
	}
	two := []netip.Prefix{netip.MustParsePrefix("198.18.7.1/24"), netip.MustParsePrefix("198.18.7.4/24")}
	if cfg := enginetest.ConfigFor(bed, engine.Config{Addrs: two}); len(cfg.Addrs) != 2 {
		t.Errorf("ConfigFor replaced the caller's addresses: %v", cfg.Addrs)
	}
}

// TestEngineOnBed runs every kind of exchange the helpers offer against
// an engine on a bed: UDP and TCP echo on the engine, a TCP echo in the
// peer, bulk both ways, and a raw kernel UDP socket.
func TestEngineOnBed(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{BindService: true})
	enginetest.EchoUDP(t, eng, ":7")
	enginetest.EchoTCP(t, eng, ":7", engine.TCPListenConfig{})
	enginetest.PeerResolve(t, bed)

	c := enginetest.PeerUDP(t, bed, 7)
	enginetest.ForceReadBuffer(t, c, 1<<20)
	if got := enginetest.Exchange(t, c, []byte("hello")); string(got) != "hello" {
		t.Errorf("UDP echo: %q", got)
	}
	tc, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7))
	if err != nil {
		t.Fatal(err)
	}
	enginetest.RoundTrips(t, tc)

	enginetest.PeerEchoTCP(t, bed, 7100)
	ec, err := eng.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, 7100)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ec.Close() })
	enginetest.RoundTrips(t, ec)
	to, from := enginetest.ConnectToPeer(t, bed, eng, 7101)
	enginetest.Bulk(t, to, from, 1<<20)
	in, out := enginetest.ConnectFromPeer(t, bed, eng, 7102)
	enginetest.Bulk(t, out, in, 1<<20)
	local := to.LocalAddr()
	if s := enginetest.TCPSocket(t, eng, local); s.Local.String() != local.String() {
		t.Errorf("TCPSocket(%v) found %v", local, s.Local)
	}

	k := enginetest.PeerKernelUDP(t, bed, netip.AddrPortFrom(bed.PeerAddr, 0))
	if err := k.SendTo([]byte("raw"), enginetest.EngineAddr(bed, 7)); err != nil {
		t.Fatal(err)
	}
	if p, _, _, from := k.Recv(t); p != "raw" || from != enginetest.EngineAddr(bed, 7) {
		t.Errorf("kernel UDP socket: %q from %v", p, from)
	}
	enginetest.WaitFor(t, "the engine's counters", func() bool { return eng.Stats().Total.TCP.PassiveOpens == 2 })
}
