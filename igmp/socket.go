package igmp

import (
	"net/netip"
	"slices"
	"sync/atomic"
)

// membership is one group a socket joined, with its source filter
// (Linux's ip_mc_socklist and ip_sf_socklist). An include-mode membership
// always has at least one source: removing the last one leaves the group.
type membership struct {
	group [4]byte
	mode  FilterMode
	srcs  [][4]byte // sorted
	// list: the filter has held a source since the join or the last
	// SetFilter (Linux's sflist is allocated); such a membership keeps its
	// mode, an any-source one without may become source-specific.
	list bool
}

func (m *membership) allows(src [4]byte) bool {
	return (m.mode == Include) == contains(m.srcs, src)
}

// Socket is one socket's memberships on the interface: at most
// Config.MaxMemberships groups, each with a source filter of at most
// Config.MaxSources sources. Its memberships change through the Host's
// socket calls; Accept reads a snapshot and may run anywhere.
type Socket struct {
	ms    []*membership                // guarded like the Host
	snap  atomic.Pointer[[]membership] // immutable copy for Accept
	noAll atomic.Bool                  // IP_MULTICAST_ALL off
}

// NewSocket returns a socket in no group, with IP_MULTICAST_ALL on (Linux's
// default).
func (h *Host) NewSocket() *Socket { return &Socket{} }

// SetMulticastAll sets IP_MULTICAST_ALL: when on (the default), the
// socket also receives datagrams of groups it did not join itself but
// some other socket of the interface did. Safe for concurrent use.
func (s *Socket) SetMulticastAll(on bool) { s.noAll.Store(!on) }

// MulticastAll returns the IP_MULTICAST_ALL setting.
func (s *Socket) MulticastAll() bool { return !s.noAll.Load() }

// Accept reports whether the socket wants a datagram from src to group
// (Linux's ip_mc_sf_allow): if the socket joined the group, its filter
// decides; otherwise IP_MULTICAST_ALL does. A datagram to a unicast
// address is always accepted. It assumes the interface wanted the
// datagram (Host.Wanted). Safe for concurrent use; it does not allocate.
func (s *Socket) Accept(group, src [4]byte) bool {
	if group[0]&0xf0 != 0xe0 {
		return true
	}
	if p := s.snap.Load(); p != nil {
		for i := range *p {
			if m := &(*p)[i]; m.group == group {
				return m.allows(src)
			}
		}
	}
	return !s.noAll.Load()
}

func (s *Socket) find(g [4]byte) *membership {
	for _, m := range s.ms {
		if m.group == g {
			return m
		}
	}
	return nil
}

func (s *Socket) publish() {
	c := make([]membership, len(s.ms))
	for i, m := range s.ms {
		c[i] = *m
	}
	s.snap.Store(&c)
}

func multicast(g netip.Addr) ([4]byte, *Error) {
	if !g.Is4() || !g.IsMulticast() {
		return [4]byte{}, errNotMulticast
	}
	return g.As4(), nil
}

// join adds a membership of s to g in mode with srcs.
func (h *Host) join(now int64, s *Socket, g [4]byte, mode FilterMode, srcs [][4]byte) error {
	if len(s.ms) >= h.cfg.MaxMemberships {
		return errTooManyGroups
	}
	e, err := h.groupFor(g)
	if err != nil {
		return err
	}
	m := &membership{group: g, mode: mode, srcs: srcs, list: len(srcs) > 0}
	s.ms = append(s.ms, m)
	e.members = append(e.members, m)
	h.changed(now, s, e)
	return nil
}

func (h *Host) changed(now int64, s *Socket, e *group) {
	h.update(now, e)
	s.publish()
	h.updateNext()
}

// Join joins s to group for every source (IP_ADD_MEMBERSHIP: an EXCLUDE
// filter with no source). Errors: ErrNotMulticast (EINVAL),
// ErrAlreadyJoined (EADDRINUSE), ErrTooManyMemberships (ENOBUFS),
// ErrTableFull (ENOBUFS).
func (h *Host) Join(now int64, s *Socket, group netip.Addr) error {
	g, err := multicast(group)
	if err != nil {
		return err
	}
	if s.find(g) != nil {
		return errAlreadyJoined
	}
	return h.join(now, s, g, Exclude, nil)
}

// Leave drops s's membership of group whatever its filter
// (IP_DROP_MEMBERSHIP). Error: ErrNotJoined (EADDRNOTAVAIL).
func (h *Host) Leave(now int64, s *Socket, group netip.Addr) error {
	if !group.Is4() {
		return errNotJoined
	}
	g := group.As4()
	m := s.find(g)
	if m == nil {
		return errNotJoined
	}
	s.ms = slices.DeleteFunc(s.ms, func(x *membership) bool { return x == m })
	e := h.groups[g]
	e.members = slices.DeleteFunc(e.members, func(x *membership) bool { return x == m })
	h.changed(now, s, e)
	return nil
}

// Drop leaves every group of s, as closing a socket does.
func (h *Host) Drop(now int64, s *Socket) {
	for len(s.ms) > 0 {
		h.Leave(now, s, netip.AddrFrom4(s.ms[0].group))
	}
}

func source4(a netip.Addr) ([4]byte, *Error) {
	if !a.Is4() {
		return [4]byte{}, errBadSource
	}
	return a.As4(), nil
}

func insert(l [][4]byte, a [4]byte) [][4]byte {
	i, _ := slices.BinarySearchFunc(l, a, less4)
	return slices.Insert(slices.Clip(l), i, a)
}

func without(l [][4]byte, a [4]byte) [][4]byte {
	return slices.DeleteFunc(slices.Clone(l), func(x [4]byte) bool { return x == a })
}

