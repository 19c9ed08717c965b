package mld

import (
	"bytes"
	"testing"

	"github.com/xdpengine/engine/header"
)

type halfRand struct{}

func (halfRand) Int64N(n int64) int64 { return n / 2 }

var (
	g1      = [16]byte{0xff, 0x02, 15: 0xfb}
	g2      = [16]byte{0xff, 0x05, 13: 1, 15: 3}
	querier = [16]byte{0xfe, 0x80, 15: 0x99}
)

type sent struct {
	dst  [16]byte
	typ  uint8
	recs []rec // v2 reports
	addr [16]byte
}

type rec struct {
	typ  uint8
	addr [16]byte
}

type sink struct{ msgs []sent }

func (s *sink) send(t *testing.T) func([16]byte, []byte) {
	return func(dst [16]byte, msg []byte) {
		m, err := header.ParseMLD(bytes.Clone(msg))
		if err != nil {
			t.Fatalf("sent an invalid message: %v", err)
		}
		x := sent{dst: dst, typ: m.Type(), addr: m.Address()}
		it := m.Records()
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			x.recs = append(x.recs, rec{r.Type(), r.Address()})
		}
		s.msgs = append(s.msgs, x)
	}
}

func (s *sink) take() []sent { m := s.msgs; s.msgs = nil; return m }

func newHost(cfg Config) *Host {
	cfg.Rand = halfRand{}
	return New(cfg)
}

func v2Report(recs ...rec) sent {
	return sent{dst: AllMLDv2Routers, typ: header.ICMPv6MulticastListenerReportV2, recs: recs}
}

func same(a, b []sent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].dst != b[i].dst || a[i].typ != b[i].typ || a[i].addr != b[i].addr || len(a[i].recs) != len(b[i].recs) {
			return false
		}
		for j := range a[i].recs {
			if a[i].recs[j] != b[i].recs[j] {
				return false
			}
		}
	}
	return true
}

func query(t testing.TB, v1 bool, maxResp uint16, g [16]byte, qrv uint8) []byte {
	b := make([]byte, 64)
	var n int
	if v1 {
		n, _ = header.PutMLDv1(b, header.ICMPv6MulticastListenerQuery, maxResp, g)
	} else {
		n, _ = header.PutMLDv2Query(b, maxResp, g, false, qrv, 125, nil)
	}
	return b[:n]
}

func TestJoinLeave(t *testing.T) {
	h := newHost(Config{})
	var s sink
	if err := h.Join(0, g1); err != nil {
		t.Fatal(err)
	}
	h.Join(0, g1) // a second socket: no new report
	h.Join(0, AllNodes)
	if !h.Member(AllNodes) || !h.Member(g1) || h.Member(g2) {
		t.Fatal("Member")
	}
	if h.Next() != 1 {
		t.Fatalf("next %d", h.Next())
	}
	h.Poll(1, s.send(t))
	if got := s.take(); !same(got, []sent{v2Report(rec{header.MLDv2ChangeToExclude, g1})}) {
		t.Fatalf("join: %+v", got)
	}
	if h.Next() != 1+0.5e9 {
		t.Fatalf("retransmission at %d", h.Next())
	}
	h.Poll(0.5e9, s.send(t))
	if len(s.take()) != 0 {
		t.Fatal("early retransmission")
	}
	h.Poll(1+0.5e9, s.send(t))
	if got := s.take(); len(got) != 1 || h.Next() != 0 {
		t.Fatalf("retransmission: %+v next %d", got, h.Next())
	}
	h.Leave(2e9, g1)
	h.Poll(2e9, s.send(t))
	if got := s.take(); len(got) != 0 || !h.Member(g1) {
		t.Fatalf("one socket left: %+v", got)
	}
	h.Leave(3e9, g1)
	h.Poll(3e9, s.send(t))
	h.Poll(3.5e9, s.send(t))
	want := v2Report(rec{header.MLDv2ChangeToInclude, g1})
	if got := s.take(); !same(got, []sent{want, want}) {
		t.Fatalf("leave: %+v", got)
	}
	if gs := h.Groups(nil); len(gs) != 1 || gs[0].Addr != AllNodes {
		t.Fatalf("groups %+v", gs)
	}
	if h.Leave(4e9, g1) != ErrNotMember || h.Join(0, [16]byte{0x20}) != ErrNotMulticast {
		t.Fatal("errors")
	}
	if h.Stats.SndReports != 4 {
		t.Fatalf("stats %+v", h.Stats)
	}
}

