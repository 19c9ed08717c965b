package igmp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/xdpengine/engine/header"
)

// FilterMode is a source filter's mode, with Linux's values (MCAST_EXCLUDE
// 0, MCAST_INCLUDE 1).
type FilterMode uint8

// Filter modes (RFC 3376 3.1).
const (
	// Exclude: every source but the listed ones. Exclude with no source
	// is an any-source membership (IP_ADD_MEMBERSHIP).
	Exclude FilterMode = 0
	// Include: only the listed sources (source-specific multicast).
	Include FilterMode = 1
)

func (m FilterMode) String() string {
	switch m {
	case Exclude:
		return "EXCLUDE"
	case Include:
		return "INCLUDE"
	}
	return fmt.Sprintf("FilterMode(%d)", uint8(m))
}

// Well-known groups.
var (
	AllHosts      = [4]byte{224, 0, 0, 1}  // every host: general queries; never reported
	AllRouters    = [4]byte{224, 0, 0, 2}  // IGMPv2 leaves
	AllV3Routers  = [4]byte{224, 0, 0, 22} // IGMPv3 reports
	linkLocalMask = [3]byte{224, 0, 0}     // 224.0.0.0/24
)

// Rand is the randomness of the report delays: a *math/rand/v2.Rand fits.
type Rand interface {
	Int64N(n int64) int64
}

type globalRand struct{}

func (globalRand) Int64N(n int64) int64 { return rand.Int64N(n) }

// Config describes one interface. Zero fields take Linux's defaults.
type Config struct {
	// Addr is the interface's IPv4 address: the source of every report
	// (RFC 3376 4.2.13). Required.
	Addr netip.Addr
	// MAC is the interface's Ethernet address, the frames' source.
	MAC header.MAC
	// MTU bounds the IP packets built: a v3 report that does not fit is
	// split (default 1500; at least 68).
	MTU int
	// MaxMemberships: groups per socket (net.ipv4.igmp_max_memberships, 20).
	MaxMemberships int
	// MaxSources: sources per socket filter (net.ipv4.igmp_max_msf, 10).
	MaxSources int
	// MaxGroups: groups of the interface, leaving ones included (1024;
	// Linux has no such limit beyond the per-socket ones).
	MaxGroups int
	// MaxQuerySources: sources a pending group-and-source-specific query
	// response remembers; beyond, it answers with the group's whole state
	// (64).
	MaxQuerySources int
	// Robustness: the Robustness Variable until a querier says otherwise
	// (net.ipv4.igmp_qrv, 2): state-change reports are sent this many times.
	Robustness int
	// UnsolicitedV3Ns: the largest delay between state-change reports in
	// IGMPv3 (igmpv3_unsolicited_report_interval, 1 s).
	UnsolicitedV3Ns int64
	// UnsolicitedV2Ns: the same in IGMPv1/v2 compatibility mode
	// (igmpv2_unsolicited_report_interval, 10 s).
	UnsolicitedV2Ns int64
	// QueryIntervalNs: the Query Interval until a v3 querier says
	// otherwise (125 s); with Robustness and QueryResponseNs it makes the
	// Older Version Querier Present timeout (RFC 3376 8.12: 260 s).
	QueryIntervalNs int64
	// QueryResponseNs: the Query Response Interval (10 s), also the
	// response delay of IGMPv1 queries.
	QueryResponseNs int64
	// ForceVersion 1 or 2 makes the host act as in that compatibility mode
	// whatever the queriers (net.ipv4.conf.IF.force_igmp_version).
	ForceVersion int
	// SkipLinkLocal: never report groups in 224.0.0.0/24
	// (net.ipv4.igmp_link_local_mcast_reports=0). Linux reports them by
	// default; 224.0.0.1 is never reported.
	SkipLinkLocal bool
	// Rand draws the random delays; nil: math/rand/v2's global source.
	Rand Rand
}

// Stats counts IGMP messages. Linux keeps no IGMP counters (its
// /proc/net/snmp has no IGMP line), so the names are those of FreeBSD's
// struct igmpstat (netstat -s -p igmp).
type Stats struct {
	RcvTotal        uint64 // messages given to Input (igps_rcv_total)
	RcvTooShort     uint64 // truncated (igps_rcv_tooshort)
	RcvBadSum       uint64 // bad checksum (igps_rcv_badsum)
	RcvV1V2Queries  uint64 // IGMPv1 and v2 queries (igps_rcv_v1v2_queries)
	RcvV3Queries    uint64 // IGMPv3 queries (igps_rcv_v3_queries)
	RcvBadQueries   uint64 // ignored queries, see ErrBadQuery (igps_rcv_badqueries)
	RcvGenQueries   uint64 // general queries (igps_rcv_gen_queries)
	RcvGroupQueries uint64 // group-specific queries (igps_rcv_group_queries)
	RcvGSRQueries   uint64 // group-and-source-specific queries (igps_rcv_gsr_queries)
	RcvReports      uint64 // IGMPv1/v2 reports of other hosts (igps_rcv_reports)
	RcvOurReports   uint64 // of those, about our groups (igps_rcv_ourreports)
	SndReports      uint64 // report messages sent, any version (igps_snd_reports)
	SndLeaves       uint64 // IGMPv2 leave messages sent
}