// JoinSource adds source to s's include-mode filter for group
// (IP_ADD_SOURCE_MEMBERSHIP), joining the group if s is not a member. An
// any-source membership becomes source-specific if its filter never held
// a source (since the join, or SetFilter to EXCLUDE {}); otherwise it keeps
// its mode, as on Linux. Errors:
// ErrNotMulticast, ErrBadSource (EINVAL), ErrModeMismatch (EINVAL: s
// excludes sources of group), ErrTooManySources (ENOBUFS),
// ErrSourceExists (EADDRNOTAVAIL), and Join's.
func (h *Host) JoinSource(now int64, s *Socket, group, source netip.Addr) error {
	return h.sourceCall(now, s, group, source, Include, true)
}

// LeaveSource removes source from s's include-mode filter for group
// (IP_DROP_SOURCE_MEMBERSHIP); removing the last source leaves the group.
// Errors: ErrNotMulticast, ErrBadSource, ErrNoPriorJoin, ErrModeMismatch
// (EINVAL), ErrNoSource (EADDRNOTAVAIL). (On Linux, this call on an
// any-source membership also turns it into an empty include filter that
// receives nothing; here it only fails with EADDRNOTAVAIL.)
func (h *Host) LeaveSource(now int64, s *Socket, group, source netip.Addr) error {
	return h.sourceCall(now, s, group, source, Include, false)
}

// BlockSource adds source to s's exclude-mode filter for group
// (IP_BLOCK_SOURCE). Errors: ErrNotMulticast, ErrBadSource,
// ErrNoPriorJoin, ErrModeMismatch (EINVAL), ErrTooManySources (ENOBUFS),
// ErrSourceExists (EADDRNOTAVAIL).
func (h *Host) BlockSource(now int64, s *Socket, group, source netip.Addr) error {
	return h.sourceCall(now, s, group, source, Exclude, true)
}

// UnblockSource removes source from s's exclude-mode filter for group
// (IP_UNBLOCK_SOURCE). Errors: ErrNotMulticast, ErrBadSource,
// ErrNoPriorJoin, ErrModeMismatch (EINVAL), ErrNoSource (EADDRNOTAVAIL).
func (h *Host) UnblockSource(now int64, s *Socket, group, source netip.Addr) error {
	return h.sourceCall(now, s, group, source, Exclude, false)
}

// sourceCall is Linux's ip_mc_source, checks in its order.
func (h *Host) sourceCall(now int64, s *Socket, group, source netip.Addr, mode FilterMode, add bool) error {
	g, e := multicast(group)
	if e != nil {
		return e
	}
	src, e := source4(source)
	if e != nil {
		return e
	}
	m := s.find(g)
	if m == nil {
		if mode == Include && add {
			return h.join(now, s, g, Include, [][4]byte{src})
		}
		return errNoPriorJoin
	}
	if m.mode != mode {
		// Only an any-source membership whose filter never held a
		// source may change modes (Linux: "allow mode switches for
		// empty-set filters").
		if m.list {
			return errModeMismatch
		}
		if !add {
			return errNoSource
		}
	}
	i := slices.Index(m.srcs, src)
	switch {
	case !add && i < 0:
		return errNoSource
	case !add && mode == Include && len(m.srcs) == 1:
		return h.Leave(now, s, group)
	case !add:
		m.srcs = without(m.srcs, src)
	case len(m.srcs) >= h.cfg.MaxSources:
		return errTooManySrcs
	case i >= 0:
		return errSourceExists
	default:
		m.mode, m.srcs, m.list = mode, insert(m.srcs, src), true
	}
	h.changed(now, s, h.groups[g])
	return nil
}

// SetFilter replaces s's filter for group (IP_MSFILTER,
// setsourcefilter(3)); an include filter with no source leaves the group.
// Duplicate sources count once. Errors: ErrTooManySources (ENOBUFS, checked
// first as Linux does), ErrNotMulticast, ErrBadMode, ErrBadSource,
// ErrNoPriorJoin (EINVAL), and Leave's.
func (h *Host) SetFilter(now int64, s *Socket, group netip.Addr, mode FilterMode, sources []netip.Addr) error {
	if len(sources) > h.cfg.MaxSources {
		return errTooManySrcs
	}
	g, e := multicast(group)
	if e != nil {
		return e
	}
	if mode != Include && mode != Exclude {
		return errBadMode
	}
	var srcs [][4]byte
	for _, a := range sources {
		src, e := source4(a)
		if e != nil {
			return e
		}
		if !contains(srcs, src) {
			srcs = append(srcs, src)
		}
	}
	slices.SortFunc(srcs, less4)
	if mode == Include && len(srcs) == 0 {
		return h.Leave(now, s, group)
	}
	m := s.find(g)
	if m == nil {
		return errNoPriorJoin
	}
	m.mode, m.srcs, m.list = mode, srcs, len(srcs) > 0
	h.changed(now, s, h.groups[g])
	return nil
}

// Filter returns s's filter for group (IP_MSFILTER's getsockopt,
// getsourcefilter(3)), the sources appended to buf. Errors:
// ErrNotMulticast (EINVAL), ErrNotJoined (EADDRNOTAVAIL).
func (h *Host) Filter(s *Socket, group netip.Addr, buf []netip.Addr) (FilterMode, []netip.Addr, error) {
	g, e := multicast(group)
	if e != nil {
		return 0, buf, e
	}
	m := s.find(g)
	if m == nil {
		return 0, buf, errNotJoined
	}
	for _, a := range m.srcs {
		buf = append(buf, netip.AddrFrom4(a))
	}
	return m.mode, buf, nil
}

// Memberships returns the number of groups s joined.
func (s *Socket) Memberships() int { return len(s.ms) }
