package igmp

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/xdpengine/engine/header"
)

// ipHeaderLen is the IPv4 header of every IGMP message sent: 20 bytes and
// the Router Alert option.
const ipHeaderLen = header.IPv4MinHeaderLen + len(header.IPv4OptionRouterAlert)

const igmpOffset = header.EthernetHeaderLen + ipHeaderLen

// Poll sends what is due at now through send, one complete Ethernet frame
// per call (valid only during the call): IGMPv2 leaves, state-change
// reports (RFC 3376 5.1: each change Robustness times, the first at once,
// the others at random delays up to the unsolicited report interval),
// answers to queries (5.2) and IGMPv1/v2 reports. IGMPv3 reports go to
// 224.0.0.22, v1/v2 reports to their group, leaves to 224.0.0.2; each
// from Config.Addr with TTL 1, TOS 0xc0, DF and the Router Alert option,
// as Linux sends them. A v3 report too big for the MTU is split over
// several frames. A frame that send fails to transmit is lost, as on a
// wire: the repetitions are there for that. It does not allocate.
func (h *Host) Poll(now int64, send func(frame []byte)) {
	w := &h.out
	w.send, w.max = send, h.cfg.MTU-ipHeaderLen
	version := h.Version(now)
	if h.leaveDue {
		h.leaveDue = false
		for _, e := range h.list {
			if e.leave {
				e.leave = false
				h.oldMessage(header.IGMPv2LeaveGroup, AllRouters, e.addr)
				h.Stats.SndLeaves++
			}
		}
	}
	if h.ifcAt != 0 && now >= h.ifcAt {
		pending := false
		for _, e := range h.list {
			if h.changeRecords(e) {
				pending = true
			}
		}
		w.flush()
		h.ifcAt = 0
		if pending {
			h.ifcAt = at(now + h.rand(h.cfg.UnsolicitedV3Ns))
		}
	}
	gq := h.gqAt != 0 && now >= h.gqAt
	if gq {
		h.gqAt = 0
	}
	for _, e := range h.list {
		if gq {
			h.stateRecord(e)
		}
		if e.qAt != 0 && now >= e.qAt {
			e.qAt = 0
			h.queryAnswer(e)
			e.qSrcs = e.qSrcs[:0]
		}
		if e.repAt != 0 && now >= e.repAt {
			h.oldTimer(now, e, version)
		}
	}
	w.flush()
	w.send = nil
	for i := len(h.list) - 1; i >= 0; i-- {
		if e := h.list[i]; e.idle() {
			h.remove(e)
		}
	}
	h.updateNext()
}

// changeRecords adds e's state-change records to the report and reports
// whether e has more to send (RFC 3376 5.1). While filter-mode-change
// reports are due, source-list changes are not sent (their counts still
// run down, as on Linux): the TO_IN/TO_EX record carries the whole list.
func (h *Host) changeRecords(e *group) bool {
	if !e.reportable {
		return false
	}
	switch {
	case e.modeRetx > 0:
		typ := uint8(header.IGMPv3ChangeToInclude)
		if e.mode == Exclude {
			typ = header.IGMPv3ChangeToExclude
		}
		h.out.record(typ, e.addr, e.srcs)
		e.modeRetx--
	case len(e.srcRetx) > 0:
		allow, block := h.out.a[:0], h.out.b[:0]
		for _, r := range e.srcRetx {
			if (e.mode == Include) == contains(e.srcs, r.src) {
				allow = append(allow, r.src)
			} else {
				block = append(block, r.src)
			}
		}
		slices.SortFunc(allow, less4)
		slices.SortFunc(block, less4)
		h.out.a, h.out.b = allow, block
		// Linux's order: the current list's change first.
		if e.mode == Exclude {
			h.out.record(header.IGMPv3BlockOldSources, e.addr, block)
			h.out.record(header.IGMPv3AllowNewSources, e.addr, allow)
		} else {
			h.out.record(header.IGMPv3AllowNewSources, e.addr, allow)
			h.out.record(header.IGMPv3BlockOldSources, e.addr, block)
		}
	}
	k := 0
	for _, r := range e.srcRetx {
		if r.n--; r.n > 0 {
			e.srcRetx[k] = r
			k++
		}
	}
	e.srcRetx = e.srcRetx[:k]
	return e.modeRetx > 0 || len(e.srcRetx) > 0
}

// stateRecord adds e's current-state record: MODE_IS_EXCLUDE or
// MODE_IS_INCLUDE with the interface's list.
func (h *Host) stateRecord(e *group) {
	if len(e.members) == 0 || !e.reportable {
		return
	}
	typ := uint8(header.IGMPv3ModeIsInclude)
	if e.mode == Exclude {
		typ = header.IGMPv3ModeIsExclude
	}
	h.out.record(typ, e.addr, e.srcs)
}

