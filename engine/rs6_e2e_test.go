package engine_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/stack/inet6"
)

var allRouters6 = netip.MustParseAddr("ff02::2")

// rsBed is a bed whose peer namespace watches for the engine's Router
// Solicitations twice: an AF_PACKET socket sees the frames, and a raw
// ICMPv6 socket that joined ff02::2 gets only those whose checksum the
// peer kernel verified (rawv6_recvmsg drops the others), with their hop
// limit. The engine (IPv6 only, no DAD, no Gateway6) starts with rs.
type rsBed struct {
	bed  *testbed.Bed
	eng  *engine.Engine
	pc   *testbed.PacketConn
	raw  int
	mac  header.MAC // the engine's
	peer header.MAC
}

func newRSBed(t *testing.T, rs inet6.RouterSolicitation) *rsBed {
	t.Helper()
	b := &rsBed{bed: testbed.New(t, testbed.Config{IPv6: true}), raw: -1}
	bed := b.bed
	copy(b.mac[:], bed.HostMAC)
	copy(b.peer[:], bed.PeerMAC)
	err := bed.Do(func() (err error) {
		if b.pc, err = testbed.ListenPacket(bed.PeerIf); err != nil {
			return err
		}
		if b.raw, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6); err != nil {
			return err
		}
		mr := &unix.IPv6Mreq{Multiaddr: allRouters6.As16(), Interface: uint32(bed.PeerIndex)}
		if err := unix.SetsockoptIPv6Mreq(b.raw, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mr); err != nil {
			return err
		}
		return unix.SetsockoptInt(b.raw, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1)
	})
	t.Cleanup(func() {
		if b.pc != nil {
			b.pc.Close()
		}
		if b.raw >= 0 {
			unix.Close(b.raw)
		}
	})
	if err != nil {
		t.Fatalf("peer sockets: %v", err)
	}
	eng, err := engine.New(enginetest.ConfigFor(bed, engine.Config{IPv6NoDAD: true, IPv6RouterSolicitation: rs,
		Addrs: []netip.Prefix{netip.PrefixFrom(bed.EngineAddr6, 64)}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		eng.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := eng.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	b.eng = eng
	return b
}

// next returns the time the next Router Solicitation from the engine's
// address reached the peer, within timeout (ok false: none), after
// checking its frame: to 33:33:00:00:00:02 from the engine's MAC, IPv6
// to ff02::2, hop limit 255, ICMPv6 type 133 code 0 with a valid
// checksum, and a source link-layer option with the engine's MAC.
// Solicitations from other sources (the host kernel's own, from its
// link-local address) are skipped.
func (b *rsBed) next(t *testing.T, timeout time.Duration) (time.Time, bool) {
	t.Helper()
	buf := make([]byte, 2048)
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return time.Time{}, false
		}
		n, outgoing, err := b.pc.Recv(buf, left)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return time.Time{}, false
			}
			t.Fatal(err)
		}
		at := time.Now()
		f := buf[:n]
		if outgoing || n < 14+header.IPv6HeaderLen+8 || binary.BigEndian.Uint16(f[12:]) != header.EtherTypeIPv6 {
			continue
		}
		ip := header.IPv6(f[14:])
		m := f[14+header.IPv6HeaderLen:]
		if ip.NextHeader() != header.ProtocolICMPv6 || m[0] != header.ICMPv6RouterSolicitation || ip.Src() != b.bed.EngineAddr6 {
			continue
		}
		if want := header.MulticastMAC6(allRouters6.As16()); !bytes.Equal(f[:6], want[:]) || !bytes.Equal(f[6:12], b.mac[:]) {
			t.Errorf("RS frame from %x to %x, want from %v to %v", f[6:12], f[:6], b.mac, want)
		}
		if ip.Dst() != allRouters6 || ip.HopLimit() != 255 || int(ip.PayloadLength()) != len(m) {
			t.Errorf("RS to %v, hop limit %d, payload length %d (%d bytes); want ff02::2, 255", ip.Dst(), ip.HopLimit(), ip.PayloadLength(), len(m))
		}
		msg := header.ICMPv6(m)
		if m[1] != 0 || !msg.ChecksumValid(ip.Src16(), ip.Dst16()) {
			t.Errorf("RS code %d, checksum %#04x valid %v", m[1], msg.Checksum(), msg.ChecksumValid(ip.Src16(), ip.Dst16()))
		}
		if err := header.ParseNDP(m, ip.HopLimit(), ip.Src16(), ip.Dst16()); err != nil {
			t.Errorf("RS invalid: %v", err)
		}
		if mac, ok := header.RouterSolicitation(m).Options().LinkLayer(header.NDPOptionSourceLinkLayer); !ok || mac != b.mac {
			t.Errorf("RS source link-layer option %v (%v), want %v", mac, ok, b.mac)
		}
		return at, true
	}
}

