package ndp

import (
	"bytes"
	"slices"
	"testing"

	"github.com/xdpengine/engine/header"
)

var (
	ourMAC  = header.MAC{2, 0, 0, 0, 0, 1}
	ourAddr = ip(1)
	peerLL  = [16]byte{0xfe, 0x80, 15: 0x99}
)

func ns(t testing.TB, target [16]byte, sll header.MAC, nonce *[6]byte) []byte {
	b := make([]byte, 64)
	n, err := header.PutNeighborSolicitation(b, target, sll)
	if err != nil {
		t.Fatal(err)
	}
	if nonce != nil {
		k, _ := header.PutNDPNonceOption(b[n:], *nonce)
		n += k
	}
	return b[:n]
}

func na(target [16]byte, flags uint8, tll header.MAC) []byte {
	b := make([]byte, 64)
	n, _ := header.PutNeighborAdvertisement(b, target, flags, tll)
	return b[:n]
}

func TestResponderAnswers(t *testing.T) {
	c := newCache(Config{})
	r := &Responder{MAC: ourMAC, Addrs: [][16]byte{ourAddr}, Cache: c}
	out := make([]byte, 64)
	snm := header.SolicitedNodeMulticast(ourAddr)

	// A resolution from a neighbor: solicited, override, to its MAC.
	rep, err := r.Input(0, 255, ip(2), snm, ns(t, ourAddr, macB, nil), out, nil)
	if err != nil || rep.Len != 32 || rep.Src != ourAddr || rep.Dst != ip(2) || rep.DstMAC != macB {
		t.Fatalf("reply %+v, %v", rep, err)
	}
	if !bytes.Equal(out[:rep.Len], na(ourAddr, header.NDPFlagSolicited|header.NDPFlagOverride, ourMAC)) {
		t.Fatalf("NA %x", out[:rep.Len])
	}
	if err := header.ParseNDP(out[:rep.Len], 255, rep.Src, rep.Dst); err != nil {
		t.Fatal(err)
	}
	if st, mac, _ := c.State(ip(2)); st != Stale || mac != macB {
		t.Fatalf("sender learned: %v %v", st, mac)
	}
	// A unicast probe without SLL: destination MAC from the cache.
	rep, _ = r.Input(0, 255, ip(2), ourAddr, ns(t, ourAddr, header.MAC{}, nil), out, nil)
	if rep.Len != 32 || rep.DstMAC != macB {
		t.Fatalf("probe reply %+v", rep)
	}
	// Unknown sender, no SLL: the caller resolves.
	rep, _ = r.Input(0, 255, ip(3), ourAddr, ns(t, ourAddr, header.MAC{}, nil), out, nil)
	if rep.Len == 0 || rep.DstMAC != (header.MAC{}) {
		t.Fatalf("reply %+v", rep)
	}
	// A DAD probe for our address: to all-nodes, not solicited.
	rep, _ = r.Input(0, 255, [16]byte{}, snm, ns(t, ourAddr, header.MAC{}, &[6]byte{1}), out, nil)
	if rep.Dst != AllNodes || rep.DstMAC != (header.MAC{0x33, 0x33, 0, 0, 0, 1}) ||
		header.NeighborAdvertisement(out[:rep.Len]).Flags() != header.NDPFlagOverride {
		t.Fatalf("DAD answer %+v flags %#x", rep, out[4])
	}
	// Not ours: nothing.
	if rep, _ := r.Input(0, 255, ip(2), snm, ns(t, ip(9), macB, nil), out, nil); rep.Len != 0 {
		t.Fatalf("answered for another address")
	}
	// Invalid: hop limit.
	if _, err := r.Input(0, 64, ip(2), snm, ns(t, ourAddr, macB, nil), out, nil); err != header.ErrNDPHopLimit {
		t.Fatalf("hop limit: %v", err)
	}
	// Short output buffer.
	if _, err := r.Input(0, 255, ip(2), snm, ns(t, ourAddr, macB, nil), out[:20], nil); err != ErrBufferTooSmall {
		t.Fatalf("short buffer: %v", err)
	}
	if r.Stats.InSolicits != 6 || r.Stats.OutAdverts != 4 || r.Stats.InErrors != 1 {
		t.Fatalf("stats %+v", r.Stats)
	}
}

