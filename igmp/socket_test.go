package igmp

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// call is one socket call, as the kernel comparison test also makes it.
type call struct {
	op          string // join, leave, sjoin, sleave, block, unblock, filter-in, filter-ex
	group, src  string
	srcs        []string // filter-in / filter-ex
	errno       syscall.Errno
	sentinel    error
	skipOnLinux bool // Linux changes state differently here; see LeaveSource
}

func (c call) do(h *Host, now int64, s *Socket) error {
	g, src := netip.MustParseAddr(c.group), netip.Addr{}
	if c.src != "" {
		src = netip.MustParseAddr(c.src)
	}
	switch c.op {
	case "join":
		return h.Join(now, s, g)
	case "leave":
		return h.Leave(now, s, g)
	case "sjoin":
		return h.JoinSource(now, s, g, src)
	case "sleave":
		return h.LeaveSource(now, s, g, src)
	case "block":
		return h.BlockSource(now, s, g, src)
	case "unblock":
		return h.UnblockSource(now, s, g, src)
	case "filter-in":
		return h.SetFilter(now, s, g, Include, addrs(c.srcs...))
	case "filter-ex":
		return h.SetFilter(now, s, g, Exclude, addrs(c.srcs...))
	}
	panic(c.op)
}

// socketCalls is a sequence of calls on one socket with the errno Linux
// gives for each (checked against the kernel in TestKernelErrnos).
var socketCalls = []call{
	{op: "join", group: "10.0.0.1", errno: syscall.EINVAL, sentinel: ErrNotMulticast},
	{op: "leave", group: "239.1.1.1", errno: syscall.EADDRNOTAVAIL, sentinel: ErrNotJoined},
	{op: "join", group: "239.1.1.1"},
	{op: "join", group: "239.1.1.1", errno: syscall.EADDRINUSE, sentinel: ErrAlreadyJoined},
	{op: "unblock", group: "239.1.1.1", src: "10.0.0.1", errno: syscall.EADDRNOTAVAIL, sentinel: ErrNoSource},
	{op: "block", group: "239.1.1.1", src: "10.0.0.1"},
	{op: "block", group: "239.1.1.1", src: "10.0.0.1", errno: syscall.EADDRNOTAVAIL, sentinel: ErrSourceExists},
	{op: "sjoin", group: "239.1.1.1", src: "10.0.0.2", errno: syscall.EINVAL, sentinel: ErrModeMismatch},
	{op: "sleave", group: "239.1.1.1", src: "10.0.0.1", errno: syscall.EINVAL, sentinel: ErrModeMismatch},
	{op: "unblock", group: "239.1.1.1", src: "10.0.0.2", errno: syscall.EADDRNOTAVAIL, sentinel: ErrNoSource},
	{op: "unblock", group: "239.1.1.1", src: "10.0.0.1"},
	{op: "unblock", group: "239.1.1.1", src: "10.0.0.1", errno: syscall.EADDRNOTAVAIL, sentinel: ErrNoSource},
	// The filter held a source: the membership keeps its mode.
	{op: "sjoin", group: "239.1.1.1", src: "10.0.0.2", errno: syscall.EINVAL, sentinel: ErrModeMismatch},
	{op: "leave", group: "239.1.1.1"},
	// A fresh any-source membership may become source-specific.
	{op: "join", group: "239.1.1.1"},
	{op: "sjoin", group: "239.1.1.1", src: "10.0.0.2"},
	{op: "block", group: "239.1.1.1", src: "10.0.0.3", errno: syscall.EINVAL, sentinel: ErrModeMismatch},
	{op: "unblock", group: "239.1.1.1", src: "10.0.0.3", errno: syscall.EINVAL, sentinel: ErrModeMismatch},
	{op: "sjoin", group: "239.1.1.1", src: "10.0.0.2", errno: syscall.EADDRNOTAVAIL, sentinel: ErrSourceExists},
	{op: "sleave", group: "239.1.1.1", src: "10.0.0.9", errno: syscall.EADDRNOTAVAIL, sentinel: ErrNoSource},
	{op: "join", group: "239.1.1.1", errno: syscall.EADDRINUSE, sentinel: ErrAlreadyJoined},
	{op: "sleave", group: "239.1.1.1", src: "10.0.0.2"}, // the last source: leaves
	{op: "leave", group: "239.1.1.1", errno: syscall.EADDRNOTAVAIL, sentinel: ErrNotJoined},
	{op: "block", group: "239.1.1.1", src: "10.0.0.1", errno: syscall.EINVAL, sentinel: ErrNoPriorJoin},
	{op: "unblock", group: "239.1.1.1", src: "10.0.0.1", errno: syscall.EINVAL, sentinel: ErrNoPriorJoin},
	{op: "sleave", group: "239.1.1.1", src: "10.0.0.1", errno: syscall.EINVAL, sentinel: ErrNoPriorJoin},
	{op: "sjoin", group: "10.1.1.1", src: "10.0.0.1", errno: syscall.EINVAL, sentinel: ErrNotMulticast},
	{op: "filter-ex", group: "239.1.1.1", srcs: []string{"10.0.0.1"}, errno: syscall.EINVAL, sentinel: ErrNoPriorJoin},
	{op: "filter-in", group: "239.1.1.1", errno: syscall.EADDRNOTAVAIL, sentinel: ErrNotJoined}, // INCLUDE {} leaves
	{op: "sjoin", group: "232.1.1.1", src: "10.0.0.1"},                                          // joins
	{op: "filter-ex", group: "232.1.1.1", srcs: []string{"10.0.0.5", "10.0.0.6"}},
	{op: "unblock", group: "232.1.1.1", src: "10.0.0.5"},
	{op: "sjoin", group: "232.1.1.1", src: "10.0.0.7", errno: syscall.EINVAL, sentinel: ErrModeMismatch},
	{op: "filter-ex", group: "232.1.1.1"}, // EXCLUDE {}: no source list any more
	{op: "sjoin", group: "232.1.1.1", src: "10.0.0.7"},
	{op: "filter-in", group: "232.1.1.1"}, // leaves
	{op: "join", group: "232.1.1.1"},
	// Linux turns this any-source membership into an empty include filter
	// before failing; the engine only fails.
	{op: "sleave", group: "232.1.1.1", src: "10.0.0.1", errno: syscall.EADDRNOTAVAIL, sentinel: ErrNoSource, skipOnLinux: true},
	{op: "leave", group: "232.1.1.1"},
}

