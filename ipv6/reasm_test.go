package ipv6

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/xdpengine/engine/header"
)

// checkAccounting verifies that the age list, the hash table and the memory
// sum agree.
func checkAccounting(t testing.TB, r *Reassembler) {
	t.Helper()
	n, mem := 0, 0
	var prev *queue
	for q := r.oldest; q != nil; q = q.next {
		if q.prev != prev || r.table.lookup(&q.key, q.hash) != q {
			t.Fatal("age list and hash table disagree")
		}
		want := r.qOverhd
		if q.buf != nil {
			want += len(q.buf.B)
		}
		if q.mem != want || (q.dead && q.buf != nil) {
			t.Fatalf("queue accounts %d bytes, holds %d (dead %v)", q.mem, want, q.dead)
		}
		n++
		mem += q.mem
		prev = q
	}
	slots := 0
	for _, q := range r.table.slots {
		if q != nil {
			slots++
		}
	}
	if n != r.nqueues || mem != r.mem || slots != n {
		t.Fatalf("list %d queues / %d bytes, table %d slots, counters %d / %d", n, mem, slots, r.nqueues, r.mem)
	}
	if r.mem > r.cfg.HighThresh {
		t.Fatalf("memory %d above the threshold %d", r.mem, r.cfg.HighThresh)
	}
}

// feed adds the fragments in order and returns the reassembled packet (a
// copy) or nil; every fragment must be accepted.
func feed(t *testing.T, r *Reassembler, fs []Fragment, now int64) []byte {
	t.Helper()
	var got []byte
	for i := range fs {
		d, ok, err := r.Add(&fs[i], now)
		if err != nil {
			t.Fatalf("fragment %d: %v", i, err)
		}
		if ok {
			if got != nil {
				t.Fatal("two completions")
			}
			got = bytes.Clone(d.Bytes())
			d.Release()
		}
		checkAccounting(t, r)
	}
	return got
}