func TestQueries(t *testing.T) {
	h := newHost(Config{})
	var s sink
	h.Join(0, g1)
	h.Join(0, g2)
	h.Poll(1, s.send(t))
	h.Poll(1+0.5e9, s.send(t))
	s.take()
	// General query, 10 s: answered at 5 s with IS_EX {} for both groups.
	if err := h.Input(1e9, querier, AllNodes, query(t, false, 10000, [16]byte{}, 3)); err != nil {
		t.Fatal(err)
	}
	if h.Next() != 6e9 {
		t.Fatalf("answer at %d", h.Next())
	}
	// A group query due later is covered by the general answer (rule 1).
	h.Input(2e9, querier, g1, query(t, false, 10000, g1, 0))
	h.Poll(6e9, s.send(t))
	want := v2Report(rec{header.MLDv2ModeIsExclude, g1}, rec{header.MLDv2ModeIsExclude, g2})
	if got := s.take(); !same(got, []sent{want}) || h.Next() != 0 {
		t.Fatalf("general answer: %+v, next %d", got, h.Next())
	}
	// A group-specific query: that group only.
	h.Input(7e9, querier, g2, query(t, false, 1000, g2, 0))
	h.Poll(7.5e9, s.send(t))
	if got := s.take(); !same(got, []sent{v2Report(rec{header.MLDv2ModeIsExclude, g2})}) {
		t.Fatalf("group answer: %+v", got)
	}
	// QRV 3 from the querier: a join is now reported three times.
	g3 := [16]byte{0xff, 0x0e, 15: 7}
	h.Join(8e9, g3)
	for now := int64(8e9); now < 10e9; now += 0.5e9 {
		h.Poll(now, s.send(t))
	}
	if got := s.take(); len(got) != 3 {
		t.Fatalf("robustness 3: %d reports", len(got))
	}
	// Not from a link-local source: ignored.
	if err := h.Input(11e9, [16]byte{0x20, 0x01}, AllNodes, query(t, false, 1000, [16]byte{}, 0)); err != ErrBadQuery {
		t.Fatal(err)
	}
	if err := h.Input(11e9, querier, AllNodes, append([]byte{header.ICMPv6MulticastListenerQuery}, make([]byte, 25)...)); err != header.ErrBadMLDLength {
		t.Fatal(err)
	}
	if h.Stats.RcvV2Queries != 3 || h.Stats.RcvErrors != 2 {
		t.Fatalf("stats %+v", h.Stats)
	}
}

func TestV1Compatibility(t *testing.T) {
	h := newHost(Config{})
	var s sink
	h.Join(0, g1)
	h.Join(0, g2)
	h.Poll(1, s.send(t))
	s.take()
	// An MLDv1 querier: pending v2 retransmissions are canceled.
	h.Input(0.1e9, querier, AllNodes, query(t, true, 10000, [16]byte{}, 0))
	if h.Version(0.1e9) != 1 {
		t.Fatal("not in v1 mode")
	}
	// Another host reports g2 first: ours is suppressed.
	b := make([]byte, 24)
	header.PutMLDv1(b, header.ICMPv6MulticastListenerReport, 0, g2)
	h.Input(1e9, [16]byte{0xfe, 0x80, 15: 5}, g2, b)
	h.Poll(5.1e9, s.send(t))
	if got := s.take(); !same(got, []sent{{dst: g1, typ: header.ICMPv6MulticastListenerReport, addr: g1}}) {
		t.Fatalf("v1 answers: %+v", got)
	}
	// A v2 query in v1 mode is answered the v1 way.
	h.Input(6e9, querier, g1, query(t, false, 2000, g1, 0))
	h.Poll(7e9, s.send(t))
	if got := s.take(); len(got) != 1 || got[0].typ != header.ICMPv6MulticastListenerReport {
		t.Fatalf("v2 query in v1 mode: %+v", got)
	}
	// Leaving: a done for g1 (we reported last), nothing for g2.
	h.Leave(8e9, g1)
	h.Leave(8e9, g2)
	h.Poll(8e9, s.send(t))
	if got := s.take(); !same(got, []sent{{dst: AllRouters, typ: header.ICMPv6MulticastListenerDone, addr: g1}}) {
		t.Fatalf("dones: %+v", got)
	}
	// A join in v1 mode: a report now and one more within 10 s.
	h.Join(9e9, g2)
	h.Poll(9e9, s.send(t))
	h.Poll(14e9, s.send(t))
	if got := s.take(); len(got) != 2 || got[1].dst != g2 {
		t.Fatalf("v1 join: %+v", got)
	}
	// 260 s after the v1 query: back to MLDv2.
	if h.Version(0.1e9+260e9) != 2 || h.Version(0.1e9+259e9) != 1 {
		t.Fatal("v1 timeout")
	}
	h.Join(261e9, g1)
	h.Poll(261e9, s.send(t))
	if got := s.take(); len(got) != 1 || got[0].typ != header.ICMPv6MulticastListenerReportV2 {
		t.Fatalf("v2 again: %+v", got)
	}
}

// A report bigger than the MTU is split: 61 records fit in 1280 bytes.
func TestReportSplit(t *testing.T) {
	h := newHost(Config{MaxGroups: 200})
	var s sink
	for i := range 100 {
		if err := h.Join(0, [16]byte{0xff, 0x0e, 14: byte(i >> 8), 15: byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	h.Poll(1, s.send(t))
	got := s.take()
	if len(got) != 2 || len(got[0].recs) != 61 || len(got[1].recs) != 39 {
		t.Fatalf("%d messages", len(got))
	}
	h2 := newHost(Config{MaxGroups: 1})
	h2.Join(0, g1)
	if h2.Join(0, g2) != ErrTooManyGroups {
		t.Fatal("MaxGroups")
	}
}

func TestNoAllocs(t *testing.T) {
	h := newHost(Config{})
	h.Join(0, g1)
	h.Join(0, g2)
	q := query(t, false, 1000, [16]byte{}, 0)
	send := func([16]byte, []byte) {}
	now := int64(0)
	if n := testing.AllocsPerRun(100, func() {
		now += 1e9
		h.Input(now, querier, AllNodes, q)
		h.Poll(now+1e9, send)
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func BenchmarkQueryAnswer(b *testing.B) {
	h := newHost(Config{})
	for i := range 16 {
		h.Join(0, [16]byte{0xff, 0x0e, 15: byte(i)})
	}
	q := query(b, false, 1000, [16]byte{}, 0)
	send := func([16]byte, []byte) {}
	now := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		now += 1e9
		h.Input(now, querier, AllNodes, q)
		h.Poll(now+1e9, send)
	}
}