// group is one group of the interface: the sockets' memberships, the
// reception state merged from them, and the protocol's timers. A group
// without members stays while it has reports to send (Linux's "tomb").
type group struct {
	addr       [4]byte
	reportable bool
	members    []*membership
	mode       FilterMode // interface state (RFC 3376 3.2)
	srcs       [][4]byte  // its source list, sorted

	// IGMPv3 state-change retransmissions (RFC 3376 5.1).
	modeRetx int       // filter-mode-change reports left
	srcRetx  []srcRetx // sources with source-list-change reports left
	// IGMPv3 answers to queries (RFC 3376 5.2).
	qAt   int64     // pending answer to a group or group-and-source query; 0: none
	qSrcs [][4]byte // the queried sources; empty: group-specific
	// IGMPv1/v2 compatibility (RFC 2236 3).
	repAt    int64 // report timer; 0: none
	unsolic  int   // unsolicited reports left
	reporter bool  // we sent the last report (RFC 2236's flag)
	leave    bool  // a leave to send

	snap *ifFilter // what Wanted sees; nil: no reception state
}

type srcRetx struct {
	src [4]byte
	n   int
}

// ifFilter is the immutable form of a group's reception state.
type ifFilter struct {
	mode FilterMode
	srcs [][4]byte
}

func (f *ifFilter) allows(src [4]byte) bool {
	return (f.mode == Include) == contains(f.srcs, src)
}

func contains(l [][4]byte, a [4]byte) bool {
	for _, s := range l {
		if s == a {
			return true
		}
	}
	return false
}

func less4(a, b [4]byte) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// Host is the IGMP host side of one interface.
//
// Concurrency: the socket calls (Join, Leave, ..., Drop), Input, Poll,
// Groups and Version need one caller at a time: the engine's lock, or a
// single owner. Wanted, Member, Next and Socket.Accept read immutable
// snapshots (atomic.Pointer) and may be called from any goroutine at any
// time, concurrently with the others: a worker checks delivery without a
// lock.
type Host struct {
	cfg    Config
	rnd    Rand
	src    [4]byte
	groups map[[4]byte]*group
	list   []*group // the same, sorted by address: reports are deterministic

	qrv      int   // Robustness Variable in use
	qi, qri  int64 // Query Interval, Query Response Interval in use
	v1Until  int64 // Older Version Querier Present timers (RFC 3376 7.2.1)
	v2Until  int64
	ifcAt    int64 // next state-change report (Linux's mr_ifc_timer); 0: none
	gqAt     int64 // pending answer to a general query; 0: none
	leaveDue bool  // some group has a leave to send

	wanted atomic.Pointer[map[[4]byte]*ifFilter]
	next   atomic.Int64

	buf []byte // frame scratch: Ethernet + IPv4 + IGMP
	out reportWriter

	Stats Stats
}

// New returns the host side of an interface in no group.
func New(cfg Config) (*Host, error) {
	if !cfg.Addr.Is4() {
		return nil, fmt.Errorf("%w: Addr %v is not an IPv4 address", ErrConfig, cfg.Addr)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def64 := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MTU, 1500)
	def(&cfg.MaxMemberships, 20)
	def(&cfg.MaxSources, 10)
	def(&cfg.MaxGroups, 1024)
	def(&cfg.MaxQuerySources, 64)
	def(&cfg.Robustness, 2)
	def64(&cfg.UnsolicitedV3Ns, 1e9)
	def64(&cfg.UnsolicitedV2Ns, 10e9)
	def64(&cfg.QueryIntervalNs, 125e9)
	def64(&cfg.QueryResponseNs, 10e9)
	if cfg.MTU < 68 {
		return nil, fmt.Errorf("%w: MTU %d is below IPv4's minimum of 68", ErrConfig, cfg.MTU)
	}
	if cfg.ForceVersion < 0 || cfg.ForceVersion > 3 {
		return nil, fmt.Errorf("%w: ForceVersion %d (use 0, 1, 2 or 3)", ErrConfig, cfg.ForceVersion)
	}
	if cfg.Rand == nil {
		cfg.Rand = globalRand{}
	}
	h := &Host{
		cfg: cfg, rnd: cfg.Rand, src: cfg.Addr.As4(),
		groups: make(map[[4]byte]*group),
		qrv:    cfg.Robustness, qi: cfg.QueryIntervalNs, qri: cfg.QueryResponseNs,
		buf: make([]byte, header.EthernetHeaderLen+cfg.MTU),
	}
	h.out.h = h
	empty := map[[4]byte]*ifFilter{}
	h.wanted.Store(&empty)
	return h, nil
}

