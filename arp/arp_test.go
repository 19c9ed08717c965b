package arp

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/xdpengine/engine/header"
)

func golden(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open("../header/testdata/linux-frames.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<16)
	for sc.Scan() {
		if n, h, ok := strings.Cut(sc.Text(), " "); ok && n == name {
			b, _ := hex.DecodeString(h)
			return b
		}
	}
	t.Fatalf("no frame %s", name)
	return nil
}

var (
	macA = header.MAC{2, 0, 0, 0, 0, 1}
	macB = header.MAC{2, 0, 0, 0, 0, 2}
	ipA  = [4]byte{198, 19, 250, 1}
	ipB  = [4]byte{198, 19, 250, 2}
)

const sec = int64(1e9)

// TestResponderMatchesLinux answers Linux's captured request as
// 198.19.250.2 and compares with the reply Linux sent.
func TestResponderMatchesLinux(t *testing.T) {
	req := golden(t, "arp-request")
	want := golden(t, "arp-reply")
	tab := NewTable(Config{})
	r := &Responder{MAC: macB, Addrs: [][4]byte{ipB}, Table: tab}
	out := make([]byte, 64)
	n, err := r.Input(0, req[14:], out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out[:n], want) {
		t.Fatalf("reply\n got %x\nwant %x", out[:n], want)
	}
	// The requester was learned STALE, as Linux does.
	if st, mac := tab.State(ipA); st != Stale || mac != macA {
		t.Fatalf("sender entry %v %v", st, mac)
	}
	// A request for another address gets no reply and creates nothing.
	other := append([]byte(nil), req...)
	other[14+24+3] = 99
	other[14+14+3] = 77
	if n, err := r.Input(0, other[14:], out, nil); n != 0 || err != nil || tab.Len() != 1 {
		t.Fatalf("request for someone else: %d %v len %d", n, err, tab.Len())
	}
	if r.InRequests != 2 || r.OutReplies != 1 {
		t.Fatalf("counters %d %d", r.InRequests, r.OutReplies)
	}
}

func TestBuilders(t *testing.T) {
	buf := make([]byte, FrameLen)
	n, err := Gratuitous(buf, macA, ipA)
	want := "ffffffffffff" + "020000000001" + "0806" + "0001" + "0800" + "0604" + "0001" +
		"020000000001" + "c613fa01" + "000000000000" + "c613fa01"
	if err != nil || hex.EncodeToString(buf[:n]) != want {
		t.Fatalf("gratuitous %x %v", buf[:n], err)
	}
	// Linux's request, rebuilt.
	n, err = Request(buf, macA, ipA, ipB, header.MAC{})
	if err != nil || !bytes.Equal(buf[:n], golden(t, "arp-request")) {
		t.Fatalf("request %x %v", buf[:n], err)
	}
	if _, err := Request(buf[:FrameLen-1], macA, ipA, ipB, macB); err != ErrBufferTooSmall {
		t.Fatal(err)
	}
	// Our gratuitous ARP updates an existing entry in a peer's table.
	tab := NewTable(Config{})
	tab.Update(0, ipA, macB, true, true, nil)
	r := &Responder{MAC: macB, Addrs: [][4]byte{ipB}, Table: tab}
	Gratuitous(buf, macA, ipA)
	if n, err := r.Input(sec, buf[14:], make([]byte, 64), nil); n != 0 || err != nil {
		t.Fatal(n, err)
	}
	if st, mac := tab.State(ipA); st != Stale || mac != macA {
		t.Fatalf("after gratuitous: %v %v", st, mac)
	}
}

type rec struct {
	reqs  []header.MAC
	drops []uint64
}

func (r *rec) tick(tab *Table, now int64) {
	tab.Tick(now, func(ip [4]byte, u header.MAC) { r.reqs = append(r.reqs, u) }, func(h uint64) { r.drops = append(r.drops, h) })
}

func TestResolveAndFail(t *testing.T) {
	tab := NewTable(Config{QueueLen: 2})
	if _, a := tab.Lookup(0, ipB, 1, true); a != SendRequest {
		t.Fatalf("first lookup %v", a)
	}
	if _, a := tab.Lookup(0, ipB, 2, true); a != Queued {
		t.Fatalf("second lookup %v", a)
	}
	if _, a := tab.Lookup(0, ipB, 3, true); a != Drop || tab.Stats.QueueDrops != 1 {
		t.Fatalf("third lookup %v drops %d", a, tab.Stats.QueueDrops)
	}
	var r rec
	r.tick(tab, sec-1)
	if len(r.reqs) != 0 {
		t.Fatal("retransmitted early")
	}
	r.tick(tab, sec)
	r.tick(tab, 2*sec)
	if len(r.reqs) != 2 || r.reqs[0] != (header.MAC{}) {
		t.Fatalf("retransmits %v", r.reqs)
	}
	r.tick(tab, 3*sec)
	if st, _ := tab.State(ipB); st != Failed || len(r.drops) != 2 || r.drops[0] != 1 || tab.Stats.Failed != 1 {
		t.Fatalf("after 3 probes: %v drops %v", st, r.drops)
	}
	// A new lookup starts over.
	if _, a := tab.Lookup(4*sec, ipB, 9, true); a != SendRequest {
		t.Fatalf("lookup after failure %v", a)
	}
	var flushed []uint64
	tab.Update(4*sec, ipB, macB, true, false, func(h uint64) { flushed = append(flushed, h) })
	if st, mac := tab.State(ipB); st != Reachable || mac != macB || len(flushed) != 1 || flushed[0] != 9 {
		t.Fatalf("after reply: %v %v %v", st, mac, flushed)
	}
	if mac, a := tab.Lookup(5*sec, ipB, 0, false); a != Send || mac != macB {
		t.Fatalf("lookup reachable %v", a)
	}
}

func TestReachableStaleDelayProbe(t *testing.T) {
	tab := NewTable(Config{})
	tab.Lookup(0, ipB, 0, false)
	tab.Update(0, ipB, macB, true, false, nil)
	var r rec
	r.tick(tab, 30*sec-1)
	if st, _ := tab.State(ipB); st != Reachable {
		t.Fatalf("%v before 30 s", st)
	}
	r.tick(tab, 30*sec)
	if st, _ := tab.State(ipB); st != Stale {
		t.Fatalf("%v after 30 s", st)
	}
	if mac, a := tab.Lookup(40*sec, ipB, 0, false); a != Send || mac != macB {
		t.Fatal("stale entry not used")
	}
	if st, _ := tab.State(ipB); st != Delay {
		t.Fatalf("%v after use", st)
	}
	// Upper-layer confirmation inside DELAY: back to REACHABLE, no probe.
	tab.Confirm(42*sec, ipB)
	r.tick(tab, 45*sec)
	if st, _ := tab.State(ipB); st != Reachable || len(r.reqs) != 0 {
		t.Fatalf("%v reqs %v after confirm", st, r.reqs)
	}
	// Let it go stale again, use it, and let DELAY expire: unicast probes.
	r.tick(tab, 72*sec)
	tab.Lookup(80*sec, ipB, 0, false)
	r.tick(tab, 85*sec)
	if st, _ := tab.State(ipB); st != Probe || len(r.reqs) != 1 || r.reqs[0] != macB {
		t.Fatalf("%v reqs %v after delay", st, r.reqs)
	}
	r.tick(tab, 86*sec)
	r.tick(tab, 87*sec)
	r.tick(tab, 88*sec)
	if st, _ := tab.State(ipB); st != Failed || len(r.reqs) != 3 {
		t.Fatalf("%v reqs %d after probes", st, len(r.reqs))
	}
}

func TestEviction(t *testing.T) {
	tab := NewTable(Config{MaxEntries: 3})
	a := func(i byte) [4]byte { return [4]byte{198, 18, 0, i} }
	for i := byte(1); i <= 3; i++ {
		tab.Update(int64(i), a(i), macB, false, true, nil)
	}
	tab.Lookup(10, a(1), 0, false) // 1 used recently; 2 is least recently used
	tab.Update(11, a(4), macB, false, true, nil)
	if st, _ := tab.State(a(2)); st != 0 || tab.Len() != 3 || tab.Stats.Evictions != 1 {
		t.Fatalf("LRU not evicted: %v len %d", st, tab.Len())
	}
	// All INCOMPLETE: a new address is refused.
	full := NewTable(Config{MaxEntries: 2})
	full.Lookup(0, a(1), 0, false)
	full.Lookup(0, a(2), 0, false)
	if _, act := full.Lookup(0, a(3), 7, true); act != Drop || full.Stats.TableFull != 1 {
		t.Fatalf("table full: %v", act)
	}
	// A FAILED entry goes first.
	var r rec
	for i := int64(1); i <= 3; i++ {
		r.tick(full, i*sec)
	}
	if _, act := full.Lookup(4*sec, a(3), 0, false); act != SendRequest || full.Len() != 2 {
		t.Fatalf("after failure: %v len %d", act, full.Len())
	}
}

func TestLookupAllocs(t *testing.T) {
	tab := NewTable(Config{MaxEntries: 64})
	for i := byte(0); i < 64; i++ {
		tab.Update(0, [4]byte{198, 18, 1, i}, macB, true, true, nil)
	}
	n := testing.AllocsPerRun(1000, func() {
		tab.Lookup(1, [4]byte{198, 18, 1, 7}, 0, false)
		tab.Update(1, [4]byte{198, 18, 2, 7}, macB, false, true, nil) // evicts
	})
	if n != 0 {
		t.Fatalf("%v allocations per lookup+insert", n)
	}
}

func FuzzInput(f *testing.F) {
	f.Add(golden(f, "arp-request")[14:])
	f.Add(golden(f, "arp-reply")[14:])
	f.Fuzz(func(t *testing.T, b []byte) {
		tab := NewTable(Config{MaxEntries: 4})
		r := &Responder{MAC: macB, Addrs: [][4]byte{ipB}, Table: tab}
		out := make([]byte, FrameLen)
		n, err := r.Input(0, b, out, nil)
		if err == nil && n > 0 {
			if _, err := header.ParseARP(out[14:n]); err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
		}
	})
}

// TestQueueBounds: each INCOMPLETE entry queues up to QueueLen packets and
// all entries together QueueTotal; a packet refused by a full queue of a
// new entry still starts resolution (RequestDrop); queues drain in arrival
// order and their room is reused.
func TestQueueBounds(t *testing.T) {
	tab := NewTable(Config{QueueLen: 3, QueueTotal: 4})
	ip := func(i byte) [4]byte { return [4]byte{198, 18, 0, i} }
	for h := uint64(1); h <= 4; h++ {
		want := Queued
		if h == 1 {
			want = SendRequest
		}
		if h == 4 {
			want = Drop // the entry's QueueLen
		}
		if _, a := tab.Lookup(0, ip(1), h, true); a != want {
			t.Fatalf("packet %d: %v, want %v", h, a, want)
		}
	}
	if _, a := tab.Lookup(0, ip(2), 10, true); a != SendRequest {
		t.Fatalf("second address: %v", a)
	}
	// QueueTotal reached: a third address is asked for, its packet dropped.
	if _, a := tab.Lookup(0, ip(3), 20, true); a != RequestDrop {
		t.Fatalf("third address: %v, want RequestDrop", a)
	}
	if _, a := tab.Lookup(0, ip(2), 11, true); a != Drop {
		t.Fatalf("second address, full table queue: %v", a)
	}
	if tab.Stats.QueueDrops != 3 || tab.Stats.Requests != 3 {
		t.Fatalf("stats %+v", tab.Stats)
	}
	var got []uint64
	tab.Update(sec, ip(1), macA, true, false, func(h uint64) { got = append(got, h) })
	if !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("flushed %v", got)
	}
	// The room freed is reused, and order still holds.
	for h := uint64(21); h <= 23; h++ {
		if _, a := tab.Lookup(sec, ip(3), h, true); a != Queued {
			t.Fatalf("packet %d after flush: %v", h, a)
		}
	}
	var r rec
	for now := 2 * sec; now <= 4*sec; now += sec {
		r.tick(tab, now)
	}
	slices.Sort(r.drops)
	if !slices.Equal(r.drops, []uint64{10, 21, 22, 23}) {
		t.Fatalf("dropped on failure %v", r.drops)
	}
	// Everything is free again: QueueTotal packets fit.
	for h := uint64(30); h < 33; h++ {
		tab.Lookup(5*sec, ip(4), h, true)
	}
	if _, a := tab.Lookup(5*sec, ip(5), 40, true); a != SendRequest {
		t.Fatalf("after failures: %v", a)
	}
}

