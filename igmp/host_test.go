package igmp

import (
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/header"
)

const sec = int64(1e9)

// TestStateChangeReports runs RFC 3376 5.1 scenarios: each step changes
// sockets' filters, then the clock runs 3 s and the reports sent are
// compared (each change sent twice, the Robustness Variable).
func TestStateChangeReports(t *testing.T) {
	type step struct {
		do   func(h *Host, now int64, s []*Socket) error
		want []string
	}
	join := func(i int, g netip.Addr) func(*Host, int64, []*Socket) error {
		return func(h *Host, now int64, s []*Socket) error { return h.Join(now, s[i], g) }
	}
	leave := func(i int, g netip.Addr) func(*Host, int64, []*Socket) error {
		return func(h *Host, now int64, s []*Socket) error { return h.Leave(now, s[i], g) }
	}
	src := func(i int, g, a netip.Addr, call func(*Host, int64, *Socket, netip.Addr, netip.Addr) error) func(*Host, int64, []*Socket) error {
		return func(h *Host, now int64, s []*Socket) error { return call(h, now, s[i], g, a) }
	}
	filter := func(i int, g netip.Addr, mode FilterMode, a ...netip.Addr) func(*Host, int64, []*Socket) error {
		return func(h *Host, now int64, s []*Socket) error { return h.SetFilter(now, s[i], g, mode, a) }
	}
	twice := func(m string) []string { return []string{m, m} }
	for _, tc := range []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"any-source join and leave", Config{}, []step{
			{join(0, g1), twice("TO_EX(239.1.1.1{})")},
			{leave(0, g1), twice("TO_IN(239.1.1.1{})")},
		}},
		{"source-specific join and leave", Config{}, []step{
			{src(0, g2, s1, (*Host).JoinSource), twice("ALLOW(232.2.2.2{10.0.0.1})")},
			{src(0, g2, s2, (*Host).JoinSource), twice("ALLOW(232.2.2.2{10.0.0.2})")},
			{src(0, g2, s2, (*Host).LeaveSource), twice("BLOCK(232.2.2.2{10.0.0.2})")},
			{src(0, g2, s1, (*Host).LeaveSource), twice("BLOCK(232.2.2.2{10.0.0.1})")},
		}},
		{"block and unblock", Config{}, []step{
			{join(0, g1), twice("TO_EX(239.1.1.1{})")},
			{src(0, g1, s1, (*Host).BlockSource), twice("BLOCK(239.1.1.1{10.0.0.1})")},
			{src(0, g1, s1, (*Host).UnblockSource), twice("ALLOW(239.1.1.1{10.0.0.1})")},
		}},
		{"two exclude sockets merge", Config{}, []step{
			{join(0, g1), twice("TO_EX(239.1.1.1{})")},
			{join(1, g1), nil},
			{src(0, g1, s1, (*Host).BlockSource), nil}, // B still wants s1
			{src(1, g1, s1, (*Host).BlockSource), twice("BLOCK(239.1.1.1{10.0.0.1})")},
			{leave(0, g1), nil},
			{leave(1, g1), twice("TO_IN(239.1.1.1{})")},
		}},
		{"include and exclude sockets merge", Config{}, []step{
			{src(0, g1, s1, (*Host).JoinSource), twice("ALLOW(239.1.1.1{10.0.0.1})")},
			{join(1, g1), twice("TO_EX(239.1.1.1{})")},
			{src(1, g1, s1, (*Host).BlockSource), nil}, // A includes s1
			{src(1, g1, s2, (*Host).BlockSource), twice("BLOCK(239.1.1.1{10.0.0.2})")},
			{leave(1, g1), twice("TO_IN(239.1.1.1{10.0.0.1})")},
			{leave(0, g1), twice("BLOCK(239.1.1.1{10.0.0.1})")},
		}},
		{"filter mode changes", Config{}, []step{
			{join(0, g1), twice("TO_EX(239.1.1.1{})")},
			{filter(0, g1, Include, s2, s1, s1), twice("TO_IN(239.1.1.1{10.0.0.1,10.0.0.2})")},
			{filter(0, g1, Exclude, s3), twice("TO_EX(239.1.1.1{10.0.0.3})")},
			{filter(0, g1, Include), twice("TO_IN(239.1.1.1{})")},
		}},
		{"all-hosts never, link-local like Linux", Config{}, []step{
			{join(0, netip.MustParseAddr("224.0.0.1")), nil},
			{join(0, netip.MustParseAddr("224.0.0.251")), twice("TO_EX(224.0.0.251{})")},
		}},
		{"link-local skipped", Config{SkipLinkLocal: true}, []step{
			{join(0, netip.MustParseAddr("224.0.0.251")), nil},
		}},
		{"robustness 3", Config{Robustness: 3}, []step{
			{join(0, g1), []string{"TO_EX(239.1.1.1{})", "TO_EX(239.1.1.1{})", "TO_EX(239.1.1.1{})"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBed(t, tc.cfg)
			socks := []*Socket{b.h.NewSocket(), b.h.NewSocket()}
			for i, st := range tc.steps {
				b.must(st.do(b.h, b.now, socks))
				b.run(b.now + 3*sec)
				if t.Failed() {
					return
				}
				b.t.Logf("step %d", i)
				b.expect(st.want...)
			}
			if b.h.Next() != 0 || socks[0].Memberships()+socks[1].Memberships() == 0 && len(b.h.Groups(nil)) != 0 {
				t.Fatalf("after the last step: next %d, groups %+v", b.h.Next(), b.h.Groups(nil))
			}
		})
	}
}