// queryAnswer adds the answer to a group query (the current state) or to
// a group-and-source query Q: IS_IN(A*Q) in INCLUDE(A) mode, IS_IN(Q-A)
// in EXCLUDE(A) mode, nothing when empty (RFC 3376 5.2).
func (h *Host) queryAnswer(e *group) {
	if len(e.qSrcs) == 0 {
		h.stateRecord(e)
		return
	}
	if len(e.members) == 0 {
		return
	}
	l := h.out.a[:0]
	for _, s := range e.qSrcs {
		if (e.mode == Include) == contains(e.srcs, s) && !contains(l, s) {
			l = append(l, s)
		}
	}
	slices.SortFunc(l, less4)
	h.out.a = l
	if len(l) > 0 {
		h.out.record(header.IGMPv3ModeIsInclude, e.addr, l)
	}
}

// oldTimer fires e's report timer: an IGMPv1 or v2 report, or in IGMPv3
// mode (the older querier went away meanwhile) its current state; the
// remaining unsolicited reports are rescheduled (Linux's igmp_timer_expire).
func (h *Host) oldTimer(now int64, e *group, version int) {
	e.repAt = 0
	if e.unsolic > 0 {
		if e.unsolic--; e.unsolic > 0 {
			e.repAt = at(now + h.rand(h.cfg.UnsolicitedV2Ns))
		}
	}
	if len(e.members) == 0 {
		return
	}
	e.reporter = true
	switch version {
	case 1:
		h.oldMessage(header.IGMPv1MembershipReport, e.addr, e.addr)
	case 2:
		h.oldMessage(header.IGMPv2MembershipReport, e.addr, e.addr)
	default:
		h.stateRecord(e)
	}
}

// frame writes the Ethernet and IP headers for an IGMP message of n bytes
// already at h.buf[igmpOffset:] and returns the whole frame.
func (h *Host) frame(dst [4]byte, n int) []byte {
	eth := header.EthernetFields{Dst: header.MulticastMAC(dst), Src: h.cfg.MAC, Type: header.EtherTypeIPv4}
	eth.Put(h.buf)
	ip := header.IPv4Fields{TOS: 0xc0, TotalLength: uint16(ipHeaderLen + n), Flags: header.IPv4FlagDontFragment,
		TTL: 1, Protocol: header.ProtocolIGMP, Src: h.cfg.Addr, Dst: netip.AddrFrom4(dst),
		Options: header.IPv4OptionRouterAlert[:]}
	ip.Put(h.buf[header.EthernetHeaderLen:])
	return h.buf[:igmpOffset+n]
}

// oldMessage sends an 8-byte IGMPv1/v2 message about group to dst.
func (h *Host) oldMessage(typ uint8, dst, group [4]byte) {
	h.out.flush() // the buffer may hold an open v3 report
	f := header.IGMPFields{Type: typ, Group: netip.AddrFrom4(group)}
	n, _ := f.Put(h.buf[igmpOffset:])
	if typ != header.IGMPv2LeaveGroup {
		h.Stats.SndReports++
	}
	h.out.send(h.frame(dst, n))
}

// reportWriter packs group records into IGMPv3 reports in h.buf.
type reportWriter struct {
	h    *Host
	send func([]byte)
	max  int // IGMP bytes per report: MTU less the IP header
	n    int // IGMP bytes written; 0: no report open
	nrec int
	a, b [][4]byte // scratch source lists
}

// record adds a group record. One that does not fit in what is left of
// the report goes to a new one; one too big for any report is split
// over several (RFC 3376 4.2.16), except MODE_IS_EXCLUDE and
// CHANGE_TO_EXCLUDE_MODE records, which are cut to what fits. Empty
// source-list-change records are not sent.
func (w *reportWriter) record(typ uint8, g [4]byte, srcs [][4]byte) {
	if len(srcs) == 0 && (typ == header.IGMPv3AllowNewSources || typ == header.IGMPv3BlockOldSources) {
		return
	}
	cut := typ == header.IGMPv3ModeIsExclude || typ == header.IGMPv3ChangeToExclude
	for {
		if w.n == 0 {
			w.n = header.IGMPHeaderLen
		}
		room := (w.max - w.n - header.IGMPv3GroupRecordMinLen) / 4
		if room >= len(srcs) {
			w.put(typ, g, srcs)
			return
		}
		if w.nrec > 0 {
			w.flush()
			continue
		}
		w.put(typ, g, srcs[:room])
		if cut {
			return
		}
		srcs = srcs[room:]
		w.flush()
	}
}

func (w *reportWriter) put(typ uint8, g [4]byte, srcs [][4]byte) {
	b := w.h.buf[igmpOffset+w.n:]
	b[0], b[1] = typ, 0
	binary.BigEndian.PutUint16(b[2:], uint16(len(srcs)))
	copy(b[4:8], g[:])
	for i, s := range srcs {
		copy(b[8+4*i:], s[:])
	}
	w.n += header.IGMPv3GroupRecordMinLen + 4*len(srcs)
	w.nrec++
}

// flush sends the open report, if it has records.
func (w *reportWriter) flush() {
	if w.nrec > 0 {
		m := header.IGMP(w.h.buf[igmpOffset : igmpOffset+w.n])
		m[0], m[1], m[4], m[5] = header.IGMPv3MembershipReport, 0, 0, 0
		binary.BigEndian.PutUint16(m[6:], uint16(w.nrec))
		m.UpdateChecksum()
		w.h.Stats.SndReports++
		w.send(w.h.frame(AllV3Routers, w.n))
	}
	w.n, w.nrec = 0, 0
}
