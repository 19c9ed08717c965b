package lb

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/inet6"
)

// packet6 builds an IPv6 TCP or UDP packet with a full checksum.
func packet6(proto uint8, src, dst netip.Addr, sport, dport uint16, payload string) (header.IPv6, []byte) {
	hl := header.UDPHeaderLen
	if proto == header.ProtocolTCP {
		hl = header.TCPMinHeaderLen
	}
	b := make([]byte, header.IPv6HeaderLen+hl+len(payload))
	b[0] = 6 << 4
	binary.BigEndian.PutUint16(b[4:], uint16(hl+len(payload)))
	b[6], b[7] = proto, 64
	ip := header.IPv6(b)
	ip.SetSrc16(src.As16())
	ip.SetDst16(dst.As16())
	l4 := b[header.IPv6HeaderLen:]
	binary.BigEndian.PutUint16(l4, sport)
	binary.BigEndian.PutUint16(l4[2:], dport)
	if proto == header.ProtocolTCP {
		l4[12], l4[13] = 5<<4, header.TCPFlagSYN
	} else {
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	}
	copy(l4[hl:], payload)
	completeChecksum6(ip, proto, l4)
	return ip, l4
}

// checksumOK verifies the transport checksum of an IPv6 packet.
func checksumOK(ip header.IPv6, proto uint8, l4 []byte) bool {
	return header.Checksum(l4, header.PseudoHeaderChecksum6(proto, ip.Src16(), ip.Dst16(), uint32(len(l4)))) == 0xffff
}

// TestRewrite6: NAT's incremental rewrite of both addresses and ports
// leaves a checksum the receiver verifies, for TCP and UDP, both ways.
func TestRewrite6(t *testing.T) {
	client, vip := netip.MustParseAddr("2001:2:0:1::2"), netip.MustParseAddr("2001:2:0:1::100")
	snat, be := netip.MustParseAddr("2001:2:0:1::1"), netip.MustParseAddr("2001:db8:ffff::b")
	for _, proto := range []uint8{header.ProtocolTCP, header.ProtocolUDP} {
		for _, payload := range []string{"", "x", "hello, backend"} {
			ip, l4 := packet6(proto, client, vip, 40000, 80, payload)
			rewrite6(ip, proto, l4, snat.As16(), be.As16(), 33333, 8080)
			if ip.Src() != snat || ip.Dst() != be || binary.BigEndian.Uint16(l4) != 33333 || binary.BigEndian.Uint16(l4[2:]) != 8080 {
				t.Fatalf("proto %d: rewritten to %v:%d → %v:%d", proto, ip.Src(), binary.BigEndian.Uint16(l4), ip.Dst(), binary.BigEndian.Uint16(l4[2:]))
			}
			if !checksumOK(ip, proto, l4) {
				t.Errorf("proto %d payload %q: checksum wrong after the forward rewrite", proto, payload)
			}
			rewrite6(ip, proto, l4, vip.As16(), client.As16(), 80, 40000)
			if !checksumOK(ip, proto, l4) {
				t.Errorf("proto %d payload %q: checksum wrong after the reply rewrite", proto, payload)
			}
		}
	}
}

// TestFlowHash6: the Maglev input depends on the whole 5-tuple, or on the
// client's address alone with SourceHash.
func TestFlowHash6(t *testing.T) {
	a, b := netip.MustParseAddr("2001:db8::1").As16(), netip.MustParseAddr("2001:db8::2").As16()
	v, sv := &vip{}, &vip{cfg: VIP{SourceHash: true}}
	h := flowHash6(v, a, b, 1, 2, header.ProtocolTCP, 7)
	if h != flowHash6(v, a, b, 1, 2, header.ProtocolTCP, 7) {
		t.Error("not deterministic")
	}
	for _, o := range []uint64{flowHash6(v, b, a, 1, 2, 6, 7), flowHash6(v, a, b, 3, 2, 6, 7), flowHash6(v, a, b, 1, 3, 6, 7),
		flowHash6(v, a, b, 1, 2, 17, 7), flowHash6(v, a, b, 1, 2, 6, 8)} {
		if o == h {
			t.Error("a field of the tuple does not change the hash")
		}
	}
	if flowHash6(sv, a, b, 1, 2, 6, 7) != flowHash6(sv, a, a, 9, 9, 17, 7) {
		t.Error("SourceHash: the hash depends on more than the client's address")
	}
}

// TestIPv6Config: IPv6 VIPs with IPv6 backends in nat and dsr-l2 are
// taken, with bracketed keys and Lookup; what IPv6 does not support yet is
// refused, saying so.
func TestIPv6Config(t *testing.T) {
	h6, err := inet6.NewHost(inet6.Config{Addrs: []netip.Prefix{netip.MustParsePrefix("2001:db8::1/64")}, NoDAD: true})
	if err != nil {
		t.Fatal(err)
	}
	vip6, be6 := netip.MustParseAddr("2001:db8::100"), netip.MustParseAddr("2001:db8::11")
	be4 := netip.MustParseAddr("198.18.1.11")
	good := VIP{Addr: vip6, Port: 80, Proto: header.ProtocolTCP, Mode: NAT, Backends: []Backend{{Addr: be6, Weight: 1}}}
	if k := good.Key(); k != "[2001:db8::100]:80/tcp" {
		t.Errorf("Key = %q", k)
	}
	b := New(Params{Host6: h6, SNAT6: netip.MustParseAddr("2001:db8::1")})
	if err := b.SetConfig(Config{VIPs: []VIP{good}}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Lookup(netip.AddrPortFrom(vip6, 80), header.ProtocolTCP, netip.MustParseAddrPort("[2001:db8::2]:40000"))
	if err != nil || got != be6 {
		t.Errorf("Lookup = %v, %v; want %v", got, err, be6)
	}
	if st := b.Stats(); len(st) != 1 || st[0].VIP != good.Key() || st[0].Backends[0].Addr != be6 {
		t.Errorf("Stats = %+v", st)
	}
	for _, tt := range []struct {
		name string
		edit func(v *VIP)
		want string
	}{
		{"IPv4 backend", func(v *VIP) { v.Backends = append(v.Backends, Backend{Addr: be4, Weight: 1}) }, "mixed families are not supported yet"},
		{"tunnel", func(v *VIP) { v.Mode = DSRIPIP }, "dsr-ipip over IPv6 is not supported yet"},
		{"fast path", func(v *VIP) { v.FastPath = true }, "the XDP fast path does not forward IPv6 yet"},
		{"hashed fragments", func(v *VIP) { v.Mode, v.HashFragments = DSRL2, true }, "hashed fragments are not supported over IPv6 yet"},
	} {
		v := good
		v.Backends = append([]Backend(nil), good.Backends...)
		tt.edit(&v)
		err := b.SetConfig(Config{VIPs: []VIP{v}})
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: SetConfig = %v, want %q", tt.name, err, tt.want)
		}
	}
	v4 := VIP{Addr: netip.MustParseAddr("198.18.0.100"), Port: 80, Proto: header.ProtocolTCP, Backends: []Backend{{Addr: be6, Weight: 1}}}
	if err := b.SetConfig(Config{VIPs: []VIP{v4}}); err == nil || !strings.Contains(err.Error(), "one address family") {
		t.Errorf("IPv4 VIP with an IPv6 backend: SetConfig = %v", err)
	}
	if err := New(Params{}).SetConfig(Config{VIPs: []VIP{good}}); err == nil || !strings.Contains(err.Error(), "no IPv6 address") {
		t.Errorf("IPv6 VIP on an engine without IPv6: SetConfig = %v", err)
	}
}
