package lb

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
)

// TestRegistry: a retired slot is freed only once no flow names it, then
// reused; a retired object refuses new flows; a full registry says so.
func TestRegistry(t *testing.T) {
	r := newRegistry[backend]()
	a, b := r.track(2), r.track(2)
	if a == nil || b == nil || a.slot == b.slot {
		t.Fatalf("slots %v %v", a, b)
	}
	be := &backend{tr: a}
	r.publish(a, be)
	if r.get(a.slot) != be || r.get(b.slot) != nil {
		t.Fatal("get after publish")
	}
	r.untrack(b) // never published: free again
	if !a.claim(1) || a.flows() != 1 {
		t.Fatalf("claim: %d flows", a.flows())
	}
	r.retire(a)
	r.reclaim()
	if r.get(a.slot) != be {
		t.Fatal("a slot named by a flow was freed")
	}
	if a.claim(0) || a.flows() != 1 {
		t.Fatalf("a retired slot took a flow (%d flows)", a.flows())
	}
	a.release(1)
	r.reclaim()
	if r.get(a.slot) != nil || len(r.retired) != 0 {
		t.Fatal("the slot of a retired backend without flows was not freed")
	}
	seen := map[uint16]bool{}
	for range registrySlots {
		tr := r.track(1)
		if tr == nil {
			t.Fatalf("registry full after %d slots", len(seen))
		}
		if seen[tr.slot] {
			t.Fatalf("slot %d handed out twice", tr.slot)
		}
		seen[tr.slot] = true
		r.publish(tr, be)
	}
	if r.track(1) != nil {
		t.Error("a full registry handed out a slot")
	}
}

// TestConfigKeepsSlots: a VIP keeps its slot across configurations, a
// backend too while its address, port and MAC stay; a changed or removed
// backend's slot stays while a flow names it (its packets still go
// there), and is freed at the next configuration after the flow ends.
func TestConfigKeepsSlots(t *testing.T) {
	b, _ := newUnitBalancer(t, 1)
	f := b.fwds[0]
	vaddr := netip.MustParseAddr("198.18.0.100")
	be1, be2 := netip.MustParseAddr("198.18.1.11"), netip.MustParseAddr("198.18.1.12")
	set := func(bes ...Backend) *vip {
		t.Helper()
		if err := b.SetConfig(Config{VIPs: []VIP{{Addr: vaddr, Port: 80, Proto: header.ProtocolTCP, Mode: NAT, Backends: bes}}}); err != nil {
			t.Fatal(err)
		}
		return b.cur.Load().lookup(vaddr.As4(), 80, header.ProtocolTCP)
	}
	v := set(Backend{Addr: be1, Weight: 1})
	vslot, slot1 := v.tr.slot, v.backends[0].tr.slot
	k := flowtable.MakeKey4([4]byte{198, 18, 2, 1}, vaddr.As4(), 40000, 80, header.ProtocolTCP)
	val, nb, why := f.newFlow4(v, k, 0)
	if nb == nil || fwdBackend(val) != slot1 || fwdVIP(val) != vslot || val&natFlag == 0 {
		t.Fatalf("new flow: %#x %v %v", val, nb, why)
	}
	// Stats counts it by its claim, without walking the tables.
	if st := b.Stats(); len(st) != 1 || st[0].Flows != 1 || st[0].Backends[0].Flows != 1 {
		t.Fatalf("stats with one flow: %+v", st)
	}
	// be1 moves to port 8080 and be2 comes: be1:8080 is another backend.
	v = set(Backend{Addr: be1, Port: 8080, Weight: 1}, Backend{Addr: be2, Weight: 1})
	if v.tr.slot != vslot {
		t.Errorf("the VIP's slot changed: %d, was %d", v.tr.slot, vslot)
	}
	for _, nb := range v.backends {
		if nb.tr.slot == slot1 {
			t.Errorf("backend %v:%d took the slot of %v:80, which a flow still names", nb.ip, nb.port, be1)
		}
	}
	if old := b.beReg.get(slot1); old == nil || old.ip != be1 || old.port != 0 {
		t.Fatalf("the flow's backend left the registry: %+v", old)
	}
	// The tracked flow's packets still go to be1:80.
	got, _, ok := f.ct4.LookupHashed(k, f.ct4.Hash(k))
	if be := b.beReg.get(fwdBackend(got)); !ok || be.ip != be1 || bePort4(be, 80) != 80 {
		t.Fatalf("the flow's backend after the change: %v", be)
	}
	f.end4(k, got, true)
	if n := b.beReg.get(slot1).tr.flows(); n != 0 {
		t.Fatalf("%d claims left after the flow ended", n)
	}
	set(Backend{Addr: be2, Weight: 1})
	if st := b.Stats(); len(st) != 1 || st[0].Flows != 0 {
		t.Errorf("stats without flows: %+v", st)
	}
	if old := b.beReg.get(slot1); old != nil && old.ip == be1 && old.port == 0 {
		t.Error("the slot of a removed backend without flows was not freed")
	}
	if f.ct4.Len() != 0 {
		t.Errorf("%d entries left after the flow ended", f.ct4.Len())
	}
	// A NAT VIP of every port cannot send to a backend port.
	err := b.SetConfig(Config{VIPs: []VIP{{Addr: vaddr, Proto: header.ProtocolTCP, Mode: NAT,
		Backends: []Backend{{Addr: be1, Port: 8080, Weight: 1}}}}})
	if !errors.Is(err, ErrConfig) {
		t.Errorf("nat VIP of every port with a backend port: %v, want ErrConfig", err)
	}
}