func TestSocketCallErrors(t *testing.T) {
	b := newBed(t, Config{})
	s := b.h.NewSocket()
	for i, c := range socketCalls {
		err := c.do(b.h, b.now, s)
		switch {
		case c.errno == 0 && err != nil:
			t.Fatalf("call %d %+v: %v", i, c, err)
		case c.errno != 0 && (!errors.Is(err, c.errno) || !errors.Is(err, c.sentinel)):
			t.Fatalf("call %d %+v: %v, want %v and %v", i, c, err, c.errno, c.sentinel)
		}
		b.run(b.now + 3*sec)
	}
	if s.Memberships() != 0 || b.h.Next() != 0 || len(b.h.Groups(nil)) != 0 {
		t.Fatalf("left %d memberships, %v", s.Memberships(), b.h.Groups(nil))
	}
}

func TestLimits(t *testing.T) {
	b := newBed(t, Config{})
	s := b.h.NewSocket()
	for i := range 20 {
		b.must(b.h.Join(b.now, s, netip.AddrFrom4([4]byte{239, 0, 0, byte(i)})))
	}
	g := netip.MustParseAddr("239.0.1.0")
	for _, err := range []error{
		b.h.Join(b.now, s, g),
		b.h.JoinSource(b.now, s, g, s1),
	} {
		if !errors.Is(err, ErrTooManyMemberships) || !errors.Is(err, syscall.ENOBUFS) {
			t.Fatalf("21st membership: %v", err)
		}
	}
	b.h.Drop(b.now, s)
	if s.Memberships() != 0 {
		t.Fatal("Drop left memberships")
	}
	var ten []netip.Addr
	for i := range 10 {
		ten = append(ten, netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}))
		b.must(b.h.JoinSource(b.now, s, g1, ten[i]))
	}
	b.must(b.h.Join(b.now, s, g2))
	b.must(b.h.SetFilter(b.now, s, g2, Exclude, ten))
	for _, err := range []error{
		b.h.JoinSource(b.now, s, g1, s1),
		b.h.JoinSource(b.now, s, g1, ten[0]), // ENOBUFS is checked before the duplicate
		b.h.BlockSource(b.now, s, g2, s1),
		b.h.SetFilter(b.now, s, g1, Include, append(ten, s1)),
		b.h.SetFilter(b.now, s, netip.MustParseAddr("10.1.1.1"), Mode(9), append(ten, s1)),
	} {
		if !errors.Is(err, ErrTooManySources) || !errors.Is(err, syscall.ENOBUFS) {
			t.Fatalf("11th source: %v", err)
		}
	}
	if err := b.h.SetFilter(b.now, s, g1, Mode(9), nil); !errors.Is(err, ErrBadMode) || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("bad mode: %v", err)
	}
	if err := b.h.JoinSource(b.now, s, g1, netip.IPv6Loopback()); !errors.Is(err, ErrBadSource) {
		t.Fatalf("IPv6 source: %v", err)
	}

	// The interface's table: a group that only has reports left is
	// evicted for a new one; groups with members are not.
	b = newBed(t, Config{MaxGroups: 2})
	s = b.h.NewSocket()
	b.must(b.h.Join(b.now, s, g1))
	b.must(b.h.Join(b.now, s, g2))
	if err := b.h.Join(b.now, s, netip.MustParseAddr("239.3.3.3")); !errors.Is(err, ErrTableFull) || !errors.Is(err, syscall.ENOBUFS) {
		t.Fatalf("full table: %v", err)
	}
	b.must(b.h.Leave(b.now, s, g1)) // g1 stays, to send TO_IN
	if len(b.h.Groups(nil)) != 2 {
		t.Fatal("a leaving group was dropped before its reports")
	}
	b.must(b.h.Join(b.now, s, netip.MustParseAddr("239.3.3.3")))
}