// kernelSeen returns how many Router Solicitations from the engine's
// address the peer kernel's raw ICMPv6 socket received (checksum verified
// by the kernel), failing t for one without hop limit 255.
func (b *rsBed) kernelSeen(t *testing.T) int {
	t.Helper()
	buf := make([]byte, 512)
	oob := make([]byte, 128)
	seen := 0
	for {
		n, oobn, _, from, err := unix.Recvmsg(b.raw, buf, oob, unix.MSG_DONTWAIT)
		if err != nil {
			return seen
		}
		sa, ok := from.(*unix.SockaddrInet6)
		if !ok || netip.AddrFrom16(sa.Addr) != b.bed.EngineAddr6 || n < 8 || buf[0] != header.ICMPv6RouterSolicitation {
			continue
		}
		seen++
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		hop := -1
		for _, cm := range msgs {
			if err == nil && cm.Header.Level == unix.IPPROTO_IPV6 && cm.Header.Type == unix.IPV6_HOPLIMIT && len(cm.Data) >= 4 {
				hop = int(binary.NativeEndian.Uint32(cm.Data))
			}
		}
		if hop != 255 {
			t.Errorf("the peer kernel got an RS with hop limit %d", hop)
		}
	}
}

// TestRouterSolicitation6: with no router on the link, the engine sends
// three Router Solicitations (Linux's router_solicitations), the interval
// apart (shortened by the test hook), the first within the random delay,
// then stops; the peer kernel accepts each one (its checksum), and the
// engine counts them (ICMPv6 out router solicits).
func TestRouterSolicitation6(t *testing.T) {
	const interval = 400 * time.Millisecond
	b := newRSBed(t, inet6.RouterSolicitation{Interval: interval, MaxDelay: 200 * time.Millisecond})
	var at []time.Time
	for len(at) < 4 {
		wait := 3 * time.Second
		if len(at) == 3 {
			wait = 3 * interval // a fourth would come by now
		}
		ts, ok := b.next(t, wait)
		if !ok {
			break
		}
		at = append(at, ts)
	}
	if len(at) != 3 {
		t.Fatalf("%d Router Solicitations seen, want 3", len(at))
	}
	for i := 1; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d < interval-50*time.Millisecond || d > interval+300*time.Millisecond {
			t.Errorf("solicitation %d came %v after the one before, want about %v", i+1, d, interval)
		}
	}
	if n := b.kernelSeen(t); n != 3 {
		t.Errorf("the peer kernel accepted %d of the 3 solicitations (bad checksums are dropped)", n)
	}
	if n := b.eng.Stats().Total.IPv6.ICMP.OutRouterSolicits; n != 3 {
		t.Errorf("OutRouterSolicits %d, want 3", n)
	}
}

// TestRouterSolicitation6StopsAtAdvert: the engine, soliciting up to 20
// times, stops once a router answers: with a Router Advertisement unicast
// to the solicitation's source (the engine's address: through the XDP
// program, which the ICMPv6 tap does not see) or multicast to ff02::1
// (the tap); it learns the default router either way.
func TestRouterSolicitation6StopsAtAdvert(t *testing.T) {
	for _, unicast := range []bool{true, false} {
		name := map[bool]string{true: "unicast", false: "multicast"}[unicast]
		t.Run(name, func(t *testing.T) {
			const interval = 300 * time.Millisecond
			b := newRSBed(t, inet6.RouterSolicitation{Count: 20, Interval: interval, MaxDelay: -1})
			if _, ok := b.next(t, 3*time.Second); !ok {
				t.Fatal("no Router Solicitation")
			}
			router := header.LinkLocalFromMAC(b.peer)
			dst, dstMAC := [16]byte{0xff, 0x02, 15: 1}, header.MulticastMAC6([16]byte{0xff, 0x02, 15: 1})
			if unicast {
				dst, dstMAC = b.bed.EngineAddr6.As16(), b.mac
			}
			m := make([]byte, 64)
			n, _ := header.PutRouterAdvertisement(m, 64, 0, 1800, 0, 0)
			k, _ := header.PutNDPLinkLayerOption(m[n:], header.NDPOptionSourceLinkLayer, b.peer)
			n += k
			header.ICMPv6(m[:n]).UpdateChecksum(router, dst)
			f := make([]byte, 14+header.IPv6HeaderLen+n)
			copy(f, dstMAC[:])
			copy(f[6:], b.peer[:])
			binary.BigEndian.PutUint16(f[12:], header.EtherTypeIPv6)
			header.PutIPv6(f[14:], 0, 0, uint16(n), header.ProtocolICMPv6, 255, router, dst)
			copy(f[14+header.IPv6HeaderLen:], m[:n])
			if err := b.pc.Send(f); err != nil {
				t.Fatal(err)
			}
			enginetest.WaitFor(t, "the advertisement learned", func() bool {
				return b.eng.Stats().Total.IPv6.NDP.RouterAdvertsUsed > 0
			})
			sent := b.eng.Stats().Total.IPv6.ICMP.OutRouterSolicits
			b.next(t, 100*time.Millisecond) // one may have left while the advertisement was on its way
			if ts, ok := b.next(t, 4*interval); ok {
				t.Errorf("a Router Solicitation at %v, after the advertisement was learned", ts.Format(time.StampMilli))
			}
			if now := b.eng.Stats().Total.IPv6.ICMP.OutRouterSolicits; now > sent+1 || now >= 20 {
				t.Errorf("OutRouterSolicits %d, %d when the advertisement was learned", now, sent)
			}
		})
	}
}