// Wanted reports whether the interface receives a datagram from src to
// group: the group has reception state and its merged filter admits src
// (Linux's ip_check_mc_rcu). 224.0.0.1 is always wanted. The engine asks
// it once per multicast datagram, then Socket.Accept for each socket.
// Safe for concurrent use; it does not allocate.
func (h *Host) Wanted(group, src [4]byte) bool {
	if group == AllHosts {
		return true
	}
	f := (*h.wanted.Load())[group]
	return f != nil && f.allows(src)
}

// Member reports whether the interface has reception state for group (a
// socket joined it): while it does, the engine's XDP program should steer
// the group's UDP to the engine (afxdp.Program.AddGroup). Safe for
// concurrent use.
func (h *Host) Member(group netip.Addr) bool {
	return group.Is4() && (*h.wanted.Load())[group.As4()] != nil
}

// Next returns the earliest time at which Poll has something to do, 0
// when nothing is pending. Safe for concurrent use: a worker may check it
// every round without the lock, and take the lock to Poll when it is due.
func (h *Host) Next() int64 { return h.next.Load() }

// Version returns the compatibility mode at now (RFC 3376 7.2.1): 1 or 2
// while an older querier was heard within the Older Version Querier
// Present timeout (or Config.ForceVersion says so), else 3. It is the
// "Querier" column of Linux's /proc/net/igmp.
func (h *Host) Version(now int64) int {
	switch {
	case h.cfg.ForceVersion == 1, h.v1Until != 0 && now < h.v1Until:
		return 1
	case h.cfg.ForceVersion == 2, h.v2Until != 0 && now < h.v2Until:
		return 2
	}
	return 3
}

func (h *Host) reportable(g [4]byte) bool {
	if g == AllHosts {
		return false
	}
	return !h.cfg.SkipLinkLocal || [3]byte(g[:3]) != linkLocalMask
}

func (h *Host) rand(max int64) int64 {
	if max <= 0 {
		return 0
	}
	return h.rnd.Int64N(max)
}

// at makes t a deadline: 0 means "none", so a deadline at time 0 is 1.
func at(t int64) int64 { return max(t, 1) }

// groupFor returns g's entry, creating it; when the table is full, a
// group without members (one that only has reports left to send) is
// evicted.
func (h *Host) groupFor(g [4]byte) (*group, error) {
	if e := h.groups[g]; e != nil {
		return e, nil
	}
	if len(h.groups) >= h.cfg.MaxGroups {
		i := slices.IndexFunc(h.list, func(e *group) bool { return len(e.members) == 0 })
		if i < 0 {
			return nil, errTableFull
		}
		h.remove(h.list[i])
	}
	e := &group{addr: g, reportable: h.reportable(g), mode: Include}
	h.groups[g] = e
	i, _ := slices.BinarySearchFunc(h.list, g, func(e *group, g [4]byte) int { return less4(e.addr, g) })
	h.list = slices.Insert(h.list, i, e)
	return e, nil
}

func (h *Host) remove(e *group) {
	delete(h.groups, e.addr)
	if i := slices.Index(h.list, e); i >= 0 {
		h.list = slices.Delete(h.list, i, i+1)
	}
}

// idle reports whether e can go: no members and nothing left to send.
func (e *group) idle() bool {
	return len(e.members) == 0 && e.modeRetx == 0 && len(e.srcRetx) == 0 && !e.leave
}

// merge computes the interface state from the members (RFC 3376 3.2): if
// any is in EXCLUDE mode, EXCLUDE with the sources every EXCLUDE member
// excludes and no INCLUDE member includes; otherwise INCLUDE with every
// source some member includes.
func merge(ms []*membership) (FilterMode, [][4]byte) {
	var out [][4]byte
	var first *membership
	for _, m := range ms {
		if m.mode == Exclude {
			first = m
			break
		}
	}
	if first == nil {
		for _, m := range ms {
			for _, s := range m.srcs {
				if !contains(out, s) {
					out = append(out, s)
				}
			}
		}
		slices.SortFunc(out, less4)
		return Include, out
	}
next:
	for _, s := range first.srcs {
		for _, m := range ms {
			if (m.mode == Exclude) != contains(m.srcs, s) {
				continue next
			}
		}
		out = append(out, s)
	}
	return Exclude, out // first.srcs is sorted, so out is
}

