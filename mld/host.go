package mld

import (
	"errors"
	"math/rand/v2"
	"slices"

	"github.com/xdpengine/engine/header"
)

// Well-known groups and the Hop-by-Hop header of every MLD message.
var (
	AllNodes        = [16]byte{0xff, 0x02, 15: 0x01} // general queries; never reported
	AllRouters      = [16]byte{0xff, 0x02, 15: 0x02} // MLDv1 done messages
	AllMLDv2Routers = [16]byte{0xff, 0x02, 15: 0x16} // MLDv2 reports
	// HopByHopRouterAlert is the Hop-by-Hop Options header the caller puts
	// between the IPv6 header (next header 0, hop limit 1) and every MLD
	// message (RFC 3810 5, RFC 2711): next header 58 (ICMPv6), length 0,
	// Router Alert option with value 0 (MLD), PadN of 2.
	HopByHopRouterAlert = [8]byte{header.ProtocolICMPv6, 0, header.IPv6OptionRouterAlert, 2, 0, 0, 1, 0}
)

// Errors.
var (
	// ErrNotMulticast: Join or Leave of an address that is not multicast.
	ErrNotMulticast = errors.New("mld: not a multicast address")
	// ErrTooManyGroups: MaxGroups groups already.
	ErrTooManyGroups = errors.New("mld: too many groups")
	// ErrNotMember: Leave of a group that was not joined.
	ErrNotMember = errors.New("mld: not a member of the group")
	// ErrBadQuery: a query from a source that is not link-local (RFC 3810
	// 5.1.14), ignored.
	ErrBadQuery = errors.New("mld: query from a non-link-local source")
)

// Rand is the randomness of the report delays: a *math/rand/v2.Rand fits.
type Rand interface {
	Int64N(n int64) int64
}

type globalRand struct{}

func (globalRand) Int64N(n int64) int64 { return rand.Int64N(n) }

// Config describes one interface; zero fields take RFC 3810 9's values.
type Config struct {
	// MTU bounds the IPv6 packets: a report that does not fit (with the
	// IPv6 and Hop-by-Hop headers) is split (default and minimum 1280).
	MTU             int
	MaxGroups       int   // groups of the interface, leaving ones included (1024)
	Robustness      int   // Robustness Variable until a querier says otherwise (2)
	UnsolicitedNs   int64 // largest delay between state-change reports (1 s)
	UnsolicitedV1Ns int64 // the same in MLDv1 compatibility mode (10 s, RFC 2710)
	QueryIntervalNs int64 // Query Interval until a querier says otherwise (125 s)
	QueryResponseNs int64 // Query Response Interval (10 s)
	Rand            Rand  // nil: math/rand/v2's global source
}

// Stats counts MLD messages.
type Stats struct {
	RcvTotal     uint64 // messages given to Input
	RcvErrors    uint64 // messages that failed header.ParseMLD or ErrBadQuery
	RcvV1Queries uint64
	RcvV2Queries uint64
	RcvReports   uint64 // MLDv1 reports of other hosts
	SndReports   uint64 // report messages sent, either version
	SndDones     uint64 // MLDv1 done messages sent
}

type group struct {
	addr       [16]byte
	refs       int // Joins not yet left
	reportable bool
	retx       int   // MLDv2 state-change reports left: TO_EX while refs > 0, else TO_IN
	qAt        int64 // pending answer to an address-specific query; 0: none
	repAt      int64 // MLDv1 report timer; 0: none
	unsolic    int   // MLDv1 unsolicited reports left after the pending one
	reporter   bool  // MLDv1: we sent the last report
	done       bool  // MLDv1: a done to send
}

// Host is the MLD listener side of one interface. It needs one caller at a
// time.
type Host struct {
	cfg     Config
	rnd     Rand
	groups  map[[16]byte]*group
	list    []*group // sorted by address: reports are deterministic
	qrv     int
	qi, qri int64
	v1Until int64 // Older Version Querier Present timer (RFC 3810 8.2.1)
	ifcAt   int64 // next state-change report; 0: none
	gqAt    int64 // pending answer to a general query; 0: none
	buf     []byte
	v1      [header.MLDv1Len]byte
	n, recs int // report being built in buf
	send    func(dst [16]byte, msg []byte)
	Stats   Stats
}

// New returns the host side of an interface in no group.
func New(cfg Config) *Host {
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
	def(&cfg.MTU, header.IPv6MinMTU)
	cfg.MTU = max(cfg.MTU, header.IPv6MinMTU)
	def(&cfg.MaxGroups, 1024)
	def(&cfg.Robustness, 2)
	def64(&cfg.UnsolicitedNs, 1e9)
	def64(&cfg.UnsolicitedV1Ns, 10e9)
	def64(&cfg.QueryIntervalNs, 125e9)
	def64(&cfg.QueryResponseNs, 10e9)
	if cfg.Rand == nil {
		cfg.Rand = globalRand{}
	}
	return &Host{cfg: cfg, rnd: cfg.Rand, groups: make(map[[16]byte]*group),
		qrv: cfg.Robustness, qi: cfg.QueryIntervalNs, qri: cfg.QueryResponseNs,
		buf: make([]byte, cfg.MTU-header.IPv6HeaderLen-len(HopByHopRouterAlert))}
}