// TestReportTiming: the first report of a change leaves at once, the
// others at random delays below the unsolicited report interval.
func TestReportTiming(t *testing.T) {
	b := newBed(t, Config{})
	b.rnd.seq = []int64{300}
	t0 := b.now
	b.must(b.h.Join(t0, b.h.NewSocket(), g1))
	if b.h.Next() != t0 {
		t.Fatalf("first report due at %d, want now (%d)", b.h.Next(), t0)
	}
	b.run(t0 + 3*sec)
	m := b.take()
	if len(m) != 2 || m[0].at != t0 || m[1].at != t0+3e8 || m[0].dst != "224.0.0.22" {
		t.Fatalf("reports %+v, want at +0 and +0.3 s to 224.0.0.22", m)
	}
	if len(b.rnd.bounds) != 1 || b.rnd.bounds[0] != 1e9 {
		t.Fatalf("delays drawn below %v, want 1 s", b.rnd.bounds)
	}
}

// TestChangesMerge: changes made while earlier reports are pending merge
// with them (RFC 3376 5.1), the way Linux merges.
func TestChangesMerge(t *testing.T) {
	b := newBed(t, Config{})
	s := b.h.NewSocket()
	// Two changes before the first report: one report carries both.
	b.must(b.h.JoinSource(b.now, s, g2, s1))
	b.must(b.h.JoinSource(b.now, s, g2, s2))
	b.run(b.now + 3*sec)
	b.expect("ALLOW(232.2.2.2{10.0.0.1,10.0.0.2})", "ALLOW(232.2.2.2{10.0.0.1,10.0.0.2})")

	// A source change while a mode change repeats rides in TO_EX, and is
	// sent on its own once the mode change is done.
	b.must(b.h.Join(b.now, s, g1))
	b.poll()
	b.must(b.h.BlockSource(b.now, s, g1, s1))
	if b.h.Next() != b.now {
		t.Fatal("a change during retransmissions is not reported at once")
	}
	b.run(b.now + 3*sec)
	b.expect("TO_EX(239.1.1.1{})", "TO_EX(239.1.1.1{10.0.0.1})", "BLOCK(239.1.1.1{10.0.0.1})")

	// Leaving during the join's repetitions restarts them as TO_IN.
	b.must(b.h.Leave(b.now, s, g1))
	b.must(b.h.Join(b.now, s, g1))
	b.poll()
	b.must(b.h.Leave(b.now, s, g1))
	b.run(b.now + 3*sec)
	b.expect("TO_EX(239.1.1.1{})", "TO_IN(239.1.1.1{})", "TO_IN(239.1.1.1{})")
}