// update recomputes e's reception state after its members changed and
// schedules what the change calls for (RFC 3376 5.1; RFC 2236 3 in a
// compatibility mode).
func (h *Host) update(now int64, e *group) {
	mode, srcs := merge(e.members)
	wasMember := e.mode == Exclude || len(e.srcs) > 0
	isMember := len(e.members) > 0
	oldMode, old := e.mode, e.srcs
	e.mode, e.srcs = mode, srcs
	switch {
	case isMember && (e.snap == nil || e.snap.mode != mode || !slices.Equal(e.snap.srcs, srcs)):
		h.publish(e, true)
	case !isMember && e.snap != nil:
		h.publish(e, false)
	}
	if !e.reportable {
		if !isMember {
			h.remove(e)
		}
		return
	}
	if v := h.Version(now); v < 3 {
		switch {
		case isMember && !wasMember:
			e.unsolic, e.repAt, e.reporter = h.qrv, at(now), false
		case !isMember && wasMember:
			e.leave = v == 2 && e.reporter
			e.repAt, e.unsolic, e.reporter = 0, 0, false
			h.leaveDue = h.leaveDue || e.leave
		}
	} else {
		switch {
		case mode != oldMode:
			e.modeRetx, e.srcRetx = h.qrv, e.srcRetx[:0]
			h.ifcAt = at(now)
		default:
			changed := false
			for _, s := range old {
				if !contains(srcs, s) {
					e.retx(s, h.qrv)
					changed = true
				}
			}
			for _, s := range srcs {
				if !contains(old, s) {
					e.retx(s, h.qrv)
					changed = true
				}
			}
			if changed {
				h.ifcAt = at(now)
			}
		}
		if !isMember {
			e.qAt, e.qSrcs = 0, e.qSrcs[:0]
		}
	}
	if e.idle() {
		h.remove(e)
	}
}

// retx gives s n more source-list-change reports.
func (e *group) retx(s [4]byte, n int) {
	for i := range e.srcRetx {
		if e.srcRetx[i].src == s {
			e.srcRetx[i].n = n
			return
		}
	}
	e.srcRetx = append(e.srcRetx, srcRetx{s, n})
}

// publish replaces e's entry in the snapshot Wanted and Member read.
func (h *Host) publish(e *group, member bool) {
	old := *h.wanted.Load()
	m := make(map[[4]byte]*ifFilter, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if member {
		e.snap = &ifFilter{mode: e.mode, srcs: e.srcs}
		m[e.addr] = e.snap
	} else {
		e.snap = nil
		delete(m, e.addr)
	}
	h.wanted.Store(&m)
}

// updateNext recomputes the deadline Next returns.
func (h *Host) updateNext() {
	t := int64(0)
	earlier := func(d int64) {
		if d != 0 && (t == 0 || d < t) {
			t = d
		}
	}
	earlier(h.ifcAt)
	earlier(h.gqAt)
	for _, e := range h.list {
		earlier(e.qAt)
		earlier(e.repAt)
		if e.leave {
			earlier(1)
		}
	}
	h.next.Store(t)
}

// cancelV3 drops every pending IGMPv3 response and retransmission, as a
// host entering an older compatibility mode must (RFC 3376 7.2.1).
func (h *Host) cancelV3() {
	h.ifcAt, h.gqAt = 0, 0
	for i := len(h.list) - 1; i >= 0; i-- {
		e := h.list[i]
		e.modeRetx, e.srcRetx, e.qAt, e.qSrcs = 0, e.srcRetx[:0], 0, e.qSrcs[:0]
		if e.idle() {
			h.remove(e)
		}
	}
}

// GroupInfo describes one group of the interface, as Linux's
// /proc/net/igmp and /proc/net/mcfilter do.
type GroupInfo struct {
	Group    netip.Addr
	Users    int          // socket memberships
	Mode     FilterMode   // the interface's filter mode
	Sources  []netip.Addr // its source list
	Timer    int64        // the group's next report (0: none)
	Reporter bool         // IGMPv1/v2: this host sent the last report
	Leaving  bool         // no member left; reports still to send
}

// Groups appends every group of the interface to out, by address.
func (h *Host) Groups(out []GroupInfo) []GroupInfo {
	for _, e := range h.list {
		gi := GroupInfo{Group: netip.AddrFrom4(e.addr), Users: len(e.members), Mode: e.mode,
			Reporter: e.reporter, Leaving: len(e.members) == 0}
		for _, s := range e.srcs {
			gi.Sources = append(gi.Sources, netip.AddrFrom4(s))
		}
		for _, d := range [...]int64{e.qAt, e.repAt} {
			if d != 0 && (gi.Timer == 0 || d < gi.Timer) {
				gi.Timer = d
			}
		}
		out = append(out, gi)
	}
	return out
}