// Mode converts for tests of invalid modes.
func Mode(v uint8) FilterMode { return FilterMode(v) }

// TestAccept: per-socket delivery as Linux's ip_mc_sf_allow, and the
// interface filter as ip_check_mc_rcu.
func TestAccept(t *testing.T) {
	b := newBed(t, Config{})
	asm, ssm, excl, none := b.h.NewSocket(), b.h.NewSocket(), b.h.NewSocket(), b.h.NewSocket()
	b.must(b.h.Join(b.now, asm, g1))
	b.must(b.h.JoinSource(b.now, ssm, g2, s1))
	b.must(b.h.Join(b.now, excl, g1))
	b.must(b.h.BlockSource(b.now, excl, g1, s2))
	b.must(b.h.Join(b.now, excl, g2))
	b.must(b.h.BlockSource(b.now, excl, g2, s1))
	g3 := netip.MustParseAddr("239.3.3.3")
	uni := netip.MustParseAddr("198.18.7.1")
	for _, tc := range []struct {
		group, src netip.Addr
		wanted     bool
		asm, ssm   bool
		excl, none bool
	}{
		{g1, s1, true, true, true, true, true},
		{g1, s2, true, true, true, false, true},  // excl blocks s2
		{g2, s1, true, true, true, false, true},  // asm has not joined g2: IP_MULTICAST_ALL
		{g2, s2, true, true, false, true, true},  // interface: EXCLUDE{} (excl) wants s2
		{g3, s1, false, true, true, true, true},  // nobody joined: the interface drops it first
		{uni, s1, false, true, true, true, true}, // unicast: not a filter's business
		{netip.MustParseAddr("224.0.0.1"), s1, true, true, true, true, true},
	} {
		g, src := tc.group.As4(), tc.src.As4()
		if w := b.h.Wanted(g, src); w != tc.wanted {
			t.Errorf("Wanted(%v, %v) = %v", tc.group, tc.src, w)
		}
		for i, c := range []struct {
			s    *Socket
			want bool
		}{{asm, tc.asm}, {ssm, tc.ssm}, {excl, tc.excl}, {none, tc.none}} {
			if got := c.s.Accept(g, src); got != c.want {
				t.Errorf("socket %d Accept(%v, %v) = %v", i, tc.group, tc.src, got)
			}
		}
	}
	none.SetMulticastAll(false)
	if none.MulticastAll() || none.Accept(g1.As4(), s1.As4()) {
		t.Error("IP_MULTICAST_ALL off still accepts other sockets' groups")
	}
	if !b.h.Member(g1) || !b.h.Member(g2) || b.h.Member(g3) || b.h.Member(netip.IPv6Unspecified()) {
		t.Error("Member")
	}
	b.h.Drop(b.now, asm)
	b.h.Drop(b.now, excl)
	if b.h.Member(g1) || b.h.Wanted(g1.As4(), s1.As4()) || !b.h.Member(g2) || b.h.Wanted(g2.As4(), s2.As4()) {
		t.Error("state after the sockets closed")
	}
	mode, srcs, err := b.h.Filter(ssm, g2, nil)
	if err != nil || mode != Include || !slices.Equal(srcs, []netip.Addr{s1}) {
		t.Errorf("Filter = %v %v %v", mode, srcs, err)
	}
	if _, _, err := b.h.Filter(ssm, g1, nil); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("Filter of a group not joined: %v", err)
	}
}

