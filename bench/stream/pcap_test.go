package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/xdpengine/engine/bench/signature"
	"github.com/xdpengine/engine/header"
)

// buildFrame makes an Ethernet/IPv4 frame with the given L4 bytes
// (checksums computed), tagged with vlan when non-zero.
func buildFrame(t testing.TB, proto uint8, vlan uint16, l4 []byte) []byte {
	t.Helper()
	eth := header.EthernetFields{Dst: macB, Src: macA, Type: header.EtherTypeIPv4}
	if vlan != 0 {
		eth.NumTags, eth.Tags[0] = 1, header.VLANTag{TPID: header.EtherTypeVLAN, TCI: vlan}
	}
	ipf := header.IPv4Fields{TTL: 61, Protocol: proto, ID: 0x1234, Src: addr("198.18.5.5"), Dst: addr("198.18.6.6")}
	ipf.TotalLength = uint16(ipf.Len() + len(l4))
	b := make([]byte, eth.Len()+ipf.Len()+len(l4))
	n, _ := eth.Put(b)
	m, _ := ipf.Put(b[n:])
	copy(b[n+m:], l4)
	seg := b[n+m:]
	s, d := ipf.Src.As4(), ipf.Dst.As4()
	switch proto {
	case header.ProtocolUDP:
		header.UDP(seg).UpdateChecksum(s, d)
	case header.ProtocolTCP:
		header.TCP(seg).UpdateChecksum(s, d)
	case header.ProtocolICMP:
		header.ICMPv4(seg).UpdateChecksum()
	}
	return b
}

func udpSeg(payload string) []byte {
	u := make([]byte, 8+len(payload))
	(&header.UDPFields{SrcPort: 5353, DstPort: 53, Length: uint16(len(u))}).Put(u)
	copy(u[8:], payload)
	return u
}

// testFrames is a capture's worth of frames of every sort a replay meets.
// Those whose checksums are right come first; the index of the first
// frame with a wrong one is returned too.
func testFrames(t testing.TB) (frames []Frame, firstBad int) {
	tcp := make([]byte, 24+20)
	(&header.TCPFields{SrcPort: 40000, DstPort: 80, Seq: 1, Ack: 2, Flags: header.TCPFlagACK | header.TCPFlagPSH,
		Window: 500, Options: header.TCPOptions{MSS: 1460}}).Put(tcp)
	copy(tcp[24:], "GET / HTTP/1.1\r\nHost:")
	icmp := make([]byte, 8+32)
	(&header.ICMPv4Fields{Type: header.ICMPv4Echo, Rest: 0x00010002}).Put(icmp)
	for i := 8; i < len(icmp); i++ {
		icmp[i] = byte(i)
	}
	arp := make([]byte, 42)
	(&header.EthernetFields{Dst: header.BroadcastMAC, Src: macA, Type: header.EtherTypeARP}).Put(arp)
	(&header.ARPFields{Op: header.ARPRequest, SenderMAC: macA, SenderIP: addr("198.18.5.5").As4(), TargetIP: addr("198.18.6.6").As4()}).Put(arp[14:])
	noSum := buildFrame(t, header.ProtocolUDP, 0, udpSeg("no checksum, sixteen+ bytes"))
	binary.BigEndian.PutUint16(noSum[14+20+6:], 0)
	frag := buildFrame(t, header.ProtocolUDP, 0, udpSeg("a later fragment's bytes"))
	ip := header.IPv4(frag[14:])
	ip.SetFlagsFragmentOffset(0, 64)
	ip.UpdateChecksum()
	good := [][]byte{
		buildFrame(t, header.ProtocolUDP, 0, udpSeg("replayed UDP payload, long")),
		buildFrame(t, header.ProtocolTCP, 0, tcp),
		buildFrame(t, header.ProtocolICMP, 0, icmp),
		buildFrame(t, header.ProtocolUDP, 100, udpSeg("tagged, with payload enough")),
		noSum,
		frag,
		arp,
	}
	badIP := buildFrame(t, header.ProtocolUDP, 0, udpSeg("bad IP header checksum"))
	badIP[14+10] ^= 0x55
	partial := buildFrame(t, header.ProtocolUDP, 0, udpSeg("partial checksum, as offload leaves it"))
	pi := header.IPv4(partial[14:])
	header.UDP(pi.Payload()).SetChecksum(pi.PseudoHeaderChecksum())
	for i, b := range append(good, badIP, partial) {
		frames = append(frames, Frame{Data: b, Offset: time.Duration(i) * 1500 * time.Microsecond})
	}
	return frames, len(good)
}