// TestPermanent: a static entry is used at once, flushes what waited for
// it, is never probed, aged, evicted, or changed by ARP.
func TestPermanent(t *testing.T) {
	tab := NewTable(Config{MaxEntries: 2})
	a := func(i byte) [4]byte { return [4]byte{198, 18, 0, i} }
	tab.Lookup(0, a(1), 5, true) // INCOMPLETE, one packet waiting
	var flushed []uint64
	if err := tab.SetPermanent(1, a(1), macA, func(h uint64) { flushed = append(flushed, h) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(flushed, []uint64{5}) {
		t.Fatalf("flushed %v", flushed)
	}
	tab.Update(2, a(1), macB, true, true, nil) // a reply claiming another MAC
	tab.Confirm(2, a(1))
	var r rec
	for now := int64(0); now < 200*sec; now += sec {
		r.tick(tab, now)
	}
	if len(r.reqs) != 0 {
		t.Fatalf("a permanent entry was probed: %v", r.reqs)
	}
	if mac, act := tab.Lookup(200*sec, a(1), 0, false); act != Send || mac != macA {
		t.Fatalf("lookup: %v %v", mac, act)
	}
	if st, _ := tab.State(a(1)); st != Permanent || st.String() != "PERMANENT" {
		t.Fatalf("state %v", st)
	}
	// Never the eviction victim, even when least recently used.
	tab.Update(201*sec, a(2), macB, false, true, nil)
	tab.Lookup(202*sec, a(2), 0, false)
	tab.Update(203*sec, a(3), macB, false, true, nil)
	if st, _ := tab.State(a(1)); st != Permanent {
		t.Fatalf("permanent entry evicted: %v", st)
	}
	if st, _ := tab.State(a(2)); st != 0 {
		t.Fatalf("want a(2) evicted, got %v", st)
	}
	// A table of permanent entries refuses more.
	if err := tab.SetPermanent(204*sec, a(3), macB, nil); err != nil {
		t.Fatal(err)
	}
	if err := tab.SetPermanent(205*sec, a(4), macB, nil); err != ErrTableFull {
		t.Fatalf("third permanent entry in a table of 2: %v", err)
	}
}

// Responder.Also adds addresses it answers for as its own (announced
// VIPs): the reply carries the asked address and the engine's MAC.
func TestResponderAlso(t *testing.T) {
	req := golden(t, "arp-request")
	vip := [4]byte{ipB[0], ipB[1], ipB[2], 100}
	forVIP := append([]byte(nil), req...)
	copy(forVIP[14+24:14+28], vip[:]) // the target protocol address
	r := &Responder{MAC: macB, Addrs: [][4]byte{ipB}, Table: NewTable(Config{})}
	out := make([]byte, 64)
	if n, err := r.Input(0, forVIP[14:], out, nil); n != 0 || err != nil {
		t.Fatalf("request for %v without Also: %d bytes, %v; want no reply", vip, n, err)
	}
	r.Also = func(ip [4]byte) bool { return ip == vip }
	n, err := r.Input(0, forVIP[14:], out, nil)
	if err != nil || n == 0 {
		t.Fatalf("request for announced %v: %d bytes, %v; want a reply", vip, n, err)
	}
	a := header.ARP(out[14:n])
	if a.Op() != header.ARPReply || a.SenderIP4() != vip || a.SenderMAC() != macB || a.TargetIP4() != ipA {
		t.Fatalf("reply: op %d, %v is at %v, to %v; want %v is at %v, to %v", a.Op(), a.SenderIP4(), a.SenderMAC(), a.TargetIP4(), vip, macB, ipA)
	}
}
