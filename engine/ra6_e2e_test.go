package engine_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestRouterAdvertisement6: the peer namespace sends a Router
// Advertisement (to ff02::1, which the XDP program leaves to the host
// kernel: the engine reads it from its ICMPv6 tap) naming itself a default
// router with an on-link prefix; the engine, without Gateway6, then sends
// a datagram to an off-link address to the router's MAC.
func TestRouterAdvertisement6(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	var pc *testbed.PacketConn
	if err := bed.Do(func() (err error) { pc, err = testbed.ListenPacket(bed.PeerIf); return err }); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var peerMAC header.MAC
	copy(peerMAC[:], bed.PeerMAC)
	router := header.LinkLocalFromMAC(peerMAC)
	allNodes := [16]byte{0xff, 0x02, 15: 1}

	m := make([]byte, 128)
	n, _ := header.PutRouterAdvertisement(m, 64, 0, 1800, 0, 0)
	k, _ := header.PutNDPLinkLayerOption(m[n:], header.NDPOptionSourceLinkLayer, peerMAC)
	n += k
	k, _ = header.PutNDPPrefixInfoOption(m[n:], netip.MustParseAddr("2001:db8:5::").As16(), 64,
		header.NDPPrefixFlagOnLink|header.NDPPrefixFlagAuto, 3600, 1800)
	n += k
	header.ICMPv6(m[:n]).UpdateChecksum(router, allNodes)
	f := make([]byte, 14+header.IPv6HeaderLen+n)
	dstMAC := header.MulticastMAC6(allNodes)
	copy(f, dstMAC[:])
	copy(f[6:], peerMAC[:])
	binary.BigEndian.PutUint16(f[12:], header.EtherTypeIPv6)
	header.PutIPv6(f[14:], 0, 0, uint16(n), header.ProtocolICMPv6, 255, router, allNodes)
	copy(f[14+header.IPv6HeaderLen:], m[:n])

	deadline := time.Now().Add(5 * time.Second)
	for eng.Stats().Total.IPv6.NDP.RouterAdvertsUsed == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no Router Advertisement learned: NDP %+v", eng.Stats().Total.IPv6.NDP)
		}
		if err := pc.Send(f); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}

	off := netip.MustParseAddr("2001:db8::1")
	c, err := eng.Dial("udp", netip.AddrPortFrom(off, 9).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := []byte("through the router")
	buf := make([]byte, 4096)
	deadline = time.Now().Add(5 * time.Second)
	var next time.Time
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no datagram to %v seen on the peer's link; IPv6 stats %+v", off, eng.Stats().Total.IPv6)
		}
		if time.Now().After(next) {
			if _, err := c.Write(payload); err != nil {
				t.Fatalf("write: %v", err)
			}
			next = time.Now().Add(300 * time.Millisecond)
		}
		n, outgoing, err := pc.Recv(buf, 100*time.Millisecond)
		if err != nil || outgoing || n < 14+header.IPv6HeaderLen+8 {
			continue
		}
		fr := buf[:n]
		if binary.BigEndian.Uint16(fr[12:]) != header.EtherTypeIPv6 || fr[14+6] != header.ProtocolUDP ||
			netip.AddrFrom16([16]byte(fr[14+24:14+40])) != off {
			continue
		}
		if !bytes.Equal(fr[:6], peerMAC[:]) {
			t.Fatalf("datagram to %v sent to MAC %x, want the router's %v", off, fr[:6], bed.PeerMAC)
		}
		if src := netip.AddrFrom16([16]byte(fr[14+8 : 14+24])); src != bed.EngineAddr6 {
			t.Errorf("datagram from %v, want %v", src, bed.EngineAddr6)
		}
		if !bytes.HasSuffix(fr, payload) {
			t.Errorf("payload %q", fr[14+48:])
		}
		break
	}
	if s := eng.Stats().Total.IPv6.NDP; s.RouterAdverts == 0 || s.RouterAdvertsUsed == 0 {
		t.Errorf("router adverts %d, used %d", s.RouterAdverts, s.RouterAdvertsUsed)
	}
}