// TestMerge: the interface state from several sockets' filters (RFC 3376
// 3.2).
func TestMerge(t *testing.T) {
	m := func(mode FilterMode, srcs ...byte) *membership {
		var l [][4]byte
		for _, s := range srcs {
			l = append(l, [4]byte{10, 0, 0, s})
		}
		return &membership{mode: mode, srcs: l}
	}
	for _, tc := range []struct {
		ms   []*membership
		mode FilterMode
		srcs []byte
	}{
		{[]*membership{m(Include, 1, 2), m(Include, 2, 3)}, Include, []byte{1, 2, 3}},
		{[]*membership{m(Exclude, 1, 2), m(Exclude, 2, 3)}, Exclude, []byte{2}},
		{[]*membership{m(Exclude, 1, 2, 3), m(Include, 2)}, Exclude, []byte{1, 3}},
		{[]*membership{m(Include, 3), m(Exclude, 1, 2, 3), m(Exclude, 1, 3)}, Exclude, []byte{1}},
		{[]*membership{m(Exclude), m(Include, 1)}, Exclude, nil},
		{nil, Include, nil},
	} {
		mode, srcs := merge(tc.ms)
		var got []byte
		for _, s := range srcs {
			got = append(got, s[3])
		}
		if mode != tc.mode || !slices.Equal(got, tc.srcs) {
			t.Errorf("merge: %v %v, want %v %v", mode, got, tc.mode, tc.srcs)
		}
	}
}