func TestReassemble(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		name string
		exts []ext
		// unfragmentable part and its last Next Header field
		unfrag, prevNH int
		size, per      int
		shuffle, dup   bool
	}{
		{"in order", nil, 40, 6, 3000, 1232, false, false},
		{"shuffled", nil, 40, 6, 20000, 1232, true, false},
		{"duplicates", nil, 40, 6, 9000, 1448, true, true},
		{"64KiB of 8-byte pieces", nil, 40, 6, 1000, 8, true, false},
		{"max payload", nil, 40, 6, 65535 - 8 - 8, 1448, true, false},
		{"hop-by-hop unfragmentable", []ext{hopByHop()}, 48, 40, 5000, 1224, true, false},
		{"dest opts fragmentable", []ext{hopByHop(), destOpts(2)}, 48, 40, 5000, 1224, true, false},
		{"routing unfragmentable", []ext{destOpts(1), routing0(), destOpts(3)}, 56, 48, 4000, 1000, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			pkt := udpPacket(c.exts, testPayload(c.size, uint64(c.size)))
			fs := parseAll(t, split(pkt, c.unfrag, c.prevNH, c.per, 0xabcdef01))
			if c.shuffle {
				rng.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
			}
			if c.dup { // repeats before completion
				fs = append([]Fragment{fs[0], fs[1], fs[0], fs[1], fs[0]}, fs[2:]...)
			}
			r := NewReassembler(Config{Seed: 7, MaxFragments: 8192})
			var got []byte
			for i := range fs {
				d, ok, err := r.Add(&fs[i], 0)
				if err != nil && !(c.dup && errors.Is(err, ErrDuplicate)) {
					t.Fatalf("fragment %d: %v", i, err)
				}
				if ok {
					got = bytes.Clone(d.Bytes())
					d.Release()
				}
			}
			checkAccounting(t, r)
			if !bytes.Equal(got, pkt) {
				t.Fatalf("reassembled %d bytes differ from the %d-byte original", len(got), len(pkt))
			}
			ip, err := header.ParseIPv6(got)
			if err != nil {
				t.Fatal(err)
			}
			var e header.IPv6Ext
			if err := header.ParseIPv6Ext(ip, &e); err != nil || e.Proto != header.ProtocolUDP || e.Frag {
				t.Fatalf("reassembled chain: %v %+v", err, e)
			}
			st := r.Stats()
			if st.ReasmOKs != 1 || st.ReasmFails != 0 || st.MemInUse != 0 || st.Queues != 0 || st.ReasmReqds != uint64(len(fs)) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestReassembleInterleaved: two packets with the same addresses and
// different IDs, and two with the same ID and different sources, do not
// mix.
func TestReassembleInterleaved(t *testing.T) {
	p1 := udpPacket(nil, testPayload(4000, 1))
	p2 := udpPacket(nil, testPayload(4000, 2))
	p3 := udpPacket(nil, testPayload(4000, 3))
	p3[23] = 9 // another source
	a := parseAll(t, split(p1, 40, 6, 1232, 1))
	b := parseAll(t, split(p2, 40, 6, 1232, 2))
	c := parseAll(t, split(p3, 40, 6, 1232, 1))
	r := NewReassembler(Config{})
	var got [][]byte
	for i := range a {
		for _, f := range []*Fragment{&a[i], &b[i], &c[i]} {
			d, ok, err := r.Add(f, 0)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				got = append(got, bytes.Clone(d.Bytes()))
			}
		}
	}
	if len(got) != 3 || !bytes.Equal(got[0], p1) || !bytes.Equal(got[1], p2) || !bytes.Equal(got[2], p3) {
		t.Fatal("interleaved packets mixed up")
	}
}

func TestAtomicFragment(t *testing.T) {
	pkt := udpPacket([]ext{hopByHop()}, testPayload(100, 3))
	whole := split(pkt, 48, 40, 4096, 5)
	if len(whole) != 1 {
		t.Fatal("want one atomic fragment")
	}
	// A pending packet with the same ID stays untouched.
	other := parseAll(t, split(udpPacket([]ext{hopByHop()}, testPayload(3000, 4)), 48, 40, 1224, 5))
	r := NewReassembler(Config{})
	if _, ok, err := r.Add(&other[0], 0); ok || err != nil {
		t.Fatal(ok, err)
	}
	mem := r.Mem()
	f := parse(t, whole[0])
	d, ok, err := r.Add(&f, 0)
	if !ok || err != nil {
		t.Fatalf("atomic fragment: %v %v", ok, err)
	}
	if !bytes.Equal(d.Bytes(), pkt) {
		t.Fatalf("atomic fragment delivered as %x, want %x", d.Bytes(), pkt)
	}
	if &d.Bytes()[0] != &whole[0][8] {
		t.Error("atomic fragment not rewritten in place")
	}
	d.Release()
	if r.Mem() != mem || r.Stats().Queues != 1 {
		t.Error("atomic fragment touched the reassembly state")
	}
	got := feed(t, r, other[1:], 0)
	if got == nil {
		t.Fatal("pending packet lost")
	}
	if st := r.Stats(); st.ReasmAtomic != 1 || st.ReasmOKs != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestOverlapDiscards(t *testing.T) {
	pkt := udpPacket(nil, testPayload(5000, 4))
	fs := parseAll(t, split(pkt, 40, 6, 1232, 9))
	r := NewReassembler(Config{Timeout: 100})
	if _, _, err := r.Add(&fs[0], 0); err != nil {
		t.Fatal(err)
	}
	// A fragment covering the end of fragment 0 and the start of 1.
	ov := parseAll(t, split(pkt, 40, 6, 824, 9))
	var ovf Fragment
	for _, f := range ov {
		if f.Offset == 824 { // [824, 1648) straddles the end of fragment 0
			ovf = f
		}
	}
	if _, _, err := r.Add(&ovf, 1); !errors.Is(err, ErrOverlap) {
		t.Fatalf("overlap: %v", err)
	}
	checkAccounting(t, r)
	for i := 1; i < len(fs); i++ {
		if _, ok, err := r.Add(&fs[i], 2); ok || !errors.Is(err, ErrDiscarded) {
			t.Fatalf("fragment %d after the overlap: %v %v", i, ok, err)
		}
	}
	st := r.Stats()
	if st.ReasmOverlaps != 1 || st.ReasmFails != 1 || st.ReasmDiscarded != uint64(len(fs)-1) {
		t.Errorf("stats %+v", st)
	}
	// After the timeout the key is forgotten, silently.
	reported := false
	r.cfg.OnTimeExceeded = func([]byte) { reported = true }
	if n := r.Expire(100); n != 0 || reported || r.Mem() != 0 || r.Stats().ReasmTimeout != 0 {
		t.Fatalf("expiring a discarded packet: n %d, reported %v, mem %d", n, reported, r.Mem())
	}
	if feed(t, r, fs, 200) == nil {
		t.Fatal("packet not reassembled once the discarded key expired")
	}
	// A duplicate with other bytes is an overlap.
	r2 := NewReassembler(Config{})
	feed(t, r2, fs[:1], 0)
	bad := parse(t, bytes.Clone(fs[0].Packet))
	bad.Packet[len(bad.Packet)-1] ^= 1
	if _, _, err := r2.Add(&bad, 0); !errors.Is(err, ErrOverlap) {
		t.Fatalf("same extent, other bytes: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	pkt := udpPacket([]ext{hopByHop()}, testPayload(6000, 5))
	raw := split(pkt, 48, 40, 1224, 77)
	fs := parseAll(t, raw)
	var quotes [][]byte
	r := NewReassembler(Config{Timeout: 1000, OnTimeExceeded: func(q []byte) { quotes = append(quotes, bytes.Clone(q)) }})
	feed(t, r, fs[:2], 0)         // the first fragment is in
	feed(t, r, fs[len(fs)-1:], 1) // and the last; the middle is missing
	if n := r.Expire(999); n != 0 {
		t.Fatal("expired early")
	}
	if n := r.Expire(1000); n != 1 || len(quotes) != 1 {
		t.Fatalf("expired %d, %d reports", n, len(quotes))
	}
	if want := raw[0][:min(len(raw[0]), QuoteLen)]; !bytes.Equal(quotes[0], want) {
		t.Fatalf("quote %d bytes, want the first fragment's %d", len(quotes[0]), len(want))
	}
	// Without the first fragment: no report.
	feed(t, r, fs[1:2], 2000)
	r.Expire(3000)
	st := r.Stats()
	if len(quotes) != 1 || st.ReasmTimeout != 2 || st.ReasmTimeExceeded != 1 || st.ReasmFails != 2 || st.MemInUse != 0 {
		t.Errorf("%d reports, stats %+v", len(quotes), st)
	}
	// Add expires too; later fragments do not extend the deadline.
	feed(t, r, fs[:1], 5000)
	feed(t, r, fs[1:2], 5999)
	if _, ok, err := r.Add(&fs[2], 6000); ok || err != nil || r.Stats().ReasmTimeout != 3 {
		t.Fatalf("deadline extended: %v %v %+v", ok, err, r.Stats())
	}
}

func TestParamProblems(t *testing.T) {
	type report struct {
		pkt []byte
		ptr uint32
	}
	var got []report
	r := NewReassembler(Config{OnParamProblem: func(p []byte, ptr uint32) { got = append(got, report{p, ptr}) }})
	pkt := udpPacket([]ext{hopByHop()}, testPayload(3000, 6))
	odd := parseAll(t, split(pkt, 48, 40, 1001, 1))
	if _, _, err := r.Add(&odd[0], 0); !errors.Is(err, ErrBadLength) {
		t.Fatalf("odd length: %v", err)
	}
	if len(got) != 1 || got[0].ptr != 4 || &got[0].pkt[0] != &odd[0].Packet[0] {
		t.Fatalf("odd length reports %+v", got)
	}
	// The last fragment may have any length.
	tail := parseAll(t, split(udpPacket([]ext{hopByHop()}, testPayload(3001, 6)), 48, 40, 1224, 1))
	if _, _, err := r.Add(&tail[len(tail)-1], 0); err != nil {
		t.Fatalf("odd last fragment: %v", err)
	}
	// Payload past 65535: offset 65528 with 16 bytes, unfragmentable 48.
	big := parse(t, split(udpPacket([]ext{hopByHop()}, testPayload(100, 7)), 48, 40, 16, 2)[0])
	binary.BigEndian.PutUint16(big.Packet[50:], 65528|1)
	big = parse(t, big.Packet)
	if _, _, err := r.Add(&big, 0); !errors.Is(err, ErrTooBig) {
		t.Fatalf("too big: %v", err)
	}
	if len(got) != 2 || got[1].ptr != 48+2 {
		t.Fatalf("too big reports %+v", got)
	}
	// Exactly 65535 is fine: 8 bytes of extension + 65527 of data.
	ob := bytes.Clone(big.Packet[:48+8+7])
	binary.BigEndian.PutUint16(ob[4:], 8+8+7)
	binary.BigEndian.PutUint16(ob[50:], 65520)
	ok := parse(t, ob)
	if _, _, err := r.Add(&ok, 0); err != nil {
		t.Fatalf("payload of exactly 65535: %v", err)
	}
	if st := r.Stats(); st.ReasmParamProblems != 2 || st.ReasmBadFragments != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestIncompleteChain(t *testing.T) {
	// The upper-layer header starts in the second fragment: refused by
	// the header walk before reassembly (RFC 7112).
	pkt := udpPacket([]ext{destOpts(4)}, testPayload(200, 8))
	frags := split(pkt, 40, 6, 16, 3)
	var e header.IPv6Ext
	if _, err := ParseFragment(frags[0], &e); !errors.Is(err, header.ErrIncompleteChain) {
		t.Fatalf("first fragment without the chain: %v", err)
	}
	if _, err := ParseFragment(pkt, &e); !errors.Is(err, ErrNotFragment) {
		t.Fatalf("unfragmented: %v", err)
	}
}

func TestConflicts(t *testing.T) {
	pkt := udpPacket(nil, testPayload(5000, 9))
	fs := parseAll(t, split(pkt, 40, 6, 1232, 4))
	last := fs[len(fs)-1]
	sb := bytes.Clone(last.Packet[:len(last.Packet)-8])
	binary.BigEndian.PutUint16(sb[4:], uint16(len(sb)-40))
	short := parse(t, sb)
	for _, c := range []struct {
		name  string
		order []Fragment
	}{
		{"two ends", []Fragment{last, short}},
		{"data past the end", []Fragment{short, fs[len(fs)-2], last}},
	} {
		r := NewReassembler(Config{})
		var err error
		for i := range c.order {
			_, _, err = r.Add(&c.order[i], 0)
		}
		if !errors.Is(err, ErrConflict) || r.Stats().ReasmFails != 1 || r.Mem() != 0 {
			t.Errorf("%s: %v, stats %+v", c.name, err, r.Stats())
		}
	}
	r := NewReassembler(Config{MaxFragments: 3})
	var err error
	for i := range fs[:4] {
		_, _, err = r.Add(&fs[i], 0)
	}
	if !errors.Is(err, ErrTooManyFragments) || r.Mem() != 0 {
		t.Errorf("too many fragments: %v", err)
	}
}

func TestMalformed(t *testing.T) {
	pkt := udpPacket(nil, testPayload(3000, 10))
	f := parse(t, split(pkt, 40, 6, 1232, 4)[1])
	r := NewReassembler(Config{})
	for _, c := range []struct {
		name string
		mod  func(*Fragment)
	}{
		{"no data", func(f *Fragment) { f.Packet = f.Packet[:48] }},
		{"header offset past end", func(f *Fragment) { f.HdrOffset = len(f.Packet) }},
		{"header offset inside the IPv6 header", func(f *Fragment) { f.HdrOffset = 39 }},
		{"next header field outside", func(f *Fragment) { f.PrevNextHeader = 40 }},
		{"odd offset", func(f *Fragment) { f.Offset = 3 }},
		{"negative offset", func(f *Fragment) { f.Offset = -8 }},
		{"unfragmentable part too long", func(f *Fragment) {
			f.Packet = append(make([]byte, 600), f.Packet...)
			f.HdrOffset += 600
		}},
	} {
		g := f
		g.Packet = bytes.Clone(f.Packet)
		c.mod(&g)
		if _, _, err := r.Add(&g, 0); !errors.Is(err, ErrBadFragment) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if st := r.Stats(); st.ReasmBadFragments != 7 || st.Queues != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestMemoryLimit(t *testing.T) {
	r := NewReassembler(Config{HighThresh: 256 << 10, LowThresh: 192 << 10, Seed: 3})
	// 64 KiB packets, first fragments only: each pins a 2 KiB buffer
	// growing to 64 KiB when its last fragment arrives.
	var fails uint64
	for id := range uint32(40) {
		pkt := udpPacket(nil, testPayload(60000, uint64(id)))
		fs := parseAll(t, split(pkt, 40, 6, 1232, id))
		for _, i := range []int{0, len(fs) - 1} {
			if _, ok, err := r.Add(&fs[i], int64(id)); ok || (err != nil && !errors.Is(err, ErrNoMemory)) {
				t.Fatal(ok, err)
			}
		}
		checkAccounting(t, r)
		fails = r.Stats().ReasmEvictions
	}
	st := r.Stats()
	if fails == 0 || st.MemInUse > 256<<10 || st.ReasmFails < st.ReasmEvictions {
		t.Errorf("no eviction under memory pressure: %+v", st)
	}
	// The queue cap evicts the oldest too.
	r = NewReassembler(Config{MaxQueues: 4})
	for id := range uint32(10) {
		f := parse(t, split(udpPacket(nil, testPayload(3000, 1)), 40, 6, 1232, id)[0])
		if _, _, err := r.Add(&f, 0); err != nil {
			t.Fatal(err)
		}
		checkAccounting(t, r)
	}
	if st := r.Stats(); st.Queues != 4 || st.ReasmEvictions != 6 {
		t.Errorf("queue cap: %+v", st)
	}
	r.Flush()
	if r.Mem() != 0 || r.Stats().Queues != 0 {
		t.Error("Flush left memory")
	}
}

func TestDatagramRelease(t *testing.T) {
	pkt := udpPacket(nil, testPayload(3000, 11))
	fs := parseAll(t, split(pkt, 40, 6, 1232, 4))
	r := NewReassembler(Config{})
	var d, d2 Datagram
	for i := range fs {
		d, _, _ = r.Add(&fs[i], 0)
	}
	d.Release()
	d.Release() // no effect
	for i := range fs {
		d2, _, _ = r.Add(&fs[i], 0)
	}
	if d2.lease.Buffer() != d.lease.Buffer() {
		t.Error("released buffer not reused")
	}
	d.Release() // stale: must not free the buffer d2 holds
	if b := d2.lease.Buffer(); !b.InUse() || r.pool.Free(b.Class()) != 0 {
		t.Error("a stale Release freed a buffer in use")
	}
	d2.Release()
	if d2.lease.Buffer().InUse() {
		t.Error("Release did not free")
	}
}