// reportable: not all-nodes, not reserved or interface-local scope (RFC
// 3810 6).
func reportable(g [16]byte) bool { return g != AllNodes && g[1]&0x0f > 1 }

func (h *Host) rand(n int64) int64 {
	if n <= 1 {
		return 0
	}
	return h.rnd.Int64N(n)
}

// at keeps a due time non-zero (0 means "none").
func at(t int64) int64 { return max(t, 1) }

// Version returns the compatibility mode at now: 1 while an MLDv1 querier
// was heard within the Older Version Querier Present Timeout, else 2.
func (h *Host) Version(now int64) int {
	if h.v1Until != 0 && now < h.v1Until {
		return 1
	}
	return 2
}

// Member reports whether a socket joined g.
func (h *Host) Member(g [16]byte) bool {
	e := h.groups[g]
	return e != nil && e.refs > 0
}

// Join adds one any-source membership of g (a socket's IPV6_JOIN_GROUP)
// at now. The first one is reported: in MLDv2 a CHANGE_TO_EXCLUDE {}
// record, Robustness times (the first at the next Poll, the others at
// random delays up to UnsolicitedNs); in MLDv1 mode a report, twice, up
// to UnsolicitedV1Ns apart.
func (h *Host) Join(now int64, g [16]byte) error {
	if g[0] != 0xff {
		return ErrNotMulticast
	}
	e := h.groups[g]
	if e == nil {
		if len(h.groups) >= h.cfg.MaxGroups {
			return ErrTooManyGroups
		}
		e = &group{addr: g, reportable: reportable(g)}
		h.groups[g] = e
		i, _ := slices.BinarySearchFunc(h.list, g, func(a *group, g [16]byte) int { return cmp16(a.addr, g) })
		h.list = slices.Insert(h.list, i, e)
	}
	e.refs++
	if e.refs > 1 || !e.reportable {
		return nil
	}
	if h.Version(now) == 1 {
		e.repAt, e.unsolic, e.done = at(now), h.qrv-1, false
	} else {
		e.retx = h.qrv
		h.ifcAt = at(now)
	}
	return nil
}

// Leave drops one membership of g at now. The last one is reported: in
// MLDv2 a CHANGE_TO_INCLUDE {} record, Robustness times; in MLDv1 mode a
// done to ff02::2 when we sent the last report.
func (h *Host) Leave(now int64, g [16]byte) error {
	if g[0] != 0xff {
		return ErrNotMulticast
	}
	e := h.groups[g]
	if e == nil || e.refs == 0 {
		return ErrNotMember
	}
	e.refs--
	if e.refs > 0 {
		return nil
	}
	e.qAt, e.repAt, e.unsolic = 0, 0, 0
	switch {
	case !e.reportable:
	case h.Version(now) == 1:
		e.done, e.retx = e.reporter, 0
	default:
		e.retx = h.qrv
		h.ifcAt = at(now)
	}
	h.gc()
	return nil
}

func (e *group) idle() bool { return e.refs == 0 && e.retx == 0 && !e.done }

func (h *Host) gc() {
	for i := len(h.list) - 1; i >= 0; i-- {
		if e := h.list[i]; e.idle() {
			delete(h.groups, e.addr)
			h.list = slices.Delete(h.list, i, i+1)
		}
	}
}

func cmp16(a, b [16]byte) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// Next returns the earliest time at which Poll has something to do, 0
// when nothing is pending.
func (h *Host) Next() int64 {
	n := h.ifcAt
	earlier := func(t int64) {
		if t != 0 && (n == 0 || t < n) {
			n = t
		}
	}
	earlier(h.gqAt)
	for _, e := range h.list {
		earlier(e.qAt)
		earlier(e.repAt)
		if e.done {
			earlier(1)
		}
	}
	return n
}

// GroupInfo is one group of a listing (/proc/net/igmp6).
type GroupInfo struct {
	Addr  [16]byte
	Users int  // memberships; 0 while a leave is still being reported
	Timer bool // a report is pending
}

// Groups appends the interface's groups to out, sorted by address.
func (h *Host) Groups(out []GroupInfo) []GroupInfo {
	for _, e := range h.list {
		out = append(out, GroupInfo{Addr: e.addr, Users: e.refs,
			Timer: e.retx > 0 || e.qAt != 0 || e.repAt != 0 || e.done})
	}
	return out
}