func TestResponderAdvertisements(t *testing.T) {
	c := newCache(Config{})
	rl := NewRouterList(RouterConfig{})
	r := &Responder{MAC: ourMAC, Addrs: [][16]byte{ourAddr}, Cache: c, Routers: rl}
	out := make([]byte, 64)
	var rec recorder
	c.Lookup(0, peerLL, 42, true)
	if _, err := r.Input(1, 255, peerLL, ourAddr, na(peerLL, header.NDPFlagSolicited|header.NDPFlagOverride|header.NDPFlagRouter, macB), out, rec.flush); err != nil {
		t.Fatal(err)
	}
	if st, mac, router := c.State(peerLL); st != Reachable || mac != macB || !router || !slices.Equal(rec.flushed, []uint64{42}) {
		t.Fatalf("%v %v %v %v", st, mac, router, rec.flushed)
	}
	ra := raMsg(t, 1800, nil)
	if err := rl.Input(1, 255, peerLL, AllNodes, ra, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := rl.DefaultRouter(2); !ok {
		t.Fatal("no router")
	}
	// The router says it is no longer one: it leaves the router list.
	r.Input(3, 255, peerLL, AllNodes, na(peerLL, header.NDPFlagOverride, macB), out, nil)
	if _, ok := rl.DefaultRouter(4); ok {
		t.Fatal("router kept")
	}
	// Someone else claims our address.
	r.Input(5, 255, ip(7), AllNodes, na(ourAddr, header.NDPFlagOverride, macB), out, nil)
	if r.Stats.Conflicts != 1 {
		t.Fatalf("conflicts %d", r.Stats.Conflicts)
	}
}

func TestResponderNoAllocs(t *testing.T) {
	c := newCache(Config{})
	r := &Responder{MAC: ourMAC, Addrs: [][16]byte{ourAddr}, Cache: c}
	out := make([]byte, 64)
	msg := ns(t, ourAddr, macB, nil)
	snm := header.SolicitedNodeMulticast(ourAddr)
	if n := testing.AllocsPerRun(100, func() {
		if rep, err := r.Input(0, 255, ip(2), snm, msg, out, nil); err != nil || rep.Len == 0 {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func BenchmarkResponderSolicitation(b *testing.B) {
	c := newCache(Config{})
	r := &Responder{MAC: ourMAC, Addrs: [][16]byte{ourAddr}, Cache: c}
	out := make([]byte, 64)
	msg := ns(b, ourAddr, macB, nil)
	snm := header.SolicitedNodeMulticast(ourAddr)
	b.ReportAllocs()
	for b.Loop() {
		r.Input(0, 255, ip(2), snm, msg, out, nil)
	}
}

func TestSolicitationHelpers(t *testing.T) {
	dst, mac := SolicitationDst(ip(5), header.MAC{})
	if dst != header.SolicitedNodeMulticast(ip(5)) || mac != (header.MAC{0x33, 0x33, 0xff, 0, 0, 5}) {
		t.Fatalf("%x %v", dst, mac)
	}
	if dst, mac := SolicitationDst(ip(5), macA); dst != ip(5) || mac != macA {
		t.Fatalf("%x %v", dst, mac)
	}
	b := make([]byte, 32)
	if n, _ := PutSolicitation(b, ourMAC, ip(5)); n != 32 || header.ParseNDP(b, 255, ourAddr, dst) != nil {
		t.Fatalf("solicitation %x", b)
	}
	if n, _ := PutAnnouncement(b, ourMAC, ourAddr, true); n != 32 || header.NeighborAdvertisement(b).Flags() != header.NDPFlagOverride|header.NDPFlagRouter {
		t.Fatalf("announcement %x", b)
	}
	if _, err := PutSolicitation(b[:10], ourMAC, ip(5)); err != ErrBufferTooSmall {
		t.Fatal(err)
	}
	if _, err := PutProbe(b[:31], ip(5), [6]byte{}); err != ErrBufferTooSmall {
		t.Fatal(err)
	}
}

// Responder.Also adds addresses it answers solicitations for (announced
// VIPs): the advertisement carries the asked target and the engine's MAC.
func TestResponderAlso(t *testing.T) {
	vip := ip(0x64)
	r := &Responder{MAC: ourMAC, Addrs: [][16]byte{ourAddr}, Cache: newCache(Config{})}
	out := make([]byte, 64)
	snm := header.SolicitedNodeMulticast(vip)
	if rep, err := r.Input(0, 255, ip(2), snm, ns(t, vip, macB, nil), out, nil); err != nil || rep.Len != 0 {
		t.Fatalf("solicitation for %x without Also: %+v, %v; want no answer", vip, rep, err)
	}
	r.Also = func(a [16]byte) bool { return a == vip }
	rep, err := r.Input(0, 255, ip(2), snm, ns(t, vip, macB, nil), out, nil)
	if err != nil || rep.Src != vip || rep.Dst != ip(2) || rep.DstMAC != macB {
		t.Fatalf("solicitation for announced %x: %+v, %v", vip, rep, err)
	}
	if !bytes.Equal(out[:rep.Len], na(vip, header.NDPFlagSolicited|header.NDPFlagOverride, ourMAC)) {
		t.Fatalf("NA %x", out[:rep.Len])
	}
}