func TestPcapRoundTrip(t *testing.T) {
	frames, _ := testFrames(t)
	var file bytes.Buffer
	start := time.Unix(1700000000, 123456789)
	if err := WritePcap(&file, start, frames); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPcap(&file)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(frames) {
		t.Fatalf("%d frames back, wrote %d", len(got), len(frames))
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, frames[i].Data) || got[i].Offset != frames[i].Offset {
			t.Errorf("frame %d: %x at %v, wrote %x at %v", i, got[i].Data, got[i].Offset, frames[i].Data, frames[i].Offset)
		}
	}
}

func TestPcapng(t *testing.T) {
	frames, _ := testFrames(t)
	var file bytes.Buffer
	w, err := pcapgo.NewNgWriter(&file, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1700000000, 0)
	for _, f := range frames[:3] {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(f.Offset), CaptureLength: len(f.Data), Length: len(f.Data)}
		if err := w.WritePacket(ci, f.Data); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	got, err := ReadPcap(&file)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !bytes.Equal(got[2].Data, frames[2].Data) || got[2].Offset != frames[2].Offset {
		t.Fatalf("pcapng: %d frames, last %v", len(got), got[len(got)-1].Offset)
	}
}

func TestPcapErrors(t *testing.T) {
	var raw bytes.Buffer
	w := pcapgo.NewWriter(&raw)
	w.WriteFileHeader(65535, layers.LinkTypeRaw)
	if _, err := ReadPcap(&raw); !errors.Is(err, ErrLinkType) {
		t.Errorf("raw IP capture: %v", err)
	}
	var cut bytes.Buffer
	w = pcapgo.NewWriter(&cut)
	w.WriteFileHeader(64, layers.LinkTypeEthernet)
	w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: 64, Length: 1500}, make([]byte, 64))
	if _, err := ReadPcap(&cut); !errors.Is(err, ErrSnapTruncate) {
		t.Errorf("snaplen-cut capture: %v", err)
	}
	if _, err := ReadPcap(bytes.NewReader([]byte{1})); err == nil {
		t.Error("one-byte file read")
	}
}

// TestReplayVerbatim: with nothing to vary, a replay sends the file's
// frames byte for byte, in order, cycling.
func TestReplayVerbatim(t *testing.T) {
	frames, _ := testFrames(t)
	s := mustNew(t, Spec{Kind: Replay, Frames: frames})
	if s.Signed() {
		t.Fatal("replay signed by default")
	}
	buf := make([]byte, s.MaxLen())
	for i := range 3 * len(frames) {
		want := frames[i%len(frames)].Data
		if s.NextSize() != len(want)+FCSLen {
			t.Fatalf("frame %d: NextSize %d", i, s.NextSize())
		}
		n := s.Next(buf, int64(i))
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("frame %d:\n got %x\nwant %x", i, buf[:n], want)
		}
	}
}

