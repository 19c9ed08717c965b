package igmp

import (
	"github.com/xdpengine/engine/header"
)

// Input handles an IGMP message received at now: ip is the IPv4 packet
// (header.ParseIPv4 validated it), its payload the IGMP message. Queries
// schedule answers (RFC 3376 5.2) and may switch the host to an IGMPv1 or
// v2 compatibility mode (7.2.1); v1/v2 reports of other hosts cancel ours
// while in those modes (RFC 2236 3); other messages, and this host's own
// (from Config.Addr), are ignored. A message that fails to parse is
// counted and its error (header.ErrTruncated, header.ErrBadChecksum,
// header.ErrBadIGMPQueryLength, ErrBadQuery) returned unwrapped. It does
// not allocate once the groups' scratch space has grown.
func (h *Host) Input(now int64, ip header.IPv4) error {
	h.Stats.RcvTotal++
	m, err := header.ParseIGMP(ip.Payload())
	switch err {
	case nil:
	case header.ErrBadChecksum:
		h.Stats.RcvBadSum++
		return err
	case header.ErrBadIGMPQueryLength:
		h.Stats.RcvBadQueries++
		return err
	default:
		h.Stats.RcvTooShort++
		return err
	}
	if ip.Src4() == h.src {
		return nil
	}
	switch m.Type() {
	case header.IGMPMembershipQuery:
		err = h.query(now, ip.Dst4(), m)
	case header.IGMPv1MembershipReport, header.IGMPv2MembershipReport:
		h.Stats.RcvReports++
		h.heardReport(now, m.Group4())
	}
	h.updateNext()
	return err
}

// heardReport suppresses our pending report of g when another host
// reported it (RFC 2236 3), in IGMPv1/v2 mode only: IGMPv3 hosts do not
// suppress reports (RFC 3376 5), and Linux's timer stop there would also
// cancel a pending answer to a group query.
func (h *Host) heardReport(now int64, g [4]byte) {
	e := h.groups[g]
	if e == nil || len(e.members) == 0 || !e.reportable {
		return
	}
	h.Stats.RcvOurReports++
	if h.Version(now) < 3 {
		e.repAt, e.unsolic, e.reporter = 0, 0, false
	}
}

func (h *Host) query(now int64, dst [4]byte, m header.IGMP) error {
	g := m.Group4()
	version := m.QueryVersion()
	if version == 3 {
		h.Stats.RcvV3Queries++
	} else {
		h.Stats.RcvV1V2Queries++
	}
	general := g == [4]byte{} || version == 1
	if general && (dst != AllHosts || m.NumSources() > 0) || !general && g[0]&0xf0 != 0xe0 {
		h.Stats.RcvBadQueries++
		return ErrBadQuery
	}
	switch {
	case general:
		h.Stats.RcvGenQueries++
	case m.NumSources() > 0:
		h.Stats.RcvGSRQueries++
	default:
		h.Stats.RcvGroupQueries++
	}
	maxResp := int64(m.MaxRespTime())
	switch {
	case version < 3:
		// An older querier: enter (or stay in) its compatibility mode,
		// for the Older Version Querier Present timeout.
		ovq := at(now + int64(h.qrv)*h.qi + h.qri)
		if version == 1 {
			h.v1Until = ovq
		} else {
			h.v2Until = ovq
		}
		h.cancelV3()
	case h.Version(now) == 3:
		// RFC 3376 4.1.6, 4.1.7: adopt the querier's QRV and QQIC, or
		// the defaults when they are 0; keep QRI below QI (8.3). (In a
		// compatibility mode, as on Linux, a v3 query changes nothing.)
		h.qrv = int(m.QRV())
		if h.qrv == 0 {
			h.qrv = h.cfg.Robustness
		}
		h.qi = int64(m.QueryInterval())
		if h.qi == 0 {
			h.qi = h.cfg.QueryIntervalNs
		}
		if h.qri >= h.qi {
			h.qri = max(h.qi-1e9, 1)
		}
	}
	switch h.Version(now) {
	case 1:
		// An IGMPv1 host answers any query as a general one, within 10 s.
		h.oldQuery(now, [4]byte{}, h.cfg.QueryResponseNs)
	case 2:
		h.oldQuery(now, g, maxResp)
	default:
		h.v3Query(now, g, m, maxResp)
	}
	return nil
}

// oldQuery starts the IGMPv1/v2 report timers of the groups the query
// concerns (g zero: all), keeping a running timer that expires sooner
// than maxResp (RFC 2236 3).
func (h *Host) oldQuery(now int64, g [4]byte, maxResp int64) {
	for _, e := range h.list {
		if g != ([4]byte{}) && e.addr != g || len(e.members) == 0 || !e.reportable {
			continue
		}
		e.unsolic = 0
		if e.repAt != 0 && e.repAt-now < maxResp {
			continue
		}
		e.repAt = at(now + h.rand(maxResp))
	}
}

// v3Query schedules the answer to an IGMPv3 query (RFC 3376 5.2).
func (h *Host) v3Query(now int64, g [4]byte, m header.IGMP, maxResp int64) {
	t := at(now + h.rand(maxResp))
	// Rule 1: a general-query answer due sooner covers this query.
	if h.gqAt != 0 && h.gqAt <= t {
		return
	}
	if g == ([4]byte{}) {
		h.gqAt = t // rule 2
		return
	}
	e := h.groups[g]
	if e == nil || len(e.members) == 0 || !e.reportable {
		return
	}
	n := m.NumSources()
	switch {
	case e.qAt == 0: // rule 3
		e.qAt = t
		e.qSrcs = e.qSrcs[:0]
		for i := range n {
			e.qSrcs = append(e.qSrcs, m.Source4(i))
		}
	case n == 0 || len(e.qSrcs) == 0: // rule 4
		e.qAt, e.qSrcs = min(e.qAt, t), e.qSrcs[:0]
	default: // rule 5
		e.qAt = min(e.qAt, t)
		for i := range n {
			if s := m.Source4(i); !contains(e.qSrcs, s) {
				e.qSrcs = append(e.qSrcs, s)
			}
		}
	}
	if len(e.qSrcs) > h.cfg.MaxQuerySources {
		// Too many to remember: answer with the group's whole state, a
		// superset of what was asked.
		e.qSrcs = e.qSrcs[:0]
	}
}