// TestQueries: answers to general, group-specific and group-and-source-
// specific queries (RFC 3376 5.2), after a random delay up to Max Resp Time.
func TestQueries(t *testing.T) {
	b := newBed(t, Config{})
	a, s := b.h.NewSocket(), b.h.NewSocket()
	b.must(b.h.Join(b.now, a, g1))
	b.must(b.h.BlockSource(b.now, a, g1, s3))
	b.must(b.h.JoinSource(b.now, s, g2, s1))
	b.must(b.h.JoinSource(b.now, s, g2, s2))
	b.must(b.h.Join(b.now, s, netip.MustParseAddr("224.0.0.1")))
	b.run(b.now + 3*sec)
	b.take()

	t0 := b.now
	b.must(b.input("198.18.7.9", "224.0.0.1", v3Query(t, "", 100, 2)))
	if b.h.Next() != t0+5*sec || b.rnd.bounds[len(b.rnd.bounds)-1] != 10*sec {
		t.Fatalf("answer due at %+d, drawn below %d", b.h.Next()-t0, b.rnd.bounds[len(b.rnd.bounds)-1])
	}
	b.run(t0 + 11*sec)
	b.expect("IS_EX(239.1.1.1{10.0.0.3}) IS_IN(232.2.2.2{10.0.0.1,10.0.0.2})")

	for _, tc := range []struct {
		group string
		srcs  []string
		want  []string
	}{
		{"239.1.1.1", nil, []string{"IS_EX(239.1.1.1{10.0.0.3})"}},
		{"232.2.2.2", nil, []string{"IS_IN(232.2.2.2{10.0.0.1,10.0.0.2})"}},
		{"232.2.2.2", []string{"10.0.0.1", "10.0.0.3"}, []string{"IS_IN(232.2.2.2{10.0.0.1})"}}, // A*Q
		{"232.2.2.2", []string{"10.0.0.3"}, nil},
		{"239.1.1.1", []string{"10.0.0.1", "10.0.0.3"}, []string{"IS_IN(239.1.1.1{10.0.0.1})"}}, // Q-A
		{"239.1.1.1", []string{"10.0.0.3"}, nil},
		{"239.9.9.9", nil, nil}, // not ours
	} {
		b.must(b.input("198.18.7.9", tc.group, v3Query(t, tc.group, 10, 2, tc.srcs...)))
		b.run(b.now + 2*sec)
		b.t.Logf("query %s %v", tc.group, tc.srcs)
		b.expect(tc.want...)
	}
	st := b.h.Stats
	if st.RcvV3Queries != 8 || st.RcvGenQueries != 1 || st.RcvGroupQueries != 3 || st.RcvGSRQueries != 4 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPendingResponses: the merge rules of RFC 3376 5.2 for a query that
// arrives while answers are pending. Query delays are drawn in thousandths
// of the Max Resp Time (10 s here).
func TestPendingResponses(t *testing.T) {
	type query struct {
		group string
		srcs  []string
		draw  int64 // thousandths of 10 s
	}
	for _, tc := range []struct {
		name    string
		queries []query
		want    []string // message@seconds after the first query
	}{
		{"rule 1: a sooner general answer covers a group query",
			[]query{{"", nil, 200}, {"232.2.2.2", nil, 500}},
			[]string{"IS_EX(239.1.1.1{}) IS_IN(232.2.2.2{10.0.0.1,10.0.0.2})@2"}},
		{"a group answer sooner than the general one is sent first",
			[]query{{"", nil, 500}, {"232.2.2.2", nil, 100}},
			[]string{"IS_IN(232.2.2.2{10.0.0.1,10.0.0.2})@1", "IS_EX(239.1.1.1{}) IS_IN(232.2.2.2{10.0.0.1,10.0.0.2})@5"}},
		{"rule 2: a later general query keeps the sooner answer",
			[]query{{"", nil, 200}, {"", nil, 800}},
			[]string{"IS_EX(239.1.1.1{}) IS_IN(232.2.2.2{10.0.0.1,10.0.0.2})@2"}},
		{"rule 5: source lists add up, the sooner time wins",
			[]query{{"232.2.2.2", []string{"10.0.0.1"}, 500}, {"232.2.2.2", []string{"10.0.0.2"}, 200}},
			[]string{"IS_IN(232.2.2.2{10.0.0.1,10.0.0.2})@2"}},
		{"rule 4: a group query after a source query answers the group",
			[]query{{"232.2.2.2", []string{"10.0.0.1"}, 500}, {"232.2.2.2", nil, 800}},
			[]string{"IS_IN(232.2.2.2{10.0.0.1,10.0.0.2})@5"}},
		{"rule 4: a source query after a group query answers the group",
			[]query{{"232.2.2.2", nil, 500}, {"232.2.2.2", []string{"10.0.0.1"}, 300}},
			[]string{"IS_IN(232.2.2.2{10.0.0.1,10.0.0.2})@3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBed(t, Config{})
			s := b.h.NewSocket()
			b.must(b.h.Join(b.now, s, g1))
			b.must(b.h.JoinSource(b.now, s, g2, s1))
			b.must(b.h.JoinSource(b.now, s, g2, s2))
			b.run(b.now + 3*sec)
			b.take()
			t0 := b.now
			for _, q := range tc.queries {
				b.rnd.seq = []int64{q.draw}
				dst := q.group
				if dst == "" {
					dst = "224.0.0.1"
				}
				b.must(b.input("198.18.7.9", dst, v3Query(t, q.group, 100, 2, q.srcs...)))
			}
			b.run(t0 + 11*sec)
			var got []string
			for _, m := range b.take() {
				got = append(got, m.String()+"@"+itoa((m.at-t0)/sec))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("sent %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("sent %q, want %q", got, tc.want)
				}
			}
		})
	}
}

func itoa(v int64) string {
	if v < 10 {
		return string(rune('0' + v))
	}
	return itoa(v/10) + string(rune('0'+v%10))
}

// TestQuerierParameters: a v3 query's QRV and QQIC become the host's
// (RFC 3376 4.1.6, 4.1.7); 0 keeps the defaults.
func TestQuerierParameters(t *testing.T) {
	b := newBed(t, Config{})
	changes := func() (n int) {
		for _, m := range b.take() {
			if m.recs[0].typ == header.IGMPv3ChangeToExclude {
				n++
			}
		}
		return n
	}
	b.must(b.input("198.18.7.9", "224.0.0.1", v3Query(t, "", 10, 3)))
	b.must(b.h.Join(b.now, b.h.NewSocket(), g1))
	b.run(b.now + 5*sec)
	if n := changes(); n != 3 {
		t.Fatalf("%d reports with QRV 3, want 3", n)
	}
	b.must(b.input("198.18.7.9", "224.0.0.1", v3Query(t, "", 10, 0)))
	b.must(b.h.Join(b.now, b.h.NewSocket(), g2))
	b.run(b.now + 5*sec)
	if n := changes(); n != 2 {
		t.Fatalf("%d reports with QRV 0, want the default 2", n)
	}
}

// TestV2Querier: an IGMPv2 query puts the host in IGMPv2 compatibility
// mode (RFC 3376 7.2.1): v2 reports per group after a random delay,
// suppressed by another host's report, a leave when it reported last,
// pending v3 retransmissions cancelled; v3 again after the Older Version
// Querier Present timeout.
func TestV2Querier(t *testing.T) {
	b := newBed(t, Config{})
	s := b.h.NewSocket()
	b.must(b.h.Join(b.now, s, g1))
	b.poll()
	b.expect("TO_EX(239.1.1.1{})")
	t0 := b.now
	b.must(b.input("198.18.7.9", "224.0.0.1", oldMsg(t, header.IGMPMembershipQuery, 100, "")))
	if b.h.Version(b.now) != 2 {
		t.Fatalf("version %d after a v2 query", b.h.Version(b.now))
	}
	b.run(t0 + 11*sec)
	m := b.take()
	if len(m) != 1 || m[0].String() != "V2REPORT(239.1.1.1{})" || m[0].dst != "239.1.1.1" || m[0].at != t0+5*sec {
		t.Fatalf("sent %+v, want one v2 report to the group at +5 s (and no more TO_EX)", m)
	}
	b.must(b.h.Leave(b.now, s, g1))
	b.run(b.now + sec)
	if m := b.take(); len(m) != 1 || m[0].String() != "LEAVE(239.1.1.1{})" || m[0].dst != "224.0.0.2" {
		t.Fatalf("sent %+v, want a leave to 224.0.0.2", m)
	}

	// A join: two reports, up to 10 s apart.
	b.must(b.h.Join(b.now, s, g2))
	b.run(b.now + 11*sec)
	b.expect("V2REPORT(232.2.2.2{})", "V2REPORT(232.2.2.2{})")
	// Another host's report suppresses ours; then we do not send the leave.
	b.must(b.input("198.18.7.9", "224.0.0.1", oldMsg(t, header.IGMPMembershipQuery, 100, "")))
	b.must(b.input("198.18.7.8", "232.2.2.2", oldMsg(t, header.IGMPv2MembershipReport, 0, "232.2.2.2")))
	b.run(b.now + 11*sec)
	b.must(b.h.Leave(b.now, s, g2))
	b.run(b.now + 11*sec)
	b.expect()
	if b.h.Stats.RcvReports != 1 || b.h.Stats.RcvOurReports != 1 || b.h.Stats.SndLeaves != 1 {
		t.Fatalf("stats %+v", b.h.Stats)
	}

	// A v2 group-specific query asks about one group only.
	b.must(b.h.Join(b.now, s, g1))
	b.must(b.h.Join(b.now, s, g2))
	b.run(b.now + 11*sec)
	b.take()
	b.must(b.input("198.18.7.9", "239.1.1.1", oldMsg(t, header.IGMPMembershipQuery, 10, "239.1.1.1")))
	last := b.now
	b.run(b.now + 2*sec)
	b.expect("V2REPORT(239.1.1.1{})")

	// 260 s after the last v2 query the host is back to IGMPv3.
	if b.now = last + 259*sec; b.h.Version(b.now) != 2 {
		t.Fatalf("version %d before the timeout", b.h.Version(b.now))
	}
	b.now = last + 260*sec
	if b.h.Version(b.now) != 3 {
		t.Fatalf("version %d after the timeout", b.h.Version(b.now))
	}
	b.must(b.h.Leave(b.now, s, g1))
	b.run(b.now + 3*sec)
	b.expect("TO_IN(239.1.1.1{})", "TO_IN(239.1.1.1{})")
}

// TestV1Querier: IGMPv1 mode sends v1 reports within 10 s and no leave.
func TestV1Querier(t *testing.T) {
	b := newBed(t, Config{})
	s := b.h.NewSocket()
	b.must(b.h.Join(b.now, s, g1))
	b.run(b.now + 3*sec)
	b.take()
	b.must(b.input("198.18.7.9", "224.0.0.1", oldMsg(t, header.IGMPMembershipQuery, 0, "")))
	if b.h.Version(b.now) != 1 || b.rnd.bounds[len(b.rnd.bounds)-1] != 10*sec {
		t.Fatalf("version %d, delay below %d", b.h.Version(b.now), b.rnd.bounds[len(b.rnd.bounds)-1])
	}
	b.run(b.now + 11*sec)
	b.expect("V1REPORT(239.1.1.1{})")
	// A v3 query in v1 mode is answered as a v1 general query.
	b.must(b.input("198.18.7.9", "239.1.1.1", v3Query(t, "239.1.1.1", 10, 2)))
	b.run(b.now + 11*sec)
	b.expect("V1REPORT(239.1.1.1{})")
	b.must(b.h.Leave(b.now, s, g1))
	b.run(b.now + 11*sec)
	b.expect()
}

// TestForcedVersion: force_igmp_version 2 without any querier.
func TestForcedVersion(t *testing.T) {
	b := newBed(t, Config{ForceVersion: 2})
	s := b.h.NewSocket()
	b.must(b.h.Join(b.now, s, g1))
	b.run(b.now + 11*sec)
	b.must(b.h.Leave(b.now, s, g1))
	b.run(b.now + 11*sec)
	b.expect("V2REPORT(239.1.1.1{})", "V2REPORT(239.1.1.1{})", "LEAVE(239.1.1.1{})")
}

// TestBadInput: malformed and ignored messages are counted.
func TestBadInput(t *testing.T) {
	b := newBed(t, Config{})
	b.must(b.h.Join(b.now, b.h.NewSocket(), g1))
	b.run(b.now + 3*sec)
	b.take()
	bad := v3Query(t, "", 100, 2)
	bad[2] ^= 1
	for _, tc := range []struct {
		dst  string
		msg  []byte
		want error
	}{
		{"224.0.0.1", bad, header.ErrBadChecksum},
		{"224.0.0.1", bad[:5], header.ErrTruncated},
		{"239.1.1.1", v3Query(t, "", 100, 2), ErrBadQuery},             // general query not to 224.0.0.1
		{"224.0.0.1", v3Query(t, "", 100, 2, "10.0.0.1"), ErrBadQuery}, // general query with sources
		{"224.0.0.1", v3Query(t, "10.1.1.1", 100, 2), ErrBadQuery},     // not a group
		{"224.0.0.1", append(oldMsg(t, header.IGMPMembershipQuery, 100, ""), 0, 0), header.ErrBadIGMPQueryLength},
	} {
		if err := b.input("198.18.7.9", tc.dst, tc.msg); err != tc.want {
			t.Errorf("input %x to %s: %v, want %v", tc.msg, tc.dst, err, tc.want)
		}
	}
	// Our own report, looped back, is ignored.
	if err := b.input(hostAddr.String(), "224.0.0.1", v3Query(t, "", 100, 2)); err != nil || b.h.Next() != 0 {
		t.Errorf("own message: %v, next %d", err, b.h.Next())
	}
	b.run(b.now + 11*sec)
	b.expect()
	st := b.h.Stats
	if st.RcvTotal != 7 || st.RcvBadSum != 1 || st.RcvTooShort != 1 || st.RcvBadQueries != 4 {
		t.Fatalf("stats %+v", st)
	}
}

// TestReportSplit: records that do not fit in the MTU go to further
// reports; a TO_EX too big for one report is cut (RFC 3376 4.2.16).
func TestReportSplit(t *testing.T) {
	// MTU 68: 44 bytes of IGMP, 8 of header, a record of up to 7 sources.
	b := newBed(t, Config{MTU: 68})
	var ten []netip.Addr
	for i := range 10 {
		ten = append(ten, netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}))
	}
	s := b.h.NewSocket()
	b.must(b.h.Join(b.now, s, g1))
	b.must(b.h.SetFilter(b.now, s, g1, Include, ten))
	b.poll()
	m := b.take()
	if len(m) != 2 || len(m[0].recs) != 1 || len(m[1].recs) != 1 ||
		m[0].recs[0].srcs != "10.0.1.0,10.0.1.1,10.0.1.2,10.0.1.3,10.0.1.4,10.0.1.5,10.0.1.6" ||
		m[1].recs[0].srcs != "10.0.1.7,10.0.1.8,10.0.1.9" {
		t.Fatalf("TO_IN of 10 sources in MTU 68: %v", m)
	}
	b.run(b.now + 3*sec)
	b.take()
	b.must(b.h.SetFilter(b.now, s, g1, Exclude, ten))
	b.poll()
	if m := b.take(); len(m) != 1 || m[0].recs[0].typ != header.IGMPv3ChangeToExclude || len(m[0].recs[0].srcs) != len("10.0.1.0,")*7-1 {
		t.Fatalf("TO_EX of 10 sources in MTU 68: %v", m)
	}
	// Records of several groups share a report while they fit.
	b = newBed(t, Config{MTU: 68})
	s = b.h.NewSocket()
	for i := range 5 {
		b.must(b.h.Join(b.now, s, netip.AddrFrom4([4]byte{239, 0, 0, byte(i)})))
	}
	b.poll()
	if m := b.take(); len(m) != 2 || len(m[0].recs) != 4 || len(m[1].recs) != 1 {
		t.Fatalf("5 groups in MTU 68: %v", m)
	}
}