// TestSteadyStateNoAllocs: delivery checks, queries and their answers do
// not allocate.
func TestSteadyStateNoAllocs(t *testing.T) {
	b := newBed(t, Config{Rand: rand.New(rand.NewPCG(1, 2))})
	s := b.h.NewSocket()
	b.must(b.h.Join(b.now, s, g1))
	b.must(b.h.JoinSource(b.now, s, g2, s1))
	b.run(b.now + 3*sec)
	gq := b.packet("198.18.7.9", "224.0.0.1", v3Query(t, "", 10, 2))
	gss := b.packet("198.18.7.9", "232.2.2.2", v3Query(t, "232.2.2.2", 10, 2, "10.0.0.1", "10.0.0.2"))
	sink := func([]byte) {}
	g, src := g1.As4(), s1.As4()
	allocs := testing.AllocsPerRun(100, func() {
		if !b.h.Wanted(g, src) || !s.Accept(g, src) {
			panic("not accepted")
		}
		b.h.Input(b.now, gq)
		b.h.Input(b.now, gss)
		b.now += 2 * sec
		b.h.Poll(b.now, sink)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per query round", allocs)
	}
	if b.h.Stats.SndReports < 100 {
		t.Fatalf("only %d reports sent", b.h.Stats.SndReports)
	}
}

func BenchmarkAccept(b *testing.B) {
	bd := newBed(b, Config{})
	s := bd.h.NewSocket()
	for i := range 20 {
		bd.h.Join(bd.now, s, netip.AddrFrom4([4]byte{239, 0, 0, byte(i)}))
	}
	bd.h.BlockSource(bd.now, s, netip.AddrFrom4([4]byte{239, 0, 0, 19}), s1)
	g, src := [4]byte{239, 0, 0, 19}, s2.As4()
	b.ReportAllocs()
	for b.Loop() {
		if !bd.h.Wanted(g, src) || !s.Accept(g, src) {
			b.Fatal("not accepted")
		}
	}
}

// BenchmarkQueryRound: a general query and its answer for 20 groups.
func BenchmarkQueryRound(b *testing.B) {
	bd := newBed(b, Config{Rand: rand.New(rand.NewPCG(1, 2))})
	s := bd.h.NewSocket()
	for i := range 20 {
		bd.h.Join(bd.now, s, netip.AddrFrom4([4]byte{239, 0, 0, byte(i)}))
	}
	bd.run(bd.now + 3*sec)
	gq := bd.packet("198.18.7.9", "224.0.0.1", v3Query(b, "", 10, 2))
	sink := func([]byte) {}
	b.ReportAllocs()
	for b.Loop() {
		bd.h.Input(bd.now, gq)
		bd.now += 2 * sec
		bd.h.Poll(bd.now, sink)
	}
}

func TestConfigAndListing(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Addr: netip.IPv6Loopback()},
		{Addr: hostAddr, MTU: 60},
		{Addr: hostAddr, ForceVersion: 4},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
	b := newBed(t, Config{})
	a, c := b.h.NewSocket(), b.h.NewSocket()
	b.must(b.h.Join(b.now, a, g1))
	b.must(b.h.Join(b.now, c, g1))
	b.must(b.h.BlockSource(b.now, a, g1, s1))
	b.must(b.h.BlockSource(b.now, c, g1, s1))
	b.must(b.h.JoinSource(b.now, c, g2, s2))
	b.run(b.now + 3*sec)
	b.must(b.input("198.18.7.9", "232.2.2.2", v3Query(t, "232.2.2.2", 100, 2)))
	gs := b.h.Groups(nil)
	if len(gs) != 2 || gs[0].Group != g2 || gs[0].Users != 1 || gs[0].Mode != Include || gs[0].Timer != b.now+5*sec ||
		gs[1].Group != g1 || gs[1].Users != 2 || gs[1].Mode != Exclude || !slices.Equal(gs[1].Sources, []netip.Addr{s1}) ||
		gs[1].Timer != 0 || gs[1].Leaving {
		t.Fatalf("Groups = %+v", gs)
	}
	if Include.String() != "INCLUDE" || Exclude.String() != "EXCLUDE" || FilterMode(7).String() != "FilterMode(7)" {
		t.Fatal("FilterMode.String")
	}
	err := b.h.Join(b.now, a, g1)
	if msg := err.Error(); !strings.Contains(msg, "already joined") || !strings.Contains(msg, "address already in use") {
		t.Fatalf("error text %q", msg)
	}
}