// TestReplayVaried: addresses, ports, MACs and signature on replayed
// frames; checksums that were right stay right (exactly the recomputed
// value), the others keep their error.
func TestReplayVaried(t *testing.T) {
	frames, firstBad := testFrames(t)
	good := frames[:firstBad]
	mac := header.MAC{0x02, 9, 9, 9, 9, 9}
	sp := Spec{
		Kind: Replay, Frames: good, DstMAC: mac,
		Src:     AddrRange{First: addr("10.0.0.1"), Last: addr("10.0.0.200"), Mode: Random},
		Dst:     AddrRange{First: addr("10.1.0.0"), Last: addr("10.1.0.9")},
		SrcPort: PortRange{First: 1, Last: 60000, Mode: Random},
		Seed:    3,
	}
	s := mustNew(t, sp)
	buf := make([]byte, s.MaxLen())
	for i := range 50 * len(good) {
		n := s.Next(buf, 0)
		b := buf[:n]
		orig := good[i%len(good)].Data
		if err := checkChecksums(b); err != nil {
			t.Fatalf("frame %d: %v\n%x", i, err, b)
		}
		if header.Ethernet(b).Dst() != mac || len(b) != len(orig) {
			t.Fatalf("frame %d: MAC %v, length %d", i, header.Ethernet(b).Dst(), len(b))
		}
		if header.Ethernet(b).Type() == header.EtherTypeARP {
			if !bytes.Equal(b[6:], orig[6:]) {
				t.Fatalf("ARP frame changed")
			}
			continue
		}
		ip := header.IPv4(header.Ethernet(b).Payload())
		if src := ip.Src(); src.Compare(addr("10.0.0.1")) < 0 || src.Compare(addr("10.0.0.200")) > 0 {
			t.Fatalf("frame %d: source %v", i, src)
		}
		if i%len(good) == 4 && binary.BigEndian.Uint16(ip.Payload()[6:]) != 0 {
			t.Fatalf("UDP without checksum got one")
		}
	}

	// Signed: only frames with room for a signature.
	sp.Sign = SignOn
	if _, err := New(sp); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("signing an ARP frame: %v", err)
	}
	sp.Frames = good[:4]
	s = mustNew(t, sp)
	for i := range 40 {
		n := s.Next(buf, int64(1000+i))
		if err := checkChecksums(buf[:n]); err != nil {
			t.Fatalf("signed frame %d: %v", i, err)
		}
		var sig signature.Signature
		if !signature.FromFrame(buf[:n], &sig) || sig.Seq != uint32(i) || sig.TxNs != int64(1000+i) {
			t.Fatalf("signed frame %d: %+v", i, sig)
		}
	}
}

func TestReplayFixChecksums(t *testing.T) {
	frames, firstBad := testFrames(t)
	bad := frames[firstBad:]
	s := mustNew(t, Spec{Kind: Replay, Frames: bad})
	buf := make([]byte, s.MaxLen())
	for i := range bad {
		n := s.Next(buf, 0)
		if checkChecksums(buf[:n]) == nil {
			t.Fatalf("bad frame %d came out right without FixChecksums", i)
		}
	}
	s = mustNew(t, Spec{Kind: Replay, Frames: bad, FixChecksums: true, Src: AddrRange{First: addr("10.9.9.9")}})
	for i := range bad {
		n := s.Next(buf, 0)
		if err := checkChecksums(buf[:n]); err != nil {
			t.Fatalf("fixed frame %d: %v", i, err)
		}
		if ip := header.IPv4(buf[14:]); ip.Src() != addr("10.9.9.9") {
			t.Fatalf("fixed frame %d: source %v", i, ip.Src())
		}
	}
	if checkChecksums(bad[0].Data) == nil {
		t.Fatal("FixChecksums changed the caller's frame")
	}
}

// TestReplayVLAN: a tag is inserted in untagged frames and rewritten in
// tagged ones.
func TestReplayVLAN(t *testing.T) {
	frames, _ := testFrames(t)
	sp := Spec{Kind: Replay, Frames: frames[:4], VLAN: VLANRange{First: 200, Last: 201, PCP: 5}}
	s := mustNew(t, sp)
	buf := make([]byte, s.MaxLen())
	for i := range 8 {
		n := s.Next(buf, 0)
		e, err := header.ParseEthernet(buf[:n])
		if err != nil || e.NumTags() != 1 || e.VLANID() != 200+uint16(i%2) {
			t.Fatalf("frame %d: %v tags %d vid %d", i, err, e.NumTags(), e.VLANID())
		}
		if _, tci, _ := e.Tag(0); tci>>13 != 5 {
			t.Fatalf("frame %d: PCP %d", i, tci>>13)
		}
		if want := len(frames[i%4].Data) + 4*boolToInt(i%4 != 3); n != want {
			t.Fatalf("frame %d: length %d, want %d", i, n, want)
		}
		if err := checkChecksums(buf[:n]); err != nil {
			t.Fatal(err)
		}
	}
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
