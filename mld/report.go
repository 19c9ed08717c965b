package mld

import (
	"github.com/xdpengine/engine/header"
)

// Input handles an MLD message (the ICMPv6 message, checksum verified by
// the caller, as were the hop limit of 1 and the Router Alert option)
// received at now from src to dst. Queries schedule answers (RFC 3810
// 6.2) and an MLDv1 query starts MLDv1 compatibility mode (8.2.1);
// MLDv1 reports of other hosts suppress ours in that mode (RFC 2710 4).
// Errors: those of header.ParseMLD, ErrBadQuery. It does not allocate.
func (h *Host) Input(now int64, src, dst [16]byte, msg []byte) error {
	h.Stats.RcvTotal++
	m, err := header.ParseMLD(msg)
	if err != nil {
		h.Stats.RcvErrors++
		return err
	}
	switch m.Type() {
	case header.ICMPv6MulticastListenerQuery:
		if src[0] != 0xfe || src[1]&0xc0 != 0x80 {
			h.Stats.RcvErrors++
			return ErrBadQuery
		}
		h.query(now, m)
	case header.ICMPv6MulticastListenerReport:
		h.Stats.RcvReports++
		if e := h.groups[m.Address()]; e != nil && h.Version(now) == 1 {
			e.repAt, e.unsolic, e.reporter = 0, 0, false
		}
	}
	return nil
}

func (h *Host) query(now int64, m header.MLD) {
	g := m.Address()
	maxDelay := m.MaxResponseDelay().Nanoseconds()
	if m.QueryVersion() == 1 {
		h.Stats.RcvV1Queries++
		h.v1Until = at(now + int64(h.qrv)*h.qi + h.qri)
		// 8.2.1: pending MLDv2 reports and answers are canceled.
		h.ifcAt, h.gqAt = 0, 0
		for _, e := range h.list {
			e.retx, e.qAt = 0, 0
		}
		h.gc()
	} else {
		h.Stats.RcvV2Queries++
		if q := m.QRV(); q != 0 {
			h.qrv = int(q)
		}
		if q := header.IGMPv3DecodeCode(m.QQIC()); q != 0 {
			h.qi = int64(q) * 1e9
		}
	}
	due := at(now + h.rand(maxDelay))
	if h.Version(now) == 1 {
		// MLDv1 (RFC 2710 4), also for v2 queries heard in v1 mode:
		// a timer per group, kept when it is due sooner.
		for _, e := range h.list {
			if e.refs == 0 || !e.reportable || (g != [16]byte{} && g != e.addr) {
				continue
			}
			if e.repAt == 0 || e.repAt > due {
				e.repAt = due
			}
		}
		return
	}
	// RFC 3810 6.2, rule 1: a general answer due sooner covers this.
	if h.gqAt != 0 && h.gqAt <= due {
		return
	}
	if g == [16]byte{} {
		h.gqAt = due // rule 2
		return
	}
	// Rules 3 and 4: address-specific (and address-and-source-specific,
	// answered as address-specific with the whole IS_EX {} state).
	if e := h.groups[g]; e != nil && e.refs > 0 && e.reportable && (e.qAt == 0 || e.qAt > due) {
		e.qAt = due
	}
}

// Poll sends what is due at now through send, one ICMPv6 message per call
// (valid only during the call) with its checksum zero: the caller builds
// the IPv6 packet from the interface's link-local address (:: when it has
// none yet, RFC 3810 5.2.13) to dst with hop limit 1 and the
// HopByHopRouterAlert header, and fills the checksum
// (header.ICMPv6Checksum). MLDv2 reports go to ff02::16, split to fit the
// MTU; MLDv1 reports to their group, dones to ff02::2. A message that is
// lost is repeated by the robustness retransmissions only. It does not
// allocate.
func (h *Host) Poll(now int64, send func(dst [16]byte, msg []byte)) {
	h.send = send
	if h.ifcAt != 0 && now >= h.ifcAt {
		h.ifcAt = 0
		pending := false
		for _, e := range h.list {
			if e.retx == 0 {
				continue
			}
			typ := uint8(header.MLDv2ChangeToExclude)
			if e.refs == 0 {
				typ = header.MLDv2ChangeToInclude
			}
			h.record(typ, e.addr)
			e.retx--
			pending = pending || e.retx > 0
		}
		h.flush()
		if pending {
			h.ifcAt = at(now + h.rand(h.cfg.UnsolicitedNs))
		}
	}
	gq := h.gqAt != 0 && now >= h.gqAt
	if gq {
		h.gqAt = 0
	}
	for _, e := range h.list {
		if e.qAt != 0 && now >= e.qAt {
			e.qAt = 0
			if !gq {
				h.record(header.MLDv2ModeIsExclude, e.addr)
			}
		}
		if gq && e.refs > 0 && e.reportable {
			h.record(header.MLDv2ModeIsExclude, e.addr)
		}
		if e.repAt != 0 && now >= e.repAt {
			h.v1Message(header.ICMPv6MulticastListenerReport, e.addr, e.addr)
			e.reporter = true
			e.repAt = 0
			if e.unsolic > 0 {
				e.unsolic--
				e.repAt = at(now + h.rand(h.cfg.UnsolicitedV1Ns))
			}
		}
		if e.done {
			e.done = false
			h.v1Message(header.ICMPv6MulticastListenerDone, AllRouters, e.addr)
			h.Stats.SndDones++
		}
	}
	h.flush()
	h.send = nil
	h.gc()
}

func (h *Host) v1Message(typ uint8, dst, g [16]byte) {
	b := h.v1[:]
	header.PutMLDv1(b, typ, 0, g)
	if typ == header.ICMPv6MulticastListenerReport {
		h.Stats.SndReports++
	}
	if h.send != nil {
		h.send(dst, b)
	}
}

// record adds a record without sources to the MLDv2 report being built,
// sending it first when the record would not fit.
func (h *Host) record(typ uint8, g [16]byte) {
	if h.n == 0 {
		h.n = header.MLDv2ReportHeaderLen
	}
	if h.n+header.MLDv2RecordMinLen > len(h.buf) {
		h.flush()
		h.n = header.MLDv2ReportHeaderLen
	}
	k, _ := header.PutMLDv2Record(h.buf[h.n:], typ, g, nil)
	h.n += k
	h.recs++
}

func (h *Host) flush() {
	if h.recs == 0 {
		h.n = 0
		return
	}
	header.PutMLDv2ReportHeader(h.buf, h.recs)
	h.Stats.SndReports++
	if h.send != nil {
		h.send(AllMLDv2Routers, h.buf[:h.n])
	}
	h.n, h.recs = 0, 0
}