// TestRepliesKeepFlow: a NAT flow whose client went quiet lives on while
// its backend's replies come within the flow's timeout, and ends with its
// reply key, its port and its claims when they stop. Starting and ending
// a flow allocate nothing.
func TestRepliesKeepFlow(t *testing.T) {
	b, _ := newUnitBalancer(t, 1)
	f := b.fwds[0]
	vip := netip.MustParseAddr("198.18.0.100")
	if err := b.SetConfig(Config{VIPs: []VIP{{Addr: vip, Port: 53, Proto: header.ProtocolUDP, Mode: NAT,
		Backends: []Backend{{Addr: netip.MustParseAddr("198.18.1.11"), Weight: 1}}}},
		Timeouts: Timeouts{UDP: 10 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	f.Tick() // the worker applies the timeouts
	v := b.cur.Load().lookup(vip.As4(), 53, header.ProtocolUDP)
	k := flowtable.MakeKey4([4]byte{198, 18, 2, 1}, vip.As4(), 40000, 53, header.ProtocolUDP)
	const s = int64(time.Second)
	t0 := 100 * s
	val, nb, _ := f.newFlow4(v, k, t0)
	if nb == nil {
		t.Fatal("no flow")
	}
	be := b.beReg.get(fwdBackend(val))
	rk := f.revKey4(k, be, fwdPort(val))
	if rv, class, ok := f.ct4.LookupHashed(rk, f.ct4.Hash(rk)); !ok || class != classReverse ||
		revClient(rv) != k.Src() || revCPort(rv) != 40000 || fwdKey4(rk, rv, v) != k {
		t.Fatalf("reply key %v: %#x class %d %v", rk, rv, class, ok)
	}
	sweep := func(now int64) {
		t.Helper()
		f.ct4.Sweep(now, f.ct4.Cap())
		f.reap4(now)
	}
	f.ct4.LookupTouch(rk, t0+8*s) // a reply
	sweep(t0 + 15*s)              // the client's key expired; the reply 7 s ago keeps the flow
	if _, ok := f.ct4.Lookup(k); !ok {
		t.Fatal("the flow ended while its replies came")
	}
	if got := f.list(vip.String()+":53/udp", 0); len(got) != 1 || got[0].State != "udp" || got[0].SNAT.Port() != fwdPort(val) {
		t.Errorf("listing: %+v", got)
	}
	sweep(t0 + 40*s)
	if f.ct4.Len() != 0 || v.tr.flows() != 0 || be.tr.flows() != 0 {
		t.Fatalf("after the replies stopped: %d entries, %d and %d claims", f.ct4.Len(), v.tr.flows(), be.tr.flows())
	}
	// The port went back: the same flow gets a port again.
	if _, nb, why := f.newFlow4(v, k, t0+41*s); nb == nil {
		t.Fatalf("new flow after the end: %v", why)
	}
	// A flow's start and end allocate nothing (no record).
	k2 := flowtable.MakeKey4([4]byte{198, 18, 2, 2}, vip.As4(), 40001, 53, header.ProtocolUDP)
	if a := testing.AllocsPerRun(100, func() {
		val, be, _ := f.newFlow4(v, k2, t0+42*s)
		if be == nil {
			t.Fatal("no flow")
		}
		f.end4(k2, val, true)
	}); a != 0 {
		t.Errorf("%v allocations a flow", a)
	}
}

// TestReplyTracksTCP: the owner may see only a TCP flow's replies (its
// client's packets landing on another worker): the first reply without
// SYN makes the flow established, once, and a FIN closing. A SYN alone
// (not an ACK) on the closing flow starts it over. A reply key
// last seen before its client key does not keep the flow (a stamp that
// wrapped reads as recent).
func TestReplyTracksTCP(t *testing.T) {
	b, _ := newUnitBalancer(t, 1)
	f := b.fwds[0]
	vaddr := netip.MustParseAddr("198.18.0.100")
	if err := b.SetConfig(Config{VIPs: []VIP{{Addr: vaddr, Port: 80, Proto: header.ProtocolTCP, Mode: NAT,
		Backends: []Backend{{Addr: netip.MustParseAddr("198.18.1.11"), Weight: 1}}}}}); err != nil {
		t.Fatal(err)
	}
	f.Tick()
	v := b.cur.Load().lookup(vaddr.As4(), 80, header.ProtocolTCP)
	k := flowtable.MakeKey4([4]byte{198, 18, 2, 1}, vaddr.As4(), 40000, 80, header.ProtocolTCP)
	const s = int64(time.Second)
	val, be, _ := f.newFlow4(v, k, 100*s)
	if be == nil {
		t.Fatal("no flow")
	}
	rk := f.revKey4(k, be, fwdPort(val))
	class := func(k flowtable.Key4) flowtable.Class {
		t.Helper()
		e, ok := f.ct4.Meta(k)
		if !ok {
			t.Fatalf("%v is not tracked", k)
		}
		return e.Class
	}
	f.trackReply4(rk, classReverse, k, header.TCPFlagSYN|header.TCPFlagACK, 101*s)
	if class(k) != classSyn || class(rk) != classReverse {
		t.Fatalf("after the SYN-ACK: classes %d, %d", class(k), class(rk))
	}
	f.trackReply4(rk, classReverse, k, header.TCPFlagACK, 102*s)
	if class(k) != classEstablished || class(rk) != classReplyEstablished {
		t.Fatalf("after a reply without SYN: classes %d, %d", class(k), class(rk))
	}
	f.trackReply4(rk, classReplyEstablished, k, header.TCPFlagFIN|header.TCPFlagACK, 103*s)
	if class(k) != classClosing {
		t.Fatalf("after a FIN: class %d", class(k))
	}
	// The client's port comes round again: its SYN starts the flow over.
	seg := make([]byte, 20)
	seg[13] = header.TCPFlagACK
	f.track4(k, val, classClosing, seg, 104*s)
	if class(k) != classClosing {
		t.Fatalf("an ACK after the FIN reopened the flow: class %d", class(k))
	}
	seg[13] = header.TCPFlagSYN
	f.track4(k, val, classClosing, seg, 104*s)
	if class(k) != classSyn || class(rk) != classReverse {
		t.Fatalf("after a new SYN: classes %d, %d", class(k), class(rk))
	}
	// The backend went quiet 30 days ago, the client just now: the reply
	// key's stamp, more than half the stamps' wrap old, reads as recent,
	// yet the flow ends when the client's key expires (30 s closing).
	// The worker's sweeps pass over the table meanwhile.
	late := 102*s + 30*24*3600*s
	for now := 110 * s; now < late; now += 24 * 3600 * s {
		f.ct4.LookupTouch(k, now)
		f.ct4.Sweep(now, f.ct4.Cap())
	}
	f.ct4.LookupTouch(k, late)
	f.ct4.Sweep(late+40*s, f.ct4.Cap())
	f.reap4(late + 40*s)
	if f.ct4.Len() != 0 {
		t.Errorf("%d entries left: a reply seen before the client key kept the flow", f.ct4.Len())
	}
	if got := f.list("", 0); len(got) != 0 {
		t.Errorf("listing after the end: %+v", got)
	}
}
